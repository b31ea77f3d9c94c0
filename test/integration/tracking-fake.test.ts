/**
 * The tracking calls of both adapters against the fake marketplace over real HTTP: signed like
 * every shop call (a wrong key is refused), one call per order (TikTok) or package (Shopee) through
 * the rate limiter, the platforms' refusals (a split order asked for without package_number, an
 * empty package_number), and an unknown order answered as absent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createShopeeAdapter } from '../../src/marketplaces/shopee/adapter.js';
import { createShopeeWebhookHandler } from '../../src/marketplaces/shopee/webhook.js';
import { createTikTokAdapter } from '../../src/marketplaces/tiktok/adapter.js';
import { createTikTokWebhookHandler } from '../../src/marketplaces/tiktok/webhook.js';
import type { MarketplaceAdapter, Shop } from '../../src/marketplaces/types.js';
import { silentLogger } from '../support/context.js';
import {
  memoryTokenStore,
  unlimitedLimiter,
  type RecordingLimiter,
} from '../support/fake-marketplace/deps.js';
import {
  FAKE_ENDPOINTS,
  startFakeMarketplace,
  type FakeMarketplace,
  type Json,
} from '../support/fake-marketplace/index.js';

let fake: FakeMarketplace;
const common = () => ({
  tokens: memoryTokenStore(),
  logger: silentLogger,
  timeoutMs: 2_000,
  maxAttempts: 2,
  detailBatchSize: 50,
  client: { retry: { backoffBaseMs: 1, backoffMaxMs: 5 } },
});

function tiktok(limiter: RecordingLimiter, appSecret = fake.credentials.tiktok.appSecret) {
  return createTikTokAdapter({
    ...common(),
    config: {
      appKey: fake.credentials.tiktok.appKey,
      appSecret,
      apiBaseUrl: fake.tiktokBaseUrl,
      authBaseUrl: fake.authBaseUrl,
    },
    webhook: createTikTokWebhookHandler(fake.credentials.tiktok),
    limiter,
  });
}

function shopee(limiter: RecordingLimiter, partnerKey = fake.credentials.shopee.partnerKey) {
  return createShopeeAdapter({
    ...common(),
    config: { partnerId: fake.credentials.shopee.partnerId, partnerKey, apiBaseUrl: fake.shopeeBaseUrl },
    webhook: createShopeeWebhookHandler({ partnerKey, webhookUrl: undefined }),
    limiter,
  });
}

const adapters: MarketplaceAdapter[] = [];
const keep = <T extends MarketplaceAdapter>(adapter: T) => (adapters.push(adapter), adapter);

beforeAll(async () => {
  fake = await startFakeMarketplace({ seed: 11 });
});
afterAll(async () => {
  await Promise.all(adapters.map((a) => a.close()));
  await fake.close();
});

describe('TikTok Get Tracking at the fake', () => {
  it('one signed call per order through the rate limiter; unknown orders fail alone', async () => {
    const shopId = fake.addShop('tiktok').shopId;
    const shop: Shop = fake.toShop('tiktok', shopId);
    const orders = fake.seedOrders('tiktok', shopId, 2, () => ({ status: 'IN_TRANSIT' }));
    const [a, b] = orders.map((o) => String(o.id)) as [string, string];
    fake.addTrackingEvents('tiktok', shopId, a, [{ time: 1_795_231_800, description: 'Picked up' }]);
    const limiter = unlimitedLimiter();
    const adapter = keep(tiktok(limiter));

    const result = await adapter.getDetails(shop, 'tracking', [a, b, 'missing-order']);
    expect(result.objects).toEqual([
      {
        order_id: a,
        tracking: [{ description: 'Picked up', update_time_millis: 1_795_231_800_000 }],
      },
      { order_id: b, tracking: [] },
    ]);
    expect(result.failures.map((f) => [f.ids, f.error.code])).toEqual([
      [['missing-order'], 'ERR_MARKETPLACE_REJECTED'],
    ]);
    expect(fake.calls.count({ shopId, endpoint: FAKE_ENDPOINTS.tiktok.tracking })).toBe(3);
    expect(limiter.acquired.filter((c) => c.shopId === shopId)).toHaveLength(3);

    // Signed as every shop call: another app secret is refused.
    const wrong = keep(tiktok(unlimitedLimiter(), 'not-the-secret'));
    const refused = await wrong.getDetails(shop, 'tracking', [a]);
    expect(refused.failures[0]?.error.message).toMatch(/sign/i);
  });
});

describe('Shopee get_tracking_info at the fake', () => {
  it('one call per package named by the hint; a split order without them is refused as Shopee does', async () => {
    const shopId = fake.addShop('shopee').shopId;
    const shop: Shop = fake.toShop('shopee', shopId);
    const [order] = fake.seedOrders('shopee', shopId, 1, () => ({
      order_status: 'SHIPPED',
      package_list: [{ package_number: 'PK1' }, { package_number: 'PK2' }],
    })) as [Json];
    const orderSn = String(order.order_sn);
    fake.addTrackingEvents(
      'shopee',
      shopId,
      orderSn,
      [{ time: 1_795_231_800, description: 'Picked up', status: 'PICKED_UP' }],
      { packageNumber: 'PK2' },
    );
    const limiter = unlimitedLimiter();
    const adapter = keep(shopee(limiter));
    const hint = JSON.stringify({ order_status: 'SHIPPED', packages: ['PK1', 'PK2'] });

    const found = await adapter.getDetails(shop, 'tracking', [orderSn], new Map([[orderSn, hint]]));
    expect(found.failures).toEqual([]);
    expect(found.objects).toEqual([
      expect.objectContaining({ order_sn: orderSn, package_number: 'PK1', tracking_info: [] }),
      expect.objectContaining({
        order_sn: orderSn,
        package_number: 'PK2',
        order_status: 'SHIPPED',
        tracking_info: [
          { description: 'Picked up', logistics_status: 'PICKED_UP', update_time: 1_795_231_800 },
        ],
      }),
    ]);
    expect(limiter.acquired.filter((c) => c.shopId === shopId)).toHaveLength(2);

    // Without package numbers: Shopee wants them for a split order.
    const split = await adapter.getDetails(shop, 'tracking', [orderSn]);
    expect(split.failures[0]?.error.message).toMatch(/logistics\.package_number_not_exist/);
    // An unknown order is absent: in neither list.
    expect(await adapter.getDetails(shop, 'tracking', ['NOPE123'])).toEqual({ objects: [], failures: [] });

    // package_number must be omitted, never sent empty.
    const { client } = adapter;
    await expect(
      client.request(shop, 'get_tracking_info', '/api/v2/logistics/get_tracking_info', {
        order_sn: orderSn,
        package_number: '',
      }),
    ).rejects.toMatchObject({ code: 'ERR_MARKETPLACE_REJECTED' });

    // Signed as every shop call: another partner key is refused.
    const wrong = keep(shopee(unlimitedLimiter(), 'not-the-key'));
    const refused = await wrong.getDetails(shop, 'tracking', [orderSn], new Map([[orderSn, hint]]));
    expect(refused.failures[0]?.error.message).toMatch(/error_sign/);
  });
});
