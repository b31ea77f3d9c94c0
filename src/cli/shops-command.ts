/**
 * `market-ingest shops add | list | remove` (CONTRACT §1): shop credentials in the `shops`
 * collection. Flags are checked here per platform (a Shopee shop id is a number; a TikTok shop
 * needs its cipher, fetched with the access token when not given), everything else is the shop
 * store's. `list` never prints a token, only whether each is set, when the access token expires
 * and what that means; a malformed shop document is named on stderr (exit 1) while the others
 * are listed.
 */
import type { Config, TikTokConfig } from '../shared/config.js';
import { isAppError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createTikTokClient, type TikTokAuthorizedShop } from '../marketplaces/tiktok/client.js';
import type { RateLimiter } from '../marketplaces/types.js';
import { connectIndexedMongo } from '../shared/mongo.js';
import { createShopStore, type PublicShop, type ShopStore } from '../shared/store/shops.js';
import { PLATFORMS, type Platform } from '../shared/stream.js';
import { EXIT_FAILURE, EXIT_OK, type CommandContext, type CommandSpec, type FlagValues } from './dispatch.js';
import { parseIsoDate } from '../shared/time.js';

/** A date, or a date-time with seconds optional, fraction optional and a required offset. */

/** The flag value as a trimmed string, or undefined when absent. */
export function text(flags: FlagValues, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value.trim() : undefined;
}

export function platformProblem(flags: FlagValues): string | undefined {
  const platform = text(flags, 'platform');
  if (platform === undefined) return '--platform is required';
  if (!(PLATFORMS as readonly string[]).includes(platform)) {
    return `--platform must be one of ${PLATFORMS.join(', ')} (got "${platform}")`;
  }
  return undefined;
}

/** Shopee shop ids are numbers (int64 in its API): anything else would fail every call. */
const SHOPEE_SHOP_ID = /^\d{1,20}$/;

function shopIdProblem(flags: FlagValues): string | undefined {
  const shopId = text(flags, 'shop-id');
  if (text(flags, 'platform') === 'shopee' && shopId && !SHOPEE_SHOP_ID.test(shopId)) {
    return `--shop-id of a Shopee shop is its number, digits only (got "${shopId}")`;
  }
  return undefined;
}

function requiredProblem(flags: FlagValues, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = text(flags, name);
    if (value === undefined) return `--${name} is required`;
    if (value === '') return `--${name} must not be empty`;
  }
  return undefined;
}

/** Connects to MongoDB, ensures the indexes, runs `work` with a shop store, closes. */
export async function withShopStore(
  ctx: CommandContext,
  commandName: string,
  work: (store: ShopStore, encrypted: boolean, logger: Logger) => Promise<number>,
): Promise<number> {
  const config = ctx.config();
  const logger = createLogger({
    level: config.logLevel,
    pretty: false,
    // Logs go to stderr: stdout is the command's output (and may be JSON).
    destination: { write: (line: string) => ctx.io.stderr(line) },
  });
  try {
    const mongo = await connectIndexedMongo(config, logger, 'market-ingest-cli');
    try {
      const store = createShopStore({ db: mongo.db, encryptionKey: config.tokenEncryptionKey });
      return await work(store, config.tokenEncryptionKey !== undefined, logger);
    } finally {
      await mongo.close();
    }
  } catch (error) {
    if (!isAppError(error)) throw error;
    ctx.io.stderr(`market-ingest ${commandName}: ${error.message}\n`);
    return EXIT_FAILURE;
  }
}

const shopKeyOptions = {
  platform: { type: 'string' },
  'shop-id': { type: 'string' },
} as const;

/** One call from the command line: the shared per-shop budget (Redis) is not worth a connection. */
const UNMETERED: RateLimiter = { acquire: () => Promise.resolve(), penalize: () => Promise.resolve() };

async function fetchAuthorizedShops(
  config: Readonly<Config>,
  tiktok: TikTokConfig,
  deps: { store: ShopStore; logger: Logger },
  accessToken: string,
): Promise<TikTokAuthorizedShop[]> {
  const client = createTikTokClient({
    ...tiktok,
    limiter: UNMETERED,
    tokens: deps.store,
    logger: deps.logger,
    timeoutMs: config.marketplaceTimeoutMs,
    maxAttempts: config.marketplaceMaxAttempts,
    detailBatchSize: config.detailBatchSize,
  });
  try {
    return await client.getAuthorizedShops(accessToken);
  } finally {
    await client.close();
  }
}

/** The cipher to store (undefined keeps the stored one), or why the shop cannot be added. */
type CipherChoice = { cipher: string | undefined; name?: string; note?: string } | { problem: string };

/**
 * A TikTok shop's calls all carry its shop_cipher; without one the shop fails hours later, in
 * reconcile. Given, or already stored, it is used; otherwise it is asked of TikTok with the
 * access token (Get Authorized Shops lists the grant's shops with their ciphers).
 */
