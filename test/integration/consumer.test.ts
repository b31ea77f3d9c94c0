/**
 * The worker end to end: real Redis stream and consumer group, the harness's MongoDB backend,
 * the fake marketplace over HTTP, real adapters and shop store.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { listDeadLetters, replayDeadLetters } from '../../src/consumer/ops.js';
import { createBatchProcessor } from '../../src/consumer/process-batch.js';
import { createEntityStore } from '../../src/shared/store/entities.js';
import { encodeStreamEntry, fieldsToRecord } from '../../src/shared/stream.js';
import { silentLogger } from '../support/context.js';
import { FAKE_ENDPOINTS, type Json } from '../support/fake-marketplace/index.js';
import { createPipeline, orderEvent, type Pipeline } from '../support/pipeline.js';
import { waitFor } from '../support/wait.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

async function orders(pipeline: Pipeline) {
  const { db } = await pipeline.env.mongo();
  return db.collection('orders');
}

/** Change notifications about orders (shipped orders also bring their tracking's, not counted here). */
async function orderChanges(pipeline: Pipeline): Promise<number> {
  const entries = await pipeline.env.redis().xrange(pipeline.env.config.changesStreamKey, '-', '+');
  return entries.filter(([, fields]) => fieldsToRecord(fields).kind === 'order').length;
}

