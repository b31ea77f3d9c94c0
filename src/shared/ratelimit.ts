/**
 * Outbound API budget per platform and shop, shared by every process through Redis.
 *
 * A token bucket per (platform, shop): capacity = the per-minute budget, refilled continuously
 * at budget / 60 s. Taking a token is one atomic Lua script that reads the time from Redis itself
 * (`TIME`), so the clocks of the processes sharing a budget do not matter. When the bucket is
 * empty the script answers how many milliseconds until a token is due; `acquire()` sleeps exactly
 * that long (one timer, no polling) and asks again.
 *
 * Within one process, callers for the same shop queue up in order and only the head of the queue
 * talks to Redis, so a crowd of waiters costs one Redis call per refill, not one each.
 *
 * `penalize()` (the marketplace answered 429) empties the bucket and halves the refill rate and
 * capacity for `forMs`; another 429 during a penalty halves them again (down to 1/16). The
 * penalty lives in Redis, so every process slows down. All keys expire once idle.
 *
 * Needs Redis >= 5 (scripts replicate effects, so TIME before a write is allowed).
 */
import { AppError, messageOf } from './errors.js';
import type { Logger } from './logger.js';
import type { RateLimiter } from './shop.js';
import type { Redis } from './redis.js';
import type { Platform } from './stream.js';

/** Largest divisor repeated penalties can reach (the budget never drops below 1/16). */
export const MAX_PENALTY_DIVISOR = 16;
/** Longest penalty accepted (a wild Retry-After must not stall a shop for days). */
export const MAX_PENALTY_MS = 60 * 60 * 1000;
/** Penalty used when the caller passes no usable duration. */
export const DEFAULT_PENALTY_MS = 1_000;

/**
 * Shared by both scripts: `now` in ms from Redis' clock, the divisor of an active penalty, the
 * effective capacity and refill rate (tokens per ms), and the bucket refilled up to `now`.
 * A bucket that does not exist is full: an idle key expires exactly when it would be full anyway.
 */
const PREAMBLE = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local budget = tonumber(ARGV[1])
local divisor = tonumber(redis.call('GET', KEYS[2]) or '1') or 1
local per_minute = budget / divisor
local capacity = math.max(1, per_minute)
local rate = per_minute / 60000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = tokens + (now - ts) * rate
  ts = now
end
if tokens > capacity then tokens = capacity end
local function save()
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
  -- Idle for this long, the bucket would be full again: the same as no key at all.
  redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
