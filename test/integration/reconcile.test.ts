/**
 * Reconcile and backfill against the fake marketplace, with the real worker draining what they
 * enqueue: one write path, nothing a webhook missed stays missing.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import { createStreamTrimmer } from '../../src/consumer/trim.js';
import { createReconcileScheduler } from '../../src/reconcile/scheduler.js';
import { COLLECTIONS } from '../../src/shared/mongo.js';
import { createShopStore } from '../../src/shared/store/shops.js';
import { decodeStreamEntry, encodeStreamEntry } from '../../src/shared/stream.js';
import { silentLogger } from '../support/context.js';
import { FAKE_ENDPOINTS, type Json } from '../support/fake-marketplace/index.js';
import { captureLogs } from '../support/logs.js';
import {
  createPipeline,
  orderEvent,
  reconcilerFor as pipelineReconciler,
  runCli,
  type Pipeline,
} from '../support/pipeline.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

const nowSeconds = () => Math.floor(Date.now() / 1000);
/** Unix seconds of an ISO time, e.g. "2026-11-21T18:00:00+07:00". */
const unix = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);

const warningsLogger = () => captureLogs('warn');

/**
 * These tests are about windows, leases, checkpoints and listing, over the kinds webhooks also
 * announce; settlements and tracking (which lists orders on their way) have files of their own.
 */
const reconcilerFor: typeof pipelineReconciler = (pipeline, overrides = {}) =>
  pipelineReconciler(pipeline, { kinds: ['order', 'return', 'product'], ...overrides });

/** Every entry of the pipeline's event stream, decoded, oldest first. */
async function streamEvents(pipeline: Pipeline) {
  const entries = (await pipeline.env.redis().xrange(pipeline.env.config.streamKey, '-', '+')) as [
    string,
    string[],
  ][];
  return entries.map(([, fields]) => decodeStreamEntry(fields));
}

/** A settable clock for the reconciler. */
function clock(iso: string) {
  let current = new Date(iso);
  return {
    now: () => current,
    set: (next: string) => void (current = new Date(next)),
  };
}

const orderId = (platform: 'tiktok' | 'shopee', order: Json) =>
  String(platform === 'tiktok' ? order.id : order.order_sn);

