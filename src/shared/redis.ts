/**
 * Redis client factory.
 *
 * Three profiles, because the callers want different failure behaviour:
 * - `fail-fast`: the webhook request path. No offline queue, no per-request retries, short
 *   command timeout: when Redis is down the request must fail within ~2 s with a 503 so the
 *   marketplace retries, never hang and never pretend.
 * - `blocking`: a dedicated connection for XREADGROUP BLOCK (never shared, as in bullmq);
 *   `maxRetriesPerRequest: null` so a long block is not cut short by reconnect bookkeeping.
 * - `default`: workers and tools; queues briefly while reconnecting.
 */
import { Redis, type RedisOptions } from 'ioredis';

import type { Logger } from './logger.js';

export type { Redis } from 'ioredis';

export type RedisProfile = 'default' | 'blocking' | 'fail-fast';

export interface CreateRedisOptions {
  url: string;
  /** Shown in CLIENT LIST and logs, e.g. "ingest" or "worker-blocking". */
  name: string;
  logger: Logger;
  profile?: RedisProfile;
  /** Connect on first command rather than at construction. */
  lazyConnect?: boolean;
}

const PROFILE_OPTIONS: Record<RedisProfile, RedisOptions> = {
  'fail-fast': {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 2_000,
    connectTimeout: 2_000,
  },
  blocking: {
    maxRetriesPerRequest: null,
    connectTimeout: 5_000,
  },
  default: {
    maxRetriesPerRequest: 3,
    commandTimeout: 10_000,
    connectTimeout: 5_000,
  },
};

/** Reconnect forever with capped exponential backoff; callers decide what to do meanwhile. */
function retryStrategy(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2_000);
}

export function createRedis(options: CreateRedisOptions): Redis {
  const profile = options.profile ?? 'default';
  const log = options.logger.child({ component: 'redis', connection: options.name });
  const client = new Redis(options.url, {
    ...PROFILE_OPTIONS[profile],
    connectionName: `market-ingest:${options.name}`,
    lazyConnect: options.lazyConnect ?? false,
    retryStrategy,
  });

  // ioredis emits 'error' on every failed reconnect; log the first of each outage only.
  let down = false;
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    log.warn({ err: error }, 'redis connection error; reconnecting');
  });
  client.on('ready', () => {
    if (down) log.info('redis connection restored');
    down = false;
  });
  return client;
}

/**
 * Closes a client gracefully (QUIT, so replies in flight arrive), or forcibly after
 * `timeoutMs`. Safe to call more than once and on a client that never connected.
 */
export async function closeRedis(client: Redis, timeoutMs = 2_000): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.quit().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    // QUIT may not have finished within the timeout; disconnect() is a no-op once it has.
    client.disconnect();
  }
}

/**
 * True when `error` says Redis could not be reached or did not answer (as opposed to Redis
 * refusing a command): worth waiting for, not a reason to give up on the work.
 */
export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  return /Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|Command timed out|Stream isn't writeable|enableOfflineQueue|LOADING/i.test(
    error.message,
  );
}

/** True when Redis answers PING within the client's timeouts. */
export async function pingRedis(client: Redis): Promise<boolean> {
  try {
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  }
}
