/**
 * The products catalog at the adapters, over real HTTP against the fake marketplace: TikTok
 * lists deleted and frozen products (each id once, with its search object as payload) and falls
 * back on that object only; the fake refuses what the platforms refuse (unknown statuses, page
 * sizes over 100, more than 50 ids, Shopee windows over 15 days).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { isAppError } from '../../src/shared/errors.js';
import { createShopeeAdapter, type ShopeeAdapter } from '../../src/marketplaces/shopee/adapter.js';
import { createShopeeWebhookHandler } from '../../src/marketplaces/shopee/webhook.js';
import { createTikTokAdapter, type TikTokAdapter } from '../../src/marketplaces/tiktok/adapter.js';
import { createTikTokWebhookHandler } from '../../src/marketplaces/tiktok/webhook.js';
import type { ListedEntity, Shop } from '../../src/marketplaces/types.js';
import { memoryTokenStore, unlimitedLimiter } from '../support/fake-marketplace/deps.js';
import {
  FAKE_ENDPOINTS,
  startFakeMarketplace,
  type FakeMarketplace,
} from '../support/fake-marketplace/index.js';
import { silentLogger } from '../support/context.js';

const E = FAKE_ENDPOINTS;
let fake: FakeMarketplace;
let tiktok: TikTokAdapter;
let shopee: ShopeeAdapter;

const common = {
  limiter: unlimitedLimiter(),
  logger: silentLogger,
  timeoutMs: 2_000,
  maxAttempts: 1,
  detailBatchSize: 50,
};

beforeAll(async () => {
  fake = await startFakeMarketplace({ seed: 14 });
  tiktok = createTikTokAdapter({
    ...common,
    config: {
      appKey: fake.credentials.tiktok.appKey,
      appSecret: fake.credentials.tiktok.appSecret,
      apiBaseUrl: fake.tiktokBaseUrl,
      authBaseUrl: fake.authBaseUrl,
    },
    webhook: createTikTokWebhookHandler(fake.credentials.tiktok),
    tokens: memoryTokenStore(),
  });
  shopee = createShopeeAdapter({
    ...common,
    config: {
      partnerId: fake.credentials.shopee.partnerId,
      partnerKey: fake.credentials.shopee.partnerKey,
      apiBaseUrl: fake.shopeeBaseUrl,
    },
    webhook: createShopeeWebhookHandler({
      partnerKey: fake.credentials.shopee.partnerKey,
      webhookUrl: undefined,
    }),
    tokens: memoryTokenStore(),
  });
});

afterAll(async () => {
  await tiktok.close();
  await shopee.close();
  await fake.close();
});

beforeEach(() => {
  fake.calls.reset();
  fake.knobs.reset();
});

async function listed(pages: AsyncIterable<ListedEntity[]>): Promise<ListedEntity[]> {
  const all: ListedEntity[] = [];
  for await (const page of pages) all.push(...page);
  return all;
}

const from = new Date('2026-11-18T00:00:00+07:00');
const to = new Date('2026-11-19T00:00:00+07:00');
const at = (offset: number) => () => ({ update_time: from.getTime() / 1000 + offset });

function newShop(platform: 'tiktok' | 'shopee'): Shop {
  return fake.toShop(platform, fake.addShop(platform).shopId);
}

function expectRejected(error: unknown, reason: RegExp) {
  expect(isAppError(error, 'ERR_MARKETPLACE_REJECTED')).toBe(true);
  expect((error as Error).message).toMatch(reason);
}

/** The error a call rejected with (or fails the test). */
async function refusal(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => expect.fail('expected the fake to refuse the call'),
    (error: unknown) => error,
  );
}