end
`;

/**
 * KEYS: bucket hash, penalty key. ARGV: budget per minute.
 * Returns 0 when a token was taken, else the ms until one is due (>= 1).
 */
const TAKE_SCRIPT = `${PREAMBLE}
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.max(1, math.ceil((1 - tokens) / rate))
end
save()
return wait
`;

/**
 * KEYS: bucket hash, penalty key. ARGV: budget per minute, penalty ms, max divisor.
 * Doubles the divisor (capped), keeps the penalty at least `ms` longer, empties the bucket.
 * Returns the new divisor.
 */
const PENALIZE_SCRIPT = `${PREAMBLE}
local ms = tonumber(ARGV[2])
local next_divisor = math.min(divisor * 2, tonumber(ARGV[3]))
local remaining = redis.call('PTTL', KEYS[2])
if remaining > ms then ms = remaining end
redis.call('SET', KEYS[2], tostring(next_divisor), 'PX', ms)
per_minute = budget / next_divisor
capacity = math.max(1, per_minute)
rate = per_minute / 60000
tokens = 0
save()
return next_divisor
`;

const TAKE_COMMAND = 'marketIngestRateLimitTake';
const PENALIZE_COMMAND = 'marketIngestRateLimitPenalize';

interface RateLimitCommands {
  [TAKE_COMMAND](bucketKey: string, penaltyKey: string, budget: number): Promise<number>;
  [PENALIZE_COMMAND](
    bucketKey: string,
    penaltyKey: string,
    budget: number,
    forMs: number,
    maxDivisor: number,
  ): Promise<number>;
}

export interface RedisRateLimiter extends RateLimiter {
  /** Rejects the callers still waiting (retryable ERR_UNAVAILABLE). Idempotent; leaves `redis` open. */
  close(): Promise<void>;
}

export interface RedisRateLimiterOptions {
  /** A command connection (not a blocking one); its owner closes it. */
  redis: Redis;
  /** Keys are `<keyPrefix>:{<platform>:<shopId>}:bucket` and `…:penalty`. */
  keyPrefix: string;
  /** Requests per minute per shop; a platform without a budget rejects with ERR_PLATFORM_DISABLED. */
  budgets: Partial<Record<Platform, number | undefined>>;
  logger: Logger;
  /** How waiting happens; tests may observe it. Must resolve after `ms` (the limiter cancels via close()). */
  sleep?: (ms: number) => Promise<void>;
}

export function createRedisRateLimiter(options: RedisRateLimiterOptions): RedisRateLimiter {
  const { keyPrefix, budgets } = options;
  for (const [platform, budget] of Object.entries(budgets)) {
    if (budget !== undefined && !(Number.isInteger(budget) && budget >= 1)) {
      throw new AppError('ERR_CONFIG', `rate limit for ${platform} must be a whole number >= 1 per minute`);
    }
  }
  const redis = options.redis as Redis & RateLimitCommands;
  redis.defineCommand(TAKE_COMMAND, { numberOfKeys: 2, lua: TAKE_SCRIPT });
  redis.defineCommand(PENALIZE_COMMAND, { numberOfKeys: 2, lua: PENALIZE_SCRIPT });
  const log = options.logger.child({ component: 'ratelimit' });

  /** Tail of each shop's in-process queue; never rejects. */
  const queues = new Map<string, Promise<void>>();
  /** Sleeps in progress, so close() can end them. */
  const sleepers = new Set<{ timer: NodeJS.Timeout | undefined; reject: (error: Error) => void }>();
  let closed = false;

  function closedError(): AppError {
    return new AppError('ERR_UNAVAILABLE', 'the rate limiter is closed', { retryable: true });
  }

  function keysOf(platform: Platform, shopId: string): [bucket: string, penalty: string] {
    // The hash tag keeps both keys of one shop in one cluster slot (a script may touch only those).
    const base = `${keyPrefix}:{${platform}:${shopId}}`;
    return [`${base}:bucket`, `${base}:penalty`];
  }

  function budgetOf(platform: Platform): number {
    const budget = budgets[platform];
    if (budget === undefined) {
      throw new AppError('ERR_PLATFORM_DISABLED', `no rate limit budget for platform ${platform}`);
    }
    return budget;
  }

  async function redisCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const message = messageOf(error);
      throw new AppError('ERR_REDIS_UNAVAILABLE', `rate limiter: Redis call failed: ${message}`, {
        cause: error,
      });
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sleeper = { timer: undefined as NodeJS.Timeout | undefined, reject };
      const done = () => {
        sleepers.delete(sleeper);
        resolve();
      };
      sleepers.add(sleeper);
      if (options.sleep) {
        options.sleep(ms).then(done, (error: unknown) => {
          sleepers.delete(sleeper);
          reject(error instanceof Error ? error : new Error(String(error)));
        });
      } else {
        sleeper.timer = setTimeout(done, ms);
      }
    });
  }

  async function take(platform: Platform, shopId: string, budget: number): Promise<void> {
    const [bucketKey, penaltyKey] = keysOf(platform, shopId);
    for (;;) {
      if (closed) throw closedError();
      const waitMs = Number(await redisCall(() => redis[TAKE_COMMAND](bucketKey, penaltyKey, budget)));
      if (!(waitMs > 0)) return;
      log.debug({ platform, shop_id: shopId, wait_ms: waitMs }, 'rate limit budget spent; waiting');
      await sleep(waitMs);
    }
  }

  return {
    async acquire(platform, shopId) {
      if (closed) throw closedError();
      const budget = budgetOf(platform);
      const queueKey = `${platform}\u0000${shopId}`;
      const previous = queues.get(queueKey) ?? Promise.resolve();
      const mine = previous.then(() => take(platform, shopId, budget));
      const tail = mine.catch(() => undefined);
      queues.set(queueKey, tail);
      void tail.then(() => {
        if (queues.get(queueKey) === tail) queues.delete(queueKey);
      });
      return mine;
    },

    async penalize(platform, shopId, forMs) {
      if (closed) throw closedError();
      const budget = budgetOf(platform);
      const ms =
        Number.isFinite(forMs) && forMs > 0 ? Math.min(Math.ceil(forMs), MAX_PENALTY_MS) : DEFAULT_PENALTY_MS;
      const [bucketKey, penaltyKey] = keysOf(platform, shopId);
      const divisor = Number(
        await redisCall(() =>
          redis[PENALIZE_COMMAND](bucketKey, penaltyKey, budget, ms, MAX_PENALTY_DIVISOR),
        ),
      );
      log.warn(
        { platform, shop_id: shopId, penalty_ms: ms, budget_per_minute: budget / divisor },
        'marketplace rate limited this shop; budget reduced',
      );
    },

    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const sleeper of sleepers) {
        clearTimeout(sleeper.timer);
        sleeper.reject(closedError());
      }
      sleepers.clear();
      queues.clear();
      return Promise.resolve();
    },
  };
}
