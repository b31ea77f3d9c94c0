/**
 * `market-ingest start` / `npm start`: every role in one process — ingest HTTP, the worker and
 * the reconcile scheduler — sharing one metrics registry (served on the ingest port). With
 * REDIS_URL / MONGO_URL unset it starts embedded servers that keep their data under ./data, and
 * records where they run in data/services.json: every other command run from this directory
 * then uses them (see services-record.ts).
 *
 * Output: on a terminal, a plain summary on stdout beside (pretty) logs; otherwise JSON lines
 * only, the summary being one of them ("market-ingest listening on …").
 */
import { buildWorker } from '../consumer/main.js';
import type { Worker } from '../consumer/worker.js';
import { startIngest, type RunningIngest } from '../ingest/main.js';
import { buildReconcileScheduler } from '../reconcile/main.js';
import { EXIT_FAILURE, type CliIo } from '../shared/command.js';
import { resolveMongoUrl, resolveRedisUrl, serverAddress, type Config } from '../shared/config.js';
import { installGracefulShutdown, type Closable } from '../shared/lifecycle.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { enabledPlatforms } from '../marketplaces/registry.js';
import { configRedactor } from '../shared/redact.js';
import { openRuntime, type Runtime } from '../runtime.js';
import type { CliCommandSpec } from './dispatch.js';
import {
  EmbeddedUnavailable,
  startEmbeddedMongo,
  startEmbeddedRedis,
  type EmbeddedService,
} from './embedded-services.js';
import {
  DATA_DIR,
  recordPath,
  removeServicesRecord,
  runningStart,
  writeServicesRecord,
} from './services-record.js';

export const startCommand: CliCommandSpec = {
  name: 'start',
  summary:
    'run every role in one process: ingest HTTP + worker + reconcile scheduler (embedded Redis/MongoDB when REDIS_URL/MONGO_URL are unset)',
  embedsServers: true,
  async run({ config, io }) {
    const configured = config();
    const logger = createLogger({
      level: configured.logLevel,
      pretty: io.isTTY,
      redact: configRedactor(configured),
    });
    const servers = await provideServers(configured, logger, io);
    if (typeof servers === 'number') return servers;

    let roles: Roles;
    try {
      roles = await startRoles(servers.settings, logger);
    } catch (error) {
      await servers.stop();
      throw error;
    }
    announce(io, logger, summarise(servers, roles));

    const { ingest, worker, scheduler, runtime } = roles;
    const components: Closable[] = [
      { name: 'ingest', close: () => ingest.close() },
      { name: 'worker', close: () => worker.close(servers.settings.shutdownTimeoutMs) },
      { name: 'reconcile', close: () => scheduler.close() },
      { name: 'runtime', close: () => runtime.close() },
      // Embedded servers stop last, after everything that uses them.
      { name: 'embedded', close: () => servers.stop() },
    ];
    const lifecycle = installGracefulShutdown({
      components,
      timeoutMs: servers.settings.shutdownTimeoutMs + 5_000,
      logger,
    });
    worker.run().catch((error: unknown) => {
      logger.fatal({ err: error }, 'worker stopped unexpectedly');
      void lifecycle.shutdown('worker failure', { failed: true });
    });
    return lifecycle.finished;
  },
};

interface Servers {
  /** The configuration with the embedded servers' URLs filled in. */
  settings: Readonly<Config>;
  redis?: EmbeddedService;
  mongo?: EmbeddedService;
  /** Removes the record, then stops the embedded servers. Idempotent. */
  stop(): Promise<void>;
}

