/**
 * A whole consumer pipeline for integration tests: the fake marketplace, a test environment
 * (own stream keys and database) configured to talk to it, a runtime (real Redis, real
 * MongoDB-wire server, shop store, shared rate limiter, real adapters), and helpers to enqueue
 * events, run workers and wait for the group to drain.
 */
import { buildWorker, type WorkerTuning } from '../../src/consumer/main.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch, type CliIo } from '../../src/cli/dispatch.js';
import { createReconciler, type ReconcileDeps, type Reconciler } from '../../src/reconcile/job.js';
import { pendingSummary } from '../../src/consumer/ops.js';
import type { Worker } from '../../src/consumer/worker.js';
import type { Json } from './fake-marketplace/index.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { encodeStreamEntry, type Platform, type StreamEvent } from '../../src/shared/stream.js';
import { createLogger } from '../../src/shared/logger.js';
import { createTestEnv, silentLogger, type TestEnv } from './context.js';
import { startFakeMarketplace, type FakeMarketplace } from './fake-marketplace/index.js';

export interface Pipeline {
  env: TestEnv;
  fake: FakeMarketplace;
  runtime: Runtime;
  /**
   * Registers a shop at the fake and in the shops collection; returns its id. `region`: what
   * TikTok's Get Authorized Shops reports for it (default US).
   */
  addShop(platform: Platform, shopId?: string, init?: { region?: string }): Promise<string>;
  enqueue(events: readonly StreamEvent[]): Promise<void>;
  /** A worker on its own runtime (its own connections), as a separate process would have. */
  startWorker(options?: { consumerName?: string; tuning?: WorkerTuning; runtime?: Runtime }): Promise<Worker>;
  /** Waits until every entry was delivered and acknowledged, none waiting for a retry. */
  drained(timeoutMs?: number): Promise<void>;
  /** lag and pending of the group; `waiting`: entries in the retry schedule. */
  groupState(): Promise<{ lag: number | null; pending: number; waiting: number }>;
  cleanup(): Promise<void>;
}

export function fakeMarketplaceEnv(fake: FakeMarketplace): Record<string, string> {
  return {
    TIKTOK_APP_KEY: fake.credentials.tiktok.appKey,
    TIKTOK_APP_SECRET: fake.credentials.tiktok.appSecret,
    TIKTOK_API_BASE_URL: fake.tiktokBaseUrl,
    TIKTOK_AUTH_BASE_URL: fake.authBaseUrl,
    SHOPEE_PARTNER_ID: String(fake.credentials.shopee.partnerId),
    SHOPEE_PARTNER_KEY: fake.credentials.shopee.partnerKey,
    SHOPEE_API_BASE_URL: fake.shopeeBaseUrl,
  };
}

/**
 * The pipeline's configuration as environment variables, for the CLI in-process or a child
 * process (`market-ingest worker`, `start`): same Redis, MongoDB, keys and fake marketplace.
 */
export function pipelineEnv(
  pipeline: Pipeline,
  overrides: Record<string, string> = {},
): Record<string, string> {
  const { config } = pipeline.env;
  return {
    ...fakeMarketplaceEnv(pipeline.fake),
    REDIS_URL: pipeline.env.redisUrl,
    MONGO_URL: pipeline.env.mongoUrl,
    MONGO_DB: config.mongoDb,
    STREAM_KEY: config.streamKey,
    DEAD_LETTER_STREAM_KEY: config.deadLetterStreamKey,
    CHANGES_STREAM_KEY: config.changesStreamKey,
    CONSUMER_GROUP: config.consumerGroup,
    ...overrides,
  };
}

/** The stream event a webhook about `order` would produce. */
export function orderEvent(
  platform: Platform,
  shopId: string,
  order: Json,
  overrides: Partial<StreamEvent> = {},
): StreamEvent {
  const id = String(platform === 'tiktok' ? order.id : order.order_sn);
  const version = Number(order.update_time);
  return {
    platform,
    shop_id: shopId,
    kind: 'order',
    entity_id: id,
    version,
    event_id: `evt-${id}-${version}`,
    event_type: platform === 'tiktok' ? '1' : '3',
    source: 'webhook',
    received_at: Date.now(),
    payload: '{}',
    ...overrides,
  };
}

