/**
 * The authorization callbacks' dependencies in the ingest process. Ingest otherwise touches only
 * Redis, so MongoDB (where connected shops are stored) is connected on the first callback, not at
 * start: a MongoDB outage never keeps webhooks from being accepted, and a failed connection is
 * tried again on the next callback (that seller gets a 503 page and opens a new link).
 */
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { connectIndexedMongo, type MongoHandle } from '../shared/mongo.js';
import type { Redis } from '../shared/redis.js';
import { createOAuthStateStore, oauthStateKeyPrefix } from '../shared/store/oauth-state.js';
import { createShopStore } from '../shared/store/shops.js';
import {
  createShopConnectorFromConfig,
  type ConfiguredConnector,
  type ShopConnector,
} from '../marketplaces/connect.js';

export interface IngestConnector {
  connector: Pick<ShopConnector, 'callback'>;
  /** Idempotent: closes the MongoDB connection and API clients if they were opened. */
  close(): Promise<void>;
}

interface Opened {
  mongo: MongoHandle;
  configured: ConfiguredConnector;
}

export function createIngestConnector(
  config: Readonly<Config>,
  redis: Redis,
  logger: Logger,
): IngestConnector {
  const states = createOAuthStateStore({ redis, keyPrefix: oauthStateKeyPrefix(config.streamKey) });
  let opening: Promise<Opened> | undefined;

  async function open(): Promise<Opened> {
    const mongo = await connectIndexedMongo(config, logger, 'market-ingest-oauth');
    const shops = createShopStore({ db: mongo.db, encryptionKey: config.tokenEncryptionKey });
    return { mongo, configured: createShopConnectorFromConfig(config, { shops, states, logger }) };
  }

  function opened(): Promise<Opened> {
    opening ??= open().catch((error: unknown) => {
      opening = undefined;
      throw error;
    });
    return opening;
  }

  let closing: Promise<void> | undefined;
  return {
    connector: {
      async callback(platform, query) {
        // MongoDB is opened before the state is taken: during an outage the link stays usable.
        const { configured } = await opened();
        return configured.connector.callback(platform, query);
      },
    },
    close: () =>
      (closing ??= (async () => {
        const current = await opening?.catch(() => undefined);
        if (!current) return;
        await current.configured.close();
        await current.mongo.close();
      })()),
  };
}
