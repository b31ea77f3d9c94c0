/**
 * `market-ingest sandbox [--rate N]`: the whole service (ingest HTTP + worker + reconcile
 * scheduler, as `start` runs them, with the same embedded Redis/MongoDB when REDIS_URL/MONGO_URL
 * are unset) against the built-in simulated marketplace, which keeps sending it signed webhooks.
 * No marketplace credential is needed, and none in the environment is used.
 */

import { startSimulator, sandboxConfig, type Simulator } from '../sandbox/simulator.js';
import { countStored, formatProgress, type Progress } from '../sandbox/progress.js';
import { startTraffic, type Traffic } from '../sandbox/traffic.js';
import { EXIT_FAILURE, type CliIo } from '../shared/command.js';
import { loadConfig, redactUrl, type Config } from '../shared/config.js';
import { installGracefulShutdown, type Closable } from '../shared/lifecycle.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { Shop } from '../marketplaces/types.js';
import type { Runtime } from '../runtime.js';
import type { ShopInput } from '../shared/store/shops.js';
import type { CliCommandSpec } from './dispatch.js';
import { EmbeddedUnavailable, startEmbeddedMongo, startEmbeddedRedis } from './embedded-services.js';
import { startRoles } from './start-command.js';

/** Apart from `start`'s ./data: simulated data never mixes with a real deployment's. */
const DATA_DIR = 'data/sandbox';
const DEFAULT_RATE = 2;
const MAX_RATE = 1000;
const PROGRESS_EVERY_MS = 5_000;

function parseRate(value: unknown): number | undefined {
  if (value === undefined) return DEFAULT_RATE;
  const rate = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(rate) && rate > 0 && rate <= MAX_RATE ? rate : undefined;
}

/** What the service stores for a simulated shop: its current tokens at the simulator. */
function shopInput(shop: Shop): ShopInput {
  const { platform, shop_id, access_token, refresh_token, access_token_expires_at, shop_cipher, name } = shop;
  return { platform, shop_id, access_token, refresh_token, access_token_expires_at, shop_cipher, name };
}

/** What is running, in the order it started; closed in reverse. */
type Started = Closable[];

async function closeAll(started: Started): Promise<void> {
  for (const component of [...started].reverse()) await component.close().catch(() => undefined);
}

/** Embedded Redis / MongoDB for the URLs the environment leaves unset; their descriptions by URL. */
async function provideStores(
  configured: Readonly<Config>,
  logger: Logger,
  started: Started,
  searchPath: string | undefined,
) {
  const described = new Map<string, string>();
  const embed = async (start: typeof startEmbeddedRedis, name: string) => {
    const service = await start(DATA_DIR, logger, searchPath);
    started.push({ name, close: () => service.stop() });
    described.set(service.url, service.description);
    return service.url;
  };
  const redisUrl = configured.redisUrl ?? (await embed(startEmbeddedRedis, 'embedded redis'));
  const mongoUrl = configured.mongoUrl ?? (await embed(startEmbeddedMongo, 'embedded mongo'));
  return { urls: { redisUrl, mongoUrl }, described };
}

interface Service {
  runtime: Runtime;
  ingestUrl: string;
  runWorker(): Promise<void>;
}

/** Ingest, worker and reconcile scheduler on one runtime, exactly as `start` runs them. */
async function startService(settings: Readonly<Config>, logger: Logger, started: Started): Promise<Service> {
  const { runtime, worker, ingest, scheduler } = await startRoles(settings, logger, 'sandbox');
  started.push({ name: 'runtime', close: () => runtime.close() });
  started.push({ name: 'worker', close: () => worker.close(settings.shutdownTimeoutMs) });
  started.push({ name: 'ingest', close: () => ingest.close() });
  started.push({ name: 'reconcile', close: () => scheduler.close() });
  return { runtime, ingestUrl: ingest.address, runWorker: () => worker.run() };
}

function startSending(simulator: Simulator, ingestUrl: string, rate: number): Traffic {
  const { marketplace } = simulator;
  return startTraffic({
    scenario: simulator.scenario,
    rate,
    send: (delivery) => {
      const url = `${ingestUrl}/webhooks/${delivery.platform}`;
      return delivery.platform === 'tiktok'
        ? marketplace.sendTikTokWebhook(url, delivery.body)
        : marketplace.sendShopeeWebhook(url, delivery.body);
    },
    injectFailure: (failure) => marketplace.knobs.failNext(failure),
  });
}

