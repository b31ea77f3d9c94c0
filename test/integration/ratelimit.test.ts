/**
 * The shared outbound rate limiter against a real Redis. Budgets are small (120/min = 2 tokens
 * per second after a burst of 120) so the waits are short; assertions count grants against what
 * a token bucket allows at the measured time, with one token of slack, instead of tight timing.
 */
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { AppError } from '../../src/shared/errors.js';
import { createRedisRateLimiter, type RedisRateLimiter } from '../../src/shared/ratelimit.js';
import { closeRedis, createRedis, type Redis } from '../../src/shared/redis.js';
import type { Platform } from '../../src/shared/stream.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';

const BUDGET = 120; // per minute: capacity 120, then one token every 500 ms

let env: TestEnv;
let prefix: string;

beforeEach(() => {
  env = createTestEnv();
  prefix = `${env.id}:ratelimit`;
});
afterEach(async () => {
  await env.cleanup();
});

function limiter(
  redis: Redis = env.redis(),
  budgets: Partial<Record<Platform, number>> = { tiktok: BUDGET, shopee: BUDGET },
  sleep?: (ms: number) => Promise<void>,
): RedisRateLimiter {
  const instance = createRedisRateLimiter({ redis, keyPrefix: prefix, budgets, logger: silentLogger, sleep });
  env.defer(() => instance.close());
  return instance;
}

/** Starts `count` acquires at once; resolves with each grant's time in ms since the start. */
async function grantTimes(
  acquire: (i: number) => Promise<void>,
  count: number,
): Promise<{ times: number[]; start: number }> {
  const start = performance.now();
  const times = await Promise.all(
    Array.from({ length: count }, (_, i) => acquire(i).then(() => performance.now() - start)),
  );
  return { times: times.sort((a, b) => a - b), start };
}

/** A token bucket never grants more than capacity + rate * elapsed (+1 for rounding at the edge). */
function expectWithinBudget(times: readonly number[], perMinute: number): void {
  times.forEach((t, i) => {
    const allowed = perMinute + Math.floor((t / 60_000) * perMinute) + 1;
    expect(i + 1, `grant #${i + 1} at ${t.toFixed(0)} ms`).toBeLessThanOrEqual(allowed);
  });
}

function rejection(promise: Promise<unknown>): Promise<AppError> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(AppError);
      return error as AppError;
    },
  );
}

