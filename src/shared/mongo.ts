/**
 * MongoDB client factory and the indexes of CONTRACT §5.
 */
import { MongoClient, type Db, type IndexDescription } from 'mongodb';

import { resolveMongoUrl, serverAddress, type Config } from './config.js';
import { AppError } from './errors.js';
import type { Logger } from './logger.js';

export const COLLECTIONS = {
  orders: 'orders',
  returns: 'returns',
  products: 'products',
  settlements: 'settlements',
  tracking: 'tracking',
  shops: 'shops',
  syncRuns: 'sync_runs',
  syncFailures: 'sync_failures',
  syncCheckpoints: 'sync_checkpoints',
} as const;

export type CollectionName = (typeof COLLECTIONS)[keyof typeof COLLECTIONS];

/** Every index the service relies on. Names are explicit so they are stable across versions. */
export const INDEXES: Readonly<Record<CollectionName, readonly IndexDescription[]>> = {
  orders: [
    { key: { platform: 1, shop_id: 1, order_id: 1 }, name: 'platform_shop_order', unique: true },
    { key: { shop_id: 1, update_time: -1 }, name: 'shop_update_time' },
  ],
  returns: [
    { key: { platform: 1, shop_id: 1, return_id: 1 }, name: 'platform_shop_return', unique: true },
    { key: { platform: 1, shop_id: 1, order_id: 1 }, name: 'platform_shop_order' },
  ],
  products: [
    { key: { platform: 1, shop_id: 1, product_id: 1 }, name: 'platform_shop_product', unique: true },
  ],
  settlements: [
    { key: { platform: 1, shop_id: 1, settlement_id: 1 }, name: 'platform_shop_settlement', unique: true },
    { key: { platform: 1, shop_id: 1, order_id: 1 }, name: 'platform_shop_order' },
  ],
  tracking: [
    {
      key: { platform: 1, shop_id: 1, order_id: 1, package_id: 1 },
      name: 'platform_shop_order_package',
      unique: true,
    },
  ],
  shops: [{ key: { platform: 1, shop_id: 1 }, name: 'platform_shop', unique: true }],
  sync_runs: [{ key: { started_at: -1 }, name: 'started_at' }],
  sync_failures: [
    { key: { failed_at: -1 }, name: 'failed_at' },
    { key: { platform: 1, shop_id: 1, kind: 1, entity_id: 1 }, name: 'platform_shop_entity' },
  ],
  sync_checkpoints: [
    { key: { job: 1, platform: 1, shop_id: 1, day: 1 }, name: 'job_shop_day', unique: true },
  ],
};

export interface MongoHandle {
  client: MongoClient;
  db: Db;
  /** Idempotent; waits for in-flight operations up to the driver's own limits. */
  close(): Promise<void>;
}

export interface CreateMongoOptions {
  url: string;
  dbName: string;
  logger: Logger;
  /** How long an operation waits for a usable server before failing (retryable). */
  serverSelectionTimeoutMS?: number;
  appName?: string;
  /** Emit the driver's command events on `client` (benchmarks count round trips with them). */
  monitorCommands?: boolean;
}

export async function connectMongo(options: CreateMongoOptions): Promise<MongoHandle> {
  // A timeout written in MONGO_URL wins over ours.
  const urlSetsTimeout = /[?&]serverSelectionTimeoutMS=/i.test(options.url);
  const client = new MongoClient(options.url, {
    ...(urlSetsTimeout ? {} : { serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 5_000 }),
    appName: options.appName ?? 'market-ingest',
    monitorCommands: options.monitorCommands ?? false,
  });
  try {
    await client.connect();
  } catch (error) {
    await client.close().catch(() => undefined);
    throw connectError(options.url, error);
  }
  options.logger.child({ component: 'mongo' }).debug({ db: options.dbName }, 'mongo connected');
  let closing: Promise<void> | undefined;
  return {
    client,
    db: client.db(options.dbName),
    close() {
      closing ??= client.close().catch(() => undefined);
      return closing;
    },
  };
}

/** The driver's names for "no server answered" (as opposed to a server refusing us). */
const UNREACHABLE = /^Mongo(ServerSelection|Network|NetworkTimeout|TopologyClosed)Error$/;

/**
 * Plain words naming host:port only (never the URL: it may hold a password). Unreachable is
 * retryable; a server that refuses us (authentication, authorization) is not.
 */
function connectError(url: string, error: unknown): AppError {
  const address = serverAddress(url);
  if (error instanceof Error && !UNREACHABLE.test(error.name)) {
    return new AppError('ERR_MONGO_UNAVAILABLE', `MongoDB at ${address} refused us: ${error.message}`, {
      cause: error,
      retryable: false,
    });
  }
  return new AppError('ERR_MONGO_UNAVAILABLE', `cannot reach MongoDB at ${address}`, { cause: error });
}

const STARTUP_LOG_EVERY_MS = 10_000;
const STARTUP_RETRY_MAX_MS = 5_000;

/**
 * A role's start: connects, retrying an unreachable MongoDB with doubling pauses (250 ms to 5 s)
 * for up to `waitMs`, logging while it waits; then fails with "cannot reach MongoDB at host:port
 * (waited N s)". A server that refuses us fails at once.
 */
export async function connectMongoAtStart(
  options: CreateMongoOptions & { waitMs: number },
): Promise<MongoHandle> {
  const address = serverAddress(options.url);
  const log = options.logger.child({ component: 'startup', mongo: address });
  const started = Date.now();
  const deadline = started + options.waitMs;
  let pause = 250;
  let lastLogAt = 0;
  for (;;) {
    const selection = Math.max(500, Math.min(5_000, deadline - Date.now()));
    try {
      const handle = await connectMongo({ ...options, serverSelectionTimeoutMS: selection });
      if (lastLogAt > 0) log.info({ waited_ms: Date.now() - started }, `MongoDB at ${address} is reachable`);
      return handle;
    } catch (error) {
      if (!(error instanceof AppError) || !error.retryable) throw error;
      if (Date.now() + pause >= deadline) {
        const waited = Math.round((Date.now() - started) / 1000);
        throw new AppError(
          'ERR_MONGO_UNAVAILABLE',
          `cannot reach MongoDB at ${address} (waited ${waited} s)`,
          {
            cause: error,
          },
        );
      }
      if (Date.now() - lastLogAt >= STARTUP_LOG_EVERY_MS) {
        lastLogAt = Date.now();
        log.warn(
          { waited_ms: lastLogAt - started, timeout_ms: options.waitMs },
          `waiting for MongoDB at ${address}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, STARTUP_RETRY_MAX_MS);
    }
  }
}

/** Creates every index of CONTRACT §5. Safe to run at every start (createIndexes is idempotent). */
export async function ensureIndexes(db: Db): Promise<void> {
  for (const [collection, indexes] of Object.entries(INDEXES)) {
    await db.collection(collection).createIndexes([...indexes]);
  }
}

/**
 * MongoDB at the configured URL and database with every index in place, for a short-lived user
 * of the shops collection (a CLI command, ingest's OAuth callbacks); closed again when the
 * indexes cannot be made.
 */
export async function connectIndexedMongo(
  config: Pick<Config, 'mongoUrl' | 'mongoDb'>,
  logger: Logger,
  appName: string,
): Promise<MongoHandle> {
  const mongo = await connectMongo({ url: resolveMongoUrl(config), dbName: config.mongoDb, logger, appName });
  try {
    await ensureIndexes(mongo.db);
  } catch (error) {
    await mongo.close();
    throw error;
  }
  return mongo;
}