async function tiktokCipher(
  ctx: CommandContext,
  deps: { store: ShopStore; logger: Logger },
  shopId: string,
  accessToken: string,
): Promise<CipherChoice> {
  const given = text(ctx.flags, 'shop-cipher');
  if (given !== undefined) return { cipher: given };
  const stored = (await deps.store.listPublic({ platform: 'tiktok' })).shops.find(
    (s) => s.shop_id === shopId,
  );
  if (stored?.shop_cipher) return { cipher: undefined };
  const config = ctx.config();
  if (!config.tiktok) {
    return {
      problem:
        'a TikTok shop needs --shop-cipher (it can be fetched with the access token, but TIKTOK_APP_KEY and TIKTOK_APP_SECRET are not set)',
    };
  }
  let granted: TikTokAuthorizedShop[];
  try {
    granted = await fetchAuthorizedShops(config, config.tiktok, deps, accessToken);
  } catch (error) {
    if (!isAppError(error)) throw error;
    return { problem: `could not fetch the shop cipher from TikTok (${error.message}); give --shop-cipher` };
  }
  const shop = granted.find((s) => s.id === shopId);
  if (!shop) {
    const covered = granted.map((s) => s.id).join(', ') || 'none';
    return {
      problem: `the access token does not authorize TikTok shop ${shopId} (it authorizes: ${covered}); check --shop-id, or give --shop-cipher`,
    };
  }
  return { cipher: shop.cipher, name: shop.name, note: "shop cipher fetched from TikTok's authorized shops" };
}

/** Without a refresh token nothing can renew the access token: say when the shop will stop. */
function noRefreshTokenWarning(shop: PublicShop): string {
  const expires = shop.access_token_expires_at;
  const when = expires
    ? `at ${expires.toISOString()}`
    : shop.platform === 'shopee'
      ? 'Shopee access tokens last about 4 hours'
      : 'TikTok access tokens last about 7 days';
  return (
    `market-ingest shops add: warning: no refresh token, so the access token cannot be renewed: ` +
    `${shop.platform} shop ${shop.shop_id} stops syncing when it expires (${when}). ` +
    'Add it again with --refresh-token.\n'
  );
}

export const shopsAddCommand: CommandSpec = {
  name: 'shops add',
  usage:
    '--platform P --shop-id ID --access-token T [--refresh-token R] [--access-token-expires-at ISO] [--shop-cipher C] [--name N]',
  summary:
    "add a shop's credentials, or replace them (reactivates a deauthorized shop); a TikTok shop's cipher is fetched when not given",
  options: {
    ...shopKeyOptions,
    'access-token': { type: 'string' },
    'refresh-token': { type: 'string' },
    'access-token-expires-at': { type: 'string' },
    'shop-cipher': { type: 'string' },
    name: { type: 'string' },
  },
  validate(flags) {
    const problem =
      platformProblem(flags) ?? requiredProblem(flags, ['shop-id', 'access-token']) ?? shopIdProblem(flags);
    if (problem) return problem;
    for (const name of ['refresh-token', 'shop-cipher', 'name']) {
      if (text(flags, name) === '') return `--${name} must not be empty`;
    }
    const expires = text(flags, 'access-token-expires-at');
    if (expires !== undefined && !parseIsoDate(expires)) {
      return '--access-token-expires-at must be an ISO-8601 date or date-time with offset, e.g. 2026-12-31T23:59:59Z';
    }
    return undefined;
  },
  run(ctx) {
    const { flags } = ctx;
    const expires = text(flags, 'access-token-expires-at');
    const platform = text(flags, 'platform') as Platform;
    const shopId = text(flags, 'shop-id')!;
    const accessToken = text(flags, 'access-token')!;
    return withShopStore(ctx, 'shops add', async (store, encrypted, logger) => {
      const choice =
        platform === 'tiktok'
          ? await tiktokCipher(ctx, { store, logger }, shopId, accessToken)
          : { cipher: text(flags, 'shop-cipher') };
      if ('problem' in choice) {
        ctx.io.stderr(`market-ingest shops add: ${choice.problem}\n`);
        return EXIT_FAILURE;
      }
      const { shop, created } = await store.upsert({
        platform,
        shop_id: shopId,
        access_token: accessToken,
        refresh_token: text(flags, 'refresh-token'),
        access_token_expires_at: expires === undefined ? undefined : parseIsoDate(expires),
        shop_cipher: choice.cipher,
        name: text(flags, 'name') ?? choice.name,
      });
      const storage = encrypted
        ? 'tokens encrypted at rest'
        : 'tokens stored unencrypted: set TOKEN_ENCRYPTION_KEY to encrypt them';
      ctx.io.stdout(`${created ? 'added' : 'updated'} ${platform} shop ${shopId} (${storage})\n`);
      if (choice.note) ctx.io.stdout(`${choice.note}\n`);
      if (!shop.has_refresh_token) ctx.io.stderr(noRefreshTokenWarning(shop));
      return EXIT_OK;
    });
  },
};