describe('TikTok deleted and frozen products', () => {
  it('lists active, DELETED and FREEZE products, each id once; only deleted ones carry their search object', async () => {
    const shop = newShop('tiktok');
    const [active, deleted, frozen] = fake.seedProducts('tiktok', shop.shop_id, 3, (i) => ({
      status: ['ACTIVATE', 'DELETED', 'FREEZE'][i],
      update_time: from.getTime() / 1000 + 60 + i,
    }));

    const entities = await listed(tiktok.listUpdated(shop, 'product', from, to));

    expect(entities.map((e) => e.id).sort()).toEqual(
      [active, deleted, frozen].map((p) => String(p!.id)).sort(),
    );
    const byId = new Map(entities.map((e) => [e.id, e]));
    expect(byId.get(String(active!.id))!.payload).toBeUndefined();
    for (const product of [deleted!, frozen!]) {
      const payload = JSON.parse(byId.get(String(product.id))!.payload!) as Record<string, unknown>;
      expect(payload).toMatchObject({ id: product.id, status: product.status, skus: product.skus });
    }
    // The default search, then DELETED and FREEZE on their own, with the same update-time filter.
    const bodies = fake.calls.log.filter((c) => c.endpoint === E.tiktok.productSearch).map((c) => c.body);
    expect(bodies).toEqual([
      { update_time_ge: from.getTime() / 1000, update_time_le: to.getTime() / 1000 - 1 },
      { update_time_ge: from.getTime() / 1000, update_time_le: to.getTime() / 1000 - 1, status: 'DELETED' },
      { update_time_ge: from.getTime() / 1000, update_time_le: to.getTime() / 1000 - 1, status: 'FREEZE' },
    ]);
  });

  it('Get Product does not answer a deleted product: the listed object is used, an unrelated hint is not', async () => {
    const shop = newShop('tiktok');
    const [product] = fake.seedProducts('tiktok', shop.shop_id, 1, at(60));
    const id = String(product!.id);
    fake.setProductStatus('tiktok', shop.shop_id, id, 'DELETED');
    const [entity] = await listed(tiktok.listUpdated(shop, 'product', from, new Date()));
    fake.calls.reset();

    const none = await tiktok.getDetails(shop, 'product', [id]);
    expect(none).toEqual({ objects: [], failures: [] });
    const otherProduct = JSON.stringify({ ...JSON.parse(entity!.payload!), id: '1' });
    expect((await tiktok.getDetails(shop, 'product', [id], new Map([[id, otherProduct]]))).objects).toEqual(
      [],
    );

    const fromListing = await tiktok.getDetails(shop, 'product', [id], new Map([[id, entity!.payload!]]));
    expect(fromListing.failures).toEqual([]);
    expect(fromListing.objects).toEqual([JSON.parse(entity!.payload!)]);
    expect(fake.calls.count({ endpoint: E.tiktok.productDetail })).toBe(3);
    expect(fake.calls.count({ endpoint: E.tiktok.productSearch })).toBe(0);
  });

  it('a product webhook about a deleted product finds it by a search at the webhook update_time', async () => {
    const shop = newShop('tiktok');
    const [product, neighbour] = fake.seedProducts('tiktok', shop.shop_id, 2, at(60));
    const id = String(product!.id);
    const deletedAt = from.getTime() / 1000 + 3_600;
    fake.setProductStatus('tiktok', shop.shop_id, id, 'FREEZE', deletedAt);
    fake.setProductStatus('tiktok', shop.shop_id, String(neighbour!.id), 'DELETED', deletedAt);
    const webhook = (updateTime: number) =>
      `{"type":5,"shop_id":"${shop.shop_id}","data":{"product_id":${id},"status":"PRODUCT_FROZEN","update_time":${updateTime}}}`;

    const found = await tiktok.getDetails(shop, 'product', [id], new Map([[id, webhook(deletedAt)]]));
    expect(found.objects).toHaveLength(1);
    expect(found.objects[0]).toMatchObject({ id, status: 'FREEZE', update_time: deletedAt });
    // DELETED first (holds only the neighbour), then FREEZE; both at exactly that second.
    const bodies = fake.calls.log.filter((c) => c.endpoint === E.tiktok.productSearch).map((c) => c.body);
    expect(bodies).toEqual([
      { update_time_ge: deletedAt, update_time_le: deletedAt, status: 'DELETED' },
      { update_time_ge: deletedAt, update_time_le: deletedAt, status: 'FREEZE' },
    ]);

    const elsewhere = await tiktok.getDetails(shop, 'product', [id], new Map([[id, webhook(deletedAt - 5)]]));
    expect(elsewhere).toEqual({ objects: [], failures: [] });
  });

  it('an active product is always read from Get Product, whatever the hint says', async () => {
    const shop = newShop('tiktok');
    const [product] = fake.seedProducts('tiktok', shop.shop_id, 1, () => ({ status: 'ACTIVATE' }));
    const id = String(product!.id);
    const stale = JSON.stringify({ ...product, status: 'DELETED', title: 'stale' });
    const { objects } = await tiktok.getDetails(shop, 'product', [id], new Map([[id, stale]]));
    expect(objects).toEqual([product]);
  });
});