describe('reconcile', () => {
  it('brings in every order updated today, fetching details only for what MongoDB lacks', async () => {
    p = await createPipeline({ BATCH_SIZE: '500' });
    const pipeline = p;
    const shopA = await pipeline.addShop('tiktok');
    const shopB = await pipeline.addShop('tiktok');
    // Updated in the last minutes: inside today's window whatever the hour.
    const fresh = (i: number) => ({ update_time: nowSeconds() - 30 - i, create_time: nowSeconds() - 3600 });
    const a = pipeline.fake.seedOrders('tiktok', shopA, 125, fresh);
    const b = pipeline.fake.seedOrders('tiktok', shopB, 125, fresh);
    // 100 of them already arrived through webhooks.
    await pipeline.enqueue([
      ...a.slice(0, 50).map((o) => orderEvent('tiktok', shopA, o)),
      ...b.slice(0, 50).map((o) => orderEvent('tiktok', shopB, o)),
    ]);
    await pipeline.startWorker();
    await pipeline.drained();
    pipeline.fake.calls.reset();

    const summary = await reconcilerFor(pipeline).run({ trigger: 'cli', mode: { type: 'today' } });
    expect(summary).toMatchObject({ status: 'succeeded', listed: 250, enqueued: 250 });
    expect(summary.shops.map((s) => [s.shop_id, s.listed, s.status]).sort()).toEqual(
      [
        [shopA, 125, 'succeeded'],
        [shopB, 125, 'succeeded'],
      ].sort(),
    );
    await pipeline.drained();

    const { db } = await pipeline.env.mongo();
    expect(await db.collection('orders').countDocuments()).toBe(250);
    const fetched = pipeline.fake.calls.ids({ endpoint: FAKE_ENDPOINTS.tiktok.orderDetail }).flat();
    expect(fetched).toHaveLength(150);
    expect(new Set(fetched)).toEqual(new Set([...a.slice(50), ...b.slice(50)].map((o) => String(o.id))));

    const run = await db.collection('sync_runs').findOne({ run_id: summary.id });
    expect(run).toMatchObject({
      job: 'reconcile',
      trigger: 'cli',
      status: 'succeeded',
      listed: 250,
      enqueued: 250,
      errors: [],
    });
    expect(run?.finished_at).toBeInstanceOf(Date);
    expect(run?.shops).toHaveLength(2);

    // The entries were reconcile entries with the order's update_time as version: what they wrote
    // says so (the stream itself is trimmed once processed, and the orders' tracking follow-ups
    // come after them).
    const listedOrder = b[124]!;
    expect(await db.collection('orders').findOne({ order_id: listedOrder.id })).toMatchObject({
      sync_source: 'reconcile',
      version: listedOrder.update_time,
    });
  });

  it('lists 23:30 yesterday (inside the overlap) and 00:30 today, not 21:00 yesterday', async () => {
    p = await createPipeline({ RECONCILE_OVERLAP_MINUTES: '60' });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const at = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);
    pipeline.fake.seedOrders('tiktok', shopId, 3, (i) => ({
      update_time: [
        at('2026-11-20T21:00:00+07:00'),
        at('2026-11-20T23:30:00+07:00'),
        at('2026-11-21T00:30:00+07:00'),
      ][i],
    }));
    const summary = await reconcilerFor(pipeline, { now: () => new Date('2026-11-21T10:00:00+07:00') }).run({
      trigger: 'cli',
      mode: { type: 'today' },
    });
    expect(summary.listed).toBe(2);
    const entries = (await pipeline.env.redis().xrange(pipeline.env.config.streamKey, '-', '+')) as [
      string,
      string[],
    ][];
    expect(entries.map(([, f]) => decodeStreamEntry(f).version).sort()).toEqual([
      at('2026-11-20T23:30:00+07:00'),
      at('2026-11-21T00:30:00+07:00'),
    ]);
  });

  it('runs once when two replicas start a run at the same moment', async () => {
    p = await createPipeline();
    const pipeline = p;
    await pipeline.addShop('tiktok');
    pipeline.fake.knobs.setLatency(200);
    const replica = () =>
      createReconcileScheduler({
        config: pipeline.runtime.config,
        redis: pipeline.env.redis(),
        reconciler: reconcilerFor(pipeline),
        logger: silentLogger,
      });
    const results = await Promise.all(
      [replica(), replica()].map((s) => s.runExclusive({ trigger: 'cron', mode: { type: 'today' } })),
    );
    expect(results.filter((r) => r.ran)).toHaveLength(1);
    expect(results.find((r) => !r.ran)).toMatchObject({ reason: 'another replica is running reconcile' });
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('sync_runs').countDocuments()).toBe(1);
  });

  it('reports a shop whose token is rejected and completes the other', async () => {
    p = await createPipeline();
    const pipeline = p;
    const broken = await pipeline.addShop('tiktok');
    const healthy = await pipeline.addShop('shopee');
    pipeline.fake.seedOrders('shopee', healthy, 5, () => ({ update_time: nowSeconds() - 10 }));
    pipeline.fake.knobs.expireAccessToken('tiktok', broken);
    pipeline.fake.knobs.revokeRefreshToken('tiktok', broken);

    const summary = await reconcilerFor(pipeline).run({ trigger: 'cron', mode: { type: 'today' } });
    expect(summary.status).toBe('partial');
    const byShop = Object.fromEntries(summary.shops.map((s) => [s.shop_id, s]));
    expect(byShop[broken]).toMatchObject({ status: 'failed', error: { code: 'ERR_MARKETPLACE_AUTH' } });
    expect(byShop[healthy]).toMatchObject({ status: 'succeeded', enqueued: 5 });
    const { db } = await pipeline.env.mongo();
    const run = await db.collection('sync_runs').findOne({ run_id: summary.id });
    expect(run?.status).toBe('partial');
    expect(run?.errors).toEqual([expect.objectContaining({ shop_id: broken, code: 'ERR_MARKETPLACE_AUTH' })]);
  });

  it('issue 10 #9: one bad shop document stops reconcile for every shop', async () => {
    p = await createPipeline({ TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('hex') });
    const pipeline = p;
    const good = await pipeline.addShop('tiktok');
    const orders = pipeline.fake.seedOrders('tiktok', good, 4, () => ({ update_time: nowSeconds() - 10 }));
    const { db } = await pipeline.env.mongo();
    // Added by a process configured with another TOKEN_ENCRYPTION_KEY.
    await createShopStore({ db, encryptionKey: randomBytes(32) }).upsert({
      platform: 'shopee',
      shop_id: '880001',
      access_token: 'ROW_other_key_access',
      refresh_token: 'ROW_other_key_refresh',
    });
    // Written by hand: a number where the token belongs, a string where a date belongs.
    await db.collection(COLLECTIONS.shops).insertOne({
      platform: 'tiktok',
      shop_id: 'hand-written',
      status: 'active',
      access_token: 12345,
      created_at: 'yesterday',
      updated_at: new Date(),
    });

    const summary = await reconcilerFor(pipeline).run({ trigger: 'cron', mode: { type: 'today' } });

    expect(summary.status).toBe('partial');
    const byShop = Object.fromEntries(summary.shops.map((s) => [`${s.platform}:${s.shop_id}`, s]));
    expect(byShop[`tiktok:${good}`]).toMatchObject({ status: 'succeeded', enqueued: 4 });
    for (const bad of ['shopee:880001', 'tiktok:hand-written']) {
      expect(byShop[bad]).toMatchObject({ status: 'failed', error: { code: 'ERR_SHOP_UNREADABLE' } });
    }
    expect(summary.errors.map((e) => `${e.platform}:${e.shop_id} ${e.code}`).sort()).toEqual([
      'shopee:880001 ERR_SHOP_UNREADABLE',
      'tiktok:hand-written ERR_SHOP_UNREADABLE',
    ]);
    expect(JSON.stringify(summary)).not.toContain('ROW_other_key');
    const entries = (await pipeline.env.redis().xrange(pipeline.env.config.streamKey, '-', '+')) as [
      string,
      string[],
    ][];
    expect(entries.map(([, f]) => decodeStreamEntry(f).entity_id).sort()).toEqual(
      orders.map((o) => String(o.id)).sort(),
    );
    expect(await db.collection('sync_runs').countDocuments({ status: 'running' })).toBe(0);
    expect(await db.collection('sync_runs').findOne({ run_id: summary.id })).toMatchObject({
      status: 'partial',
      errors: expect.arrayContaining([
        expect.objectContaining({ shop_id: 'hand-written', code: 'ERR_SHOP_UNREADABLE' }),
      ]) as unknown,
    });
  });

  it('issue 10 #9: a run that throws is recorded as failed, never left running', async () => {
    p = await createPipeline();
    const pipeline = p;
    const down = () => Promise.reject(new Error('MongoDB went away'));
    const reconciler = reconcilerFor(pipeline, { shops: { listActiveIsolated: down } });

    await expect(reconciler.run({ trigger: 'cron', mode: { type: 'today' } })).rejects.toThrow(
      'MongoDB went away',
    );

    const { db } = await pipeline.env.mongo();
    const runs = await db.collection('sync_runs').find().toArray();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      status: 'failed',
      errors: [expect.objectContaining({ code: 'ERR_INTERNAL', message: 'MongoDB went away' })],
    });
    expect(runs[0]!.finished_at).toBeInstanceOf(Date);
  });

  it('enqueues Shopee lost pushes and confirms them', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    pipeline.fake.addLostPush({
      shopId: Number(shopId),
      code: 3,
      data: { ordersn: 'LOST1', status: 'READY_TO_SHIP', update_time: nowSeconds() },
    });
    const summary = await reconcilerFor(pipeline).run({ trigger: 'cron', mode: { type: 'today' } });
    expect(summary.status).toBe('succeeded');
    const entries = (await pipeline.env.redis().xrange(pipeline.env.config.streamKey, '-', '+')) as [
      string,
      string[],
    ][];
    expect(entries.map(([, f]) => decodeStreamEntry(f).entity_id)).toContain('LOST1');
    expect(pipeline.fake.lostPushState().pending).toBe(0);
  });
});

