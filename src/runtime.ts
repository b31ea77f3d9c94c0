/**
 * The composition root the worker and reconcile roles share: Redis and MongoDB clients, the
 * shop store, the shared rate limiter and the marketplace adapters, built from the Config and
 * closed together. Entry points stay thin: open a runtime, build the role, wait for a signal.
 */
import type { Config } from './shared/config.js';
import { resolveMongoUrl, resolveRedisUrl } from './shared/config.js';
import type { Closable } from './shared/lifecycle.js';
import type { Logger } from './shared/logger.js';
import { createRedisRefreshLock } from './shared/lock.js';
import { createMarketplaceMetrics } from './marketplaces/metrics.js';
import { closeAdapterRegistry, createAdapterRegistry } from './marketplaces/registry.js';
import { refreshLockTtlMs } from './marketplaces/tokens.js';
import type { AdapterRegistry } from './marketplaces/types.js';
import { startMetricsServer } from './shared/metrics-server.js';
import { createMetricsRegistry, type Registry } from './shared/metrics.js';
import type { ReadinessCheck } from './shared/readiness.js';
import { connectMongoAtStart, ensureIndexes, type MongoHandle } from './shared/mongo.js';
import { createRedisRateLimiter, type RedisRateLimiter } from './shared/ratelimit.js';
import { awaitRedisAtStart, closeRedis, createRedis, type Redis } from './shared/redis.js';
import { createShopStore, type ShopStore } from './shared/store/shops.js';

export interface Runtime {
  config: Readonly<Config>;
  logger: Logger;
  /** Command connection (never used for blocking reads). */
  redis: Redis;
  mongo: MongoHandle;
  shops: ShopStore;
  limiter: RedisRateLimiter;
  adapters: AdapterRegistry;
  metrics: Registry;
  /** Opens another Redis connection owned by the runtime (e.g. the worker's blocking one). */
  extraRedis(name: string, profile: 'default' | 'blocking'): Redis;
  /** Closes adapters, limiter, Redis and MongoDB. Idempotent. */
  close(): Promise<void>;
}

export interface OpenRuntimeOptions {
  config: Readonly<Config>;
  logger: Logger;
  /** e.g. "worker", "reconcile", "start": names connections and labels metrics. */
  role: string;
  /** An existing metrics registry to add to (the all-in-one process shares one). */
  metrics?: Registry;
  /** Emit MongoDB command events on `mongo.client` (for benchmarks and debugging). */
  monitorMongoCommands?: boolean;
}

export async function openRuntime(options: OpenRuntimeOptions): Promise<Runtime> {
  const { config, logger, role } = options;
  const redisUrl = resolveRedisUrl(config);
  const redis = createRedis({ url: redisUrl, name: role, logger });
  const extra: Redis[] = [];
  let mongo: MongoHandle;
  try {
    // Both servers are waited for at start (bounded, logged), so a role started before them —
    // compose, a reboot — comes up with them instead of exiting at its first command.
    await awaitRedisAtStart(redis, { url: redisUrl, timeoutMs: config.startupWaitMs, logger });
    mongo = await connectMongoAtStart({
      url: resolveMongoUrl(config),
      dbName: config.mongoDb,
      logger,
      appName: role,
      monitorCommands: options.monitorMongoCommands ?? false,
      waitMs: config.startupWaitMs,
    });
  } catch (error) {
    await closeRedis(redis);
    throw error;
  }
  try {
    await ensureIndexes(mongo.db);
  } catch (error) {
    await Promise.all([closeRedis(redis), mongo.close()]);
    throw error;
  }
  const shops = createShopStore({ db: mongo.db, encryptionKey: config.tokenEncryptionKey });
  const limiter = createRedisRateLimiter({
    redis,
    // Under the stream key: one deployment's namespace (and each test's own).
    keyPrefix: `${config.streamKey}:ratelimit`,
    budgets: { tiktok: config.tiktok?.rateLimitPerMinute, shopee: config.shopee?.rateLimitPerMinute },
    logger,
  });
  const refreshLock = createRedisRefreshLock({
    redis,
    keyPrefix: `${config.streamKey}:tokens`,
    ttlMs: refreshLockTtlMs(config.marketplaceTimeoutMs, config.marketplaceMaxAttempts),
  });
  const metrics = options.metrics ?? createMetricsRegistry({ defaultLabels: { role } });
  const adapters = createAdapterRegistry({
    config,
    limiter,
    tokens: shops,
    refreshLock,
    logger,
    metrics: createMarketplaceMetrics(metrics),
  });
  let closing: Promise<void> | undefined;

  return {
    config,
    logger,
    redis,
    mongo,
    shops,
    limiter,
    adapters,
    metrics,
    extraRedis(name, profile) {
      const client = createRedis({ url: redisUrl, name: `${role}-${name}`, logger, profile });
      extra.push(client);
      return client;
    },
    close() {
      closing ??= (async () => {
        await closeAdapterRegistry(adapters).catch(() => undefined);
        await limiter.close();
        await Promise.all([...extra, redis].map((client) => closeRedis(client)));
        await mongo.close();
      })();
      return closing;
    },
  };
}

/**
 * What a standalone role (worker, reconcile) closes after its own work: its `/metrics` server
 * (with `/healthz`, and `/readyz` answering from `readiness`) when METRICS_PORT is set (started
 * here), then the runtime.
 */
export async function standaloneRoleTail(runtime: Runtime, readiness?: ReadinessCheck): Promise<Closable[]> {
  const { config, logger } = runtime;
  const tail: Closable[] = [];
  if (config.metricsPort !== undefined) {
    const server = await startMetricsServer({
      registry: runtime.metrics,
      host: config.host,
      port: config.metricsPort,
      logger,
      readiness,
    });
    tail.push({ name: 'metrics', close: () => server.close() });
  }
  tail.push({ name: 'runtime', close: () => runtime.close() });
  return tail;
}