function shuffle<T>(items: T[], seed = 1): T[] {
  let s = seed;
  const random = () => ((s = (s * 16807) % 2147483647) - 1) / 2147483646;
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

describe('worker', () => {
  it('stores 300 orders from 1,000 events once, fetching only what is missing, and reconcile at the stored versions costs no API call', async () => {
    p = await createPipeline({ BATCH_SIZE: '1000' });
    const pipeline = p;
    const shops = [
      ['tiktok', await pipeline.addShop('tiktok')],
      ['tiktok', await pipeline.addShop('tiktok')],
      ['shopee', await pipeline.addShop('shopee')],
    ] as const;
    const events = [];
    for (const [platform, shopId] of shops) {
      const seeded = pipeline.fake.seedOrders(platform, shopId, 100);
      // Every order announced at least 3 times, some 4: 1,000 events for 300 orders.
      for (const order of seeded)
        events.push(orderEvent(platform, shopId, order), orderEvent(platform, shopId, order));
      for (const order of seeded) events.push(orderEvent(platform, shopId, order));
    }
    const extra = events.slice(0, 100);
    events.push(...extra);
    expect(events).toHaveLength(1000);
    await pipeline.enqueue(shuffle(events));

    await pipeline.startWorker();
    await pipeline.drained();

    const collection = await orders(pipeline);
    expect(await collection.countDocuments()).toBe(300);
    // Σ ceil(missing / 50) per shop: 100 missing orders per shop -> 2 detail calls each.
    for (const [platform, shopId] of shops) {
      expect(
        pipeline.fake.calls.count({ platform, shopId, endpoint: FAKE_ENDPOINTS[platform].orderDetail }),
      ).toBe(2);
    }
    for (const platform of ['tiktok', 'shopee'] as const) {
      for (const ids of pipeline.fake.calls.ids({
        platform,
        endpoint: FAKE_ENDPOINTS[platform].orderDetail,
      })) {
        expect(ids.length).toBeLessThanOrEqual(50);
      }
    }

    const sample = await collection.findOne({ platform: 'shopee' });
    expect(sample).toMatchObject({ sync_source: 'webhook', is_valid: true });
    expect(sample?.idempotency_key).toBe(`shopee:${shops[2][1]}:${String(sample?.order_id)}`);
    expect(await orderChanges(pipeline)).toBe(300);

    // The same 1,000 announcements from reconcile (the versions MongoDB already has): no API
    // call, nothing changed, nothing pending. (A repeated webhook at the stored version is
    // refetched instead: see change-detection.test.ts.)
    pipeline.fake.calls.reset();
    await pipeline.enqueue(events.map((event) => ({ ...event, source: 'reconcile' as const })));
    await pipeline.drained();
    expect(pipeline.fake.calls.count()).toBe(0);
    expect(await orderChanges(pipeline)).toBe(300);
    expect(await collection.countDocuments()).toBe(300);
  });

  it('refetches and updates a newer version, and never lets an older one overwrite', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const [order] = pipeline.fake.seedOrders('tiktok', shopId, 1) as [Json];
    await pipeline.startWorker();
    await pipeline.enqueue([orderEvent('tiktok', shopId, order)]);
    await pipeline.drained();
    const collection = await orders(pipeline);
    const first = await collection.findOne({ order_id: order.id });
    expect(first?.version).toBe(order.update_time);

    // The order moves on at the marketplace; a webhook announces the new version.
    const newer = { ...order, status: 'IN_TRANSIT', update_time: Number(order.update_time) + 600 };
    pipeline.fake.putOrders('tiktok', shopId, [newer]);
    await pipeline.enqueue([orderEvent('tiktok', shopId, newer)]);
    await pipeline.drained();
    expect(await collection.findOne({ order_id: order.id })).toMatchObject({
      version: newer.update_time,
      status: 'IN_TRANSIT',
    });

    // A late, older webhook: no fetch, no overwrite.
    pipeline.fake.calls.reset();
    await pipeline.enqueue([orderEvent('tiktok', shopId, order)]);
    await pipeline.drained();
    expect(pipeline.fake.calls.count()).toBe(0);
    expect(await collection.findOne({ order_id: order.id })).toMatchObject({ version: newer.update_time });
  });

  it('always fetches an entity whose event has no version (regression: Shopee tracking-number pushes were skipped)', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const [order] = pipeline.fake.seedOrders('shopee', shopId, 1) as [Json];
    await pipeline.startWorker();
    await pipeline.enqueue([orderEvent('shopee', shopId, order)]);
    await pipeline.drained();

    // The marketplace moves on; the push that tells us carries no update_time (version 0).
    const newer = { ...order, order_status: 'SHIPPED', update_time: Number(order.update_time) + 60 };
    pipeline.fake.putOrders('shopee', shopId, [newer]);
    pipeline.fake.calls.reset();
    await pipeline.enqueue([
      orderEvent('shopee', shopId, order, { version: 0, event_type: '4', event_id: 'tracking-1' }),
    ]);
    await pipeline.drained();
    expect(pipeline.fake.calls.count({ endpoint: FAKE_ENDPOINTS.shopee.orderDetail })).toBe(1);
    expect(await (await orders(pipeline)).findOne({ order_id: order.order_sn })).toMatchObject({
      status: 'SHIPPED',
      version: newer.update_time,
    });
  });

  it('defers only the failing shop while its marketplace answers 5xx, spending nothing, and completes after recovery', async () => {
    p = await createPipeline();
    const pipeline = p;
    const healthy = await pipeline.addShop('tiktok');
    const failing = await pipeline.addShop('tiktok');
    const good = pipeline.fake.seedOrders('tiktok', healthy, 20);
    const bad = pipeline.fake.seedOrders('tiktok', failing, 20);
    pipeline.fake.knobs.failShop('tiktok', failing, { status: 503 });
    await pipeline.enqueue([
      ...good.map((o) => orderEvent('tiktok', healthy, o)),
      ...bad.map((o) => orderEvent('tiktok', failing, o)),
    ]);
    await pipeline.startWorker();

    const collection = await orders(pipeline);
    await waitFor(async () => (await collection.countDocuments({ shop_id: healthy })) === 20);
    // The failing shop's entries wait in the retry schedule, acked: no delivery is counted.
    await waitFor(async () => (await pipeline.groupState()).waiting === 20);
    // Nothing stays pending (the healthy shop's tracking follow-ups finish meanwhile).
    await waitFor(async () => (await pipeline.groupState()).pending === 0);
    expect(await collection.countDocuments({ shop_id: failing })).toBe(0);

    pipeline.fake.knobs.failShop('tiktok', failing, null);
    await pipeline.drained();
    expect(await collection.countDocuments({ shop_id: failing })).toBe(20);
    expect(await pipeline.env.redis().xlen(pipeline.env.config.deadLetterStreamKey)).toBe(0);
  });

  it('dead-letters an entry whose own failure lasts past RETRY_WINDOW_MS, with its last error, and dlq replay brings it back', async () => {
    p = await createPipeline({ RETRY_WINDOW_MS: '2000' });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    // The webhook announces an order the marketplace does not show (yet): not found, retried.
    const missing: Json = { id: '576486316948491234', update_time: 1_700_000_000 };
    await pipeline.enqueue([orderEvent('tiktok', shopId, missing)]);
    await pipeline.startWorker();

    const { config } = pipeline.env;
    const redis = pipeline.env.redis();
    await waitFor(async () => (await redis.xlen(config.deadLetterStreamKey)) === 1, 15_000);
    await pipeline.drained();
    const [dead] = await listDeadLetters(redis, config, 10);
    expect(dead?.fields).toMatchObject({ entity_id: missing.id, error_code: 'ERR_ENTITY_NOT_FOUND' });
    expect(dead?.fields.error_message).toMatch(/gave up after \d+ attempts/);
    // Retried several times, each a first delivery of a new copy: no delivery limit involved.
    expect(Number(dead?.fields.attempts)).toBeGreaterThanOrEqual(2);
    expect(dead?.fields.deliveries).toBe('1');
    const { db } = await pipeline.env.mongo();
    const failure = await db.collection('sync_failures').findOne({ entity_id: missing.id });
    expect(failure).toMatchObject({
      platform: 'tiktok',
      shop_id: shopId,
      error: { code: 'ERR_ENTITY_NOT_FOUND' },
    });

    // The order appears at the marketplace; replaying the dead letter stores it.
    pipeline.fake.seedOrders('tiktok', shopId, 1, () => ({
      id: missing.id,
      update_time: missing.update_time,
    }));
    const replay = await replayDeadLetters(redis, config, [dead!.id]);
    expect(replay.replayed).toHaveLength(1);
    await pipeline.drained();
    expect(await (await orders(pipeline)).findOne({ order_id: missing.id })).toMatchObject({
      sync_source: 'replay',
    });
    expect(await redis.xlen(config.deadLetterStreamKey)).toBe(0);
  });

  it('dead-letters at once what cannot succeed: malformed entries and unknown shops', async () => {
    p = await createPipeline();
    const pipeline = p;
    const { config } = pipeline.env;
    const redis = pipeline.env.redis();
    await redis.xadd(config.streamKey, '*', 'v', '1', 'platform', 'tiktok');
    await pipeline.enqueue([orderEvent('tiktok', 'no-such-shop', { id: '1', update_time: 5 })]);
    await pipeline.startWorker();
    await waitFor(async () => (await redis.xlen(config.deadLetterStreamKey)) === 2);
    await pipeline.drained();
    const codes = (await listDeadLetters(redis, config, 10)).map((d) => d.fields.error_code).sort();
    expect(codes).toEqual(['ERR_SHOP_UNKNOWN', 'ERR_STREAM_ENTRY']);
    expect(pipeline.fake.calls.count()).toBe(0);
  });

  it('marks a shop deauthorized on a deauthorization event and dead-letters its later entries', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const [order] = pipeline.fake.seedOrders('shopee', shopId, 1) as [Json];
    await pipeline.enqueue([
      {
        ...orderEvent('shopee', shopId, order),
        kind: 'shop',
        entity_id: shopId,
        event_type: '2',
        version: 0,
      },
    ]);
    await pipeline.startWorker();
    await pipeline.drained();
    expect((await pipeline.runtime.shops.get('shopee', shopId))?.status).toBe('deauthorized');

    await pipeline.enqueue([orderEvent('shopee', shopId, order)]);
    const redis = pipeline.env.redis();
    await waitFor(async () => (await redis.xlen(pipeline.env.config.deadLetterStreamKey)) === 1);
    const [dead] = await listDeadLetters(redis, pipeline.env.config, 1);
    expect(dead?.fields.error_code).toBe('ERR_SHOP_DEAUTHORIZED');
  });

  it('shares the work between two workers of one group without double writes', async () => {
    p = await createPipeline({ BATCH_SIZE: '20' });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    pipeline.fake.knobs.setLatency(20);
    const seeded = pipeline.fake.seedOrders('tiktok', shopId, 120);
    await pipeline.enqueue(seeded.map((o) => orderEvent('tiktok', shopId, o)));
    await pipeline.startWorker({ consumerName: 'worker-a' });
    await pipeline.startWorker({ consumerName: 'worker-b' });
    await pipeline.drained();

    expect(await (await orders(pipeline)).countDocuments()).toBe(120);
    const requested = pipeline.fake.calls
      .ids({ endpoint: FAKE_ENDPOINTS.tiktok.orderDetail, succeeded: true })
      .flat();
    expect(new Set(requested).size).toBe(120);
    expect(requested).toHaveLength(120); // no id fetched twice
    expect(await orderChanges(pipeline)).toBe(120);
    const consumers = (await pipeline.env
      .redis()
      .xinfo('CONSUMERS', pipeline.env.config.streamKey, pipeline.env.config.consumerGroup)) as unknown[][];
    expect(consumers).toHaveLength(2);
  });
});

