/**
 * The Shopee adapter against the fake marketplace over real HTTP: detail chunking, cursor paging,
 * 15-day windows, returns, products with models, tracking numbers, lost pushes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { OrderDocument, ProductDocument } from '../../src/shared/documents.js';
import { isAppError } from '../../src/shared/errors.js';
import { createShopeeAdapter, type ShopeeAdapter } from '../../src/marketplaces/shopee/adapter.js';
import { createShopeeWebhookHandler } from '../../src/marketplaces/shopee/webhook.js';
import type { ListedEntity, MappingContext, Shop } from '../../src/marketplaces/types.js';
import { silentLogger } from '../support/context.js';
import { detailsOrThrow } from '../support/details.js';
import { memoryTokenStore, unlimitedLimiter } from '../support/fake-marketplace/deps.js';
import {
  FAKE_ENDPOINTS,
  startFakeMarketplace,
  type FakeMarketplace,
} from '../support/fake-marketplace/index.js';

const E = FAKE_ENDPOINTS.shopee;
const DAY = 86_400;
let fake: FakeMarketplace;
let adapter: ShopeeAdapter;
let shop: Shop;

const context = (): MappingContext => ({
  timezoneOffset: '+07:00',
  source: 'webhook',
  fetchedAt: new Date(),
  syncedAt: new Date(),
});

function makeAdapter(options: { partnerKey?: string; fetchTrackingNumbers?: boolean } = {}) {
  return createShopeeAdapter({
    config: {
      partnerId: fake.credentials.shopee.partnerId,
      partnerKey: options.partnerKey ?? fake.credentials.shopee.partnerKey,
      apiBaseUrl: fake.shopeeBaseUrl,
    },
    webhook: createShopeeWebhookHandler({
      partnerKey: fake.credentials.shopee.partnerKey,
      webhookUrl: undefined,
    }),
    limiter: unlimitedLimiter(),
    tokens: memoryTokenStore(),
    logger: silentLogger,
    timeoutMs: 2_000,
    maxAttempts: 3,
    detailBatchSize: 50,
    client: {
      retry: { backoffBaseMs: 1, backoffMaxMs: 5 },
      fetchTrackingNumbers: options.fetchTrackingNumbers,
    },
  });
}

async function collect(pages: AsyncIterable<ListedEntity[]>): Promise<ListedEntity[][]> {
  const all: ListedEntity[][] = [];
  for await (const page of pages) all.push(page);
  return all;
}

beforeAll(async () => {
  fake = await startFakeMarketplace({ seed: 11 });
  adapter = makeAdapter();
});

afterAll(async () => {
  await adapter.close();
  await fake.close();
});

beforeEach(() => {
  const { shopId } = fake.addShop('shopee');
  shop = fake.toShop('shopee', shopId);
  fake.calls.reset();
  fake.knobs.reset();
});

describe('Shopee getDetails', () => {
  it('fetches 120 orders in 3 get_order_detail calls of at most 50', async () => {
    const orders = fake.seedOrders('shopee', shop.shop_id, 120, () => ({ order_status: 'READY_TO_SHIP' }));
    const ids = orders.map((o) => String(o.order_sn));

    const details = await detailsOrThrow(adapter.getDetails(shop, 'order', ids));

    expect(details).toHaveLength(120);
    const calls = fake.calls.log.filter((c) => c.endpoint === E.orderDetail);
    expect(calls.map((c) => c.ids.length)).toEqual([50, 50, 20]);
    // The optional fields the mapper needs were asked for (the fake leaves them out otherwise).
    expect(String(calls[0]!.query.response_optional_fields).split(',')).toEqual(
      expect.arrayContaining(['total_amount', 'item_list', 'recipient_address', 'pay_time']),
    );
    for (const raw of details) {
      const document = adapter.toDocument(shop, 'order', raw, context()) as OrderDocument;
      expect(document.validation_errors).toEqual([]);
      expect(document.total_amount?.toString()).toBe(String((raw as { total_amount: number }).total_amount));
    }
  });

  it('adds the tracking number of shipped orders from get_tracking_number', async () => {
    const [shipped] = fake.seedOrders('shopee', shop.shop_id, 1, () => ({
      order_status: 'SHIPPED',
      tracking_no: 'SPXSG000111222',
    }));
    const [unshipped] = fake.seedOrders('shopee', shop.shop_id, 1, () => ({ order_status: 'READY_TO_SHIP' }));

    const details = await detailsOrThrow(
      adapter.getDetails(shop, 'order', [String(shipped!.order_sn), String(unshipped!.order_sn)]),
    );
    const documents = details.map(
      (raw) => adapter.toDocument(shop, 'order', raw, context()) as OrderDocument,
    );

    expect(documents.find((d) => d.order_id === shipped!.order_sn)?.tracking_number).toBe('SPXSG000111222');
    expect(documents.find((d) => d.order_id === unshipped!.order_sn)?.tracking_number).toBeNull();
    expect(fake.calls.ids({ endpoint: E.trackingNumber })).toEqual([[shipped!.order_sn]]);
  });

  it('fetches returns one get_return_detail each and skips unknown ones', async () => {
    const returns = fake.seedReturns('shopee', shop.shop_id, 3);
    const ids = [...returns.map((r) => String(r.return_sn)), '2511999999999'];

    const details = await detailsOrThrow(adapter.getDetails(shop, 'return', ids));

    expect(details).toHaveLength(3);
    expect(fake.calls.count({ endpoint: E.returnDetail })).toBe(4);
    expect(adapter.toDocument(shop, 'return', details[0], context()).is_valid).toBe(true);
  });

  it('fetches items in batches and the models of items that have them', async () => {
    const items = [
      ...fake.seedProducts('shopee', shop.shop_id, 60, () => ({ has_model: false })),
      ...fake.seedProducts('shopee', shop.shop_id, 2, () => ({ has_model: true })),
    ];

    const details = await detailsOrThrow(
      adapter.getDetails(
        shop,
        'product',
        items.map((i) => String(i.item_id)),
      ),
    );

    expect(details).toHaveLength(62);
    expect(fake.calls.ids({ endpoint: E.itemBaseInfo }).map((c) => c.length)).toEqual([50, 12]);
    expect(fake.calls.count({ endpoint: E.modelList })).toBe(2);
    const withModels = details
      .map((raw) => adapter.toDocument(shop, 'product', raw, context()) as ProductDocument)
      .filter((d) => d.skus.length > 1);
    expect(withModels).toHaveLength(2);
    for (const document of withModels) expect(document.is_valid).toBe(true);
  });
});

describe('Shopee getDetails settles each call on its own', () => {
  const documentsOf = (objects: unknown[]) =>
    objects.map((raw) => adapter.toDocument(shop, 'order', raw, context()) as OrderDocument);

  it('issue 10 #7: one refused sub-call fails only its own chunk: 70 of 120 orders returned', async () => {
    const ids = fake
      .seedOrders('shopee', shop.shop_id, 120, () => ({ order_status: 'READY_TO_SHIP' }))
      .map((o) => String(o.order_sn));
    // The chunk holding ids 50..99 is answered 500 on each of the client's 3 attempts.
    fake.knobs.failNext({ status: 500 }, { endpoint: E.orderDetail, id: ids[60]!, times: 3 });

    const { objects, failures } = await adapter.getDetails(shop, 'order', ids);

    expect(fake.calls.count({ endpoint: E.orderDetail, id: ids[60]!, status: 500 })).toBe(3);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.ids).toEqual(ids.slice(50, 100));
    expect(failures[0]!.error).toMatchObject({ code: 'ERR_MARKETPLACE_TRANSIENT', retryable: true });
    expect(objects.map((o) => (o as { order_sn: string }).order_sn).sort()).toEqual(
      [...ids.slice(0, 50), ...ids.slice(100)].sort(),
    );
  });

  it('issue 10 #7: one refused sub-call (get_tracking_number, retryable) fails only that order', async () => {
    const orders = fake.seedOrders('shopee', shop.shop_id, 3, (i) => ({
      order_status: 'SHIPPED',
      tracking_no: `SPX${i}`,
    }));
    const ids = orders.map((o) => String(o.order_sn));
    fake.knobs.failNext({ status: 500 }, { endpoint: E.trackingNumber, id: ids[1]!, times: 3 });

    const { objects, failures } = await adapter.getDetails(shop, 'order', ids);

    expect(failures).toHaveLength(1);
    expect(failures[0]!.ids).toEqual([ids[1]]);
    expect(failures[0]!.error).toMatchObject({ code: 'ERR_MARKETPLACE_TRANSIENT', retryable: true });
    const documents = documentsOf(objects);
    expect(documents.map((d) => [d.order_id, d.tracking_number])).toEqual([
      [ids[0], 'SPX0'],
      [ids[2], 'SPX2'],
    ]);
  });

  it('keeps an order without its tracking number when get_tracking_number refuses (non-retryable)', async () => {
    const orders = fake.seedOrders('shopee', shop.shop_id, 2, (i) => ({
      order_status: 'SHIPPED',
      tracking_no: `SPX${i}`,
    }));
    const ids = orders.map((o) => String(o.order_sn));
    fake.knobs.failNext({ status: 400 }, { endpoint: E.trackingNumber, id: ids[0]! });

    const { objects, failures } = await adapter.getDetails(shop, 'order', ids);

    expect(failures).toEqual([]);
    const documents = documentsOf(objects);
    expect(documents.find((d) => d.order_id === ids[0])?.tracking_number).toBeNull();
    expect(documents.find((d) => d.order_id === ids[1])?.tracking_number).toBe('SPX1');
  });

  it('issue 10 #7: one refused sub-call (get_model_list) fails only that item', async () => {
    const ids = fake
      .seedProducts('shopee', shop.shop_id, 3, () => ({ has_model: true }))
      .map((i) => String(i.item_id));
    fake.knobs.failNext({ status: 500 }, { endpoint: E.modelList, id: ids[2]!, times: 3 });

    const { objects, failures } = await adapter.getDetails(shop, 'product', ids);

    expect(failures.map((f) => [f.ids, f.error.code])).toEqual([[[ids[2]], 'ERR_MARKETPLACE_TRANSIENT']]);
    expect(objects.map((item) => String((item as { item_id: number }).item_id))).toEqual(ids.slice(0, 2));
    for (const item of objects) expect((item as { model?: unknown[] }).model?.length).toBeGreaterThan(1);
  });

  it('issue 10 #7: one refused sub-call (get_return_detail) fails only that return; unknown ones stay absent', async () => {
    const ids = fake.seedReturns('shopee', shop.shop_id, 3).map((r) => String(r.return_sn));
    const unknown = '2511999999999';
    fake.knobs.failNext({ status: 403 }, { endpoint: E.returnDetail, id: ids[0]! });

    const { objects, failures } = await adapter.getDetails(shop, 'return', [...ids, unknown]);

    expect(failures.map((f) => [f.ids, f.error.code])).toEqual([[[ids[0]], 'ERR_MARKETPLACE_REJECTED']]);
    expect(objects.map((r) => (r as { return_sn: string }).return_sn)).toEqual(ids.slice(1));
  });
});

describe('Shopee listUpdated', () => {
  it('fails a listing page as a whole when one of its detail calls fails (never skips ids)', async () => {
    const from = new Date('2026-11-01T00:00:00Z');
    const to = new Date('2026-11-02T00:00:00Z');
    const start = from.getTime() / 1000;
    const ids = fake
      .seedOrders('shopee', shop.shop_id, 60, (i) => ({ update_time: start + i }))
      .map((o) => String(o.order_sn));
    fake.knobs.failNext({ status: 500 }, { endpoint: E.orderDetail, id: ids[55]!, times: 3 });

    await expect(collect(adapter.listUpdated(shop, 'order', from, to))).rejects.toMatchObject({
      code: 'ERR_MARKETPLACE_TRANSIENT',
    });
  });

  it('follows the cursor to the end, reading versions from the details', async () => {
    const from = new Date('2026-11-01T00:00:00Z');
    const to = new Date('2026-11-02T00:00:00Z');
    const start = from.getTime() / 1000;
    const inside = fake.seedOrders('shopee', shop.shop_id, 230, (i) => ({ update_time: start + i * 60 }));
    fake.seedOrders('shopee', shop.shop_id, 3, () => ({ update_time: to.getTime() / 1000 }));

    const pages = await collect(adapter.listUpdated(shop, 'order', from, to));

    expect(pages.map((p) => p.length)).toEqual([100, 100, 30]);
    const listed = pages.flat();
    expect(listed.map((e) => e.id)).toEqual(inside.map((o) => String(o.order_sn)));
    expect(listed.map((e) => e.version)).toEqual(inside.map((o) => o.update_time));
    expect(fake.calls.count({ endpoint: E.orderList })).toBe(3);
  });

  it('splits a 40-day range into windows of at most 15 days', async () => {
    const from = new Date('2026-10-01T00:00:00Z');
    const to = new Date('2026-11-10T00:00:00Z');
    const start = from.getTime() / 1000;
    // One order per day, each at noon: every one of them is listed exactly once.
    const orders = fake.seedOrders('shopee', shop.shop_id, 40, (i) => ({
      update_time: start + i * DAY + DAY / 2,
    }));

    const pages = await collect(adapter.listUpdated(shop, 'order', from, to));

    const windows = fake.calls.log
      .filter((c) => c.endpoint === E.orderList)
      .map((c) => [Number(c.query.time_from), Number(c.query.time_to)] as const);
    expect(windows).toEqual([
      [start, start + 15 * DAY - 1],
      [start + 15 * DAY, start + 30 * DAY - 1],
      [start + 30 * DAY, start + 40 * DAY - 1],
    ]);
    for (const [windowFrom, windowTo] of windows) expect(windowTo - windowFrom).toBeLessThanOrEqual(15 * DAY);
    expect(fake.calls.count({ endpoint: E.orderList, succeeded: false })).toBe(0);
    expect(
      pages
        .flat()
        .map((e) => e.id)
        .sort(),
    ).toEqual(orders.map((o) => String(o.order_sn)).sort());
  });

  it('lists returns by page number and items by offset', async () => {
    const from = new Date('2026-11-01T00:00:00Z');
    const to = new Date('2026-11-03T00:00:00Z');
    const at = (i: number) => ({ update_time: from.getTime() / 1000 + i });
    fake.seedReturns('shopee', shop.shop_id, 150, at);
    fake.seedProducts('shopee', shop.shop_id, 130, at);

    const returns = await collect(adapter.listUpdated(shop, 'return', from, to));
    const items = await collect(adapter.listUpdated(shop, 'product', from, to));

    expect(returns.map((p) => p.length)).toEqual([100, 50]);
    expect(items.map((p) => p.length)).toEqual([100, 30]);
    expect(new Set(items.flat().map((e) => e.id)).size).toBe(130);
  });
});

describe('Shopee lost pushes', () => {
  it('fetches lost pushes as webhook events and confirms them', async () => {
    const data = { ordersn: '2511210ABCDEF1', status: 'READY_TO_SHIP', update_time: 1_795_231_800 };
    fake.addLostPush({ shopId: shop.shop_id, code: 3, data });
    fake.addLostPush({
      shopId: shop.shop_id,
      code: 4,
      data: { ordersn: '2511210ABCDEF2', tracking_no: 'SPX1' },
    });
    fake.addLostPush({ shopId: shop.shop_id, code: 9, data: { content: 'an announcement' } });

    const lost = await adapter.fetchLostWebhooks();

    expect(lost.events).toHaveLength(2);
    expect(lost.hasMore).toBe(false);
    expect(lost.events[0]).toMatchObject({
      platform: 'shopee',
      shop_id: shop.shop_id,
      kind: 'order',
      entity_id: '2511210ABCDEF1',
      version: 1_795_231_800,
      event_type: '3',
    });
    expect(lost.events[0]!.event_id).toBe(createHash('sha256').update(lost.events[0]!.payload).digest('hex'));
    expect(JSON.parse(lost.events[0]!.payload)).toMatchObject({
      code: 3,
      shop_id: Number(shop.shop_id),
      data,
    });
    expect(fake.lostPushState().pending).toBe(3);

    await lost.confirm();
    await lost.confirm(); // idempotent: one confirmation call

    expect(fake.lostPushState()).toEqual({ pending: 0, confirmedUpTo: 3 });
    expect(fake.calls.count({ endpoint: E.confirmLostPush })).toBe(1);
    expect((await adapter.fetchLostWebhooks()).events).toEqual([]);
  });
});

describe('issue 11 #6: Shopee lost pushes as Shopee serves them', () => {
  it('issue 11 #6: reads every published shape, and returns unreadable items instead of dropping them', async () => {
    const order = (sn: string) => ({ ordersn: sn, status: 'READY_TO_SHIP', update_time: 1_795_231_800 });
    fake.addLostPush({ shopId: shop.shop_id, code: 3, data: order('ENVELOPE1') }); // published shape
    fake.addLostPush({ shopId: shop.shop_id, code: 3, data: order('INNER1'), shape: 'inner-data' });
    fake.addLostPush({ shopId: shop.shop_id, code: 3, data: order('OBJECT1'), shape: 'envelope-object' });
    fake.addLostPush({
      shopId: shop.shop_id,
      code: 29,
      data: {},
      dataText: `{"data":{"return_sn":2511230000000000001,"order_sn":"ENVELOPE1"},"shop_id":${shop.shop_id},"code":29,"timestamp":1795231801}`,
    });
    fake.addLostPush({ shopId: shop.shop_id, code: 3, data: {}, dataText: '{"data":{"ordersn":' });

    const lost = await adapter.fetchLostWebhooks();

    expect(lost.events.map((e) => [e.kind, e.entity_id, e.shop_id])).toEqual([
      ['order', 'ENVELOPE1', shop.shop_id],
      ['order', 'INNER1', shop.shop_id],
      ['order', 'OBJECT1', shop.shop_id],
      ['return', '2511230000000000001', shop.shop_id],
    ]);
    expect(lost.unreadable).toHaveLength(1);
    const [bad] = lost.unreadable;
    expect(bad).toMatchObject({ shop_id: shop.shop_id, event_type: '3' });
    expect(bad!.error.code).toBe('ERR_PAYLOAD');
    expect(JSON.parse(bad!.payload)).toMatchObject({ data: '{"data":{"ordersn":' });
    expect(bad!.event_id).toBe(createHash('sha256').update(bad!.payload).digest('hex'));
    // Nothing is confirmed by fetching: the caller confirms once all is enqueued and recorded.
    expect(fake.lostPushState().pending).toBe(5);
    await lost.confirm(); // the fake is shared by the tests of this file
  });
});

describe('Shopee lost pushes beyond one batch', () => {
  it('says there are more, and serves them after the first batch is confirmed', async () => {
    for (let i = 0; i < 120; i += 1) {
      fake.addLostPush({
        shopId: shop.shop_id,
        code: 3,
        data: { ordersn: `SN${i}`, update_time: 1_795_231_800 + i },
      });
    }

    const first = await adapter.fetchLostWebhooks();
    expect(first.events).toHaveLength(100);
    expect(first.hasMore).toBe(true);
    await first.confirm();

    const second = await adapter.fetchLostWebhooks();
    expect(second.events.map((e) => e.entity_id)).toEqual(
      Array.from({ length: 20 }, (_, i) => `SN${100 + i}`),
    );
    expect(second.hasMore).toBe(false);
    await second.confirm();
    expect(fake.lostPushState().pending).toBe(0);
  });
});

describe('Shopee signing as the marketplace checks it', () => {
  it('is refused, without retries, when signed with the wrong partner key', async () => {
    const wrong = makeAdapter({ partnerKey: 'not-the-key' });
    try {
      const error: unknown = await detailsOrThrow(wrong.getDetails(shop, 'order', ['X'])).catch(
        (e: unknown) => e,
      );
      expect(isAppError(error, 'ERR_MARKETPLACE_REJECTED')).toBe(true);
      expect((error as Error).message).toMatch(/error_sign/);
      expect(fake.calls.count({ endpoint: E.orderDetail })).toBe(1);
    } finally {
      await wrong.close();
    }
  });
});

/** Shopee's published error list and samples (see its _source). */
const shopeeErrors = JSON.parse(
  readFileSync(new URL('../fixtures/marketplaces/shopee-errors.json', import.meta.url), 'utf8'),
) as { success_with_placeholder_error: { body: { response: { return_sn: string } } } };

