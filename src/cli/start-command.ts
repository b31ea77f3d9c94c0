/**
 * `market-ingest start` / `npm start`: every role in one process — ingest HTTP, the worker and
 * the reconcile scheduler — sharing one metrics registry (served on the ingest port). With
 * REDIS_URL / MONGO_URL unset it starts embedded servers that keep their data under ./data.
 */
import { buildWorker } from '../consumer/main.js';
import type { Worker } from '../consumer/worker.js';
import { startIngest } from '../ingest/main.js';
import { buildReconcileScheduler } from '../reconcile/main.js';
import { EXIT_FAILURE, type CommandSpec } from '../shared/command.js';
import { redactUrl, type Config } from '../shared/config.js';
import { installGracefulShutdown, type Closable } from '../shared/lifecycle.js';
import { createLogger } from '../shared/logger.js';
import { enabledPlatforms } from '../shared/marketplaces/registry.js';
import { configRedactor } from '../shared/redact.js';
import { openRuntime } from '../shared/runtime.js';
import {
  EmbeddedUnavailable,
  startEmbeddedMongo,
  startEmbeddedRedis,
  type EmbeddedService,
} from './embedded-services.js';

const DATA_DIR = 'data';

export const startCommand: CommandSpec = {
  name: 'start',
  summary: 'run every role in one process: ingest HTTP + worker + reconcile scheduler',
  async run({ config, io }) {
    const configured = config();
    const logger = createLogger({ level: configured.logLevel, redact: configRedactor(configured) });

    // Embedded servers stop last, after everything that uses them.
    const embedded: EmbeddedService[] = [];
    const stopEmbedded = () => Promise.all(embedded.map((service) => service.stop())).then(() => undefined);
    let settings: Readonly<Config>;
    try {
      const redis = configured.redisUrl ? undefined : await startEmbeddedRedis(DATA_DIR, logger);
      if (redis) embedded.push(redis);
      const mongo = configured.mongoUrl ? undefined : await startEmbeddedMongo(DATA_DIR, logger);
      if (mongo) embedded.push(mongo);
      settings = Object.freeze({
        ...configured,
        redisUrl: redis?.url ?? configured.redisUrl,
        mongoUrl: mongo?.url ?? configured.mongoUrl,
      });
    } catch (error) {
      await stopEmbedded();
      if (!(error instanceof EmbeddedUnavailable)) throw error;
      io.stderr(`market-ingest start: ${error.message}\n`);
      return EXIT_FAILURE;
    }

    let runtime;
    let ingest;
    let worker: Worker;
    try {
      runtime = await openRuntime({ config: settings, logger, role: 'start' });
      try {
        worker = buildWorker(runtime);
        const running = worker;
        ingest = await startIngest(settings, logger, {
          metrics: runtime.metrics,
          readiness: () => running.health(),
        });
      } catch (error) {
        await runtime.close();
        throw error;
      }
    } catch (error) {
      await stopEmbedded();
      throw error;
    }
    const scheduler = buildReconcileScheduler(runtime);
    scheduler.start();

    const describe = (url: string | undefined, kind: 'redis' | 'mongo') =>
      embedded.find((s) => s.url === url)?.description ?? redactUrl(url ?? `(default ${kind})`);
    const platforms = enabledPlatforms(runtime.adapters);
    io.stdout(
      [
        `market-ingest listening on ${ingest.address}`,
        `  webhooks:  ${platforms.map((p) => `POST /webhooks/${p}`).join(', ') || 'none enabled — set TIKTOK_APP_KEY/SECRET or SHOPEE_PARTNER_ID/KEY'}`,
        `  redis:     ${describe(settings.redisUrl, 'redis')}   stream ${settings.streamKey}`,
        `  mongodb:   ${describe(settings.mongoUrl, 'mongo')}   database ${settings.mongoDb}`,
        `  reconcile: "${settings.reconcileCron}" in ${settings.timezone}`,
        '',
      ].join('\n'),
    );

    const components: Closable[] = [
      { name: 'ingest', close: () => ingest.close() },
      { name: 'worker', close: () => worker.close(settings.shutdownTimeoutMs) },
      { name: 'reconcile', close: () => scheduler.close() },
      { name: 'runtime', close: () => runtime.close() },
      { name: 'embedded', close: stopEmbedded },
    ];
    const lifecycle = installGracefulShutdown({
      components,
      timeoutMs: settings.shutdownTimeoutMs + 5_000,
      logger,
    });
    worker.run().catch((error: unknown) => {
      logger.fatal({ err: error }, 'worker stopped unexpectedly');
      void lifecycle.shutdown('worker failure', { failed: true });
    });
    return lifecycle.finished;
  },
};
