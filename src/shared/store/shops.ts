/**
 * The only writer of the `shops` collection (CONTRACT §5): shop credentials and status.
 *
 * Tokens are encrypted at rest (AES-256-GCM, src/shared/crypto.ts) when an encryption key is
 * given, stored as given otherwise; they are decrypted only in memory, by `get`/`list`. Values
 * stored before a key was configured stay readable and are encrypted the next time they are
 * written. Display code uses `listPublic` / `toPublicShop`, which never carry a token.
 *
 * A document that is malformed, or whose tokens do not decrypt (another TOKEN_ENCRYPTION_KEY),
 * is that one shop's problem: reading it throws ERR_SHOP_UNREADABLE (retryable: an operator can
 * fix it) naming the shop, and the isolating listings report it beside the readable shops.
 */
import { MongoServerError, type Collection, type Db, type Filter } from 'mongodb';
import { z } from 'zod';

import { decryptToken, encryptToken } from '../crypto.js';
import { AppError, isAppError, messageOf } from '../errors.js';
import type { Shop, ShopStatus, ShopTokens, TokenPersistence } from '../shop.js';
import { COLLECTIONS } from '../mongo.js';
import { PLATFORMS, type Platform } from '../stream.js';

export const SHOP_STATUSES = ['active', 'deauthorized'] as const satisfies readonly ShopStatus[];

const DUPLICATE_KEY = 11000;

/**
 * What `upsert` takes. Optional fields left `undefined` keep their stored value (or are null
 * for a new shop); `null` clears them.
 */
export interface ShopInput {
  platform: Platform;
  shop_id: string;
  access_token: string;
  refresh_token?: string | null;
  access_token_expires_at?: Date | null;
  shop_cipher?: string | null;
  name?: string | null;
  /** When the seller's authorization ends (issue 13). */
  authorization_expires_at?: Date | null;
  /** Defaults to `active`: adding credentials (re)authorizes a shop. */
  status?: ShopStatus;
}

/** A shop for display and logs: which tokens are set, never the tokens. */
export interface PublicShop {
  platform: Platform;
  shop_id: string;
  status: ShopStatus;
  name: string | null;
  shop_cipher: string | null;
  has_access_token: boolean;
  has_refresh_token: boolean;
  access_token_expires_at: Date | null;
  /** When the seller's authorization ends; absent when unknown (shops added with pasted tokens). */
  authorization_expires_at?: Date;
  created_at: Date;
  updated_at: Date;
}

export interface ShopFilter {
  platform?: Platform;
  status?: ShopStatus;
}

/** A shop document that could not be read, with the ERR_SHOP_UNREADABLE saying why (never a token). */
export interface UnreadableShop {
  /** As stored: a malformed document may not carry a valid platform. */
  platform: string;
  shop_id: string;
  error: AppError;
}

/** A listing that one bad document does not stop: the readable shops, and the others reported. */
export interface ShopListing<T> {
  shops: T[];
  unreadable: UnreadableShop[];
}

export interface ShopStore extends TokenPersistence {
  /**
   * Inserts or updates one shop; `created` tells which. Answers the token-free view, so it
   * needs no key to read back values stored under another configuration (use `get` for tokens).
   */
  upsert(input: ShopInput): Promise<{ shop: PublicShop; created: boolean }>;
  /** The shop with its tokens decrypted, or null. Throws ERR_SHOP_UNREADABLE for a bad document. */
  get(platform: Platform, shopId: string): Promise<Shop | null>;
  /** Shops with tokens decrypted, ordered by platform then shop id. Throws on the first unreadable one. */
  list(filter?: ShopFilter): Promise<Shop[]>;
  listActive(platform?: Platform): Promise<Shop[]>;
  /** The active shops that can be read, and those that cannot (each with its own error). */
  listActiveIsolated(platform?: Platform): Promise<ShopListing<Shop>>;
  /** Like `list` without decrypting anything (works without the key), isolating malformed documents: for display. */
  listPublic(filter?: ShopFilter): Promise<ShopListing<PublicShop>>;
  /** True when a shop was removed. */
  remove(platform: Platform, shopId: string): Promise<boolean>;
  /** True when the shop exists (deauthorization sets `deauthorized`). */
  setStatus(platform: Platform, shopId: string, status: ShopStatus): Promise<boolean>;
  /** Persists refreshed tokens. Throws ERR_SHOP_UNKNOWN when the shop is gone. */
  saveTokens(platform: Platform, shopId: string, tokens: ShopTokens): Promise<void>;
}

export interface CreateShopStoreOptions {
  db: Db;
  /** TOKEN_ENCRYPTION_KEY (32 bytes); undefined stores tokens as given. */
  encryptionKey: Buffer | undefined;
  clock?: () => Date;
}

