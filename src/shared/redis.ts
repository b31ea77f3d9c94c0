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

import { serverAddress } from './config.js';
import { AppError } from './errors.js';
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

/**
 * Resolves once the client is connected (true), or with false after `timeoutMs`. Reconnecting is
 * ioredis's own (retryStrategy); this only waits for its 'ready'.
 */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  try {
    return await new Promise<boolean>((resolve) => {
      onReady = () => resolve(true);
      redis.once('ready', onReady);
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
  } finally {
    clearTimeout(timer);
    if (onReady) redis.off('ready', onReady);
  }
}

/** "cannot reach Redis at host:port": the one way Redis being down is told (no URL, no password). */
export function redisUnreachable(
  url: string,
  options: { waitedMs?: number; cause?: unknown } = {},
): AppError {
  const waited = options.waitedMs === undefined ? '' : ` (waited ${Math.round(options.waitedMs / 1000)} s)`;
  return new AppError('ERR_REDIS_UNAVAILABLE', `cannot reach Redis at ${serverAddress(url)}${waited}`, {
    cause: options.cause,
  });
}

/** Redis answered but refused us (wrong or missing password, ACL): waiting will not help. */
function isRedisRefusal(error: Error): boolean {
  return /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid password/i.test(error.message);
}

const STARTUP_LOG_EVERY_MS = 10_000;

export interface AwaitRedisOptions {
  /** The client's URL, named (as host:port only) in logs and errors. */
  url: string;
  timeoutMs: number;
  logger: Logger;
}

/**
 * A role's start: waits up to `timeoutMs` for Redis, logging while it waits (ioredis reconnects
 * with capped backoff meanwhile), then fails with ERR_REDIS_UNAVAILABLE "cannot reach Redis at
 * host:port". Credentials Redis refuses fail at once: no amount of waiting fixes them.
 */
export async function awaitRedisAtStart(redis: Redis, options: AwaitRedisOptions): Promise<void> {
  if (redis.status === 'ready') return;
  const address = serverAddress(options.url);
  const log = options.logger.child({ component: 'startup', redis: address });
  const started = Date.now();
  let lastLogAt = 0;
  let onError: ((error: Error) => void) | undefined;
  const refused = new Promise<never>((_, reject) => {
    onError = (error) => {
      if (isRedisRefusal(error)) {
        const reason = error.message.split('. ')[0] ?? error.message;
        reject(
          new AppError('ERR_REDIS_UNAVAILABLE', `Redis at ${address} refused us: ${reason}`, {
            retryable: false,
          }),
        );
        return;
      }
      if (Date.now() - lastLogAt < STARTUP_LOG_EVERY_MS) return;
      lastLogAt = Date.now();
      log.warn(
        { waited_ms: lastLogAt - started, timeout_ms: options.timeoutMs },
        `waiting for Redis at ${address}`,
      );
    };
    redis.on('error', onError);
  });
  try {
    const ready = await Promise.race([waitForRedis(redis, options.timeoutMs), refused]);
    if (!ready) throw redisUnreachable(options.url, { waitedMs: Date.now() - started });
    if (lastLogAt > 0) log.info({ waited_ms: Date.now() - started }, `Redis at ${address} is reachable`);
  } finally {
    if (onError) redis.off('error', onError);
  }
}
