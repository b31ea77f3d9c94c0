/**
 * Cluster-wide locks in Redis: SET key token NX PX ttl with a random token. Renewal and release
 * check the token atomically (Lua), so a holder whose lock expired can never extend or delete the
 * lock another holder took since. A crashed holder's lock expires after its TTL.
 *
 * - `tryLock`: one attempt, no renewal (short critical sections such as a token refresh).
 * - `tryAcquireLease`: renewed every ttl/3 while held (a reconcile run), so only a dead holder's
 *   lease expires.
 * - `createRedisRefreshLock`: the RefreshLock the marketplace TokenManagers take.
 */
import { randomUUID } from 'node:crypto';

import { AppError } from './errors.js';
import type { Logger } from './logger.js';
import type { HeldRefreshLock, RefreshLock } from './shop.js';
import type { Redis } from './redis.js';
import type { Platform } from './stream.js';

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface HeldLock {
  readonly key: string;
  /** Extends the lock to `ttlMs` from now; false when it is no longer ours (expired, maybe taken). */
  renew(ttlMs: number): Promise<boolean>;
  /** Deletes the lock if it is still ours. Idempotent; never throws (an unreleased lock expires). */
  release(): Promise<void>;
}

/** One attempt; undefined when another holder has `key`. Throws ERR_REDIS_UNAVAILABLE. */
export async function tryLock(redis: Redis, key: string, ttlMs: number): Promise<HeldLock | undefined> {
  const token = randomUUID();
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX').catch((error: unknown) => {
    throw new AppError('ERR_REDIS_UNAVAILABLE', `could not take lock ${key}: ${String(error)}`, {
      cause: error,
    });
  });
  if (ok !== 'OK') return undefined;
  let released: Promise<void> | undefined;
  return {
    key,
    async renew(renewTtlMs) {
      return Number(await redis.eval(RENEW, 1, key, token, renewTtlMs)) === 1;
    },
    release() {
      released ??= redis.eval(RELEASE, 1, key, token).then(
        () => undefined,
        () => undefined,
      );
      return released;
    },
  };
}

export interface Lease {
  /** False once a renewal found the lease gone (expired and taken): stop working. */
  readonly held: boolean;
  /** Idempotent. */
  release(): Promise<void>;
}

export interface LeaseOptions {
  redis: Redis;
  key: string;
  ttlMs: number;
  logger: Logger;
}

/** Tries once; returns undefined when another holder has the lease. Renewed until released. */
export async function tryAcquireLease({
  redis,
  key,
  ttlMs,
  logger,
}: LeaseOptions): Promise<Lease | undefined> {
  const lock = await tryLock(redis, key, ttlMs);
  if (!lock) return undefined;

  let held = true;
  let released: Promise<void> | undefined;
  const timer = setInterval(
    () => {
      lock
        .renew(ttlMs)
        .then((renewed) => {
          if (!renewed && held) {
            held = false;
            logger.error({ key }, 'lease lost; stopping after the current step');
          }
        })
        .catch((error: unknown) => logger.warn({ err: error }, 'lease renewal failed'));
    },
    Math.max(100, Math.floor(ttlMs / 3)),
  );
  timer.unref();

  return {
    get held() {
      return held;
    },
    release() {
      released ??= (async () => {
        clearInterval(timer);
        held = false;
        await lock.release();
      })();
      return released;
    },
  };
}

export interface RedisRefreshLockOptions {
  redis: Redis;
  /** e.g. `${STREAM_KEY}:tokens`: the deployment's namespace. */
  keyPrefix: string;
  /** Longer than one refresh call can take (see refreshLockTtlMs). */
  ttlMs: number;
}

/** One lock per (platform, shop) at `${keyPrefix}:${platform}:${shopId}`, held at most `ttlMs`. */
export function createRedisRefreshLock(options: RedisRefreshLockOptions): RefreshLock {
  const { redis, keyPrefix, ttlMs } = options;
  return {
    ttlMs,
    async tryAcquire(platform: Platform, shopId: string): Promise<HeldRefreshLock | undefined> {
      return tryLock(redis, `${keyPrefix}:${platform}:${shopId}`, ttlMs);
    },
  };
}
