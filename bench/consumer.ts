/**
 * Consumer benchmark (`npm run bench:consumer`).
 *
 * Phase 1: prefill BENCH_EVENTS entries (default 20,000: every order announced twice) for four
 * TikTok shops, then drain them with one worker against the fake marketplace answering after
 * BENCH_LATENCY_MS (default 100 ms). Prints events/s, marketplace detail calls against the
 * one-call-per-event baseline, MongoDB round trips, and the worker's peak RSS.
 * Phase 2: a BENCH_BACKLOG-entry backlog (default 200,000) about orders already stored, to show
 * that memory is bounded by BATCH_SIZE, not by the backlog.
 * Phase 3: per kind (every kind of the kind table), BENCH_KIND_OBJECTS objects (default 200) per
 * shop for one TikTok and one Shopee shop, listed by `reconcile run --kind` and drained: the
 * marketplace calls and MongoDB round trips each kind costs, and what a rerun costs (bench/kinds.ts).
 * BENCH_PHASES (default "1,2,3") picks the phases; `--help` prints these variables.
 *
 * Redis and MongoDB are chosen as the tests choose them (test/support/services.ts); the MongoDB
 * backend used is printed, because the emulator is far slower than a real mongod.
 */
import { randomBytes } from 'node:crypto';

import { buildWorker } from '../src/consumer/main.js';
import { pendingSummary } from '../src/consumer/ops.js';
import { loadConfig } from '../src/shared/config.js';
import { createLogger } from '../src/shared/logger.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { encodeStreamEntry, type StreamEvent } from '../src/shared/stream.js';
import { FAKE_ENDPOINTS, startFakeMarketplace, type Json } from '../src/sandbox/marketplace/index.js';
import { fakeMarketplaceEnv, orderEvent } from '../test/support/pipeline.js';
import { provideServices } from '../test/support/services.js';
import { formatKindMeasures, measureKinds } from './kinds.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 200_000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 100);
const KIND_OBJECTS = Number(process.env.BENCH_KIND_OBJECTS ?? 200);
const PHASES = new Set((process.env.BENCH_PHASES ?? '1,2,3').split(',').map((p) => p.trim()));
const SHOPS = 4;

const HELP = `npm run bench:consumer [-- --help]

Environment:
  BENCH_EVENTS        phase 1 entries (default 20000)
  BENCH_LATENCY_MS    phase 1 marketplace latency (default 100)
  BENCH_BACKLOG       phase 2 backlog (default 200000; a tenth of it first)
  BENCH_KIND_OBJECTS  phase 3 objects per kind and shop (default 200)
  BENCH_PHASES        phases to run, e.g. "3" (default "1,2,3")
`;

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/**
 * Samples this process's RSS and JS heap every 50 ms while `work` runs, and (with --expose-gc)
 * the heap still live after a full collection every second: garbage not yet collected inflates
 * the first two, the third shows what is actually retained.
 */
async function peakRss<T>(
  work: () => Promise<T>,
): Promise<{ result: T; peak: number; peakHeap: number; peakLive: number | undefined }> {
  let peak = 0;
  let peakHeap = 0;
  let peakLive: number | undefined;
  const sample = () => {
    const usage = process.memoryUsage();
    peak = Math.max(peak, usage.rss);
    peakHeap = Math.max(peakHeap, usage.heapUsed);
  };
  const sampleLive = () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) return;
    gc();
    peakLive = Math.max(peakLive ?? 0, process.memoryUsage().heapUsed);
  };
  sample();
  const timer = setInterval(sample, 50);
  const liveTimer = setInterval(sampleLive, 1_000);
  try {
    const result = await work();
    sample();
    return { result, peak, peakHeap, peakLive };
  } finally {
    clearInterval(timer);
    clearInterval(liveTimer);
  }
}