describe('redis rate limiter', () => {
  it('N concurrent acquires within one window never exceed the budget', async () => {
    const rl = limiter();
    const { times } = await grantTimes(() => rl.acquire('tiktok', 'shop-1'), BUDGET + 4);
    expectWithinBudget(times, BUDGET);
    // The burst is the whole capacity, granted at once; the 4 extra follow at the refill rate.
    expect(times.filter((t) => t < 400)).toHaveLength(BUDGET);
    expect(times.at(-1)).toBeGreaterThanOrEqual(4 * 500 - 100);
    expect(times.at(-1)).toBeLessThan(4 * 500 + 1_500);
  });

  it('two limiter instances on two connections share one budget', async () => {
    const a = limiter(env.redis());
    const b = limiter(env.redis());
    const { times } = await grantTimes(
      (i) => (i % 2 === 0 ? a : b).acquire('shopee', 'shared-shop'),
      BUDGET + 4,
    );
    expectWithinBudget(times, BUDGET);
    expect(times.filter((t) => t < 400)).toHaveLength(BUDGET);
    expect(times.at(-1)).toBeGreaterThanOrEqual(4 * 500 - 100);
  });

  it('waiting callers are released one by one as tokens refill, sleeping instead of polling', async () => {
    const sleeps: number[] = [];
    const sleep = (ms: number) => {
      sleeps.push(ms);
      return new Promise<void>((resolve) => setTimeout(resolve, ms));
    };
    const rl = limiter(env.redis(), { tiktok: BUDGET }, sleep);
    const drainStart = performance.now();
    await Promise.all(Array.from({ length: BUDGET }, () => rl.acquire('tiktok', 'shop-1')));
    // The bucket refills from its first grant: time spent draining it (long on a loaded machine)
    // brings the next token that much closer.
    const drainMs = performance.now() - drainStart;
    expect(sleeps).toEqual([]);

    const { times } = await grantTimes(() => rl.acquire('tiktok', 'shop-1'), 3);
    // One token every 500 ms, in order.
    expect(times[0]).toBeGreaterThanOrEqual(450 - drainMs);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(400);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(400);
    expect(times[2]).toBeLessThan(1_500 + 1_000);
    // Each waiter slept about once, for about the time the script said: no busy loop on Redis.
    expect(sleeps.length).toBeGreaterThanOrEqual(3);
    expect(sleeps.length).toBeLessThanOrEqual(6);
    for (const ms of sleeps) expect(ms).toBeLessThanOrEqual(500);
  });

  it('penalize halves the budget and empties the bucket for every instance', async () => {
    const a = limiter(env.redis());
    const b = limiter(env.redis());
    await b.acquire('tiktok', 'hot-shop'); // a full bucket: immediate
    await a.penalize('tiktok', 'hot-shop', 2_000);

    // Halved: 60/min, so B's next token is one second away (not 500 ms) and the bucket is empty.
    const start = performance.now();
    await b.acquire('tiktok', 'hot-shop');
    const waited = performance.now() - start;
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(2_000);

    const observer = env.redis();
    const penaltyKey = `${prefix}:{tiktok:hot-shop}:penalty`;
    expect(await observer.get(penaltyKey)).toBe('2');
    const ttl = await observer.pttl(penaltyKey);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2_000);

    // Another shop is not affected.
    const other = performance.now();
    await b.acquire('tiktok', 'calm-shop');
    expect(performance.now() - other).toBeLessThan(300);
  });

  it('repeated 429s compound the penalty, down to 1/16 of the budget, and keep the longest duration', async () => {
    const rl = limiter();
    const observer = env.redis();
    const penaltyKey = `${prefix}:{shopee:s}:penalty`;
    await rl.penalize('shopee', 's', 30_000);
    await rl.penalize('shopee', 's', 1_000);
    expect(await observer.get(penaltyKey)).toBe('4');
    expect(await observer.pttl(penaltyKey)).toBeGreaterThan(20_000);
    for (let i = 0; i < 5; i++) await rl.penalize('shopee', 's', 1_000);
    expect(await observer.get(penaltyKey)).toBe('16');
  });

  it('buckets of different shops and platforms are independent', async () => {
    const rl = limiter(env.redis(), { tiktok: 2, shopee: 2 });
    await rl.acquire('tiktok', 'a');
    await rl.acquire('tiktok', 'a');
    // Shop a is spent for 30 s; b and the same id on the other platform are not.
    let granted = false;
    const blocked = rl.acquire('tiktok', 'a').then(() => {
      granted = true;
    });
    const start = performance.now();
    await rl.acquire('tiktok', 'b');
    await rl.acquire('shopee', 'a');
    await rl.acquire('shopee', 'a');
    expect(performance.now() - start).toBeLessThan(300);
    expect(granted).toBe(false);

    await rl.close();
    const error = await rejection(blocked);
    expect(error.code).toBe('ERR_UNAVAILABLE');
    expect(error.retryable).toBe(true);
  });

  it('keeps its keys under the prefix and lets them expire when idle', async () => {
    const rl = limiter();
    await rl.acquire('tiktok', '7001');
    await rl.penalize('tiktok', '7001', 5_000);
    const observer = env.redis();
    const keys = (await observer.keys(`${prefix}:*`)).sort();
    expect(keys).toEqual([`${prefix}:{tiktok:7001}:bucket`, `${prefix}:{tiktok:7001}:penalty`]);
    const bucketTtl = await observer.pttl(keys[0]!);
    expect(bucketTtl).toBeGreaterThan(0);
    // Idle for this long, the (penalized, 60/min) bucket would be full again.
    expect(bucketTtl).toBeLessThanOrEqual(61_000);
    const penaltyTtl = await observer.pttl(keys[1]!);
    expect(penaltyTtl).toBeGreaterThan(0);
    expect(penaltyTtl).toBeLessThanOrEqual(5_000);
  });

  it('Redis errors surface as retryable ERR_REDIS_UNAVAILABLE', async () => {
    const dead = createRedis({
      url: 'redis://127.0.0.1:1',
      name: 'dead',
      logger: silentLogger,
      profile: 'fail-fast',
      lazyConnect: true,
    });
    env.defer(() => closeRedis(dead));
    const rl = limiter(dead);
    const error = await rejection(rl.acquire('tiktok', 'x'));
    expect(error.code).toBe('ERR_REDIS_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect((await rejection(rl.penalize('tiktok', 'x', 1_000))).code).toBe('ERR_REDIS_UNAVAILABLE');
    // The failure does not wedge the shop's queue: the next call reaches Redis again.
    expect((await rejection(rl.acquire('tiktok', 'x'))).code).toBe('ERR_REDIS_UNAVAILABLE');
  });

  it('a platform without a budget is ERR_PLATFORM_DISABLED; a bad budget is ERR_CONFIG', async () => {
    const rl = limiter(env.redis(), { tiktok: BUDGET });
    expect((await rejection(rl.acquire('shopee', 'x'))).code).toBe('ERR_PLATFORM_DISABLED');
    expect(() => limiter(env.redis(), { tiktok: 0 })).toThrow(/whole number/);
    expect(() => limiter(env.redis(), { shopee: 1.5 })).toThrow(/whole number/);
  });

  it('close() is idempotent and later calls reject', async () => {
    const rl = limiter();
    await rl.acquire('tiktok', 'x');
    await rl.close();
    await rl.close();
    expect((await rejection(rl.acquire('tiktok', 'x'))).code).toBe('ERR_UNAVAILABLE');
    expect((await rejection(rl.penalize('tiktok', 'x', 1))).code).toBe('ERR_UNAVAILABLE');
  });
});
