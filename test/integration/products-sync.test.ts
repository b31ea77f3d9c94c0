/**
 * The products catalog (issue 14) end to end: backfill lists products by update time at the fake
 * marketplace, the real worker fetches only what MongoDB lacks (TikTok one Get Product per id,
 * Shopee get_item_base_info by 50 plus get_model_list per item with models) and stores prices as
 * exact Decimal128 and stock; deleted products are kept with `is_deleted` and come back.
 */
import { Decimal128, type Document } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';

import { FAKE_ENDPOINTS, type Json } from '../support/fake-marketplace/index.js';
import { createPipeline, reconcilerFor, type Pipeline } from '../support/pipeline.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

const E = FAKE_ENDPOINTS;
const unix = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);
/** The three days of the backfill, in TIMEZONE (+07:00). */
const DAYS = { firstDay: '2026-11-18', lastDay: '2026-11-20' };
const inDays = (i: number) => ({ update_time: unix('2026-11-18T00:30:00+07:00') + i * 1_500 });

async function backfill(pipeline: Pipeline, firstDay = DAYS.firstDay, lastDay = DAYS.lastDay) {
  const summary = await reconcilerFor(pipeline).run({
    trigger: 'cli',
    mode: { type: 'days', firstDay, lastDay },
    kinds: ['product'],
  });
  expect(summary.status).toBe('succeeded');
  return summary;
}

async function products(pipeline: Pipeline, platform: string): Promise<Map<string, Document>> {
  const { db } = await pipeline.env.mongo();
  const docs = await db.collection('products').find({ platform }).toArray();
  return new Map(docs.map((doc) => [String(doc.product_id), doc]));
}

const decimal = (value: unknown) => (value instanceof Decimal128 ? value.toString() : value);

/** What a stored TikTok product must hold of the fake's object. */
function expectTikTok(stored: Document | undefined, product: Json) {
  expect(stored).toBeDefined();
  expect(stored!.version).toBe(product.update_time);
  const skus = product.skus as Json[];
  expect(stored!.skus).toHaveLength(skus.length);
  skus.forEach((sku, i) => {
    const got = (stored!.skus as Document[])[i]!;
    expect(got.price).toBeInstanceOf(Decimal128);
    expect(decimal(got.price)).toBe((sku.price as Json).tax_exclusive_price);
    const quantities = (sku.inventory as Json[]).map((w) => Number(w.quantity));
    expect(got.stock).toBe(quantities.reduce((a, b) => a + b, 0));
  });
}

/** What a stored Shopee item must hold of the fake's item and its models. */
function expectShopee(stored: Document | undefined, item: Json) {
  expect(stored).toBeDefined();
  expect(stored!.version).toBe(item.update_time);
  expect(stored!.is_valid).toBe(true);
  const sources = item.has_model === true ? (item.model as Json[]) : [item];
  expect(stored!.skus).toHaveLength(sources.length);
  sources.forEach((source, i) => {
    const got = (stored!.skus as Document[])[i]!;
    const price = (source.price_info as Json[])[0]!;
    expect(got.price).toBeInstanceOf(Decimal128);
    expect(decimal(got.price)).toBe(String(price.current_price));
    expect(decimal(got.original_price)).toBe(String(price.original_price));
    const summary = (source.stock_info_v2 as { summary_info: Json }).summary_info;
    expect(got.stock).toBe(summary.total_available_stock);
  });
}

