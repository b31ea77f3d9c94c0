/**
 * The worker when its dependencies fail: MongoDB cut off mid-batch, and the worker process
 * itself killed with SIGKILL mid-batch and started again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, inject, it } from 'vitest';

import { createPipeline, orderEvent, pipelineEnv, type Pipeline } from '../support/pipeline.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait.js';

let p: Pipeline | undefined;
let proxy: TcpProxy | undefined;
const children: ChildProcess[] = [];

/** `market-ingest worker` as a child process on the pipeline's keys, with small batches; `output` collects its log. */
function startWorkerProcess(name: string): ChildProcess & { output: string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'worker'], {
    env: {
      PATH: process.env.PATH,
      ...pipelineEnv(p!, { CONSUMER_NAME: name, BATCH_SIZE: '20', CLAIM_IDLE_MS: '1000', LOG_LEVEL: 'info' }),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const withOutput = Object.assign(child, { output: '' });
  child.stdout.on('data', (chunk: Buffer) => {
    withOutput.output += chunk.toString();
  });
  children.push(child);
  return withOutput;
}

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await p?.cleanup();
  await proxy?.close();
  p = undefined;
  proxy = undefined;
});

describe('worker under failure', () => {
  it('acks nothing while MongoDB is unreachable mid-batch, and writes everything once it returns (regression: a network MongoBulkWriteError was taken for success)', async () => {
    const mongoUrl = new URL(inject('mongoUrl'));
    proxy = await startTcpProxy(mongoUrl.hostname, Number(mongoUrl.port));
    p = await createPipeline({
      MONGO_URL: `mongodb://127.0.0.1:${proxy.port}/?directConnection=true&serverSelectionTimeoutMS=800`,
    });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const seeded = pipeline.fake.seedOrders('tiktok', shopId, 30);
    pipeline.fake.knobs.setLatency(1_000);
    await pipeline.enqueue(seeded.map((o) => orderEvent('tiktok', shopId, o)));
    await pipeline.startWorker();

    // Cut MongoDB once the batch is delivered, while it waits for the marketplace.
    await waitFor(async () => (await pipeline.groupState()).pending === 30);
    proxy.cut();
    await new Promise((r) => setTimeout(r, 1_500));
    const state = await pipeline.groupState();
    expect(state.pending).toBe(30); // delivered, none acked

    const { db } = await pipeline.env.mongo(); // direct, not through the proxy
    expect(await db.collection('orders').countDocuments()).toBe(0);

    proxy.restore();
    pipeline.fake.knobs.setLatency(0);
    await pipeline.drained(20_000);
    expect(await db.collection('orders').countDocuments()).toBe(30);
    expect(await pipeline.env.redis().xlen(pipeline.env.config.deadLetterStreamKey)).toBe(0);
  });

  it('loses nothing when the worker process is killed with SIGKILL mid-batch and restarted', async () => {
    p = await createPipeline({ BATCH_SIZE: '20' });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const seeded = pipeline.fake.seedOrders('tiktok', shopId, 200);
    pipeline.fake.knobs.setLatency(80);
    await pipeline.enqueue(seeded.map((o) => orderEvent('tiktok', shopId, o)));

    const { config } = pipeline.env;
    const { db } = await pipeline.env.mongo();
    const orders = db.collection('orders');
    const first = startWorkerProcess('killed-worker');
    await waitFor(async () => (await orders.countDocuments()) >= 40, 30_000);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const storedAtKill = await orders.countDocuments();
    expect(storedAtKill).toBeLessThan(200);

    startWorkerProcess('restarted-worker');
    await pipeline.drained(40_000);
    expect(await orders.countDocuments()).toBe(200);
    const ids = (await orders.find({}, { projection: { _id: 0, order_id: 1 } }).toArray()).map((d) =>
      String(d.order_id),
    );
    expect(new Set(ids).size).toBe(200);
    expect(await pipeline.env.redis().xlen(config.deadLetterStreamKey)).toBe(0);
  }, 90_000);

  it('issue 10: two workers, one SIGKILLed 10 times mid-batch — every order stored once at its newest version, nothing pending', async () => {
    // The killed worker may hold the same entry at several kills: allow more stalls than kills.
    p = await createPipeline({ BATCH_SIZE: '20', MAX_DELIVERIES: '11' });
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    let newest = pipeline.fake.seedOrders('tiktok', shopId, 100);
    pipeline.fake.knobs.setLatency(300);

    const { config } = pipeline.env;
    const redis = pipeline.env.redis();
    // Until a worker has created the group, XPENDING answers NOGROUP: nobody holds anything yet.
    const holdsEntries = async (name: string) => {
      const rows = (await redis
        .xpending(config.streamKey, config.consumerGroup, '-', '+', 1, name)
        .catch(() => [])) as unknown[];
      return rows.length > 0;
    };

    startWorkerProcess('steady-worker');
    for (let kill = 1; kill <= 10; kill++) {
      const name = `killed-worker-${kill}`;
      const victim = startWorkerProcess(name);
      // The wave arrives once the new worker has started, so the steady worker cannot have
      // drained it alone before the victim takes a batch.
      await waitFor(() => victim.output.includes('worker started'), 30_000);
      // Every order moves on at the marketplace, and its webhook arrives.
      newest = newest.map((o) => ({ ...o, update_time: Number(o.update_time) + 60 }));
      pipeline.fake.putOrders('tiktok', shopId, newest);
      await pipeline.enqueue(newest.map((o) => orderEvent('tiktok', shopId, o)));
      await waitFor(() => holdsEntries(name), 30_000);
      victim.kill('SIGKILL');
      await new Promise((r) => victim.once('exit', r));
    }

    pipeline.fake.knobs.setLatency(0);
    await pipeline.drained(60_000);
    const { db } = await pipeline.env.mongo();
    const stored = await db
      .collection('orders')
      .find({}, { projection: { _id: 0, order_id: 1, version: 1 } })
      .toArray();
    expect(stored).toHaveLength(100);
    const want = new Map(newest.map((o) => [String(o.id), Number(o.update_time)]));
    for (const doc of stored) expect(doc.version).toBe(want.get(String(doc.order_id)));
    expect(await redis.xlen(config.deadLetterStreamKey)).toBe(0);
  }, 120_000);
});
