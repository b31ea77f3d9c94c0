/**
 * `market-ingest shops add | list | remove` (CONTRACT §1): shop credentials in the `shops`
 * collection. Thin: flags are checked here, everything else is the shop store's. `list` never
 * prints a token, only whether each is set and when the access token expires; a malformed shop
 * document is named on stderr (exit 1) while the others are listed.
 */
import { resolveMongoUrl } from '../shared/config.js';
import { isAppError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { connectMongo, ensureIndexes } from '../shared/mongo.js';
import { createShopStore, type PublicShop, type ShopStore } from '../shared/store/shops.js';
import { PLATFORMS, type Platform } from '../shared/stream.js';
import { EXIT_FAILURE, EXIT_OK, type CommandContext, type CommandSpec, type FlagValues } from './dispatch.js';

/** A date, or a date-time with seconds optional, fraction optional and a required offset. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** The flag value as a trimmed string, or undefined when absent. */
function text(flags: FlagValues, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value.trim() : undefined;
}

function platformProblem(flags: FlagValues): string | undefined {
  const platform = text(flags, 'platform');
  if (platform === undefined) return '--platform is required';
  if (!(PLATFORMS as readonly string[]).includes(platform)) {
    return `--platform must be one of ${PLATFORMS.join(', ')} (got "${platform}")`;
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

/** Parses an ISO-8601 date or date-time with offset; undefined when it is not one. */
export function parseIsoDate(value: string): Date | undefined {
  if (!ISO_DATE_TIME.test(value)) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return undefined;
  // Reject dates the parser rolls over (2026-02-30 would become March 2).
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) return undefined;
  return date;
}

/** Connects to MongoDB, ensures the indexes, runs `work` with a shop store, closes. */
async function withShopStore(
  ctx: CommandContext,
  commandName: string,
  work: (store: ShopStore, encrypted: boolean) => Promise<number>,
): Promise<number> {
  const config = ctx.config();
  const logger = createLogger({
    level: config.logLevel,
    pretty: false,
    // Logs go to stderr: stdout is the command's output (and may be JSON).
    destination: { write: (line: string) => ctx.io.stderr(line) },
  });
  try {
    const mongo = await connectMongo({
      url: resolveMongoUrl(config),
      dbName: config.mongoDb,
      logger,
      appName: 'market-ingest-cli',
    });
    try {
      await ensureIndexes(mongo.db);
      const store = createShopStore({ db: mongo.db, encryptionKey: config.tokenEncryptionKey });
      return await work(store, config.tokenEncryptionKey !== undefined);
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

export const shopsAddCommand: CommandSpec = {
  name: 'shops add',
  usage:
    '--platform P --shop-id ID --access-token T [--refresh-token R] [--access-token-expires-at ISO] [--shop-cipher C] [--name N]',
  summary: "add a shop's credentials, or replace them (reactivates a deauthorized shop)",
  options: {
    ...shopKeyOptions,
    'access-token': { type: 'string' },
    'refresh-token': { type: 'string' },
    'access-token-expires-at': { type: 'string' },
    'shop-cipher': { type: 'string' },
    name: { type: 'string' },
  },
  validate(flags) {
    const problem = platformProblem(flags) ?? requiredProblem(flags, ['shop-id', 'access-token']);
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
    return withShopStore(ctx, 'shops add', async (store, encrypted) => {
      const { created } = await store.upsert({
        platform,
        shop_id: shopId,
        access_token: text(flags, 'access-token')!,
        refresh_token: text(flags, 'refresh-token'),
        access_token_expires_at: expires === undefined ? undefined : parseIsoDate(expires),
        shop_cipher: text(flags, 'shop-cipher'),
        name: text(flags, 'name'),
      });
      const storage = encrypted
        ? 'tokens encrypted at rest'
        : 'tokens stored unencrypted: set TOKEN_ENCRYPTION_KEY to encrypt them';
      ctx.io.stdout(`${created ? 'added' : 'updated'} ${platform} shop ${shopId} (${storage})\n`);
      return EXIT_OK;
    });
  },
};

export const shopsListCommand: CommandSpec = {
  name: 'shops list',
  usage: '[--json]',
  summary: 'list shops: status, name, whether tokens are set and when they expire (never the tokens)',
  options: { json: { type: 'boolean' } },
  run(ctx) {
    return withShopStore(ctx, 'shops list', async (store) => {
      const { shops, unreadable } = await store.listPublic();
      if (ctx.flags.json) ctx.io.stdout(`${JSON.stringify(shops, null, 2)}\n`);
      else if (shops.length > 0 || unreadable.length === 0) ctx.io.stdout(table(shops, new Date()));
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
    expiry(shop.access_token_expires_at, now),
    shop.has_refresh_token ? 'set' : '-',
    shop.shop_cipher ? 'set' : '-',
  ]);
  const header = [
    'PLATFORM',
    'SHOP_ID',
    'STATUS',
    'NAME',
    'ACCESS_TOKEN',
    'EXPIRES',
    'REFRESH_TOKEN',
    'CIPHER',
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

function expiry(expiresAt: Date | null, now: Date): string {
  if (expiresAt === null) return '-';
  return `${expiresAt.toISOString()}${expiresAt.getTime() <= now.getTime() ? ' (expired)' : ''}`;
}