export const sandboxCommand: CliCommandSpec = {
  name: 'sandbox',
  // Its own embedded servers (under data/sandbox), never those a `start` recorded.
  embedsServers: true,
  usage: '[--rate N]',
  summary:
    'the whole service against a built-in simulated marketplace sending signed webhooks (N per second)',
  options: { rate: { type: 'string' } },
  validate: (flags) =>
    parseRate(flags.rate) === undefined
      ? `--rate must be a number of webhooks per second, above 0 and at most ${MAX_RATE}`
      : undefined,
  async run({ flags, config, io }) {
    const configured = config();
    const rate = parseRate(flags.rate) ?? DEFAULT_RATE;
    // On a terminal the progress lines are the output: info logs only when LOG_LEVEL asks for them.
    const quiet = io.isTTY && configured.logLevel === loadConfig({}).logLevel;
    const logger = createLogger({ level: quiet ? 'warn' : configured.logLevel, pretty: io.isTTY });
    const started: Started = [];
    let settings: Readonly<Config>;
    let simulator: Simulator;
    let service: Service;
    let stores: Awaited<ReturnType<typeof provideStores>>;
    try {
      simulator = await startSimulator();
      started.push({ name: 'simulated marketplace', close: () => simulator.close() });
      stores = await provideStores(configured, logger, started, io.env.PATH);
      settings = sandboxConfig(configured, simulator.marketplace, stores.urls);
      service = await startService(settings, logger, started);
      for (const shop of simulator.shops) await service.runtime.shops.upsert(shopInput(shop));
    } catch (error) {
      await closeAll(started);
      return startupFailure(io, configured, error);
    }

    const traffic = startSending(simulator, service.ingestUrl, rate);
    const report = reporter(io, logger, service.runtime, traffic);
    announce(io, logger, { settings, simulator, ingestUrl: service.ingestUrl, rate, ...stores });
    const timer = setInterval(() => {
      simulator.marketplace.calls.reset(); // its call log is for tests: keep memory flat
      void report();
    }, PROGRESS_EVERY_MS);
    started.push({
      name: 'traffic',
      close: async () => {
        clearInterval(timer);
        await traffic.close();
        await report();
      },
    });

    const lifecycle = installGracefulShutdown({
      components: [...started].reverse(),
      timeoutMs: settings.shutdownTimeoutMs + 5_000,
      logger,
    });
    service.runWorker().catch((error: unknown) => {
      logger.fatal({ err: error }, 'worker stopped unexpectedly');
      void lifecycle.shutdown('worker failure', { failed: true });
    });
    return lifecycle.finished;
  },
};

function startupFailure(io: CliIo, configured: Readonly<Config>, error: unknown): number {
  if (error instanceof EmbeddedUnavailable) {
    io.stderr(`market-ingest sandbox: ${error.message}\n`);
    return EXIT_FAILURE;
  }
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    io.stderr(
      `market-ingest sandbox: ${configured.host}:${configured.port} is in use (is \`market-ingest start\` running?); set PORT to another port\n`,
    );
    return EXIT_FAILURE;
  }
  throw error;
}

/** Prints one progress line (a JSON log line when stdout is not a terminal). */
function reporter(io: CliIo, logger: Logger, runtime: Runtime, traffic: Traffic): () => Promise<void> {
  const { config } = runtime;
  const sources = {
    db: runtime.mongo.db,
    redis: runtime.redis,
    changesStreamKey: config.changesStreamKey,
    deadLetterStreamKey: config.deadLetterStreamKey,
  };
  return async () => {
    try {
      const progress: Progress = { ...traffic.counters(), ...(await countStored(sources)) };
      if (io.isTTY) io.stdout(`${new Date().toTimeString().slice(0, 8)}  ${formatProgress(progress)}\n`);
      else logger.info({ component: 'sandbox', ...progress }, 'sandbox progress');
    } catch (error) {
      logger.warn({ component: 'sandbox', err: error }, 'cannot read progress');
    }
  };
}

interface Where {
  settings: Readonly<Config>;
  simulator: Simulator;
  ingestUrl: string;
  rate: number;
  urls: { redisUrl: string; mongoUrl: string };
  /** Embedded servers' descriptions by URL. */
  described: ReadonlyMap<string, string>;
}

/** Where everything is, once at start. */
function announce(io: CliIo, logger: Logger, where: Where): void {
  const { settings: s, simulator, ingestUrl, rate, urls, described } = where;
  const describe = (url: string) => described.get(url) ?? redactUrl(url);
  const redis = describe(urls.redisUrl);
  const mongo = describe(urls.mongoUrl);
  const shops = simulator.shops.map((shop) => `${shop.platform}:${shop.shop_id}`);
  const streams = { events: s.streamKey, changes: s.changesStreamKey, dead_letters: s.deadLetterStreamKey };
  if (!io.isTTY) {
    logger.info(
      { component: 'sandbox', ingest: ingestUrl, rate, shops, redis, mongo, database: s.mongoDb, streams },
      'sandbox running',
    );
    return;
  }
  io.stdout(
    [
      'market-ingest sandbox: the whole service against a simulated TikTok Shop and Shopee (no real marketplace is called)',
      `  ingest:     ${ingestUrl}/webhooks/tiktok, /webhooks/shopee   ${rate} signed webhooks per second`,
      `  shops:      ${shops.join(', ')}`,
      `  redis:      ${redis}`,
      `              streams ${s.streamKey} (events), ${s.changesStreamKey} (changes), ${s.deadLetterStreamKey} (dead letters)`,
      `  mongodb:    ${mongo}   database ${s.mongoDb}`,
      `  reconcile:  "${s.reconcileCron}" in ${s.timezone}`,
      `  other commands see it with: ${inspectEnv(s, where)} npx market-ingest pending`,
      '  Ctrl-C stops it.',
      '',
    ].join('\n'),
  );
}

/** The variables that point another command at the sandbox (URLs only when embedded: no password to show). */
function inspectEnv(s: Readonly<Config>, { urls, described }: Pick<Where, 'urls' | 'described'>): string {
  const vars: [string, string | undefined][] = [
    ['REDIS_URL', described.has(urls.redisUrl) ? urls.redisUrl : undefined],
    ['MONGO_URL', described.has(urls.mongoUrl) ? urls.mongoUrl : undefined],
    ['MONGO_DB', s.mongoDb],
    ['STREAM_KEY', s.streamKey],
    ['DEAD_LETTER_STREAM_KEY', s.deadLetterStreamKey],
    ['CHANGES_STREAM_KEY', s.changesStreamKey],
    ['CONSUMER_GROUP', s.consumerGroup],
  ];
  return vars
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
}
