/**
 * The Redis locks of src/shared/lock.ts against a real Redis: exclusive while held, released only
 * by their holder (token-checked), expiring after their TTL, and keyed per shop for refreshes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createRedisRefreshLock, tryAcquireLease, tryLock } from '../../src/shared/lock.js';
import type { Redis } from '../../src/shared/redis.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';

let env: TestEnv;
let redis: Redis;
beforeEach(() => {
  env = createTestEnv();
  redis = env.redis();
});
afterEach(async () => {
  await env.cleanup();
});

/** Polls until `check` holds (bounded), without asserting how long it took. */
async function eventually(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never happened: ${what}`);
}

describe('tryLock', () => {
  it('is exclusive until released; release is idempotent', async () => {
    const key = `${env.id}:lock`;
    const first = await tryLock(redis, key, 60_000);
    expect(first).toBeDefined();
    expect(await tryLock(redis, key, 60_000)).toBeUndefined();

    await first!.release();
    await first!.release();
    const second = await tryLock(redis, key, 60_000);
    expect(second).toBeDefined();
    await second!.release();
  });

  it("never releases or renews another holder's lock once its own expired", async () => {
    const key = `${env.id}:lock`;
    const stale = (await tryLock(redis, key, 20))!;
    await eventually(async () => (await redis.exists(key)) === 0, 'the lock expired');
    const current = (await tryLock(redis, key, 60_000))!;

    expect(await stale.renew(60_000)).toBe(false);
    await stale.release();
    expect(await tryLock(redis, key, 60_000)).toBeUndefined();

    expect(await current.renew(60_000)).toBe(true);
    await current.release();
    expect(await redis.exists(key)).toBe(0);
  });

  it('answers ERR_REDIS_UNAVAILABLE when Redis cannot be asked', async () => {
    const closed = env.redis();
    closed.disconnect();
    await expect(tryLock(closed, `${env.id}:lock`, 1_000)).rejects.toMatchObject({
      code: 'ERR_REDIS_UNAVAILABLE',
    });
  });
});

describe('tryAcquireLease', () => {
  it('stops being held once another holder took the key', async () => {
    const key = `${env.id}:lease`;
    const lease = (await tryAcquireLease({ redis, key, ttlMs: 300, logger: silentLogger }))!;
    expect(lease.held).toBe(true);
    expect(await tryAcquireLease({ redis, key, ttlMs: 300, logger: silentLogger })).toBeUndefined();

    await redis.set(key, 'someone-else');
    await eventually(() => !lease.held, 'the renewal noticed the loss');
    await lease.release();
    expect(await redis.get(key)).toBe('someone-else');
  });
});

describe('createRedisRefreshLock', () => {
  it('locks one (platform, shop) under the prefix, bounded by its TTL', async () => {
    const lock = createRedisRefreshLock({ redis, keyPrefix: `${env.id}:tokens`, ttlMs: 30_000 });
    expect(lock.ttlMs).toBe(30_000);

    const held = await lock.tryAcquire('tiktok', '7001');
    expect(held).toBeDefined();
    const ttl = await redis.pttl(`${env.id}:tokens:tiktok:7001`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);
    expect(await lock.tryAcquire('tiktok', '7001')).toBeUndefined();
    // Other shops, and the same id on the other platform, are other locks.
    const others = await Promise.all([lock.tryAcquire('tiktok', '7002'), lock.tryAcquire('shopee', '7001')]);
    expect(others.every((other) => other !== undefined)).toBe(true);

    await held!.release();
    expect(await redis.exists(`${env.id}:tokens:tiktok:7001`)).toBe(0);
    await Promise.all(others.map((other) => other!.release()));
  });
});
