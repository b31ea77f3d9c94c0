/**
 * A cluster-wide lease in Redis, so that with several replicas exactly one reconcile runs:
 * SET NX PX with a random token, renewed while held, released at the end. Renewal and release
 * check the token atomically (Lua), so a replica whose lease expired can never extend or
 * delete another replica's lease.
 */
import { randomUUID } from 'node:crypto';

import type { Logger } from '../shared/logger.js';
import type { Redis } from '../shared/redis.js';

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface Lease {
  /** False once a renewal found the lease gone (expired and taken): stop working. */
  readonly held: boolean;
  /** Idempotent. */
  release(): Promise<void>;
}

export interface LockOptions {
  redis: Redis;
  key: string;
  ttlMs: number;
  logger: Logger;
}

/** Tries once; returns undefined when another holder has the lease. */
export async function tryAcquireLease({
  redis,
  key,
  ttlMs,
  logger,
}: LockOptions): Promise<Lease | undefined> {
  const token = randomUUID();
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return undefined;

  let held = true;
  let released: Promise<void> | undefined;
  const timer = setInterval(
    () => {
      redis
        .eval(RENEW, 1, key, token, ttlMs)
        .then((renewed) => {
          if (Number(renewed) === 0 && held) {
            held = false;
            logger.error({ key }, 'reconcile lease lost; stopping after the current step');
          }
        })
        .catch((error: unknown) => logger.warn({ err: { message: String(error) } }, 'lease renewal failed'));
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
        await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
      })();
      return released;
    },
  };
}
