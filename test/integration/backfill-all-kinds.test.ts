/**
 * Issue 14 end to end: a backfill of 3 days for 2 shops (one per platform) over every kind —
 * orders, returns, products, settlements, tracking — listed by the real reconciler at the fake
 * marketplace and drained by the real worker, stores exactly what the fake holds, with detail
 * calls within Σ ceil(missing / limit) per kind, and a second run writes nothing and fetches
 * nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { DETAIL_KINDS } from '../../src/shared/stream.js';
import {
  FAKE_ENDPOINTS,
  SHOPEE_FINANCE_ENDPOINTS,
  TIKTOK_FINANCE_ENDPOINTS,
  type Json,
} from '../support/fake-marketplace/index.js';
import { createPipeline, reconcilerFor, type Pipeline } from '../support/pipeline.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

const E = FAKE_ENDPOINTS;
const unix = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);
const DAYS = ['2026-11-18', '2026-11-19', '2026-11-20'];
const FIRST = unix(`${DAYS[0]}T00:30:00+07:00`);
/** The i-th of `count` objects, spread over the three days. */
const spread = (i: number, count: number) => FIRST + Math.floor((i * (3 * 86_400 - 3_600)) / count);
const ceil50 = (n: number) => Math.ceil(n / 50);

const SIZES = { orders: 60, shipped: 15, returns: 30, products: 55, statements: 20, escrows: 20 };

/** The collections' ids by kind for one shop, sorted. */
async function storedIds(pipeline: Pipeline, shopId: string) {
  const { db } = await pipeline.env.mongo();
  const ids = async (collection: string, field: string) =>
    (await db.collection(collection).find({ shop_id: shopId }).toArray()).map((d) => String(d[field])).sort();
  return {
    order: await ids('orders', 'order_id'),
    return: await ids('returns', 'return_id'),
    product: await ids('products', 'product_id'),
    settlement: await ids('settlements', 'settlement_id'),
    tracking: await ids('tracking', 'order_id'),
  };
}

/** Every stored document's identity and sync time, to show a rerun rewrote none. */
async function syncTimes(pipeline: Pipeline) {
  const { db } = await pipeline.env.mongo();
  const all: unknown[] = [];
  for (const collection of ['orders', 'returns', 'products', 'settlements', 'tracking']) {
    const docs = await db
      .collection(collection)
      .find({}, { projection: { _id: 0, idempotency_key: 1, synced_at: 1, details_fetched_ms: 1 } })
      .sort({ idempotency_key: 1 })
      .toArray();
    all.push(...docs);
  }
  return all;
}

/** Seeds a TikTok shop's three days: orders (some in transit, with carrier scans), returns, products, statements. */
function seedTikTok(pipeline: Pipeline, shopId: string) {
  const orders = pipeline.fake.seedOrders('tiktok', shopId, SIZES.orders, (i) => ({
    status: i < SIZES.shipped ? 'IN_TRANSIT' : 'AWAITING_SHIPMENT',
    update_time: spread(i, SIZES.orders),
  }));
  for (const order of orders.slice(0, SIZES.shipped)) {
    const at = Number(order.update_time);
    pipeline.fake.addTrackingEvents('tiktok', shopId, String(order.id), [
      { time: at - 600, description: 'Picked up' },
      { time: at, description: 'In transit' },
    ]);
  }
  const returns = pipeline.fake.seedReturns('tiktok', shopId, SIZES.returns, (i) => ({
    update_time: spread(i, SIZES.returns),
  }));
  const products = pipeline.fake.seedProducts('tiktok', shopId, SIZES.products, (i) => ({
    update_time: spread(i, SIZES.products),
  }));
  const times = DAYS.map((day) => unix(`${day}T07:00:00+07:00`));
  const transactions = pipeline.fake.seedStatements(shopId, times, SIZES.statements);
  return {
    order: orders.map((o) => String(o.id)),
    return: returns.map((r) => String(r.return_id)),
    product: products.map((x) => String(x.id)),
    settlement: transactions.map((t) => String(t.transaction.id)),
    tracking: orders.slice(0, SIZES.shipped).map((o) => String(o.id)),
  };
}

/** The same for a Shopee shop: orders (some shipped, one package each), returns, items, escrow releases. */
function seedShopee(pipeline: Pipeline, shopId: string) {
  const orders = pipeline.fake.seedOrders('shopee', shopId, SIZES.orders, (i) => ({
    order_status: i < SIZES.shipped ? 'SHIPPED' : 'READY_TO_SHIP',
    update_time: spread(i, SIZES.orders),
  }));
  for (const order of orders.slice(0, SIZES.shipped)) {
    const at = Number(order.update_time);
    const [pkg] = order.package_list as Json[];
    pipeline.fake.addTrackingEvents(
      'shopee',
      shopId,
      String(order.order_sn),
      [
        { time: at - 600, description: 'Parcel picked up', status: 'PICKED_UP' },
        { time: at, description: 'Parcel in transit', status: 'IN_TRANSIT' },
      ],
      { packageNumber: String(pkg!.package_number) },
    );
  }
  const returns = pipeline.fake.seedReturns('shopee', shopId, SIZES.returns, (i) => ({
    update_time: spread(i, SIZES.returns),
  }));
  const items = pipeline.fake.seedProducts('shopee', shopId, SIZES.products, (i) => ({
    update_time: spread(i, SIZES.products),
  }));
  const releases = DAYS.flatMap((day) =>
    Array.from({ length: SIZES.escrows }, (_, i) => unix(`${day}T09:00:00+07:00`) + i * 60),
  );
  const escrows = pipeline.fake.seedEscrows(shopId, releases);
  return {
    order: orders.map((o) => String(o.order_sn)),
    return: returns.map((r) => String(r.return_sn)),
    product: items.map((x) => String(x.item_id)),
    settlement: escrows.map(({ row }) => `${String(row.order_sn)}:${String(row.escrow_release_time)}`),
    tracking: orders.slice(0, SIZES.shipped).map((o) => String(o.order_sn)),
    withModels: items.filter((x) => x.has_model === true).length,
  };
}