/** Embedded servers for the URLs that are unset, recorded in data/services.json; or an exit code. */
async function provideServers(
  configured: Readonly<Config>,
  logger: Logger,
  io: CliIo,
): Promise<Servers | number> {
  if (configured.redisUrl && configured.mongoUrl)
    return { settings: configured, stop: () => Promise.resolve() };
  const other = await runningStart(DATA_DIR);
  if (other) {
    io.stderr(
      `market-ingest start: another market-ingest start (pid ${other.pid}) runs embedded servers from ${recordPath(DATA_DIR)}; ` +
        'stop it first, or set REDIS_URL and MONGO_URL\n',
    );
    return EXIT_FAILURE;
  }

  const started: EmbeddedService[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      removeServicesRecord(DATA_DIR, process.pid);
      await Promise.all(started.map((service) => service.stop()));
    })());
  try {
    const redis = configured.redisUrl ? undefined : await startEmbeddedRedis(DATA_DIR, logger, io.env.PATH);
    if (redis) started.push(redis);
    const mongo = configured.mongoUrl ? undefined : await startEmbeddedMongo(DATA_DIR, logger, io.env.PATH);
    if (mongo) started.push(mongo);
    writeServicesRecord(DATA_DIR, {
      version: 1,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      ...(redis ? { redis: { url: redis.url, dataDir: redis.dataDir } } : {}),
      ...(mongo ? { mongo: { url: mongo.url, dataDir: mongo.dataDir } } : {}),
    });
    const settings = Object.freeze({
      ...configured,
      redisUrl: redis?.url ?? configured.redisUrl,
      mongoUrl: mongo?.url ?? configured.mongoUrl,
    });
    return { settings, redis, mongo, stop };
  } catch (error) {
    await stop();
    if (!(error instanceof EmbeddedUnavailable)) throw error;
    io.stderr(`market-ingest start: ${error.message}\n`);
    return EXIT_FAILURE;
  }
}

export interface Roles {
  runtime: Runtime;
  worker: Worker;
  ingest: RunningIngest;
  scheduler: ReturnType<typeof buildReconcileScheduler>;
}

/**
 * The runtime (which waits for Redis and MongoDB), the worker, ingest and the scheduler: every
 * role in one process (`start`, `sandbox`). The caller runs the worker and closes them.
 */
export async function startRoles(settings: Readonly<Config>, logger: Logger, role = 'start'): Promise<Roles> {
  const runtime = await openRuntime({ config: settings, logger, role });
  try {
    const worker = buildWorker(runtime);
    const ingest = await startIngest(settings, logger, {
      metrics: runtime.metrics,
      readiness: () => worker.health(),
    });
    const scheduler = buildReconcileScheduler(runtime);
    scheduler.start();
    return { runtime, worker, ingest, scheduler };
  } catch (error) {
    await runtime.close();
    throw error;
  }
}

interface Summary {
  /** Where it listens, as bound: http://0.0.0.0:8080 on all interfaces. */
  listen: string;
  /** A URL that reaches it from this machine. */
  local_url: string;
  all_interfaces: boolean;
  webhooks: string[];
  redis: string;
  mongodb: string;
  stream: string;
  database: string;
  reconcile: string;
  /** The services record, when embedded servers run. */
  services?: string;
}

function summarise(servers: Servers, roles: Roles): Summary {
  const { settings } = servers;
  const host = new URL(roles.ingest.bound).hostname;
  const describe = (embedded: EmbeddedService | undefined, url: string, variable: string) =>
    embedded?.description ?? `${serverAddress(url)} (${variable})`;
  return {
    listen: roles.ingest.bound,
    local_url: roles.ingest.address,
    all_interfaces: host === '0.0.0.0' || host === '[::]',
    webhooks: enabledPlatforms(roles.runtime.adapters).map((p) => `POST /webhooks/${p}`),
    redis: describe(servers.redis, resolveRedisUrl(settings), 'REDIS_URL'),
    mongodb: describe(servers.mongo, resolveMongoUrl(settings), 'MONGO_URL'),
    stream: settings.streamKey,
    database: settings.mongoDb,
    reconcile: `"${settings.reconcileCron}" in ${settings.timezone}`,
    ...(servers.redis || servers.mongo ? { services: recordPath(DATA_DIR) } : {}),
  };
}

/** On a terminal a plain summary on stdout; otherwise one JSON log line like every other. */
function announce(io: CliIo, logger: Logger, summary: Summary): void {
  const where = summary.all_interfaces
    ? `${summary.listen} (all interfaces; from this machine: ${summary.local_url})`
    : summary.listen;
  if (!io.isTTY) {
    logger.info({ component: 'start', ...summary }, `market-ingest listening on ${where}`);
    return;
  }
  const webhooks =
    summary.webhooks.join(', ') || 'none enabled — set TIKTOK_APP_KEY/SECRET or SHOPEE_PARTNER_ID/KEY';
  const lines = [
    `market-ingest listening on ${where}`,
    `  webhooks:  ${webhooks}`,
    `  redis:     ${summary.redis}   stream ${summary.stream}`,
    `  mongodb:   ${summary.mongodb}   database ${summary.database}`,
    `  reconcile: ${summary.reconcile}`,
  ];
  if (summary.services) {
    lines.push(
      `  recorded:  ${summary.services}: market-ingest commands run in this directory use these servers`,
    );
  }
  io.stdout(`${lines.join('\n')}\n\n`);
}