export async function createPipeline(overrides: Record<string, string> = {}): Promise<Pipeline> {
  const fake = await startFakeMarketplace({ seed: 5 });
  const env = createTestEnv({
    ...fakeMarketplaceEnv(fake),
    CLAIM_IDLE_MS: '1000',
    MARKETPLACE_MAX_ATTEMPTS: '2',
    ...overrides,
  });
  await env.mongo(); // registers the database for dropping at cleanup
  const runtime = await openRuntime({ config: env.config, logger: silentLogger, role: 'test' });
  const redis = env.redis();
  const workers: Worker[] = [];
  const runtimes: Runtime[] = [runtime];

  const groupState = async () => {
    const summary = await pendingSummary(redis, env.config, 1);
    return { lag: summary.lag, pending: summary.pending, waiting: summary.retries.waiting };
  };

  return {
    env,
    fake,
    runtime,
    async addShop(platform, shopId, init = {}) {
      const info = fake.addShop(platform, { ...(shopId ? { shopId } : {}), ...init });
      const shop = fake.toShop(platform, info.shopId);
      await runtime.shops.upsert({
        platform,
        shop_id: shop.shop_id,
        access_token: shop.access_token,
        refresh_token: shop.refresh_token,
        access_token_expires_at: shop.access_token_expires_at,
        shop_cipher: shop.shop_cipher,
        name: shop.name,
      });
      return info.shopId;
    },
    async enqueue(events) {
      const pipeline = redis.pipeline();
      for (const event of events) pipeline.xadd(env.config.streamKey, '*', ...encodeStreamEntry(event));
      await pipeline.exec();
    },
    async startWorker(options = {}) {
      const config = options.consumerName
        ? { ...env.config, consumerName: options.consumerName }
        : env.config;
      const own =
        options.runtime ??
        (await openRuntime({
          config,
          logger: process.env.DEBUG_PIPELINE ? createLogger({ level: 'debug', pretty: false }) : silentLogger,
          role: 'test-worker',
        }));
      if (!options.runtime) runtimes.push(own);
      const worker = buildWorker(own, { blockMs: 100, reclaimIntervalMs: 250, ...options.tuning });
      workers.push(worker);
      void worker.run();
      return worker;
    },
    groupState,
    async drained(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const state = await groupState();
        if (state.lag === 0 && state.pending === 0 && state.waiting === 0) return;
        if (Date.now() > deadline)
          throw new Error(`not drained after ${timeoutMs} ms: ${JSON.stringify(state)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async cleanup() {
      await Promise.all(workers.map((w) => w.close(5_000)));
      await Promise.all(runtimes.map((r) => r.close()));
      await fake.close();
      await env.cleanup();
    },
  };
}

/** A reconciler on the pipeline's runtime (its Redis, MongoDB, shops and adapters); deps override. */
export function reconcilerFor(
  pipeline: Pipeline,
  overrides: Partial<Pick<ReconcileDeps, 'now' | 'sleep' | 'logger' | 'shops' | 'kinds'>> = {},
): Reconciler {
  const { runtime } = pipeline;
  return createReconciler({
    config: runtime.config,
    redis: runtime.redis,
    db: runtime.mongo.db,
    shops: runtime.shops,
    adapters: runtime.adapters,
    logger: silentLogger,
    ...overrides,
  });
}

/** `market-ingest …` in-process against the pipeline's services: exit code and what it printed. */
export async function runCli(
  pipeline: Pipeline,
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: pipelineEnv(pipeline, { LOG_LEVEL: 'silent' }),
    isTTY: false,
  };
  const code = await dispatch(COMMANDS, argv, io);
  return { code, out: out.join(''), err: err.join('') };
}