export const shopsListCommand: CommandSpec = {
  name: 'shops list',
  usage: '[--json]',
  summary:
    'list shops: status, name, whether tokens are set, when the access token and the authorization expire and what that means (never the tokens)',
  options: { json: { type: 'boolean' } },
  run(ctx) {
    return withShopStore(ctx, 'shops list', async (store) => {
      const { shops, unreadable } = await store.listPublic();
      const now = new Date();
      if (ctx.flags.json) {
        const withState = shops.map((shop) => ({
          ...shop,
          authorization_expires_at: shop.authorization_expires_at ?? null,
          token_state: tokenState(shop, now),
        }));
        ctx.io.stdout(`${JSON.stringify(withState, null, 2)}\n`);
      } else if (shops.length > 0 || unreadable.length === 0) ctx.io.stdout(table(shops, now));
      // A malformed document does not hide the others; it is named, and the exit code says so.
      for (const { error } of unreadable) {
        ctx.io.stderr(`market-ingest shops list: skipped: ${error.message}\n`);
      }
      return unreadable.length > 0 ? EXIT_FAILURE : EXIT_OK;
    });
  },
};

export const shopsRemoveCommand: CommandSpec = {
  name: 'shops remove',
  usage: '--platform P --shop-id ID',
  summary: 'remove a shop and its credentials (its stored orders, returns and products stay)',
  options: shopKeyOptions,
  validate: (flags) => platformProblem(flags) ?? requiredProblem(flags, ['shop-id']),
  run(ctx) {
    const platform = text(ctx.flags, 'platform') as Platform;
    const shopId = text(ctx.flags, 'shop-id')!;
    return withShopStore(ctx, 'shops remove', async (store) => {
      if (!(await store.remove(platform, shopId))) {
        ctx.io.stderr(`market-ingest shops remove: no ${platform} shop "${shopId}"\n`);
        return EXIT_FAILURE;
      }
      ctx.io.stdout(`removed ${platform} shop ${shopId}\n`);
      return EXIT_OK;
    });
  },
};

function table(shops: readonly PublicShop[], now: Date): string {
  if (shops.length === 0) return 'no shops\n';
  const rows = shops.map((shop) => [
    shop.platform,
    shop.shop_id,
    shop.status,
    shop.name ?? '-',
    shop.has_access_token ? 'set' : 'missing',
    expiry(shop.access_token_expires_at),
    authorization(shop, now),
    shop.has_refresh_token ? 'set' : '-',
    shop.shop_cipher ? 'set' : '-',
    tokenNote(shop, now),
  ]);
  const header = [
    'PLATFORM',
    'SHOP_ID',
    'STATUS',
    'NAME',
    'ACCESS_TOKEN',
    'EXPIRES',
    'AUTHORIZED_UNTIL',
    'REFRESH_TOKEN',
    'CIPHER',
    'TOKEN',
  ];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows]
    .map(
      (row) =>
        `${row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}

function expiry(expiresAt: Date | null): string {
  return expiresAt === null ? '-' : expiresAt.toISOString();
}

/** Within this long of its end an authorization is flagged: the seller must authorize again. */
export const AUTHORIZATION_WARNING_MS = 7 * 24 * 3_600_000;

/** When the seller's authorization ends (issue 13), flagged in its last 7 days and once over. */
function authorization(shop: PublicShop, now: Date): string {
  const ends = shop.authorization_expires_at;
  if (ends === undefined) return '-';
  const left = ends.getTime() - now.getTime();
  if (left <= 0) return `${ends.toISOString()} (ENDED: connect again)`;
  if (left <= AUTHORIZATION_WARNING_MS)
    return `${ends.toISOString()} (ends in ${Math.ceil(left / 86_400_000)}d: connect again)`;
  return ends.toISOString();
}

/** Within this long of its expiry an access token is "expiring": one without a refresh token needs attention. */
const EXPIRING_SOON_MS = 24 * 3_600_000;

export type TokenState = 'ok' | 'expiring' | 'expired' | 'unknown';

export function tokenState(shop: PublicShop, now: Date): TokenState {
  const expires = shop.access_token_expires_at;
  if (expires === null) return 'unknown';
  const left = expires.getTime() - now.getTime();
  if (left <= 0) return 'expired';
  return left <= EXPIRING_SOON_MS ? 'expiring' : 'ok';
}

function hoursOrMinutes(ms: number): string {
  return ms < 3_600_000 ? `${Math.ceil(ms / 60_000)}m` : `${(ms / 3_600_000).toFixed(1)}h`;
}

/** What the token's expiry means for syncing: with a refresh token the worker renews it itself. */
function tokenNote(shop: PublicShop, now: Date): string {
  const renewable = shop.has_refresh_token;
  const left = (shop.access_token_expires_at?.getTime() ?? 0) - now.getTime();
  switch (tokenState(shop, now)) {
    case 'unknown':
      return renewable ? 'expiry unknown' : 'expiry unknown, no refresh token';
    case 'expired':
      return renewable ? 'expired (renewed on next use)' : 'EXPIRED, no refresh token: add the shop again';
    case 'expiring':
      return `expires in ${hoursOrMinutes(left)}${renewable ? ' (renewed on use)' : ', no refresh token'}`;
    case 'ok':
      return 'ok';
  }
}
