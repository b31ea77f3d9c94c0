/**
 * The shared rate limiter in front of a real adapter, measured where it matters: at the
 * marketplace. Two adapters (as two processes would have) share one Redis budget per shop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTikTokAdapter } from '../../src/marketplaces/tiktok/adapter.js';
import { createTikTokWebhookHandler } from '../../src/marketplaces/tiktok/webhook.js';
import { createRedisRateLimiter } from '../../src/shared/ratelimit.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';
import { detailsOrThrow } from '../support/details.js';
import { memoryTokenStore } from '../support/fake-marketplace/deps.js';
import {
  FAKE_ENDPOINTS,
  startFakeMarketplace,
  type FakeMarketplace,
} from '../support/fake-marketplace/index.js';

const BUDGET_PER_MINUTE = 120;
const CALLS = 130;

let env: TestEnv;
let fake: FakeMarketplace;

beforeAll(async () => {
  env = createTestEnv();
  fake = await startFakeMarketplace({ seed: 9 });
});
afterAll(async () => {
  await fake.close();
  await env.cleanup();
});

function adapterWithOwnLimiter() {
  const limiter = createRedisRateLimiter({
    redis: env.redis(),
    keyPrefix: `${env.id}:ratelimit`,
    budgets: { tiktok: BUDGET_PER_MINUTE },
    logger: silentLogger,
  });
  const adapter = createTikTokAdapter({
    config: {
      appKey: fake.credentials.tiktok.appKey,
      appSecret: fake.credentials.tiktok.appSecret,
      apiBaseUrl: fake.tiktokBaseUrl,
      authBaseUrl: fake.authBaseUrl,
    },
    webhook: createTikTokWebhookHandler(fake.credentials.tiktok),
    limiter,
    tokens: memoryTokenStore(),
    logger: silentLogger,
    timeoutMs: 5_000,
    maxAttempts: 1,
    detailBatchSize: 1,
  });
  env.defer(async () => {
    await adapter.close();
    await limiter.close();
  });
  return adapter;
}

describe('rate limiting at the marketplace', () => {
  it(`never lets ${CALLS} calls from two processes exceed ${BUDGET_PER_MINUTE}/min for one shop`, async () => {
    const { shopId } = fake.addShop('tiktok');
    const shop = fake.toShop('tiktok', shopId);
    const ids = fake.seedOrders('tiktok', shopId, CALLS).map((o) => String(o.id));
    const [a, b] = [adapterWithOwnLimiter(), adapterWithOwnLimiter()];

    // Each call asks for one order (DETAIL_BATCH_SIZE 1), half through each adapter, all at once.
    const results = await Promise.all(
      ids.map((id, i) => detailsOrThrow((i % 2 === 0 ? a : b).getDetails(shop, 'order', [id]))),
    );
    expect(results.flat()).toHaveLength(CALLS);

    const arrivals = fake.calls.log
      .filter((c) => c.endpoint === FAKE_ENDPOINTS.tiktok.orderDetail && c.shopId === shopId)
      .map((c) => c.at)
      .sort((x, y) => x - y);
    expect(arrivals).toHaveLength(CALLS);
    // A token bucket of capacity B refilled at B per minute: any interval of t ms admits at most
    // B + B * t / 60000 calls (plus one for timer granularity).
    const first = arrivals[0]!;
    const refillPerMs = BUDGET_PER_MINUTE / 60_000;
    arrivals.forEach((at, i) => {
      const admitted = i + 1;
      expect(admitted).toBeLessThanOrEqual(BUDGET_PER_MINUTE + refillPerMs * (at - first) + 1);
    });
    // And it did not simply stall: the last call arrived about when the budget allowed it.
    const needed = ((CALLS - BUDGET_PER_MINUTE) / refillPerMs) * 0.9;
    expect(arrivals[arrivals.length - 1]! - first).toBeGreaterThanOrEqual(needed);
  }, 30_000);
});