describe('the fake refuses what the platforms refuse', () => {
  it('TikTok: an unknown search status, and a page over 100', async () => {
    const shop = newShop('tiktok');
    const search = (pageSize: string, body: unknown) =>
      tiktok.client.request(
        shop,
        'search_products',
        'POST',
        E.tiktok.productSearch,
        { page_size: pageSize },
        body,
      );

    expectRejected(await refusal(search('100', { status: 'REMOVED' })), /status must be one of/);
    expectRejected(await refusal(search('101', {})), /page_size must be within \[1, 100\]/);
    await expect(search('100', { status: 'DELETED' })).resolves.toMatchObject({ code: 0 });
  });

  it('Shopee: get_item_list without a known item_status, over 15 days, or over 100 a page; get_item_base_info over 50 ids', async () => {
    const shop = newShop('shopee');
    const itemList = (params: Record<string, string | string[]>) =>
      shopee.client.request(shop, 'get_item_list', E.shopee.itemList, {
        offset: '0',
        page_size: '100',
        ...params,
      });
    const day = 86_400;
    const start = from.getTime() / 1000;

    const refused: [Record<string, string | string[]>, RegExp][] = [
      [{ item_status: 'DELETED' }, /item_status DELETED is invalid/],
      [
        {
          item_status: 'NORMAL',
          update_time_from: String(start),
          update_time_to: String(start + 15 * day + 1),
        },
        /should not exceed 15 days/,
      ],
      [{ item_status: ['NORMAL', 'BANNED'], page_size: '101' }, /page_size \(1\.\.100\)/],
    ];
    for (const [params, reason] of refused) {
      expectRejected(await refusal(itemList(params)), reason);
    }
    await expect(
      itemList({
        item_status: ['NORMAL', 'SELLER_DELETE'],
        update_time_from: String(start),
        update_time_to: String(start + 15 * day),
      }),
    ).resolves.toMatchObject({ error: '' });

    const ids = Array.from({ length: 51 }, (_, i) => String(1000 + i));
    const tooMany = await refusal(
      shopee.client.request(shop, 'get_item_base_info', E.shopee.itemBaseInfo, {
        item_id_list: ids.join(','),
      }),
    );
    expectRejected(tooMany, /item_id_list must hold 1\.\.50/);
  });

  it('Shopee: a 40-day product listing is asked in windows of at most 15 days with every item_status', async () => {
    const shop = newShop('shopee');
    fake.seedProducts('shopee', shop.shop_id, 3, at(60));
    const entities = await listed(
      shopee.listUpdated(shop, 'product', from, new Date(from.getTime() + 40 * 86_400_000)),
    );
    expect(entities).toHaveLength(3);
    const calls = fake.calls.log.filter((c) => c.endpoint === E.shopee.itemList);
    expect(calls).toHaveLength(3);
    for (const call of calls) {
      expect(Number(call.query.update_time_to) - Number(call.query.update_time_from)).toBeLessThanOrEqual(
        15 * 86_400,
      );
    }
    expect(fake.calls.count({ status: 400 })).toBe(0);
  });
});