/** With --expose-gc (npm run bench:consumer passes it), start each measurement from a clean heap. */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function enqueue(runtime: Runtime, events: readonly StreamEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 5_000) {
    const pipeline = runtime.redis.pipeline();
    for (const event of events.slice(i, i + 5_000)) {
      pipeline.xadd(runtime.config.streamKey, '*', ...encodeStreamEntry(event));
    }
    await pipeline.exec();
  }
}

async function drained(runtime: Runtime): Promise<void> {
  for (;;) {
    const state = await pendingSummary(runtime.redis, runtime.config, 1);
    if (state.lag === 0 && state.pending === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const { redis, mongo } = await provideServices();
  const fake = await startFakeMarketplace({ seed: 77 });
  const id = `bench-${randomBytes(3).toString('hex')}`;
  const config = loadConfig({
    ...fakeMarketplaceEnv(fake),
    REDIS_URL: redis.url,
    MONGO_URL: mongo.url,
    MONGO_DB: id.replace(/-/g, '_'),
    STREAM_KEY: `${id}:events`,
    DEAD_LETTER_STREAM_KEY: `${id}:dead`,
    CHANGES_STREAM_KEY: `${id}:changes`,
    CONSUMER_GROUP: `${id}:workers`,
    TIKTOK_RATE_LIMIT_PER_MINUTE: '1000000',
    SHOPEE_RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
  });
  const logger = createLogger({ level: 'warn', pretty: false, stderr: true });
  const runtime = await openRuntime({ config, logger, role: 'bench', monitorMongoCommands: true });
  let mongoCommands = 0;
  runtime.mongo.client.on('commandStarted', () => void mongoCommands++);

  const out = (line = '') => process.stdout.write(`${line}\n`);
  out(`redis: ${redis.description}`);
  out(`mongo: ${mongo.description}`);
  out(
    `node ${process.version}, batch ${config.batchSize}, detail batch ${config.detailBatchSize}, marketplace latency ${LATENCY_MS} ms`,
  );
  out();

  let worker: ReturnType<typeof buildWorker> | undefined;
  /** The one worker of the run, started by the first phase that needs it. */
  const startWorker = () => {
    if (worker) return;
    worker = buildWorker(runtime, { blockMs: 200 });
    void worker.run();
  };
  try {
    if (PHASES.has('1')) await phase1();
    if (PHASES.has('2')) await phase2();
    if (PHASES.has('3')) await phase3();
  } finally {
    await worker?.close(10_000);
    await runtime.mongo.db.dropDatabase().catch(() => undefined);
    await runtime.redis
      .del(config.streamKey, config.changesStreamKey, config.deadLetterStreamKey)
      .catch(() => 0);
    await runtime.close();
    await fake.close();
    await Promise.all([redis.stop(), mongo.stop()]);
  }

  async function phase1(): Promise<void> {
    // Phase 1: EVENTS entries, each order twice, shops interleaved.
    const perShop = Math.ceil(EVENTS / 2 / SHOPS);
    const events: StreamEvent[] = [];
    for (let s = 0; s < SHOPS; s++) {
      const { shopId } = fake.addShop('tiktok');
      const shop = fake.toShop('tiktok', shopId);
      await runtime.shops.upsert({ ...shop, platform: 'tiktok', shop_id: shopId });
      const orders: Json[] = fake.seedOrders('tiktok', shopId, perShop);
      for (const order of orders) events.push(orderEvent('tiktok', shopId, order));
    }
    const all = [...events, ...events].sort(() => Math.random() - 0.5).slice(0, EVENTS);
    await enqueue(runtime, all);
    fake.knobs.setLatency(LATENCY_MS);
    fake.calls.reset();
    mongoCommands = 0;

    collectGarbage();
    const baseline = process.memoryUsage().rss;
    const started = Date.now();
    const { peak } = await peakRss(async () => {
      startWorker();
      await drained(runtime);
    });
    const seconds = (Date.now() - started) / 1000;
    const distinct = new Set(all.map((e) => e.entity_id)).size;
    const detailCalls = fake.calls.count({ endpoint: FAKE_ENDPOINTS.tiktok.orderDetail });
    const stored = await runtime.mongo.db.collection('orders').countDocuments();
    out(`phase 1: ${all.length} events (${distinct} distinct orders, ${SHOPS} shops)`);
    out(`  drained in        ${seconds.toFixed(1)} s = ${(all.length / seconds).toFixed(0)} events/s`);
    out(
      `  detail calls      ${detailCalls} (one call per event would be ${all.length}: ${(all.length / Math.max(1, detailCalls)).toFixed(0)}x fewer; minimum ${Math.ceil(distinct / config.detailBatchSize)})`,
    );
    out(`  mongo round trips ${mongoCommands} (${(mongoCommands / all.length).toFixed(3)} per event)`);
    out(`  orders stored     ${stored}`);
    out(
      `  peak RSS          ${mb(peak)} (baseline ${mb(baseline)} incl. the in-process fake marketplace; +${mb(peak - baseline)})`,
    );
    out();
  }

  async function phase2(): Promise<void> {
    // Phase 2: a large backlog about 100 orders that are already stored: no fetch, no write.
    startWorker();
    const { shopId } = fake.addShop('tiktok');
    const shop = fake.toShop('tiktok', shopId);
    await runtime.shops.upsert({ ...shop, platform: 'tiktok', shop_id: shopId });
    const hot = fake.seedOrders('tiktok', shopId, 100).map((o) => orderEvent('tiktok', shopId, o));
    fake.knobs.setLatency(0);
    await enqueue(runtime, hot);
    await drained(runtime);
    // Two backlog sizes, smaller first: if memory followed the backlog, the larger would show it.
    for (const size of [Math.floor(BACKLOG / 10), BACKLOG]) {
      for (let i = 0; i < size; i += 5_000) {
        await enqueue(
          runtime,
          Array.from({ length: Math.min(5_000, size - i) }, (_, j) => hot[(i + j) % hot.length]!),
        );
      }
      collectGarbage();
      const before = process.memoryUsage();
      const backlogStarted = Date.now();
      const { peak, peakHeap, peakLive } = await peakRss(() => drained(runtime));
      const backlogSeconds = (Date.now() - backlogStarted) / 1000;
      out(`phase 2: backlog of ${size} entries about 100 stored orders`);
      out(
        `  drained in        ${backlogSeconds.toFixed(1)} s = ${(size / backlogSeconds).toFixed(0)} events/s`,
      );
      out(`  peak RSS          ${mb(peak)} (before ${mb(before.rss)}; +${mb(peak - before.rss)})`);
      out(
        `  peak JS heap      ${mb(peakHeap)} (before ${mb(before.heapUsed)}; +${mb(peakHeap - before.heapUsed)})`,
      );
      if (peakLive !== undefined) {
        out(`  live heap after GC, max of 1 s samples: ${mb(peakLive)} (+${mb(peakLive - before.heapUsed)})`);
      }
    }
    out();
  }

  async function phase3(): Promise<void> {
    // Phase 3: calls and round trips per kind, through reconcile and the worker.
    startWorker();
    fake.knobs.setLatency(0);
    const shops = [];
    for (const platform of ['tiktok', 'shopee'] as const) {
      const { shopId } = fake.addShop(platform);
      const shop = fake.toShop(platform, shopId);
      await runtime.shops.upsert({ ...shop, platform, shop_id: shopId });
      shops.push({ platform, shopId });
    }
    const measures = await measureKinds({
      runtime,
      fake,
      shops,
      objectsPerShop: KIND_OBJECTS,
      drained: () => drained(runtime),
    });
    out(
      `phase 3: per kind, ${KIND_OBJECTS} objects per shop (1 TikTok + 1 Shopee shop), reconcile --kind, one day`,
    );
    for (const line of formatKindMeasures(measures)) out(line);
  }
}

if (process.argv.includes('--help')) process.stdout.write(HELP);
else
  main().catch((error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  });
