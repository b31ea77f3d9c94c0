/**
 * Per-test isolation: every test environment gets its own stream keys, consumer group and
 * database, and removes them in cleanup(). Clients are real (ioredis, the MongoDB driver).
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

import { loadConfig, type Config } from '../../src/shared/config.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';
import { connectMongo, type MongoHandle } from '../../src/shared/mongo.js';
import { closeRedis, createRedis, type Redis } from '../../src/shared/redis.js';

export const silentLogger: Logger = createLogger({ level: 'silent', pretty: false });

export function uniqueName(prefix = 't'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface TestEnv {
  /** The unique suffix used for this environment's keys and database. */
  id: string;
  config: Readonly<Config>;
  redisUrl: string;
  mongoUrl: string;
  /** A new real Redis connection (default profile), closed by cleanup(). */
  redis(): Redis;
  /** A connection to this environment's own database, dropped and closed by cleanup(). */
  mongo(): Promise<MongoHandle>;
  /** Registers something else to dispose in cleanup(), run in reverse order. */
  defer(dispose: () => Promise<void> | void): void;
  cleanup(): Promise<void>;
}

export function createTestEnv(overrides: Record<string, string> = {}): TestEnv {
  const id = uniqueName('mi');
  const redisUrl = inject('redisUrl');
  const mongoUrl = inject('mongoUrl');
  const config = loadConfig({
    REDIS_URL: redisUrl,
    MONGO_URL: mongoUrl,
    MONGO_DB: id,
    STREAM_KEY: `${id}:events`,
    DEAD_LETTER_STREAM_KEY: `${id}:dead`,
    CHANGES_STREAM_KEY: `${id}:changes`,
    CONSUMER_GROUP: `${id}:workers`,
    CONSUMER_NAME: `${id}-consumer`,
    LOG_LEVEL: 'silent',
    ...overrides,
  });
  const disposers: (() => Promise<void> | void)[] = [];
  let mongo: Promise<MongoHandle> | undefined;

  const env: TestEnv = {
    id,
    config,
    redisUrl,
    mongoUrl,
    redis() {
      const client = createRedis({ url: redisUrl, name: 'test', logger: silentLogger });
      disposers.push(() => closeRedis(client));
      return client;
    },
    mongo() {
      mongo ??= connectMongo({ url: mongoUrl, dbName: config.mongoDb, logger: silentLogger }).then(
        (handle) => {
          disposers.push(async () => {
            await handle.db.dropDatabase().catch(() => undefined);
            await handle.close();
          });
          return handle;
        },
      );
      return mongo;
    },
    defer(dispose) {
      disposers.push(dispose);
    },
    async cleanup() {
      const cleanupRedis = createRedis({ url: redisUrl, name: 'test-cleanup', logger: silentLogger });
      try {
        // Everything this environment created in Redis is under its unique id.
        let cursor = '0';
        do {
          const [next, keys] = await cleanupRedis.scan(cursor, 'MATCH', `${id}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await cleanupRedis.del(...keys);
        } while (cursor !== '0');
      } finally {
        await closeRedis(cleanupRedis);
      }
      for (const dispose of disposers.splice(0).reverse()) await dispose();
    },
  };
  return env;
}