describe('issue 11 #6: Shopee lost pushes are never confirmed before they are safe', () => {
  it('issue 11 #6: an unreadable lost push is recorded in sync_failures, and only then is the batch confirmed', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const { db } = await pipeline.env.mongo();
    const failures = db.collection(COLLECTIONS.syncFailures);
    // Published envelope shape (readable) and an item whose data is cut short (unreadable).
    pipeline.fake.addLostPush({
      shopId,
      code: 3,
      data: { ordersn: 'LOST-OK', status: 'READY_TO_SHIP', update_time: nowSeconds() },
    });
    pipeline.fake.addLostPush({ shopId, code: 3, data: {}, dataText: '{"data":{"ordersn":"LOST-CUT' });
    let atConfirm: { entities: string[]; failures: number } | undefined;
    pipeline.fake.knobs.beforeAnswer({ endpoint: FAKE_ENDPOINTS.shopee.confirmLostPush }, async () => {
      const entries = (await pipeline.env.redis().xrange(pipeline.env.config.streamKey, '-', '+')) as [
        string,
        string[],
      ][];
      atConfirm = {
        entities: entries.map(([, f]) => decodeStreamEntry(f).entity_id),
        failures: await failures.countDocuments({ platform: 'shopee', origin: 'lost_webhook' }),
      };
    });

    const summary = await reconcilerFor(pipeline).run({ trigger: 'cron', mode: { type: 'today' } });

    expect(atConfirm).toEqual({ entities: ['LOST-OK'], failures: 1 });
    expect(pipeline.fake.lostPushState().pending).toBe(0);
    const recorded = await failures.find({ origin: 'lost_webhook' }).toArray();
    expect(recorded).toEqual([
      expect.objectContaining({
        platform: 'shopee',
        shop_id: shopId,
        event_type: '3',
        stream_id: null,
        error: expect.objectContaining({ code: 'ERR_PAYLOAD' }) as unknown,
      }),
    ]);
    expect(JSON.parse(recorded[0]!.payload as string)).toMatchObject({
      data: '{"data":{"ordersn":"LOST-CUT',
    });
    // The run says so: an operator sees it in sync_runs.
    expect(summary.status).toBe('partial');
    expect(summary.errors).toEqual([
      expect.objectContaining({ platform: 'shopee', shop_id: shopId, code: 'ERR_PAYLOAD' }),
    ]);
  });

  it('leaves a batch unconfirmed when it could not be enqueued', async () => {
    p = await createPipeline();
    const pipeline = p;
    pipeline.fake.addLostPush({ shopId: 220456789, code: 3, data: { ordersn: 'NOT-STORED' } });
    // The stream key holds a string: every stream command on it fails.
    await pipeline.env.redis().set(pipeline.env.config.streamKey, 'not a stream');

    const summary = await reconcilerFor(pipeline).run({ trigger: 'cron', mode: { type: 'today' } });

    expect(pipeline.fake.calls.count({ endpoint: FAKE_ENDPOINTS.shopee.confirmLostPush })).toBe(0);
    expect(pipeline.fake.lostPushState().pending).toBe(1);
    expect(summary.errors).toEqual([
      expect.objectContaining({
        platform: 'shopee',
        message: expect.stringMatching(/unconfirmed/) as unknown,
      }),
    ]);
  });
});