describe('issue 11 #10: Shopee error codes as the platform defines them', () => {
  it('issue 11 #10: invalid_acceess_token (misspelt as published) refreshes the token once and the retry succeeds', async () => {
    const ids = fake
      .seedOrders('shopee', shop.shop_id, 3, () => ({ order_status: 'READY_TO_SHIP' }))
      .map((o) => String(o.order_sn));
    // The marketplace expired the token although our copy says it is still good.
    fake.knobs.expireAccessToken('shopee', shop.shop_id);

    const { objects, failures } = await adapter.getDetails(shop, 'order', ids);

    expect(failures).toEqual([]);
    expect(objects).toHaveLength(3);
    expect(fake.calls.count({ endpoint: E.tokenRefresh })).toBe(1);
    expect(fake.calls.log.filter((c) => c.endpoint === E.orderDetail).map((c) => c.errorCode)).toEqual([
      'invalid_acceess_token',
      null,
    ]);
  });

  it('issue 11 #10: a success answer carrying the published `"error": "-"` placeholder is a success', async () => {
    const { body } = shopeeErrors.success_with_placeholder_error;
    // The marketplace answers get_return_detail with its published response sample, verbatim.
    fake.knobs.failNext({ status: 200, body }, { endpoint: E.returnDetail });

    const { objects, failures } = await adapter.getDetails(shop, 'return', [body.response.return_sn]);

    expect(failures).toEqual([]);
    expect(objects).toEqual([body.response]);
  });
});
