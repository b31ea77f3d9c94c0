/**
 * Retries, timeouts and token refresh of both adapters against the fake marketplace over real
 * HTTP. The fake injects the failures (429 with Retry-After, 5xx, hangs, expired tokens) and
 * counts what actually reached it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { isAppError } from '../../src/shared/errors.js';
import { createShopeeAdapter, type ShopeeAdapter } from '../../src/marketplaces/shopee/adapter.js';
import { createShopeeWebhookHandler } from '../../src/marketplaces/shopee/webhook.js';
import { createTikTokAdapter, type TikTokAdapter } from '../../src/marketplaces/tiktok/adapter.js';
import { createTikTokWebhookHandler } from '../../src/marketplaces/tiktok/webhook.js';
import type { Shop } from '../../src/marketplaces/types.js';
import { silentLogger } from '../support/context.js';
import { detailsOrThrow } from '../support/details.js';
import {
  memoryTokenStore,
  unlimitedLimiter,
  type MemoryTokenStore,
  type RecordingLimiter,
} from '../support/fake-marketplace/deps.js';
import {
  FAKE_ENDPOINTS,
  startFakeMarketplace,
  type FakeMarketplace,
} from '../support/fake-marketplace/index.js';

const T = FAKE_ENDPOINTS.tiktok;
const S = FAKE_ENDPOINTS.shopee;
let fake: FakeMarketplace;

interface Harness {
  tiktok: TikTokAdapter;
  shopee: ShopeeAdapter;
  limiter: RecordingLimiter;
  tokens: MemoryTokenStore;
  sleeps: number[];
}

const open: Harness[] = [];

/** Both adapters with a recording limiter and token store; sleeps are recorded and kept short. */
function harness(options: { timeoutMs?: number; maxAttempts?: number } = {}): Harness {
  const limiter = unlimitedLimiter();
  const tokens = memoryTokenStore();
  const sleeps: number[] = [];
  const retry = {
    sleep: (ms: number) => {
      sleeps.push(ms);
      return new Promise<void>((resolve) => setTimeout(resolve, Math.min(ms, 5)));
    },
  };
  const common = {
    limiter,
    tokens,
    logger: silentLogger,
    timeoutMs: options.timeoutMs ?? 2_000,
    maxAttempts: options.maxAttempts ?? 4,
    detailBatchSize: 50,
  };
  const h: Harness = {
    limiter,
    tokens,
    sleeps,
    tiktok: createTikTokAdapter({
      ...common,
      config: {
        ...fake.credentials.tiktok,
        apiBaseUrl: fake.tiktokBaseUrl,
        authBaseUrl: fake.authBaseUrl,
      },
      webhook: createTikTokWebhookHandler(fake.credentials.tiktok),
      client: { retry },
    }),
    shopee: createShopeeAdapter({
      ...common,
      config: { ...fake.credentials.shopee, apiBaseUrl: fake.shopeeBaseUrl },
      webhook: createShopeeWebhookHandler({
        partnerKey: fake.credentials.shopee.partnerKey,
        webhookUrl: undefined,
      }),
      client: { retry },
    }),
  };
  open.push(h);
  return h;
}

function tiktokShop(): { shop: Shop; ids: string[] } {
  const { shopId } = fake.addShop('tiktok');
  const ids = fake.seedOrders('tiktok', shopId, 3).map((o) => String(o.id));
  return { shop: fake.toShop('tiktok', shopId), ids };
}

function shopeeShop(): { shop: Shop; ids: string[] } {
  const { shopId } = fake.addShop('shopee');
  const ids = fake
    .seedOrders('shopee', shopId, 3, () => ({ order_status: 'READY_TO_SHIP' }))
    .map((o) => String(o.order_sn));
  return { shop: fake.toShop('shopee', shopId), ids };
}

beforeAll(async () => {
  fake = await startFakeMarketplace({ seed: 3 });
});

afterEach(async () => {
  for (const h of open.splice(0)) await Promise.all([h.tiktok.close(), h.shopee.close()]);
  fake.knobs.reset();
  fake.calls.reset();
});

afterAll(async () => {
  await fake.close();
});