describe('backfill over every kind (issue 14)', () => {
  it('3 days for 2 shops store exactly what the fake holds in Σ ceil(missing/limit) detail calls per kind; a second run writes and fetches nothing', async () => {
    p = await createPipeline({ BATCH_SIZE: '500' });
    const pipeline = p;
    const tiktokShop = await pipeline.addShop('tiktok');
    const shopeeShop = await pipeline.addShop('shopee');
    const tiktok = seedTikTok(pipeline, tiktokShop);
    const shopee = seedShopee(pipeline, shopeeShop);

    // No kinds named: the default is every kind. The worker starts once the run has listed
    // everything, so the calls counted after the run are the worker's: its detail calls.
    const mode = { type: 'days' as const, firstDay: DAYS[0]!, lastDay: DAYS[2]! };
    const { calls } = pipeline.fake;
    const first = await reconcilerFor(pipeline).run({ trigger: 'cli', mode });
    expect(first.status).toBe('succeeded');
    for (const shop of first.shops) expect(Object.keys(shop.kinds).sort()).toEqual([...DETAIL_KINDS].sort());
    expect(calls.count({ succeeded: false })).toBe(0);
    calls.reset();
    const worker = await pipeline.startWorker();
    await pipeline.drained();

    const sorted = (ids: Record<string, unknown>) =>
      Object.fromEntries(
        ['order', 'return', 'product', 'settlement', 'tracking'].map((k) => [
          k,
          [...(ids[k] as string[])].sort(),
        ]),
      );
    expect(await storedIds(pipeline, tiktokShop)).toEqual(sorted(tiktok));
    expect(await storedIds(pipeline, shopeeShop)).toEqual(sorted(shopee));
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('sync_failures').countDocuments()).toBe(0);

    // Σ ceil(missing / limit) per kind: the limit is 50 ids a call, or 1 where the platform has no
    // batch call. A reconciled order on its way announces its tracking, which reconcile listed
    // too: fetched once, not twice.
    const n = SIZES;
    const count = (endpoint: string, shopId: string) => calls.count({ endpoint, shopId });
    expect(calls.count({ succeeded: false })).toBe(0);
    expect(count(E.tiktok.orderDetail, tiktokShop)).toBe(ceil50(n.orders));
    expect(count(E.tiktok.returnSearch, tiktokShop)).toBe(ceil50(n.returns));
    expect(count(E.tiktok.productDetail, tiktokShop)).toBe(n.products);
    expect(count(E.tiktok.tracking, tiktokShop)).toBe(n.shipped);
    // Statement transactions travel with their listing: no call at all.
    expect(count(TIKTOK_FINANCE_ENDPOINTS.transactions202309, tiktokShop)).toBe(0);
    expect(count(E.shopee.orderDetail, shopeeShop)).toBe(ceil50(n.orders));
    expect(count(E.shopee.returnDetail, shopeeShop)).toBe(n.returns);
    expect(count(E.shopee.itemBaseInfo, shopeeShop)).toBe(ceil50(n.products));
    expect(count(E.shopee.modelList, shopeeShop)).toBe(shopee.withModels);
    expect(count(SHOPEE_FINANCE_ENDPOINTS.escrowDetailBatch, shopeeShop)).toBe(ceil50(3 * n.escrows));
    expect(count(E.shopee.trackingInfo, shopeeShop)).toBe(n.shipped);
    for (const ids of calls.ids({ platform: 'shopee' })) expect(ids.length).toBeLessThanOrEqual(50);

    // Again: every kind listed again; the worker fetches nothing, writes nothing, notifies nothing.
    await worker.close();
    const changes = pipeline.env.config.changesStreamKey;
    const notified = await pipeline.env.redis().xlen(changes);
    const before = await syncTimes(pipeline);
    const second = await reconcilerFor(pipeline).run({ trigger: 'cli', mode });
    expect(second).toMatchObject({ status: 'succeeded', listed: first.listed });
    calls.reset();
    await pipeline.startWorker();
    await pipeline.drained();
    expect(calls.byEndpoint()).toEqual({});
    expect(await pipeline.env.redis().xlen(changes)).toBe(notified);
    expect(await syncTimes(pipeline)).toEqual(before);
  });
});