describe('change notifications', () => {
  it('are sent again for a redelivered entry whose write already happened (regression: notification lost between write and ack)', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const [order] = pipeline.fake.seedOrders('tiktok', shopId, 1) as [Json];
    const processBatch = createBatchProcessor({
      adapters: pipeline.runtime.adapters,
      shops: pipeline.runtime.shops,
      entities: createEntityStore({ db: pipeline.runtime.mongo.db }),
      logger: silentLogger,
      timezoneOffset: '+07:00',
      shopConcurrency: 2,
      detailBatchSize: 50,
    });
    const fields = encodeStreamEntry(orderEvent('tiktok', shopId, order));
    const first = await processBatch([{ id: '1-0', fields, deliveries: 1 }]);
    expect(first.changes).toEqual([
      expect.objectContaining({ change: 'inserted', entity_id: String(order.id) }),
    ]);

    // Same entry, first delivery again (a duplicate webhook): refetched, same content, nothing to say.
    expect((await processBatch([{ id: '2-0', fields, deliveries: 1 }])).changes).toEqual([]);
    // Redelivered after a crash between write and notification: notify again.
    const again = await processBatch([{ id: '1-0', fields, deliveries: 2 }]);
    expect(again.verdicts.get('1-0')).toEqual({ action: 'ack' });
    expect(again.changes).toEqual([
      expect.objectContaining({ change: 'updated', entity_id: String(order.id), version: order.update_time }),
    ]);
    expect(again.stats.written).toBe(0);
  });
});

