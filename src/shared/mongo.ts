/**
 * MongoDB client factory and the indexes of CONTRACT §5.
 */
import { MongoClient, type Db, type IndexDescription } from 'mongodb';

import { AppError } from './errors.js';
import type { Logger } from './logger.js';

export const COLLECTIONS = {
  orders: 'orders',
  returns: 'returns',
  products: 'products',
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
    throw new AppError('ERR_MONGO_UNAVAILABLE', `cannot connect to MongoDB: ${describeMongoError(error)}`, {
      cause: error,
    });
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

/** Creates every index of CONTRACT §5. Safe to run at every start (createIndexes is idempotent). */
export async function ensureIndexes(db: Db): Promise<void> {
  for (const [collection, indexes] of Object.entries(INDEXES)) {
    await db.collection(collection).createIndexes([...indexes]);
  }
}

function describeMongoError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
