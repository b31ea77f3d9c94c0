/**
 * Several documents under one entity id (tracking: one per package of an order) in the entity
 * store and the batch processor: each package is its own document under the unique key, the
 * entity is as old as its oldest document and final only when all of them are, and a batch
 * writes every package of an order, notifies the order once and acks its entry.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createBatchProcessor } from '../../src/consumer/process-batch.js';
import type { TrackingDocument } from '../../src/shared/documents.js';
import { ensureIndexes } from '../../src/shared/mongo.js';
import { createEntityStore, type EntityStore } from '../../src/shared/store/entities.js';
import { encodeStreamEntry } from '../../src/shared/stream.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';
import { createPipeline, type Pipeline } from '../support/pipeline.js';
import { versionsOf } from '../support/store.js';

function packageTracking(
  orderId: string,
  packageId: string,
  version: number,
  final: boolean,
): TrackingDocument {
  return {
    platform: 'shopee',
    shop_id: 'shop-1',
    order_id: orderId,
    package_id: packageId,
    version,
    idempotency_key: `shopee:shop-1:${orderId}:${packageId}`,
    create_time: null,
    update_time: null,
    details_fetched_at: '2026-11-21T10:31:00+07:00',
    details_fetched_ms: Date.parse('2026-11-21T10:31:00+07:00'),
    synced_at: '2026-11-21T10:31:00+07:00',
    sync_source: 'webhook',
    is_valid: true,
    validation_errors: [],
    raw: {},
    tracking_number: null,
    status: final ? 'DELIVERED' : 'DELIVERY_PENDING',
    events: [],
    is_final: final,
  };
}

describe('entity store: several documents per entity id', () => {
  let env: TestEnv;
  let store: EntityStore;
  beforeEach(async () => {
    env = createTestEnv();
    const { db } = await env.mongo();
    await ensureIndexes(db);
    store = createEntityStore({ db });
  });
  afterEach(() => env.cleanup());

  it('keeps each package apart; the order is as old as its oldest package and final when all are', async () => {
    expect(
      await store.upsertMany('tracking', [
        packageTracking('O1', 'P1', 20, true),
        packageTracking('O1', 'P2', 10, false),
        packageTracking('O2', 'P1', 30, true),
      ]),
    ).toEqual(['inserted', 'inserted', 'inserted']);
    expect(await store.findStored('shopee', 'shop-1', 'tracking', ['O1', 'O2', 'O3'])).toEqual(
      new Map([
        ['O1', { version: 10, final: false }],
        ['O2', { version: 30, final: true }],
      ]),
    );
    expect(versionsOf(await store.findStored('shopee', 'shop-1', 'tracking', ['O1']))).toEqual(
      new Map([['O1', 10]]),
    );

    // The second package delivered: the order's tracking is final now.
    expect(await store.upsertMany('tracking', [packageTracking('O1', 'P2', 25, true)])).toEqual(['updated']);
    expect((await store.findStored('shopee', 'shop-1', 'tracking', ['O1'])).get('O1')).toEqual({
      version: 20,
      final: true,
    });
    // Kinds without a final field are never final.
    expect(await store.findStored('shopee', 'shop-1', 'order', ['O1'])).toEqual(new Map());
  });
});

describe('batch processor: one entry, several documents', () => {
  let p: Pipeline | undefined;
  afterEach(async () => {
    await p?.cleanup();
    p = undefined;
  });

  it('writes every package of an order, notifies once, acks the entry; a final tracking is not fetched again', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const [order] = pipeline.fake.seedOrders('shopee', shopId, 1, () => ({
      order_status: 'TO_CONFIRM_RECEIVE',
      package_list: [{ package_number: 'P1' }, { package_number: 'P2' }],
    }));
    const orderSn = String(order!.order_sn);
    for (const packageNumber of ['P1', 'P2']) {
      pipeline.fake.addTrackingEvents(
        'shopee',
        shopId,
        orderSn,
        [{ time: 1_795_231_800, description: 'Delivered', status: 'DELIVERED' }],
        { packageNumber },
      );
    }
    const processBatch = createBatchProcessor({
      adapters: pipeline.runtime.adapters,
      shops: pipeline.runtime.shops,
      entities: createEntityStore({ db: pipeline.runtime.mongo.db }),
      logger: silentLogger,
      timezoneOffset: '+07:00',
      shopConcurrency: 2,
      detailBatchSize: 50,
    });
    const entry = encodeStreamEntry({
      platform: 'shopee',
      shop_id: shopId,
      kind: 'tracking',
      entity_id: orderSn,
      version: 0,
      event_id: 'follow-up',
      event_type: 'follow-up',
      source: 'webhook',
      received_at: Date.now(),
      payload: JSON.stringify({ order_status: 'TO_CONFIRM_RECEIVE', packages: ['P1', 'P2'] }),
    });

    const first = await processBatch([{ id: '1-0', fields: entry, deliveries: 1 }]);
    expect(first.verdicts.get('1-0')).toEqual({ action: 'ack' });
    expect(first.stats.written).toBe(2);
    expect(first.changes).toEqual([
      expect.objectContaining({ kind: 'tracking', entity_id: orderSn, change: 'inserted' }),
    ]);
    const stored = await pipeline.runtime.mongo.db
      .collection('tracking')
      .find({ order_id: orderSn }, { projection: { _id: 0, package_id: 1, is_final: 1 } })
      .sort({ package_id: 1 })
      .toArray();
    expect(stored).toEqual([
      { package_id: 'P1', is_final: true },
      { package_id: 'P2', is_final: true },
    ]);

    pipeline.fake.calls.reset();
    const again = await processBatch([{ id: '2-0', fields: entry, deliveries: 1 }]);
    expect(again.verdicts.get('2-0')).toEqual({ action: 'ack' });
    expect(again.stats).toMatchObject({ fetched: 0, upToDate: 1, written: 0 });
    expect(pipeline.fake.calls.count()).toBe(0);
  });
});