describe('reconcile under STREAM_MAXLEN', () => {
  /**
   * Fills the stream with `count` entries no worker has read: a backlog. Webhook-sized payloads
   * spread them over several internal nodes, which is what approximate trimming removes.
   */
  async function addBacklog(pipeline: Pipeline, count: number): Promise<void> {
    const redis = pipeline.runtime.redis;
    for (let i = 0; i < count; i++) {
      await redis.xadd(
        pipeline.env.config.streamKey,
        '*',
        ...encodeStreamEntry({
          platform: 'tiktok',
          shop_id: 'backlog',
          kind: 'order',
          entity_id: `b${i}`,
          version: 1,
          event_id: `backlog-${i}`,
          event_type: '1',
          source: 'webhook',
          received_at: 1,
          payload: JSON.stringify({ type: 1, padding: 'x'.repeat(300) }),
        }),
      );
    }
  }

  it('issue 10 #4: reconcile waits for room below STREAM_MAXLEN instead of trimming unprocessed entries', async () => {
    p = await createPipeline({ STREAM_MAXLEN: '100' });
    const pipeline = p;
    const { streamKey, consumerGroup } = pipeline.env.config;
    const redis = pipeline.env.redis();
    const shopId = await pipeline.addShop('tiktok');
    pipeline.fake.seedOrders('tiktok', shopId, 60, () => ({ update_time: nowSeconds() - 10 }));
    await redis.xgroup('CREATE', streamKey, consumerGroup, '0', 'MKSTREAM');
    await addBacklog(pipeline, 80);
    // Stands in for the workers: read, acknowledge, trim what every group acknowledged.
    let delivered = 0;
    const drain = async () => {
      const reply = (await redis.xreadgroup(
        'GROUP',
        consumerGroup,
        'w1',
        'COUNT',
        1000,
        'STREAMS',
        streamKey,
        '>',
      )) as [string, [string, string[]][]][] | null;
      const ids = (reply?.[0]?.[1] ?? []).map(([id]) => id);
      if (ids.length > 0) await redis.xack(streamKey, consumerGroup, ...ids);
      delivered += ids.length;
      await createStreamTrimmer({ redis, streamKey }).trim();
    };
    const lengthsWhileWaiting: number[] = [];
    const { lines, logger } = warningsLogger();

    const summary = await reconcilerFor(pipeline, {
      logger,
      sleep: async () => {
        lengthsWhileWaiting.push(await redis.xlen(streamKey));
        await drain();
      },
    }).run({ trigger: 'cli', mode: { type: 'today' } });
    await drain();

    // Every entry, backlog and reconcile alike, reached the group: none was trimmed unread.
    expect(delivered).toBe(80 + 60);
    expect(summary).toMatchObject({ status: 'succeeded', listed: 60, enqueued: 60 });
    expect(lengthsWhileWaiting).toEqual([80]);
    expect(lines.filter((l) => String(l.msg).startsWith('event stream at STREAM_MAXLEN'))).toHaveLength(1);
  });

  it('a stop request ends the wait for room; nothing is added, nothing removed', async () => {
    p = await createPipeline({ STREAM_MAXLEN: '100' });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    pipeline.fake.seedOrders('tiktok', shopId, 30, () => ({ update_time: nowSeconds() - 10 }));
    await addBacklog(pipeline, 90);
    let stop = false;

    const summary = await reconcilerFor(pipeline, {
      sleep: () => {
        stop = true;
        return Promise.resolve();
      },
    }).run({ trigger: 'cli', mode: { type: 'today' }, shouldStop: () => stop });

    expect(summary).toMatchObject({ status: 'failed', enqueued: 0 });
    expect(summary.shops[0]?.error).toMatchObject({ code: 'ERR_INTERRUPTED' });
    const entries = (await pipeline.env.redis().xrange(pipeline.env.config.streamKey, '-', '+')) as [
      string,
      string[],
    ][];
    expect(entries.map(([, f]) => decodeStreamEntry(f).shop_id)).toEqual(Array(90).fill('backlog'));
  });
});