describe('worker metrics', () => {
  it('reports consumer-group pending and lag while a batch is in flight', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    // Not shipped yet: no tracking follow-ups, so the counts are the three orders'.
    const seeded = pipeline.fake.seedOrders('tiktok', shopId, 3, () => ({ status: 'AWAITING_SHIPMENT' }));
    pipeline.fake.knobs.setLatency(1_000);
    await pipeline.enqueue(seeded.map((o) => orderEvent('tiktok', shopId, o)));
    await pipeline.startWorker({ runtime: pipeline.runtime, tuning: { gaugeIntervalMs: 20, blockMs: 50 } });
    const gauge = async (name: string) => {
      const metric = await pipeline.runtime.metrics.getSingleMetric(name)?.get();
      return metric?.values[0]?.value;
    };
    await waitFor(async () => (await gauge('market_ingest_worker_group_pending')) === 3);
    await pipeline.drained();
    await waitFor(async () => (await gauge('market_ingest_worker_group_pending')) === 0);
    expect(await gauge('market_ingest_worker_group_lag')).toBe(0);
    const text = await pipeline.runtime.metrics.metrics();
    expect(text).toMatch(/market_ingest_worker_entries_total\{[^}]*outcome="acked"[^}]*\} 3/);
    expect(text).toMatch(/market_ingest_worker_documents_written_total(\{[^}]*\})? 3/);
  });
});