/** The document as stored: tokens possibly encrypted. Unknown fields are tolerated. */
const storedShopSchema = z.object({
  platform: z.enum(PLATFORMS),
  shop_id: z.string().min(1),
  status: z.enum(SHOP_STATUSES),
  access_token: z.string(),
  refresh_token: z.string().nullish(),
  access_token_expires_at: z.date().nullish(),
  shop_cipher: z.string().nullish(),
  name: z.string().nullish(),
  authorization_expires_at: z.date().nullish(),
  created_at: z.date(),
  updated_at: z.date(),
});
type StoredShop = z.infer<typeof storedShopSchema>;

/** The field only when known, so shops without one read as before (absent, not null). */
function authorizationEnd(value: Date | null | undefined): { authorization_expires_at?: Date } {
  return value ? { authorization_expires_at: value } : {};
}

export function toPublicShop(shop: Shop): PublicShop {
  return {
    platform: shop.platform,
    shop_id: shop.shop_id,
    status: shop.status,
    name: shop.name,
    shop_cipher: shop.shop_cipher,
    has_access_token: shop.access_token !== '',
    has_refresh_token: shop.refresh_token !== null && shop.refresh_token !== '',
    access_token_expires_at: shop.access_token_expires_at,
    ...authorizationEnd(shop.authorization_expires_at),
    created_at: shop.created_at,
    updated_at: shop.updated_at,
  };
}