describe.each([
  { platform: 'tiktok' as const, endpoint: T.orderDetail, make: tiktokShop },
  { platform: 'shopee' as const, endpoint: S.orderDetail, make: shopeeShop },
])('$platform retries', ({ platform, endpoint, make }) => {
  it('retries 429 twice, honouring Retry-After and penalizing the limiter, then succeeds', async () => {
    const h = harness();
    const { shop, ids } = make();
    fake.knobs.failNext({ status: 429, retryAfter: 2 }, { platform, endpoint, times: 2 });

    const details = await detailsOrThrow(h[platform].getDetails(shop, 'order', ids));

    expect(details).toHaveLength(3);
    expect(fake.calls.count({ endpoint, status: 429 })).toBe(2);
    expect(fake.calls.count({ endpoint })).toBe(3);
    expect(h.sleeps).toEqual([2_000, 2_000]);
    expect(h.limiter.penalties).toEqual([
      { platform, shopId: shop.shop_id, forMs: 2_000 },
      { platform, shopId: shop.shop_id, forMs: 2_000 },
    ]);
    // The limiter is asked before every attempt.
    expect(h.limiter.acquired.filter((a) => a.shopId === shop.shop_id)).toHaveLength(3);
  });

  it('retries 5xx with backoff, then succeeds', async () => {
    const h = harness();
    const { shop, ids } = make();
    fake.knobs.failNext({ status: 503 }, { platform, endpoint, times: 2 });

    await expect(detailsOrThrow(h[platform].getDetails(shop, 'order', ids))).resolves.toHaveLength(3);
    expect(fake.calls.count({ endpoint })).toBe(3);
    expect(h.sleeps).toHaveLength(2);
  });

  it('gives up after the last attempt with a retryable error', async () => {
    const h = harness({ maxAttempts: 3 });
    const { shop, ids } = make();
    fake.knobs.failShop(platform, shop.shop_id, { status: 500 });

    const error: unknown = await detailsOrThrow(h[platform].getDetails(shop, 'order', ids)).catch(
      (e: unknown) => e,
    );

    expect(isAppError(error, 'ERR_MARKETPLACE_TRANSIENT')).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(true);
    expect(fake.calls.count({ endpoint })).toBe(3);
  });

  it('does not retry a permanent 4xx', async () => {
    const h = harness();
    const { shop, ids } = make();
    fake.knobs.failNext({ status: 400 }, { platform, endpoint });

    const error: unknown = await detailsOrThrow(h[platform].getDetails(shop, 'order', ids)).catch(
      (e: unknown) => e,
    );

    expect(isAppError(error, 'ERR_MARKETPLACE_REJECTED')).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(false);
    expect(fake.calls.count({ endpoint })).toBe(1);
  });

  it('retries a request that timed out', async () => {
    const h = harness({ timeoutMs: 300 });
    const { shop, ids } = make();
    fake.knobs.failNext('hang', { platform, endpoint });

    const started = Date.now();
    await expect(detailsOrThrow(h[platform].getDetails(shop, 'order', ids))).resolves.toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(fake.calls.count({ endpoint, status: 'hang' })).toBe(1);
    expect(fake.calls.count({ endpoint, status: 200 })).toBe(1);
  });

  it('refreshes an expired token once, persists it, and retries the call once', async () => {
    const h = harness();
    const { shop, ids } = make();
    const before = fake.shop(platform, shop.shop_id);
    // The marketplace expired the token although our copy says it is still good.
    fake.knobs.expireAccessToken(platform, shop.shop_id);

    await expect(detailsOrThrow(h[platform].getDetails(shop, 'order', ids))).resolves.toHaveLength(3);

    const refreshEndpoint = platform === 'tiktok' ? T.tokenRefresh : S.tokenRefresh;
    expect(fake.calls.count({ endpoint: refreshEndpoint })).toBe(1);
    expect(fake.calls.count({ endpoint })).toBe(2);
    const after = fake.shop(platform, shop.shop_id);
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(h.tokens.saved).toHaveLength(1);
    expect(h.tokens.latest(platform, shop.shop_id)).toEqual({
      access_token: after.accessToken,
      refresh_token: after.refreshToken,
      access_token_expires_at: expect.any(Date) as Date,
    });

    // The same (now stale) Shop object keeps working with the refreshed token, without refreshing again.
    await detailsOrThrow(h[platform].getDetails(shop, 'order', ids));
    expect(fake.calls.count({ endpoint: refreshEndpoint })).toBe(1);
  });

  it('shares one refresh among concurrent calls', async () => {
    const h = harness();
    const { shop, ids } = make();
    fake.knobs.expireAccessToken(platform, shop.shop_id);
    fake.knobs.setLatency(30);

    const results = await Promise.all(
      Array.from({ length: 8 }, () => detailsOrThrow(h[platform].getDetails(shop, 'order', ids))),
    );

    for (const result of results) expect(result).toHaveLength(3);
    const refreshEndpoint = platform === 'tiktok' ? T.tokenRefresh : S.tokenRefresh;
    expect(fake.calls.count({ endpoint: refreshEndpoint })).toBe(1);
    expect(h.tokens.saved).toHaveLength(1);
  });

  it('refreshes before the token expires, without a failed call', async () => {
    const h = harness();
    const { shop, ids } = make();
    const soon = { ...shop, access_token_expires_at: new Date(Date.now() + 60_000) };

    await expect(detailsOrThrow(h[platform].getDetails(soon, 'order', ids))).resolves.toHaveLength(3);

    expect(fake.calls.count({ platform, succeeded: false })).toBe(0);
    expect(h.tokens.saved).toHaveLength(1);
  });

  it('answers ERR_MARKETPLACE_AUTH when the refresh token was revoked, refreshing only once', async () => {
    const h = harness();
    const { shop, ids } = make();
    fake.knobs.expireAccessToken(platform, shop.shop_id);
    fake.knobs.revokeRefreshToken(platform, shop.shop_id);

    const error: unknown = await detailsOrThrow(h[platform].getDetails(shop, 'order', ids)).catch(
      (e: unknown) => e,
    );

    expect(isAppError(error, 'ERR_MARKETPLACE_AUTH')).toBe(true);
    const refreshEndpoint = platform === 'tiktok' ? T.tokenRefresh : S.tokenRefresh;
    expect(fake.calls.count({ endpoint: refreshEndpoint })).toBe(1);
    expect(h.tokens.saved).toHaveLength(0);
  });
});

describe('per-shop failure modes', () => {
  it('fails only the affected shop', async () => {
    const h = harness({ maxAttempts: 1 });
    const broken = tiktokShop();
    const healthy = tiktokShop();
    fake.knobs.failShop('tiktok', broken.shop.shop_id, { status: 503 });

    await expect(detailsOrThrow(h.tiktok.getDetails(broken.shop, 'order', broken.ids))).rejects.toMatchObject(
      {
        code: 'ERR_MARKETPLACE_TRANSIENT',
      },
    );
    await expect(
      detailsOrThrow(h.tiktok.getDetails(healthy.shop, 'order', healthy.ids)),
    ).resolves.toHaveLength(3);
    expect(fake.calls.byShop()).toEqual({
      [`tiktok:${broken.shop.shop_id}`]: 1,
      [`tiktok:${healthy.shop.shop_id}`]: 1,
    });
  });
});
