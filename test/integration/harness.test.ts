/**
 * Proves the MongoDB backend the harness chose (real mongod or the emulator) behaves the way
 * market-ingest's code relies on, and that Redis is a real server with streams.
 */
import { Decimal128, MongoBulkWriteError, MongoServerError, type WriteError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { ensureIndexes, INDEXES } from '../../src/shared/mongo.js';
import { createTestEnv, type TestEnv } from '../support/context.js';

let env: TestEnv;

beforeAll(() => {
  env = createTestEnv();
});
afterAll(async () => {
  await env.cleanup();
});

describe(`mongo backend: ${inject('mongoBackend')}`, () => {
  it('a unique compound index rejects a duplicate with code 11000', async () => {
    const { db } = await env.mongo();
    const orders = db.collection('harness_unique');
    await orders.createIndex({ platform: 1, shop_id: 1, order_id: 1 }, { unique: true });
    await orders.insertOne({ platform: 'tiktok', shop_id: 's1', order_id: 'o1' });
    await orders.insertOne({ platform: 'tiktok', shop_id: 's2', order_id: 'o1' }); // other shop: fine
    const error = await orders
      .insertOne({ platform: 'tiktok', shop_id: 's1', order_id: 'o1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoServerError);
    expect((error as MongoServerError).code).toBe(11000);
  });

  it('Decimal128 "35.97" and "0.1" round-trip exactly', async () => {
    const { db } = await env.mongo();
    const money = db.collection('harness_money');
    await money.insertOne({
      _id: 'm' as never,
      total: Decimal128.fromString('35.97'),
      small: Decimal128.fromString('0.1'),
    });
    const stored = await money.findOne({ _id: 'm' as never });
    expect(stored?.total).toBeInstanceOf(Decimal128);
    expect(String(stored?.total)).toBe('35.97');
    expect(String(stored?.small)).toBe('0.1');
  });

  it('an unordered bulkWrite with one duplicate reports one write error and writes the rest', async () => {
    const { db } = await env.mongo();
    const coll = db.collection('harness_bulk');
    await coll.createIndex({ key: 1 }, { unique: true });
    await coll.insertOne({ key: 'k2' });
    const ops = ['k1', 'k2', 'k3', 'k4', 'k5'].map((key) => ({ insertOne: { document: { key } } }));
    const error = await coll.bulkWrite(ops, { ordered: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoBulkWriteError);
    const bulkError = error as MongoBulkWriteError;
    const writeErrors = ([] as WriteError[]).concat(bulkError.writeErrors);
    expect(writeErrors).toHaveLength(1);
    expect(writeErrors[0]?.index).toBe(1);
    expect(writeErrors[0]?.code).toBe(11000);
    expect(bulkError.result.insertedCount).toBe(4);
    expect(await coll.countDocuments()).toBe(5);
  });

  it('$in with a projection returns only the projected fields', async () => {
    const { db } = await env.mongo();
    const coll = db.collection('harness_projection');
    await coll.insertMany(
      ['a', 'b', 'c'].map((order_id, i) => ({ order_id, version: i, status: 'PAID', raw: { big: 'x' } })),
    );
    const found = await coll
      .find({ order_id: { $in: ['a', 'c', 'zzz'] } }, { projection: { _id: 0, order_id: 1, version: 1 } })
      .sort({ order_id: 1 })
      .toArray();
    expect(found).toEqual([
      { order_id: 'a', version: 0 },
      { order_id: 'c', version: 2 },
    ]);
  });

  it('re-upserting the same 100 keys reports 0 upserted and 0 modified', async () => {
    const { db } = await env.mongo();
    const coll = db.collection('harness_upsert');
    await coll.createIndex({ idempotency_key: 1 }, { unique: true });
    const ops = Array.from({ length: 100 }, (_, i) => ({
      updateOne: {
        filter: { idempotency_key: `tiktok:s1:${i}` },
        update: { $set: { version: 10, status: 'PAID' }, $setOnInsert: { created: 'first' } },
        upsert: true,
      },
    }));
    const first = await coll.bulkWrite(ops, { ordered: false });
    expect(first.upsertedCount).toBe(100);
    const second = await coll.bulkWrite(ops, { ordered: false });
    expect(second.upsertedCount).toBe(0);
    expect(second.modifiedCount).toBe(0);
    expect(second.matchedCount).toBe(100);
  });

  it('a version-guarded upsert against a newer stored document fails with 11000 (a lost race, not data loss)', async () => {
    const { db } = await env.mongo();
    const coll = db.collection('harness_version_guard');
    await coll.createIndex({ key: 1 }, { unique: true });
    await coll.insertOne({ key: 'k', version: 9 });
    const error = await coll
      .updateOne({ key: 'k', version: { $lt: 5 } }, { $set: { version: 5 } }, { upsert: true })
      .catch((e: unknown) => e);
    expect((error as MongoServerError).code).toBe(11000);
    expect((await coll.findOne({ key: 'k' }))?.version).toBe(9);
  });

  it('ensureIndexes creates every index of CONTRACT §5 and is idempotent', async () => {
    const { db } = await env.mongo();
    await ensureIndexes(db);
    await ensureIndexes(db);
    for (const [collection, expected] of Object.entries(INDEXES)) {
      const indexes = await db.collection(collection).indexes();
      for (const index of expected) {
        const found = indexes.find((i) => i.name === index.name);
        expect(found, `${collection}.${index.name}`).toBeDefined();
        expect(found?.key).toEqual(index.key);
        expect(Boolean(found?.unique)).toBe(Boolean(index.unique));
      }
    }
    const orders = db.collection('orders');
    await orders.insertOne({ platform: 'shopee', shop_id: '1', order_id: 'A' });
    const dup = await orders
      .insertOne({ platform: 'shopee', shop_id: '1', order_id: 'A' })
      .catch((e: unknown) => e);
    expect((dup as MongoServerError).code).toBe(11000);
  });
});

describe('redis backend', () => {
  it('is a real server with streams and consumer groups', async () => {
    const redis = env.redis();
    const key = `${env.id}:harness`;
    await redis.xadd(key, '*', 'a', '1');
    await redis.xgroup('CREATE', key, 'g', '0');
    const read = (await redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', 10, 'STREAMS', key, '>')) as [
      string,
      [string, string[]][],
    ][];
    expect(read[0]?.[1][0]?.[1]).toEqual(['a', '1']);
    const [pendingCount] = (await redis.xpending(key, 'g')) as [number];
    expect(pendingCount).toBe(1);
  });

  it('gives each test environment its own names', () => {
    const other = createTestEnv();
    expect(other.config.streamKey).not.toBe(env.config.streamKey);
    expect(other.config.mongoDb).not.toBe(env.config.mongoDb);
  });
});