describe('products catalog sync', () => {
  it('a 3-day backfill for 2 shops stores exactly what the fake holds, in the fewest detail calls; a second run writes nothing', async () => {
    p = await createPipeline({ BATCH_SIZE: '500' });
    const pipeline = p;
    const tiktokShop = await pipeline.addShop('tiktok');
    const shopeeShop = await pipeline.addShop('shopee');
    const tiktok = pipeline.fake.seedProducts('tiktok', tiktokShop, 130, inDays);
    const shopee = pipeline.fake.seedProducts('shopee', shopeeShop, 120, inDays);
    // Outside the days: not listed, not stored.
    pipeline.fake.seedProducts('tiktok', tiktokShop, 2, () => ({
      update_time: unix('2026-11-21T01:00:00+07:00'),
    }));
    pipeline.fake.seedProducts('shopee', shopeeShop, 2, () => ({
      update_time: unix('2026-11-17T23:00:00+07:00'),
    }));

    // Everything is listed before the worker starts: one batch, so the calls are the minimum.
    const summary = await backfill(pipeline);
    expect(summary.listed).toBe(250);
    await pipeline.startWorker();
    await pipeline.drained();

    const storedTikTok = await products(pipeline, 'tiktok');
    const storedShopee = await products(pipeline, 'shopee');
    expect([...storedTikTok.keys()].sort()).toEqual(tiktok.map((t) => String(t.id)).sort());
    expect([...storedShopee.keys()].sort()).toEqual(shopee.map((s) => String(s.item_id)).sort());
    for (const product of tiktok) expectTikTok(storedTikTok.get(String(product.id)), product);
    for (const item of shopee) expectShopee(storedShopee.get(String(item.item_id)), item);

    // Calls: Σ ceil(missing / limit) per kind — Get Product takes 1 id, get_item_base_info 50.
    const calls = pipeline.fake.calls;
    expect(calls.count({ endpoint: E.tiktok.productDetail })).toBe(130);
    expect(calls.count({ endpoint: E.shopee.itemBaseInfo })).toBe(Math.ceil(120 / 50));
    for (const ids of calls.ids({ endpoint: E.shopee.itemBaseInfo }))
      expect(ids.length).toBeLessThanOrEqual(50);
    const withModels = shopee.filter((s) => s.has_model === true).length;
    expect(calls.count({ endpoint: E.shopee.modelList })).toBe(withModels);
    expect(calls.count({ status: 400 })).toBe(0);

    // A second run lists the same versions: nothing fetched, nothing written, nothing notified.
    const { db } = await pipeline.env.mongo();
    const changes = await pipeline.env.redis().xlen(pipeline.env.config.changesStreamKey);
    const before = await db
      .collection('products')
      .find({}, { projection: { _id: 0, synced_at: 1, product_id: 1 } })
      .toArray();
    calls.reset();
    await backfill(pipeline);
    await pipeline.drained();
    expect(calls.count({ endpoint: E.tiktok.productDetail })).toBe(0);
    expect(calls.count({ endpoint: E.shopee.itemBaseInfo })).toBe(0);
    expect(await pipeline.env.redis().xlen(pipeline.env.config.changesStreamKey)).toBe(changes);
    const after = await db
      .collection('products')
      .find({}, { projection: { _id: 0, synced_at: 1, product_id: 1 } })
      .toArray();
    expect(after).toEqual(before);
  });

  it('a TikTok product deleted then recovered is flagged, kept, and unflagged through reconcile', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const [product, other] = pipeline.fake.seedProducts('tiktok', shopId, 2, () => ({
      status: 'ACTIVATE',
      update_time: unix('2026-11-18T09:00:00+07:00'),
    }));
    const id = String(product!.id);
    await pipeline.startWorker();
    await backfill(pipeline, '2026-11-18', '2026-11-18');
    await pipeline.drained();
    expect((await products(pipeline, 'tiktok')).get(id)).toMatchObject({
      is_deleted: false,
      deleted_at: null,
    });

    // Deleted at 10:00: Get Product no longer answers it; the listing (status DELETED) does.
    pipeline.fake.setProductStatus('tiktok', shopId, id, 'DELETED', unix('2026-11-19T10:00:00+07:00'));
    pipeline.fake.calls.reset();
    await backfill(pipeline, '2026-11-19', '2026-11-19');
    await pipeline.drained();
    const deleted = (await products(pipeline, 'tiktok')).get(id);
    expect(deleted).toMatchObject({
      status: 'DELETED',
      is_deleted: true,
      deleted_at: '2026-11-19T10:00:00+07:00',
      version: unix('2026-11-19T10:00:00+07:00'),
      is_valid: true,
    });
    expect(decimal((deleted!.skus as Document[])[0]!.price)).toBe(
      ((product!.skus as Json[])[0]!.price as Json).tax_exclusive_price,
    );
    const searches = pipeline.fake.calls.log.filter((c) => c.endpoint === E.tiktok.productSearch);
    expect(searches.map((c) => (c.body as Json).status)).toEqual([undefined, 'DELETED', 'FREEZE']);
    expect(pipeline.fake.calls.count({ endpoint: E.tiktok.productDetail })).toBe(1);

    // Recover Products: DELETED -> SELLER_DEACTIVATED at a later update_time.
    pipeline.fake.setProductStatus(
      'tiktok',
      shopId,
      id,
      'SELLER_DEACTIVATED',
      unix('2026-11-20T08:00:00+07:00'),
    );
    await backfill(pipeline, '2026-11-20', '2026-11-20');
    await pipeline.drained();
    const stored = await products(pipeline, 'tiktok');
    expect(stored.get(id)).toMatchObject({
      status: 'SELLER_DEACTIVATED',
      is_deleted: false,
      deleted_at: null,
    });
    expect(stored.get(String(other!.id))).toMatchObject({ is_deleted: false });
    expect(stored.size).toBe(2);
  });

  it('a TikTok product webhook about a deletion stores it as deleted (Get Product answers nothing)', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const [product] = pipeline.fake.seedProducts('tiktok', shopId, 1, () => ({
      status: 'ACTIVATE',
      update_time: unix('2026-11-18T09:00:00+07:00'),
    }));
    const id = String(product!.id);
    const deletedAt = unix('2026-11-18T10:00:00+07:00');
    pipeline.fake.setProductStatus('tiktok', shopId, id, 'DELETED', deletedAt);
    const body = `{"type":5,"tts_notification_id":"7327112393057371999","shop_id":"${shopId}","timestamp":${deletedAt},"data":{"product_id":${id},"status":"PRODUCT_DELETED","update_time":${deletedAt}}}`;
    await pipeline.enqueue([
      {
        platform: 'tiktok',
        shop_id: shopId,
        kind: 'product',
        entity_id: id,
        version: deletedAt,
        event_id: '7327112393057371999',
        event_type: '5',
        source: 'webhook',
        received_at: Date.now(),
        payload: body,
      },
    ]);
    await pipeline.startWorker();
    await pipeline.drained();

    expect((await products(pipeline, 'tiktok')).get(id)).toMatchObject({
      status: 'DELETED',
      is_deleted: true,
      deleted_at: '2026-11-18T10:00:00+07:00',
      sync_source: 'webhook',
    });
    expect(await pipeline.env.redis().xlen(pipeline.env.config.deadLetterStreamKey)).toBe(0);
  });

  it('a frozen TikTok product listed by both searches is enqueued once and stored as deleted', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const [frozen] = pipeline.fake.seedProducts('tiktok', shopId, 1, () => ({
      status: 'FREEZE',
      update_time: unix('2026-11-18T09:00:00+07:00'),
    }));
    const summary = await backfill(pipeline, '2026-11-18', '2026-11-18');
    expect(summary.listed).toBe(1);
    await pipeline.startWorker();
    await pipeline.drained();
    expect((await products(pipeline, 'tiktok')).get(String(frozen!.id))).toMatchObject({
      status: 'FREEZE',
      is_deleted: true,
      deleted_at: '2026-11-18T09:00:00+07:00',
    });
  });

  it('a Shopee item banned then restored is flagged and unflagged; a seller-deleted one stays stored', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const [banned, removed] = pipeline.fake.seedProducts('shopee', shopId, 2, () => ({
      item_status: 'NORMAL',
      update_time: unix('2026-11-18T09:00:00+07:00'),
    }));
    await pipeline.startWorker();
    await backfill(pipeline, '2026-11-18', '2026-11-18');
    await pipeline.drained();

    pipeline.fake.setProductStatus(
      'shopee',
      shopId,
      String(banned!.item_id),
      'BANNED',
      unix('2026-11-19T10:00:00+07:00'),
    );
    pipeline.fake.setProductStatus(
      'shopee',
      shopId,
      String(removed!.item_id),
      'SELLER_DELETE',
      unix('2026-11-19T11:00:00+07:00'),
    );
    await backfill(pipeline, '2026-11-19', '2026-11-19');
    await pipeline.drained();
    let stored = await products(pipeline, 'shopee');
    expect(stored.get(String(banned!.item_id))).toMatchObject({
      status: 'BANNED',
      is_deleted: true,
      deleted_at: '2026-11-19T10:00:00+07:00',
    });
    expect(stored.get(String(removed!.item_id))).toMatchObject({
      status: 'SELLER_DELETE',
      is_deleted: true,
      deleted_at: '2026-11-19T11:00:00+07:00',
    });

    pipeline.fake.setProductStatus(
      'shopee',
      shopId,
      String(banned!.item_id),
      'NORMAL',
      unix('2026-11-20T08:00:00+07:00'),
    );
    await backfill(pipeline, '2026-11-20', '2026-11-20');
    await pipeline.drained();
    stored = await products(pipeline, 'shopee');
    expect(stored.get(String(banned!.item_id))).toMatchObject({
      status: 'NORMAL',
      is_deleted: false,
      deleted_at: null,
    });
    expect(stored.get(String(removed!.item_id))).toMatchObject({ is_deleted: true });
    expect(stored.size).toBe(2);
  });
});
