/**
 * The ingest role as a process: read config, wire the real dependencies, listen, and close
 * in order on SIGTERM/SIGINT (HTTP first so in-flight webhooks finish, then Redis).
 */
import type { FastifyInstance } from 'fastify';

import { resolveRedisUrl, serverAddress, type Config } from '../shared/config.js';
import { installGracefulShutdown } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createShopeeWebhookHandler } from '../marketplaces/shopee/webhook.js';
import { createTikTokWebhookHandler } from '../marketplaces/tiktok/webhook.js';
import { createMetricsRegistry, type Registry } from '../shared/metrics.js';
import type { ReadinessCheck } from '../shared/readiness.js';
import { closeRedis, createRedis, waitForRedis } from '../shared/redis.js';
import { buildIngestApp, type WebhookHandlerRegistry } from './app.js';
import { createIngestConnector } from './oauth.js';

/** One handler per platform whose credentials are set; the others stay disabled (404). */
export function webhookHandlersFromConfig(config: Pick<Config, 'tiktok' | 'shopee'>): WebhookHandlerRegistry {
  const handlers: WebhookHandlerRegistry = {};
  if (config.tiktok) handlers.tiktok = createTikTokWebhookHandler(config.tiktok);
  if (config.shopee) handlers.shopee = createShopeeWebhookHandler(config.shopee);
  return handlers;
}

// Webhooks arriving before the first connect would get a needless 503 (the fail-fast client has no
// offline queue), so ingest waits briefly for Redis at start; if it is still down it listens anyway:
// /readyz says so and webhooks get 503 until it is up. Re-exported for the tests that use it.
export { waitForRedis };

export interface RunningIngest {
  app: FastifyInstance;
  /** A URL that reaches the server from this machine, e.g. "http://127.0.0.1:8080". */
  address: string;
  /** Where it is bound as the OS says: "http://0.0.0.0:8080" when it listens on all interfaces. */
  bound: string;
  /** Stops accepting, lets in-flight requests finish, then closes Redis. Idempotent. */
  close(): Promise<void>;
}

const REDIS_STARTUP_WAIT_MS = 5_000;

export interface StartIngestOptions {
  /** A registry shared with other roles in the same process (`start`); default: a new one. */
  metrics?: Registry;
  /** The other roles' readiness (`start`), reported by `/readyz` too. */
  readiness?: ReadinessCheck;
}

/** Starts the ingest HTTP server; for `ingest` alone and for `start` (all roles in one process). */
export async function startIngest(
  config: Readonly<Config>,
  logger: Logger,
  options: StartIngestOptions = {},
): Promise<RunningIngest> {
  const redisUrl = resolveRedisUrl(config);
  const redis = createRedis({ url: redisUrl, name: 'ingest', logger, profile: 'fail-fast' });
  const handlers = webhookHandlersFromConfig(config);
  // The callbacks serve every platform whose credentials are set (the connector refuses the others).
  const oauth = config.tiktok || config.shopee ? createIngestConnector(config, redis, logger) : undefined;
  const app = buildIngestApp({
    config,
    redis,
    handlers,
    logger,
    metrics: options.metrics ?? createMetricsRegistry({ defaultLabels: { role: 'ingest' } }),
    readiness: options.readiness,
    oauth: oauth?.connector,
  });

  if (!(await waitForRedis(redis, REDIS_STARTUP_WAIT_MS)))
    logger.warn(
      { component: 'ingest' },
      `cannot reach Redis at ${serverAddress(redisUrl)} yet; webhooks get 503 until it is up`,
    );

  let address: string;
  try {
    address = await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close().catch(() => undefined);
    await oauth?.close();
    await closeRedis(redis);
    throw error;
  }
  const bound = boundUrl(app, address);
  logger.info(
    { component: 'ingest', address: bound, platforms: Object.keys(handlers), stream: config.streamKey },
    `ingest listening on ${bound}`,
  );

  let closing: Promise<void> | undefined;
  return {
    app,
    address,
    bound,
    close: () =>
      (closing ??= (async () => {
        await app.close();
        await oauth?.close();
        await closeRedis(redis);
      })()),
  };
}

/** The socket's own address (Fastify's answer names one interface even when bound to all). */
function boundUrl(app: FastifyInstance, fallback: string): string {
  const bound = app.server.address();
  if (bound === null || typeof bound === 'string') return fallback;
  return `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
}

/** Runs until SIGTERM/SIGINT; resolves with the exit code once shut down. */
export async function runIngest(config: Readonly<Config>, logger: Logger): Promise<number> {
  const ingest = await startIngest(config, logger);
  const lifecycle = installGracefulShutdown({
    components: [{ name: 'ingest', close: () => ingest.close() }],
    timeoutMs: config.shutdownTimeoutMs,
    logger,
  });
  return lifecycle.finished;
}
