/**
 * `market-ingest trace` through the real dispatcher, against a whole pipeline: webhooks sent by the
 * fake marketplace to the real ingest app, processed (or not) by a real worker, a real reconcile
 * run; then the journey as trace tells it.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch, type CliIo } from '../../src/cli/dispatch.js';
import type { TraceReport } from '../../src/cli/trace.js';
import { retryScheduleKey } from '../../src/consumer/group.js';
import { ensureConsumerGroup } from '../../src/consumer/worker.js';
import { buildIngestApp } from '../../src/ingest/app.js';
import { waitForRedis, webhookHandlersFromConfig } from '../../src/ingest/main.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import { COLLECTIONS } from '../../src/shared/mongo.js';
import { closeRedis, createRedis } from '../../src/shared/redis.js';
import { fieldsToRecord } from '../../src/shared/stream.js';
import { silentLogger } from '../support/context.js';
import {
  createPipeline,
  orderEvent,
  pipelineEnv,
  reconcilerFor,
  type Pipeline,
} from '../support/pipeline.js';
import { waitFor } from '../support/wait.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

async function trace(pipeline: Pipeline, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: pipelineEnv(pipeline, { LOG_LEVEL: 'silent' }),
    isTTY: false,
  };
  const code = await dispatch(COMMANDS, ['trace', ...argv], io);
  return { code, out: out.join(''), err: err.join('') };
}

/** The real ingest app on the pipeline's Redis and keys, with the fake marketplace's credentials. */
async function startIngest(pipeline: Pipeline): Promise<string> {
  const { env } = pipeline;
  const redis = createRedis({
    url: env.redisUrl,
    name: 'ingest',
    logger: silentLogger,
    profile: 'fail-fast',
  });
  env.defer(() => closeRedis(redis));
  const app = buildIngestApp({
    config: env.config,
    redis,
    handlers: webhookHandlersFromConfig(env.config),
    logger: silentLogger,
    metrics: createMetricsRegistry(),
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  env.defer(() => app.close());
  await waitForRedis(redis, 5_000);
  return url;
}

/** A TikTok order-status webhook as the marketplace sends it. */
function orderWebhook(shopId: string, notificationId: string, orderId: string, updateTime: number): string {
  return JSON.stringify({
    type: 1,
    tts_notification_id: notificationId,
    shop_id: shopId,
    timestamp: Math.floor(Date.now() / 1000),
    data: { order_id: orderId, order_status: 'AWAITING_SHIPMENT', update_time: updateTime },
  });
}

/** A day ten days ago in the service's zone (+07:00), and noon of it in unix seconds. */
function pastDay(): { day: string; noon: number } {
  const day = new Date(Date.now() - 10 * 86_400_000 + 7 * 3_600_000).toISOString().slice(0, 10);
  return { day, noon: Date.parse(`${day}T12:00:00+07:00`) / 1000 };
}

describe('market-ingest trace', () => {
  it('follows an order webhook: the entry the 200 named, who holds it, the stored version and hash, the notification, the reconcile run that listed it', async () => {
    p = await createPipeline();
    const pipeline = p;
    const { config } = pipeline.env;
    const shopId = await pipeline.addShop('tiktok');
    const { day, noon } = pastDay();
    const [order] = pipeline.fake.seedOrders('tiktok', shopId, 1, () => ({ update_time: noon }));
    const orderId = String(order!.id);
    const url = await startIngest(pipeline);

    const answer = await pipeline.fake.sendTikTokWebhook(
      `${url}/webhooks/tiktok`,
      orderWebhook(shopId, 'trace-n-1', orderId, noon),
    );
    const entryId = (JSON.parse(answer.body) as { id: string }).id;
    // A worker that read it and died: the entry is pending with it.
    const redis = pipeline.env.redis();
    await ensureConsumerGroup(redis, config.streamKey, config.consumerGroup);
    await redis.xreadgroup(
      'GROUP',
      config.consumerGroup,
      'gone-worker',
      'COUNT',
      1,
      'STREAMS',
      config.streamKey,
      '>',
    );

    const pending = await trace(pipeline, '--platform', 'tiktok', '--shop', shopId, '--order', orderId);
    expect(pending).toMatchObject({ code: 0, err: '' });
    expect(pending.out).toContain(`trace tiktok shop ${shopId}: order ${orderId}`);
    expect(pending.out).toMatch(new RegExp(`${entryId}  webhook  version ${noon} .* event trace-n-1 `));
    expect(pending.out).toMatch(/pending: delivered 1x, now with gone-worker, idle /);
    expect(pending.out).toContain('stored order: none');

    // Another worker reclaims and stores it; then a reconcile run lists the same order again.
    await pipeline.startWorker();
    await pipeline.drained();
    const run = await reconcilerFor(pipeline).run({
      trigger: 'cli',
      mode: { type: 'days', firstDay: day, lastDay: day },
    });
    await pipeline.drained();
    const reconcileIds = (await redis.xrange(config.streamKey, '-', '+'))
      .filter(([, fields]) => fieldsToRecord(fields).source === 'reconcile')
      .map(([id]) => id);
    expect(reconcileIds).toHaveLength(1);
    const { db } = await pipeline.env.mongo();
    const stored = await db.collection(COLLECTIONS.orders).findOne({ shop_id: shopId, order_id: orderId });

    const done = await trace(pipeline, '--platform', 'tiktok', '--shop', shopId, '--order', orderId);

    expect(done).toMatchObject({ code: 0, err: '' });
    expect(done.out).toMatch(new RegExp(`${entryId}  webhook  .*\\n      delivered and acknowledged\\n`));
    expect(done.out).toMatch(new RegExp(`${reconcileIds[0]}  reconcile  version ${noon} `));
    expect(done.out).toContain(`  version ${noon}  update_time ${String(stored!.update_time)}`);
    expect(done.out).toContain(`  content_hash ${String(stored!.content_hash)}`);
    expect(done.out).toContain(`sync_source ${String(stored!.sync_source)}`);
    expect(done.out).toMatch(new RegExp(`\\d+-\\d+  inserted  version ${noon} `));
    expect(done.out).toContain(`  ${run.id}  backfill (cli) ${run.status}`);
    expect(done.out).toContain(`covers version ${noon}`);
    expect(done.out).toContain(`      enqueued ${reconcileIds[0]}`);
    expect(done.out).toMatch(/event stream \S+: looked at all 2 entries, back to /);
    expect(done.out).toContain('what trace cannot show:');

    const json = JSON.parse(
      (await trace(pipeline, '--platform', 'tiktok', '--shop', shopId, '--order', orderId, '--json')).out,
    ) as TraceReport;
    expect(json.entries.map((e) => [e.id, e.source, e.delivery.state])).toEqual([
      [entryId, 'webhook', 'acknowledged'],
      [reconcileIds[0], 'reconcile', 'acknowledged'],
    ]);
    expect(json.document).toMatchObject({ version: noon, content_hash: stored!.content_hash as unknown });
    expect(json.changes[0]).toMatchObject({ change: 'inserted', version: noon });
    expect(json.runs).toEqual([
      expect.objectContaining({ runId: run.id, covers: [noon], enqueued: reconcileIds }),
    ]);
  });

  it('--event shows a dead-lettered event: its entry, the dead letter and the sync_failures record', async () => {
    p = await createPipeline();
    const pipeline = p;
    const url = await startIngest(pipeline);
    // The shop is not registered: the worker dead-letters the event with ERR_SHOP_UNKNOWN.
    const answer = await pipeline.fake.sendTikTokWebhook(
      `${url}/webhooks/tiktok`,
      orderWebhook('7000999', 'trace-dead-1', '5770001', 1_764_000_000),
    );
    const entryId = (JSON.parse(answer.body) as { id: string }).id;
    await pipeline.startWorker();
    await pipeline.drained();
    const deadId = (
      await pipeline.env.redis().xrange(pipeline.env.config.deadLetterStreamKey, '-', '+')
    )[0]![0];

    const shown = await trace(
      pipeline,
      '--platform',
      'tiktok',
      '--shop',
      '7000999',
      '--event',
      'trace-dead-1',
    );

    expect(shown).toMatchObject({ code: 0, err: '' });
    expect(shown.out).toContain('trace tiktok shop 7000999: event trace-dead-1: order 5770001');
    expect(shown.out).toContain('(no tiktok shop 7000999 in the shops collection)');
    expect(shown.out).toContain(`${entryId}  webhook  version 1764000000 `);
    expect(shown.out).toContain(`      then dead-lettered as ${deadId}`);
    expect(shown.out).toMatch(new RegExp(`  ${deadId}  dead at \\S+  ERR_SHOP_UNKNOWN after 1 deliveries: `));
    expect(shown.out).toMatch(
      new RegExp(`failed at \\S+  ERR_SHOP_UNKNOWN: .*\\(stream id ${entryId}, deliveries 1\\)`),
    );
    expect(shown.out).toContain('stored order: none');
  });

  it('shows a copy waiting in the retry schedule with its last error', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    // The marketplace does not know this order (yet): the worker schedules a retry.
    await pipeline.enqueue([orderEvent('tiktok', shopId, { id: '5779999', update_time: 1_764_000_000 })]);
    const worker = await pipeline.startWorker();
    const redis = pipeline.env.redis();
    await waitFor(async () => (await redis.zcard(retryScheduleKey(pipeline.env.config.streamKey))) > 0);
    await worker.close(5_000);

    const shown = await trace(pipeline, '--platform', 'tiktok', '--shop', shopId, '--order', '5779999');

    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/retry schedule \S+: looked at the earliest 1 of 1 waiting/);
    expect(shown.out).toMatch(
      / {2}due \S+ {2}copy (\d+-\d+) of \1 {2}version 1764000000 .* 1 failed attempts, last ERR_ENTITY_NOT_FOUND: /,
    );
    expect(shown.out).toMatch(/ {6}then acked and scheduled for a retry at /);
  });

  it('says how far back it looked, and finds nothing beyond --scan (exit 1)', async () => {
    p = await createPipeline();
    const pipeline = p;
    const target = orderEvent('tiktok', '1', { id: 'target', update_time: 1_764_000_000 });
    const others = Array.from({ length: 30 }, (_, i) =>
      orderEvent('tiktok', '1', { id: `other-${i}`, update_time: 1_764_000_000 }),
    );
    await pipeline.enqueue([target]);
    await pipeline.enqueue(others);
    const args = ['--platform', 'tiktok', '--shop', '1', '--order', 'target'];

    const short = await trace(pipeline, ...args, '--scan', '10');
    expect(short.code).toBe(1);
    expect(short.out).toMatch(/event stream \S+: looked at the newest 10 of 31 entries, back to /);
    expect(short.out).toContain('  no entries about it');
    expect(short.err).toContain('nothing found within what was scanned');

    const far = await trace(pipeline, ...args, '--scan', '31');
    expect(far.code).toBe(0);
    expect(far.out).toMatch(/looked at all 31 entries/);
    expect(far.out).toMatch(/\d+-\d+ {2}webhook {2}version 1764000000 /);

    const future = await trace(pipeline, ...args, '--since', '2099-01-01T00:00:00Z');
    expect(future.out).toContain('looked at the 0 entries since 2099-01-01T00:00:00.000Z (of 31)');
  });

  it('an unreachable Redis is one line on stderr and exit 1, without the password of its URL', async () => {
    p = await createPipeline();
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      env: pipelineEnv(p, { LOG_LEVEL: 'silent', REDIS_URL: 'redis://:trace_s3cret@127.0.0.1:1' }),
      isTTY: false,
    };

    const code = await dispatch(
      COMMANDS,
      ['trace', '--platform', 'tiktok', '--shop', '1', '--order', 'x'],
      io,
    );

    expect(code).toBe(1);
    expect(err.join('')).toMatch(/^market-ingest trace: cannot reach Redis \(.*\)\n$/);
    expect([...out, ...err].join('')).not.toContain('trace_s3cret');
  });

  it.each([
    [['--shop', '1', '--order', 'x'], '--platform is required'],
    [['--platform', 'lazada', '--shop', '1', '--order', 'x'], '--platform must be one of'],
    [['--platform', 'tiktok', '--order', 'x'], '--shop is required'],
    [['--platform', 'tiktok', '--shop', '1'], 'exactly one of --order, --return, --product, --event'],
    [['--platform', 'tiktok', '--shop', '1', '--order', 'x', '--event', 'y'], 'exactly one of'],
    [['--platform', 'tiktok', '--shop', '1', '--order', 'x', '--scan', '0'], '--scan takes a whole number'],
    [['--platform', 'tiktok', '--shop', '1', '--order', 'x', '--since', 'yesterday'], '--since takes'],
  ])('rejects %j with exit 2 and a usage line', async (argv, message) => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: {}, isTTY: false };
    expect(await dispatch(COMMANDS, ['trace', ...argv], io)).toBe(2);
    expect(err.join('')).toContain(message);
    expect(err.join('')).toContain('Usage: market-ingest trace --platform P --shop S (--order ID');
    expect(out).toEqual([]);
  });
});
