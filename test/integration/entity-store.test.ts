import { Decimal128 } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { OrderDocument } from '../../src/shared/documents.js';
import { ensureIndexes } from '../../src/shared/mongo.js';
import { createEntityStore, type EntityStore } from '../../src/shared/store/entities.js';
import { createTestEnv, type TestEnv } from '../support/context.js';

function order(id: string, version: number, status = 'AWAITING_SHIPMENT', shopId = 'shop-1'): OrderDocument {
  return {
    platform: 'tiktok',
    shop_id: shopId,
    order_id: id,
    version,
    idempotency_key: `tiktok:${shopId}:${id}`,
    create_time: '2026-11-21T10:00:00+07:00',
    update_time: '2026-11-21T10:30:00+07:00',
    details_fetched_at: '2026-11-21T10:31:00+07:00',
    synced_at: '2026-11-21T10:31:00+07:00',
    sync_source: 'webhook',
    is_valid: true,
    validation_errors: [],
    raw: { id },
    status,
    currency: 'VND',
    total_amount: Decimal128.fromString('35.97'),
    line_items: [],
    recipient_address: null,
    paid_time: null,
    tracking_number: null,
  };
}

let env: TestEnv;
let store: EntityStore;

beforeEach(async () => {
  env = createTestEnv();
  const { db } = await env.mongo();
  await ensureIndexes(db);
  store = createEntityStore({ db });
});
afterEach(() => env.cleanup());

describe('entity store', () => {
  it('reports inserted, then unchanged on replay, then updated for a newer version', async () => {
    expect(await store.upsertMany('order', [order('a', 10), order('b', 10)])).toEqual([
      'inserted',
      'inserted',
    ]);
    expect(await store.upsertMany('order', [order('a', 10), order('b', 10)])).toEqual([
      'unchanged',
      'unchanged',
    ]);
    expect(await store.upsertMany('order', [order('a', 11, 'IN_TRANSIT'), order('c', 1)])).toEqual([
      'updated',
      'inserted',
    ]);
    const { db } = await env.mongo();
    const stored = await db.collection('orders').findOne({ order_id: 'a' });
    expect(stored).toMatchObject({ version: 11, status: 'IN_TRANSIT' });
    expect(String(stored?.total_amount)).toBe('35.97');
  });

  it('never replaces a stored higher version (regression: stale webhook overwriting newer data)', async () => {
    await store.upsertMany('order', [order('a', 20, 'DELIVERED')]);
    expect(await store.upsertMany('order', [order('a', 15, 'IN_TRANSIT')])).toEqual(['unchanged']);
    const { db } = await env.mongo();
    expect(await db.collection('orders').findOne({ order_id: 'a' })).toMatchObject({
      version: 20,
      status: 'DELIVERED',
    });
  });

  it('finds stored versions with one query, scoped to platform and shop', async () => {
    await store.upsertMany('order', [order('a', 3), order('b', 4), order('a', 9, 'X', 'shop-2')]);
    const versions = await store.findVersions('tiktok', 'shop-1', 'order', ['a', 'b', 'missing']);
    expect([...versions]).toEqual(
      expect.arrayContaining([
        ['a', 3],
        ['b', 4],
      ]),
    );
    expect(versions.size).toBe(2);
    expect(await store.findVersions('shopee', 'shop-1', 'order', ['a'])).toEqual(new Map());
  });

  it('turns an unreachable MongoDB into a retryable error', async () => {
    const { connectMongo } = await import('../../src/shared/mongo.js');
    const { silentLogger } = await import('../support/context.js');
    const handle = await connectMongo({
      url: env.mongoUrl,
      dbName: env.config.mongoDb,
      logger: silentLogger,
    });
    const broken = createEntityStore({ db: handle.db });
    await handle.close();
    const error = await broken.upsertMany('order', [order('z', 1)]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_MONGO_UNAVAILABLE', retryable: true });
  });
});