describe('backfill', () => {
  it('resumes an interrupted backfill without re-listing finished days', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const reconciler = reconcilerFor(pipeline);
    const mode = { type: 'days' as const, firstDay: '2026-11-01', lastDay: '2026-11-05' };

    let chunks = 0;
    const interrupted = await reconciler.run({
      trigger: 'cli',
      mode,
      onProgress: () => void chunks++,
      shouldStop: () => chunks >= 2,
    });
    expect(interrupted.status).toBe('failed');
    expect(interrupted.shops[0]).toMatchObject({ days_done: 2 });
    const searchesBefore = pipeline.fake.calls.count({ endpoint: FAKE_ENDPOINTS.tiktok.orderSearch, shopId });

    pipeline.fake.calls.reset();
    const resumed = await reconciler.run({ trigger: 'cli', mode });
    expect(resumed.status).toBe('succeeded');
    expect(resumed.shops[0]).toMatchObject({ days_done: 3, days_skipped: 2 });
    const listedFrom = pipeline.fake.calls.log
      .filter((c) => c.endpoint === FAKE_ENDPOINTS.tiktok.orderSearch)
      .map((c) => Number((c.body as { update_time_ge: number }).update_time_ge));
    const dayStart = (day: string) => Math.floor(new Date(`${day}T00:00:00+07:00`).getTime() / 1000);
    expect(listedFrom.sort()).toEqual([
      dayStart('2026-11-03'),
      dayStart('2026-11-04'),
      dayStart('2026-11-05'),
    ]);
    expect(searchesBefore).toBe(3); // days 1-2, and day 3 was stopped after its first page

    // A completed backfill clears its checkpoints: the same range can be run again in full.
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('sync_checkpoints').countDocuments()).toBe(0);
  });

  it('lists a 40-day Shopee range in windows of at most 15 days', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const summary = await reconcilerFor(pipeline).run({
      trigger: 'cli',
      mode: { type: 'days', firstDay: '2026-09-01', lastDay: '2026-10-10' },
      platform: 'shopee',
    });
    expect(summary.status).toBe('succeeded');
    expect(summary.shops[0]).toMatchObject({ shop_id: shopId, days_done: 40 });
    const windows = pipeline.fake.calls.log
      .filter((c) => c.endpoint === FAKE_ENDPOINTS.shopee.orderList)
      .map((c) => Number(c.query.time_to) - Number(c.query.time_from));
    expect(windows.length).toBeGreaterThanOrEqual(40);
    for (const seconds of windows) expect(seconds).toBeLessThanOrEqual(15 * 86_400);
    expect(pipeline.fake.calls.count({ platform: 'shopee', status: 400 })).toBe(0);
  });
});

