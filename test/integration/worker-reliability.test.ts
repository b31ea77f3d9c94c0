/**
 * Issue 10: nothing lost, nothing stuck — the worker under outages, slow batches, races and
 * interleaved pending lists. Real Redis, the harness MongoDB (cut through a TCP proxy), the fake
 * marketplace over HTTP (slowed down, failing on purpose), workers on their own connections.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';

import { createBatchProcessor } from '../../src/consumer/process-batch.js';
import { ensureConsumerGroup } from '../../src/consumer/worker.js';
import { startMetricsServer } from '../../src/shared/metrics-server.js';
import { openRuntime } from '../../src/runtime.js';
import { createEntityStore } from '../../src/shared/store/entities.js';
import { fieldsToRecord, type StreamEvent } from '../../src/shared/stream.js';
import { silentLogger } from '../support/context.js';
import { FAKE_ENDPOINTS, type Json } from '../support/fake-marketplace/index.js';
import { createPipeline, orderEvent, type Pipeline } from '../support/pipeline.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { sleep, waitFor } from '../support/wait.js';

let p: Pipeline | undefined;
let proxy: TcpProxy | undefined;

afterEach(async () => {
  await p?.cleanup();
  await proxy?.close();
  p = undefined;
  proxy = undefined;
});

async function deadLetters(pipeline: Pipeline): Promise<Record<string, string>[]> {
  const entries = await pipeline.env.redis().xrange(pipeline.env.config.deadLetterStreamKey, '-', '+');
  return entries.map(([, fields]) => fieldsToRecord(fields));
}

function productEvent(shopId: string, product: Json): StreamEvent {
  return {
    platform: 'tiktok',
    shop_id: shopId,
    kind: 'product',
    entity_id: String(product.id),
    version: Number(product.update_time),
    event_id: `evt-product-${String(product.id)}`,
    event_type: '5',
    source: 'webhook',
    received_at: Date.now(),
    payload: '{}',
  };
}

describe('issue 10: the worker under outages, slow batches and races', () => {
  it('issue 10 #1: an outage spends the delivery budget — MongoDB cut for longer than MAX_DELIVERIES × CLAIM_IDLE_MS dead-letters nothing and stores everything after', async () => {
    const mongoUrl = new URL(inject('mongoUrl'));
    proxy = await startTcpProxy(mongoUrl.hostname, Number(mongoUrl.port));
    p = await createPipeline({
      MONGO_URL: `mongodb://127.0.0.1:${proxy.port}/?directConnection=true&serverSelectionTimeoutMS=500`,
      CLAIM_IDLE_MS: '1000',
      MAX_DELIVERIES: '2',
    });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const seeded = pipeline.fake.seedOrders('tiktok', shopId, 10);
    await pipeline.startWorker();

    proxy.cut();
    await pipeline.enqueue(seeded.map((o) => orderEvent('tiktok', shopId, o)));
    await sleep(8_000); // 4 × MAX_DELIVERIES × CLAIM_IDLE_MS
    proxy.restore();

    await pipeline.drained(20_000);
    const { db } = await pipeline.env.mongo(); // direct, not through the proxy
    expect(await db.collection('orders').countDocuments()).toBe(10);
    expect(await deadLetters(pipeline)).toEqual([]);
  }, 40_000);

  it('issue 10 #2: in-flight entries are stolen — a batch slower than CLAIM_IDLE_MS stays with its live worker: one fetch per order, nothing dead', async () => {
    p = await createPipeline({ CLAIM_IDLE_MS: '1000', MAX_DELIVERIES: '2' });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const seeded = pipeline.fake.seedOrders('tiktok', shopId, 30);
    pipeline.fake.knobs.setLatency(2_500);
    await pipeline.enqueue(seeded.map((o) => orderEvent('tiktok', shopId, o)));
    // Three workers; whichever reads the batch holds it for 2.5 s, past CLAIM_IDLE_MS.
    for (const name of ['w1', 'w2', 'w3']) await pipeline.startWorker({ consumerName: name });

    await pipeline.drained(20_000);
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('orders').countDocuments()).toBe(30);
    expect(await deadLetters(pipeline)).toEqual([]);
    const requested = pipeline.fake.calls.ids({
      platform: 'tiktok',
      endpoint: FAKE_ENDPOINTS.tiktok.orderDetail,
    });
    expect(requested.flat().sort()).toEqual(seeded.map((o) => String(o.id)).sort());
  }, 40_000);

  it('issue 10 #5: delivery counts are under-counted — 200 entries past MAX_DELIVERIES interleaved with 200 fresh ones of the same consumer are all dead-lettered', async () => {
    p = await createPipeline({ BATCH_SIZE: '100', CLAIM_IDLE_MS: '60000', MAX_DELIVERIES: '5' });
    const pipeline = p;
    const { config } = pipeline.env;
    const redis = pipeline.env.redis();
    const shopId = await pipeline.addShop('tiktok');
    const seeded = pipeline.fake.seedOrders('tiktok', shopId, 400);
    await ensureConsumerGroup(redis, config.streamKey, config.consumerGroup);
    await pipeline.enqueue(seeded.map((o) => orderEvent('tiktok', shopId, o)));

    // One consumer owns all 400: every other one has failed 10 times and is long idle (poison);
    // the rest were just delivered (in flight elsewhere in its history, not idle).
    const consumer = 'same-consumer';
    const read = (await redis.xreadgroup(
      'GROUP',
      config.consumerGroup,
      consumer,
      'COUNT',
      400,
      'STREAMS',
      config.streamKey,
      '>',
    )) as [string, [string, string[]][]][];
    const ids = read[0]![1].map(([id]) => id);
    const poison = ids.filter((_, i) => i % 2 === 0);
    await redis.xclaim(
      config.streamKey,
      config.consumerGroup,
      consumer,
      0,
      ...poison,
      'IDLE',
      3_600_000,
      'RETRYCOUNT',
      10,
    );

    await pipeline.startWorker({ consumerName: consumer });
    await waitFor(async () => (await redis.xlen(config.deadLetterStreamKey)) >= 200, 15_000).catch(
      () => undefined,
    );
    const dead = await deadLetters(pipeline);
    expect(dead).toHaveLength(200);
    expect(new Set(dead.map((d) => d.original_id))).toEqual(new Set(poison));
    for (const letter of dead) {
      expect(letter).toMatchObject({ error_code: 'ERR_DELIVERY_LIMIT', deliveries: '11' });
    }
  }, 40_000);

  it('issue 10 #6: a lost change notification is never resent — a redelivered entry whose refetch writes nothing notifies again', async () => {
    p = await createPipeline({ CLAIM_IDLE_MS: '1000' });
    const pipeline = p;
    const { config } = pipeline.env;
    const redis = pipeline.env.redis();
    const shopId = await pipeline.addShop('shopee');
    const [order] = pipeline.fake.seedOrders('shopee', shopId, 1) as [Json];
    // A tracking-number push: no version, so every delivery fetches the order.
    const event = orderEvent('shopee', shopId, order, { version: 0, event_type: '4' });
    await ensureConsumerGroup(redis, config.streamKey, config.consumerGroup);
    await pipeline.enqueue([event]);

    // A worker reads it, writes the order, and dies before notifying: its changes are dropped.
    const read = (await redis.xreadgroup(
      'GROUP',
      config.consumerGroup,
      'crashed',
      'COUNT',
      1,
      'STREAMS',
      config.streamKey,
      '>',
    )) as [string, [string, string[]][]][];
    const [id, fields] = read[0]![1][0]!;
    const { db } = await pipeline.env.mongo();
    const processBatch = createBatchProcessor({
      adapters: pipeline.runtime.adapters,
      shops: pipeline.runtime.shops,
      entities: createEntityStore({ db }),
      logger: silentLogger,
      timezoneOffset: '+07:00',
      shopConcurrency: 1,
      detailBatchSize: 50,
    });
    const first = await processBatch([{ id, fields, deliveries: 1 }]);
    expect(first.changes).toHaveLength(1);
    expect(await db.collection('orders').countDocuments()).toBe(1);

    // Another worker reclaims it after CLAIM_IDLE_MS: nothing to write, but downstream must hear.
    await pipeline.startWorker();
    await pipeline.drained();
    const changes = await redis.xrange(config.changesStreamKey, '-', '+');
    expect(changes.map(([, f]) => fieldsToRecord(f))).toEqual([
      expect.objectContaining({ entity_id: String(order.order_sn), version: String(order.update_time) }),
    ]);
  });

  it('issue 10 #7: one refused sub-call dead-letters a whole shop group — one 403 on one TikTok product fails only that product', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const products = pipeline.fake.seedProducts('tiktok', shopId, 20);
    const refused = String(products[7]!.id);
    pipeline.fake.knobs.failNext(
      { status: 403 },
      { platform: 'tiktok', endpoint: FAKE_ENDPOINTS.tiktok.productDetail, id: refused, times: 100 },
    );
    await pipeline.enqueue(products.map((product) => productEvent(shopId, product)));
    await pipeline.startWorker();

    await pipeline.drained();
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('products').countDocuments()).toBe(19);
    const dead = await deadLetters(pipeline);
    expect(dead).toEqual([
      expect.objectContaining({ entity_id: refused, error_code: 'ERR_MARKETPLACE_REJECTED' }),
    ]);
  });

  it('issue 10 #4: trimmed pending entries vanish — a pending entry deleted from the stream is recorded in sync_failures and acked', async () => {
    p = await createPipeline({ CLAIM_IDLE_MS: '1000' });
    const pipeline = p;
    const { config } = pipeline.env;
    const redis = pipeline.env.redis();
    const shopId = await pipeline.addShop('tiktok');
    const seeded = pipeline.fake.seedOrders('tiktok', shopId, 3);
    await ensureConsumerGroup(redis, config.streamKey, config.consumerGroup);
    await pipeline.enqueue(seeded.map((o) => orderEvent('tiktok', shopId, o)));
    // A worker took all three and died; meanwhile one of them was removed from the stream.
    const read = (await redis.xreadgroup(
      'GROUP',
      config.consumerGroup,
      'dead-worker',
      'COUNT',
      3,
      'STREAMS',
      config.streamKey,
      '>',
    )) as [string, [string, string[]][]][];
    const [deleted] = read[0]![1][1]!;
    await redis.xdel(config.streamKey, deleted);

    await pipeline.startWorker();
    await pipeline.drained();
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('orders').countDocuments()).toBe(2);
    expect(
      await db
        .collection('sync_failures')
        .find({}, { projection: { _id: 0, stream_id: 1, error: 1 } })
        .toArray(),
    ).toEqual([
      { stream_id: deleted, error: { code: 'ERR_STREAM_TRIMMED', message: expect.any(String) as string } },
    ]);
  });

  it('a 429 storm on one shop and a 500 storm on another: the third shop flows, the two complete after recovery, nothing dead', async () => {
    p = await createPipeline();
    const pipeline = p;
    const [healthy, limited, broken] = [
      await pipeline.addShop('tiktok'),
      await pipeline.addShop('tiktok'),
      await pipeline.addShop('shopee'),
    ];
    const events = [
      ...pipeline.fake.seedOrders('tiktok', healthy, 15).map((o) => orderEvent('tiktok', healthy, o)),
      ...pipeline.fake.seedOrders('tiktok', limited, 15).map((o) => orderEvent('tiktok', limited, o)),
      ...pipeline.fake.seedOrders('shopee', broken, 15).map((o) => orderEvent('shopee', broken, o)),
    ];
    pipeline.fake.knobs.failShop('tiktok', limited, { status: 429, retryAfter: 1 });
    pipeline.fake.knobs.failShop('shopee', broken, { status: 500 });
    await pipeline.enqueue(events);
    await pipeline.startWorker();

    const { db } = await pipeline.env.mongo();
    const orders = db.collection('orders');
    await waitFor(async () => (await orders.countDocuments({ shop_id: healthy })) === 15);
    await sleep(3_000); // the storms go on; their entries wait without spending anything
    expect(await orders.countDocuments({ shop_id: { $in: [limited, broken] } })).toBe(0);

    pipeline.fake.knobs.failShop('tiktok', limited, null);
    pipeline.fake.knobs.failShop('shopee', broken, null);
    await pipeline.drained(30_000);
    expect(await orders.countDocuments()).toBe(45);
    expect(await deadLetters(pipeline)).toEqual([]);
  }, 40_000);

  it('a batch that hangs past BATCH_TIMEOUT_MS is given up and reclaimed; an entry that hangs every try dies after MAX_DELIVERIES', async () => {
    p = await createPipeline({
      BATCH_TIMEOUT_MS: '1000',
      CLAIM_IDLE_MS: '1000',
      MAX_DELIVERIES: '2',
      MARKETPLACE_TIMEOUT_MS: '60000',
    });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const [stuck] = pipeline.fake.seedOrders('tiktok', shopId, 1) as [Json];
    pipeline.fake.knobs.failNext('hang', { platform: 'tiktok', id: String(stuck.id), times: 100 });
    await pipeline.enqueue([orderEvent('tiktok', shopId, stuck)]);
    await pipeline.startWorker();

    await waitFor(async () => (await deadLetters(pipeline)).length === 1, 20_000);
    const [letter] = await deadLetters(pipeline);
    expect(letter).toMatchObject({
      entity_id: String(stuck.id),
      error_code: 'ERR_DELIVERY_LIMIT',
      deliveries: '3',
    });
    await pipeline.drained();
  }, 40_000);
});

describe('issue 10 #9: a worker that cannot read a shop record', () => {
  it('issue 10 #9: a replica started with a wrong TOKEN_ENCRYPTION_KEY dead-letters every shop it touches — it defers them instead, loudly, and reports not ready', async () => {
    const rightKey = randomBytes(32).toString('hex');
    p = await createPipeline({ TOKEN_ENCRYPTION_KEY: rightKey });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const seeded = pipeline.fake.seedOrders('tiktok', shopId, 5);
    await pipeline.enqueue(seeded.map((o) => orderEvent('tiktok', shopId, o)));

    const wrongKeyRuntime = await openRuntime({
      config: { ...pipeline.env.config, tokenEncryptionKey: randomBytes(32), consumerName: 'wrong-key' },
      logger: silentLogger,
      role: 'test-wrong-key',
    });
    pipeline.env.defer(() => wrongKeyRuntime.close());
    const wrong = await pipeline.startWorker({ runtime: wrongKeyRuntime });
    await waitFor(async () => {
      const state = await pipeline.groupState();
      return state.lag === 0 && state.pending === 0;
    });
    await sleep(1_500); // several deferrals later, still nothing dead
    expect(await deadLetters(pipeline)).toEqual([]);
    expect((await pipeline.groupState()).waiting).toBe(5);

    const server = await startMetricsServer({
      registry: wrongKeyRuntime.metrics,
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      readiness: () => wrong.health(),
    });
    pipeline.env.defer(() => server.close());
    const readyz = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    expect(readyz.status).toBe(503);
    expect(((await readyz.json()) as { error: { message: string } }).error.message).toMatch(
      new RegExp(`shop tiktok:${shopId} unreadable`),
    );

    // The operator fixes the replica: the right key drains everything.
    await wrong.close();
    await pipeline.startWorker({ consumerName: 'right-key' });
    await pipeline.drained(20_000);
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('orders').countDocuments()).toBe(5);
    expect(await deadLetters(pipeline)).toEqual([]);
  }, 40_000);
});

describe('issue 12 #7: consumer names', () => {
  const consumerNames = async (pipeline: Pipeline) => {
    const { config } = pipeline.env;
    const rows = (await pipeline.env
      .redis()
      .xinfo('CONSUMERS', config.streamKey, config.consumerGroup)) as unknown[][];
    return rows.map((fields) => String(fields[1]));
  };

  it('issue 12 #7: every restart leaves a dead consumer name in the group forever — a cleanly stopped worker with nothing pending removes its name', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const seeded = pipeline.fake.seedOrders('tiktok', shopId, 3);
    const worker = await pipeline.startWorker({ consumerName: 'restarted-once' });
    await pipeline.enqueue(seeded.map((o) => orderEvent('tiktok', shopId, o)));
    await pipeline.drained();
    expect(await consumerNames(pipeline)).toContain('restarted-once');

    await worker.close();
    expect(await consumerNames(pipeline)).not.toContain('restarted-once');
  });

  it('keeps the name of a stopped worker that still has pending entries, so they can be reclaimed', async () => {
    p = await createPipeline({ CLAIM_IDLE_MS: '60000' });
    const pipeline = p;
    const { config } = pipeline.env;
    const redis = pipeline.env.redis();
    const shopId = await pipeline.addShop('tiktok');
    await ensureConsumerGroup(redis, config.streamKey, config.consumerGroup);
    await pipeline.enqueue(
      pipeline.fake.seedOrders('tiktok', shopId, 2).map((o) => orderEvent('tiktok', shopId, o)),
    );
    // An earlier life of this consumer took both entries and died with them.
    await redis.xreadgroup(
      'GROUP',
      config.consumerGroup,
      'keeper',
      'COUNT',
      2,
      'STREAMS',
      config.streamKey,
      '>',
    );

    const worker = await pipeline.startWorker({ consumerName: 'keeper' });
    await sleep(500);
    await worker.close();
    expect(await consumerNames(pipeline)).toContain('keeper');
    expect((await pipeline.groupState()).pending).toBe(2);
  });
});