export function createShopStore(options: CreateShopStoreOptions): ShopStore {
  const { encryptionKey } = options;
  const clock = options.clock ?? (() => new Date());
  const shops: Collection = options.db.collection(COLLECTIONS.shops);

  const seal = (token: string): string => (encryptionKey ? encryptToken(token, encryptionKey) : token);
  const sealNullable = (token: string | null): string | null => (token === null ? null : seal(token));

  /** Zod's messages name the field and the expected type, never the value: no token leaks here. */
  function decode(document: unknown): StoredShop {
    const parsed = storedShopSchema.safeParse(document);
    if (parsed.success) return parsed.data;
    const raw = document as { platform?: unknown; shop_id?: unknown };
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new AppError(
      'ERR_SHOP_UNREADABLE',
      `${String(raw.platform)} shop ${String(raw.shop_id)}: the shops document is malformed (${problems.join('; ')})`,
      { details: { platform: raw.platform, shop_id: raw.shop_id } },
    );
  }

  function decrypt(stored: StoredShop, value: string): string {
    try {
      return decryptToken(value, encryptionKey);
    } catch (error) {
      // decryptToken's messages never contain the value.
      const reason = messageOf(error);
      throw new AppError(
        'ERR_SHOP_UNREADABLE',
        `${stored.platform} shop ${stored.shop_id}: its tokens cannot be read: ${reason}`,
        { cause: error, details: { platform: stored.platform, shop_id: stored.shop_id } },
      );
    }
  }

  function open(stored: StoredShop): Shop {
    return {
      platform: stored.platform,
      shop_id: stored.shop_id,
      status: stored.status,
      access_token: decrypt(stored, stored.access_token),
      refresh_token: stored.refresh_token == null ? null : decrypt(stored, stored.refresh_token),
      access_token_expires_at: stored.access_token_expires_at ?? null,
      shop_cipher: stored.shop_cipher ?? null,
      name: stored.name ?? null,
      ...authorizationEnd(stored.authorization_expires_at),
      created_at: stored.created_at,
      updated_at: stored.updated_at,
    };
  }

  function publicOf(stored: StoredShop): PublicShop {
    return {
      platform: stored.platform,
      shop_id: stored.shop_id,
      status: stored.status,
      name: stored.name ?? null,
      shop_cipher: stored.shop_cipher ?? null,
      has_access_token: stored.access_token !== '',
      has_refresh_token: stored.refresh_token != null && stored.refresh_token !== '',
      access_token_expires_at: stored.access_token_expires_at ?? null,
      ...authorizationEnd(stored.authorization_expires_at),
      created_at: stored.created_at,
      updated_at: stored.updated_at,
    };
  }

  const read = (document: unknown): Shop => open(decode(document));

  /** The documents as stored, not yet validated. */
  async function find(filter: ShopFilter = {}): Promise<unknown[]> {
    const query: Filter<Record<string, unknown>> = {};
    if (filter.platform !== undefined) query.platform = filter.platform;
    if (filter.status !== undefined) query.status = filter.status;
    return mongoCall(() =>
      shops
        .find(query, { projection: { _id: 0 } })
        .sort({ platform: 1, shop_id: 1 })
        .toArray(),
    );
  }

  /** Converts each document on its own: an unreadable one is reported, not thrown. */
  function isolate<T>(documents: unknown[], convert: (document: unknown) => T): ShopListing<T> {
    const listing: ShopListing<T> = { shops: [], unreadable: [] };
    for (const document of documents) {
      try {
        listing.shops.push(convert(document));
      } catch (error) {
        if (!isAppError(error, 'ERR_SHOP_UNREADABLE')) throw error;
        const raw = document as { platform?: unknown; shop_id?: unknown };
        listing.unreadable.push({ platform: String(raw.platform), shop_id: String(raw.shop_id), error });
      }
    }
    return listing;
  }

  const activeFilter = (platform: Platform | undefined): ShopFilter =>
    platform === undefined ? { status: 'active' } : { platform, status: 'active' };

  async function upsertOnce(input: ShopInput, now: Date) {
    const set: Record<string, unknown> = {
      status: input.status ?? 'active',
      access_token: seal(input.access_token),
      updated_at: now,
    };
    const onInsert: Record<string, unknown> = { created_at: now };
    const optional = {
      refresh_token: input.refresh_token === undefined ? undefined : sealNullable(input.refresh_token),
      access_token_expires_at: input.access_token_expires_at,
      shop_cipher: input.shop_cipher,
      name: input.name,
      authorization_expires_at: input.authorization_expires_at,
    };
    for (const [field, value] of Object.entries(optional)) {
      if (value === undefined) onInsert[field] = null;
      else set[field] = value;
    }
    return shops.findOneAndUpdate(
      { platform: input.platform, shop_id: input.shop_id },
      { $set: set, $setOnInsert: onInsert },
      { upsert: true, returnDocument: 'after', includeResultMetadata: true, projection: { _id: 0 } },
    );
  }

  return {
    async upsert(input) {
      checkInput(input);
      const now = clock();
      const result = await mongoCall(async () => {
        try {
          return await upsertOnce(input, now);
        } catch (error) {
          // Two concurrent upserts of a new shop: the loser's insert hits the unique index; the
          // shop exists now, so its second attempt is an update.
          if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) {
            return upsertOnce(input, now);
          }
          throw error;
        }
      });
      if (!result.value)
        throw new AppError('ERR_MONGO_UNAVAILABLE', 'MongoDB returned no shop after the upsert');
      return {
        shop: publicOf(decode(result.value)),
        created: result.lastErrorObject?.updatedExisting !== true,
      };
    },

    async get(platform, shopId) {
      const document = await mongoCall(() =>
        shops.findOne({ platform, shop_id: shopId }, { projection: { _id: 0 } }),
      );
      return document ? read(document) : null;
    },

    async list(filter) {
      return (await find(filter)).map(read);
    },

    async listActive(platform) {
      return (await find(activeFilter(platform))).map(read);
    },

    async listActiveIsolated(platform) {
      return isolate(await find(activeFilter(platform)), read);
    },

    async listPublic(filter) {
      return isolate(await find(filter), (document) => publicOf(decode(document)));
    },

    async loadTokens(platform, shopId) {
      const document = await mongoCall(() =>
        shops.findOne({ platform, shop_id: shopId }, { projection: { _id: 0 } }),
      );
      if (!document) return null;
      const shop = read(document);
      return {
        access_token: shop.access_token,
        refresh_token: shop.refresh_token,
        access_token_expires_at: shop.access_token_expires_at,
      };
    },

    async remove(platform, shopId) {
      const result = await mongoCall(() => shops.deleteOne({ platform, shop_id: shopId }));
      return result.deletedCount > 0;
    },

    async setStatus(platform, shopId, status) {
      if (!SHOP_STATUSES.includes(status)) {
        throw new AppError('ERR_USAGE', `shop status must be one of ${SHOP_STATUSES.join(', ')}`);
      }
      const result = await mongoCall(() =>
        shops.updateOne({ platform, shop_id: shopId }, { $set: { status, updated_at: clock() } }),
      );
      return result.matchedCount > 0;
    },

    async saveTokens(platform, shopId, tokens) {
      if (tokens.access_token === '') throw new AppError('ERR_USAGE', 'access_token must not be empty');
      const result = await mongoCall(() =>
        shops.updateOne(
          { platform, shop_id: shopId },
          {
            $set: {
              access_token: seal(tokens.access_token),
              refresh_token: sealNullable(tokens.refresh_token),
              access_token_expires_at: tokens.access_token_expires_at,
              updated_at: clock(),
            },
          },
        ),
      );
      if (result.matchedCount === 0) {
        throw new AppError('ERR_SHOP_UNKNOWN', `cannot save tokens: no ${platform} shop ${shopId}`);
      }
    },
  };
}

function checkInput(input: ShopInput): void {
  if (!(PLATFORMS as readonly string[]).includes(input.platform)) {
    throw new AppError('ERR_USAGE', `platform must be one of ${PLATFORMS.join(', ')}`);
  }
  if (input.shop_id.trim() === '') throw new AppError('ERR_USAGE', 'shop_id must not be empty');
  if (input.access_token === '') throw new AppError('ERR_USAGE', 'access_token must not be empty');
  const expires = input.access_token_expires_at;
  if (expires instanceof Date && Number.isNaN(expires.getTime())) {
    throw new AppError('ERR_USAGE', 'access_token_expires_at must be a valid date');
  }
  if (input.status !== undefined && !SHOP_STATUSES.includes(input.status)) {
    throw new AppError('ERR_USAGE', `shop status must be one of ${SHOP_STATUSES.join(', ')}`);
  }
}

async function mongoCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof AppError) throw error;
    const message = messageOf(error);
    throw new AppError('ERR_MONGO_UNAVAILABLE', `MongoDB shops read/write failed: ${message}`, {
      cause: error,
    });
  }
}