describe('gap-free reconcile (issue 11)', () => {
  it('issue 11 #3: the 00:00 run lists 18:00-24:00 of the day before, which the 18:00 run could not', async () => {
    p = await createPipeline({ RECONCILE_OVERLAP_MINUTES: '60' });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const times = ['2026-11-21T17:30:00+07:00', '2026-11-21T18:30:00+07:00', '2026-11-21T21:00:00+07:00'];
    const orders = pipeline.fake.seedOrders('tiktok', shopId, 3, (i) => ({ update_time: unix(times[i]!) }));
    const time = clock('2026-11-21T18:00:00+07:00');
    const reconciler = reconcilerFor(pipeline, { now: time.now });

    await reconciler.run({ trigger: 'cron', mode: { type: 'today' } });
    const afterFirst = (await streamEvents(pipeline)).length;
    time.set('2026-11-22T00:00:00+07:00');
    const second = await reconciler.run({ trigger: 'cron', mode: { type: 'today' } });

    const listedBySecond = (await streamEvents(pipeline)).slice(afterFirst).map((e) => e.entity_id);
    expect(listedBySecond).toEqual(
      expect.arrayContaining([orderId('tiktok', orders[1]!), orderId('tiktok', orders[2]!)]),
    );
    const window = { from: new Date('2026-11-21T17:00:00+07:00'), to: new Date('2026-11-22T00:00:00+07:00') };
    expect(second.shops[0]).toMatchObject({ status: 'succeeded', window, backfill_advised: null });
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('sync_runs').findOne({ run_id: second.id })).toMatchObject({
      job: 'reconcile',
      window,
      shops: [expect.objectContaining({ shop_id: shopId, window })],
    });
  });

  it('issue 11 #3: a failed shop keeps its last success, and its next run lists the whole gap', async () => {
    p = await createPipeline();
    const pipeline = p;
    const healthy = await pipeline.addShop('tiktok');
    const flaky = await pipeline.addShop('tiktok');
    const [missed] = pipeline.fake.seedOrders('tiktok', flaky, 1, () => ({
      update_time: unix('2026-11-21T20:00:00+07:00'),
    }));
    const time = clock('2026-11-21T18:00:00+07:00');
    const reconciler = reconcilerFor(pipeline, { now: time.now });
    const byShop = (summary: { shops: { shop_id: string }[] }) =>
      Object.fromEntries(summary.shops.map((s) => [s.shop_id, s]));

    expect((await reconciler.run({ trigger: 'cron', mode: { type: 'today' } })).status).toBe('succeeded');
    time.set('2026-11-22T00:00:00+07:00');
    pipeline.fake.knobs.failShop('tiktok', flaky, { status: 400 });
    const failedRun = await reconciler.run({ trigger: 'cron', mode: { type: 'today' } });
    expect(byShop(failedRun)[flaky]).toMatchObject({ status: 'failed' });
    pipeline.fake.knobs.failShop('tiktok', flaky, null);
    time.set('2026-11-22T06:00:00+07:00');
    const before = (await streamEvents(pipeline)).length;
    const recovered = await reconciler.run({ trigger: 'cron', mode: { type: 'today' } });

    expect(byShop(recovered)[flaky]).toMatchObject({
      status: 'succeeded',
      window: { from: new Date('2026-11-21T17:00:00+07:00'), to: new Date('2026-11-22T06:00:00+07:00') },
    });
    expect(byShop(recovered)[healthy]).toMatchObject({
      window: { from: new Date('2026-11-21T23:00:00+07:00'), to: new Date('2026-11-22T06:00:00+07:00') },
    });
    const listed = (await streamEvents(pipeline)).slice(before).map((e) => `${e.shop_id}:${e.entity_id}`);
    expect(listed).toContain(`${flaky}:${orderId('tiktok', missed!)}`);
  });

  it('issue 11 #3: a first run, or a gap over RECONCILE_MAX_GAP_HOURS, lists today and logs that a backfill is advised', async () => {
    p = await createPipeline({ RECONCILE_MAX_GAP_HOURS: '24' });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const time = clock('2026-11-21T10:00:00+07:00');
    const { lines, logger } = warningsLogger();
    const reconciler = reconcilerFor(pipeline, { logger, now: time.now });
    const advice = () => lines.filter((l) => String(l.msg).includes('a backfill is advised'));

    const first = await reconciler.run({ trigger: 'cron', mode: { type: 'today' } });
    const todayFrom = new Date('2026-11-20T23:00:00+07:00');
    expect(first.shops[0]).toMatchObject({
      window: { from: todayFrom, to: time.now() },
      backfill_advised: { from: null, to: todayFrom },
    });
    expect(advice()).toEqual([expect.objectContaining({ platform: 'tiktok', shop_id: shopId })]);

    time.set('2026-11-23T12:00:00+07:00'); // 50 h later
    const late = await reconciler.run({ trigger: 'cron', mode: { type: 'today' } });
    const lateFrom = new Date('2026-11-22T23:00:00+07:00');
    expect(late.shops[0]).toMatchObject({
      status: 'succeeded',
      window: { from: lateFrom, to: time.now() },
      backfill_advised: { from: new Date('2026-11-21T10:00:00+07:00'), to: lateFrom },
    });
    expect(advice()).toHaveLength(2);
    expect(advice()[1]).toMatchObject({
      shop_id: shopId,
      uncovered: { from: '2026-11-21T03:00:00.000Z', to: '2026-11-22T16:00:00.000Z' },
      command: `market-ingest reconcile run --from 2026-11-21 --to 2026-11-22 --platform tiktok --shop ${shopId}`,
    });
    expect(String(advice()[1]!.msg)).toContain(`tiktok:${shopId}`);
  });

  it('issue 11 #3: reconcile run without dates runs and records what the schedule would; the next scheduled run continues from it', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const result = await runCli(pipeline, 'reconcile', 'run');
    expect(result.code).toBe(0);
    const { db } = await pipeline.env.mongo();
    const manual = await db.collection('sync_runs').findOne({ trigger: 'cli' });
    expect(manual).toMatchObject({ job: 'reconcile', status: 'succeeded' });
    const manualEnd = (manual!.shops as { window: { to: Date } }[])[0]!.window.to;

    const later = new Date(manualEnd.getTime() + 6 * 3_600_000);
    const scheduled = await reconcilerFor(pipeline, { now: () => later }).run({
      trigger: 'cron',
      mode: { type: 'today' },
    });
    expect(scheduled.shops[0]).toMatchObject({
      shop_id: shopId,
      window: { from: new Date(manualEnd.getTime() - 60 * 60_000), to: later },
      backfill_advised: null,
    });
  });

  it('issue 11: a reconcile schedule over a simulated day lists every order updated at any hour, with no window gap', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shops = { tiktok: await pipeline.addShop('tiktok'), shopee: await pipeline.addShop('shopee') };
    // Three orders per hour (on the hour, half past, last second) from 18:00 the evening before to 23:59.
    const firstHour = unix('2026-11-20T18:00:00+07:00');
    const updateTime = (i: number) => firstHour + Math.floor(i / 3) * 3600 + [0, 1800, 3599][i % 3]!;
    const count = 30 * 3;
    const expected = new Set<string>();
    for (const platform of ['tiktok', 'shopee'] as const) {
      for (const order of pipeline.fake.seedOrders(platform, shops[platform], count, (i) => ({
        update_time: updateTime(i),
      }))) {
        expected.add(`${platform}:${orderId(platform, order)}`);
      }
    }
    const time = clock('2026-11-20T18:00:00+07:00');
    const reconciler = reconcilerFor(pipeline, { now: time.now });
    const schedule = [
      '2026-11-20T18:00:00+07:00',
      '2026-11-21T00:00:00+07:00',
      '2026-11-21T06:00:00+07:00',
      '2026-11-21T12:00:00+07:00',
      '2026-11-21T18:00:00+07:00',
      '2026-11-22T00:00:00+07:00',
    ];
    const windows: { from: Date; to: Date }[] = [];
    for (const tick of schedule) {
      time.set(tick);
      const summary = await reconciler.run({ trigger: 'cron', mode: { type: 'today' } });
      expect(summary.status).toBe('succeeded');
      windows.push(...summary.shops.filter((s) => s.platform === 'tiktok').map((s) => s.window));
    }

    const listed = new Set((await streamEvents(pipeline)).map((e) => `${e.platform}:${e.entity_id}`));
    expect([...expected].filter((id) => !listed.has(id))).toEqual([]);
    for (let i = 1; i < windows.length; i++) expect(windows[i]!.from <= windows[i - 1]!.to).toBe(true);
  });

  it('issue 11 #4: a backfill rerun the next day lists the rest of a day that was partial', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const failing = await pipeline.addShop('tiktok');
    const [morning, afternoon] = pipeline.fake.seedOrders('tiktok', shopId, 2, (i) => ({
      update_time: unix(['2026-11-21T08:00:00+07:00', '2026-11-21T15:00:00+07:00'][i]!),
    }));
    const time = clock('2026-11-21T10:00:00+07:00');
    const reconciler = reconcilerFor(pipeline, { now: time.now });
    const mode = { type: 'days' as const, firstDay: '2026-11-20', lastDay: '2026-11-21' };
    const listedFor = async (from: number) =>
      (await streamEvents(pipeline))
        .slice(from)
        .filter((e) => e.shop_id === shopId)
        .map((e) => e.entity_id);

    // Partial (one shop fails), so its checkpoints stay for a rerun.
    pipeline.fake.knobs.failShop('tiktok', failing, { status: 400 });
    const first = await reconciler.run({ trigger: 'cli', mode });
    expect(first.status).toBe('partial');
    expect(await listedFor(0)).toEqual([orderId('tiktok', morning!)]);
    const { db } = await pipeline.env.mongo();
    const checkpointed = await db.collection('sync_checkpoints').find({ shop_id: shopId }).toArray();
    expect(checkpointed.map((c) => String(c.day))).toEqual(['2026-11-20']);

    pipeline.fake.knobs.failShop('tiktok', failing, null);
    time.set('2026-11-22T09:00:00+07:00');
    const before = (await streamEvents(pipeline)).length;
    const rerun = await reconciler.run({ trigger: 'cli', mode });
    expect(rerun.status).toBe('succeeded');
    expect(rerun.shops.find((s) => s.shop_id === shopId)).toMatchObject({ days_skipped: 1, days_done: 1 });
    expect(await listedFor(before)).toContain(orderId('tiktok', afternoon!));
  });

  it('issue 11 #5: reconcile run whose --shop/--platform names no known shop exits 1 and says so', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const cases: [string[], string][] = [
      [['--shop', '424242'], 'reconcile run: no active shop 424242 on tiktok or shopee'],
      [
        ['--shop', '424242', '--date', '2026-11-01'],
        'reconcile run: no active shop 424242 on tiktok or shopee',
      ],
      [['--platform', 'shopee'], 'reconcile run: no active shop on shopee'],
      [['--platform', 'shopee', '--shop', shopId], `reconcile run: no active shop ${shopId} on shopee`],
    ];
    for (const [flags, line] of cases) {
      const result = await runCli(pipeline, 'reconcile', 'run', ...flags);
      expect({ flags, code: result.code, err: result.err, out: result.out }).toEqual({
        flags,
        code: 1,
        err: `${line}\n`,
        out: '',
      });
    }
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('sync_runs').countDocuments()).toBe(0);

    // A shop that is known runs as before.
    const known = await runCli(pipeline, 'reconcile', 'run', '--platform', 'tiktok', '--shop', shopId);
    expect(known.code).toBe(0);
    expect(known.out).toMatch(/succeeded; 1 shops/);
  });

  it('reconcile run --kind lists only those kinds, and such a run does not move the shops scheduled start', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const time = clock('2026-11-21T10:00:00+07:00');
    const at = (iso: string) => ({ update_time: unix(iso) });
    pipeline.fake.seedOrders('tiktok', shopId, 3, () => at('2026-11-21T09:00:00+07:00'));
    pipeline.fake.seedReturns('tiktok', shopId, 2, () => at('2026-11-21T09:30:00+07:00'));

    // A full scheduled run at 10:00, then an orders-only run at 12:00.
    await reconcilerFor(pipeline, { now: time.now }).run({ trigger: 'cron', mode: { type: 'today' } });
    time.set('2026-11-21T12:00:00+07:00');
    const limited = await reconcilerFor(pipeline, { now: time.now }).run({
      trigger: 'cli',
      mode: { type: 'today' },
      kinds: ['order'],
    });
    expect(limited.shops[0]).toMatchObject({ listed: 3, kinds: { order: { listed: 3 } } });
    expect(limited.shops[0]!.kinds.return).toBeUndefined();
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('sync_runs').findOne({ run_id: limited.id })).toMatchObject({
      filter: { kinds: ['order'] },
    });

    // The next scheduled run starts from the full run's end (10:00), not the limited one's.
    time.set('2026-11-21T14:00:00+07:00');
    const next = await reconcilerFor(pipeline, { now: time.now }).run({
      trigger: 'cron',
      mode: { type: 'today' },
    });
    expect(next.shops[0]!.window.from).toEqual(
      new Date(new Date('2026-11-21T10:00:00+07:00').getTime() - 60 * 60_000),
    );

    const bad = await runCli(pipeline, 'reconcile', 'run', '--kind', 'order,invoice');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(
      /--kind takes a comma-separated list of order, return, product, settlement, tracking/,
    );
  });
});
