/**
 * The `@fastify/rate-limit` store for webhook routes: a fixed window per client key in Redis,
 * shared by every ingest replica, with the semantics of the plugin's own RedisStore (the first
 * hit of a window sets its expiry). Two differences, both for the burst a marketplace sends:
 *
 * - Hits on one key in the same event-loop turn are counted with one INCRBY n, and the callers
 *   get the counts n sequential INCRs would have given them (current - n + 1 … current). Same
 *   answers, one Redis command per key per turn instead of one per request.
 * - A time bound. The plugin's store would wait for the client's full command timeout when
 *   Redis stalls, and the append after it would wait again, doubling the time before the 503
 *   the marketplace needs. Bounded here, a slow limiter fails open (skipOnError) and leaves the
 *   request's Redis budget to the append, which is what decides the answer.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';

import type { Redis } from '../shared/redis.js';

/** KEYS = [counter]; ARGV = [hits, window ms]. Returns {count after these hits, ms left}. */
const INCR_SCRIPT = `
local hits = tonumber(ARGV[1])
local current = redis.call('INCRBY', KEYS[1], hits)
local ttl
if current == hits then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
else
  ttl = redis.call('PTTL', KEYS[1])
end
return {current, ttl}
`;

const COMMAND = 'marketIngestRateLimit';

type IncrCommand = (key: string, hits: number, windowMs: number) => Promise<[number, number]>;
type IncrCallback = Parameters<FastifyRateLimitStore['incr']>[1];

export interface RateLimitStoreOptions {
  redis: Redis;
  /** Prepended to every counter key (e.g. under the stream key, for per-test cleanup). */
  keyPrefix: string;
  /** Longest wait for Redis before the limiter gives up and lets the request through. */
  timeoutMs: number;
}

class LimiterTimeout extends Error {
  override name = 'LimiterTimeout';
}

interface Hits {
  windowMs: number;
  callbacks: IncrCallback[];
}

export function createRateLimitStore(options: RateLimitStoreOptions): FastifyRateLimitStoreCtor {
  const { redis, timeoutMs } = options;
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: INCR_SCRIPT });
  const incrBy = (redis as unknown as Record<typeof COMMAND, IncrCommand>)[COMMAND].bind(redis);

  function count(key: string, { windowMs, callbacks }: Hits): void {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const callback of callbacks) callback(error);
    };
    const timer = setTimeout(() => fail(new LimiterTimeout(`no answer within ${timeoutMs} ms`)), timeoutMs);
    incrBy(key, callbacks.length, windowMs).then(([current, ttl]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const first = current - callbacks.length + 1;
      callbacks.forEach((callback, i) => callback(null, { current: first + i, ttl }));
    }, fail);
  }

  function store(prefix: string): FastifyRateLimitStore {
    let pending: Map<string, Hits> | undefined;
    const flush = () => {
      const batch = pending!;
      pending = undefined;
      for (const [key, hits] of batch) count(key, hits);
    };
    return {
      incr(key: string, callback: IncrCallback, timeWindow: number) {
        if (pending === undefined) {
          pending = new Map();
          setImmediate(flush);
        }
        const fullKey = prefix + key;
        const hits = pending.get(fullKey);
        if (hits) hits.callbacks.push(callback);
        else pending.set(fullKey, { windowMs: timeWindow, callbacks: [callback] });
      },
      child(routeOptions) {
        return store(`${prefix}${routeOptions.method as string}${routeOptions.url}-`);
      },
    };
  }

  // The plugin instantiates the store itself (`new Store(options)`); the closure carries Redis.
  return class {
    constructor() {
      return store(options.keyPrefix);
    }
  } as unknown as FastifyRateLimitStoreCtor;
}
