/**
 * The environment, read once and validated (CONTRACT §2).
 *
 * Every variable is described once in `VARIABLES` (name, default, meaning, rule); the zod
 * schema, the README's configuration table and its test all come from that list. This is the
 * only module that reads `process.env`; everything else receives the frozen `Config`.
 */
import { hostname } from 'node:os';
import { validate as isValidCron } from 'node-cron';
import { z } from 'zod';

import { AppError } from './errors.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_MONGO_URL = 'mongodb://127.0.0.1:27017';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// ---------------------------------------------------------------------------------------------
// Field rules. Each returns the parsed value or fails with a message that reads after
// "NAME must be …" / "NAME is …" — short, no stack, no value for secrets.

const nonEmpty = z.string().trim().min(1, 'must not be empty');

function integer(min: number, max: number) {
  return z
    .string()
    .trim()
    .regex(/^-?\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, `must be a whole number from ${min} to ${max}`)
        .max(max, `must be a whole number from ${min} to ${max}`),
    );
}

function urlWithSchemes(schemes: readonly string[]) {
  const rule = `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}`;
  return nonEmpty.refine((value) => {
    try {
      return schemes.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, rule);
}

const httpUrl = urlWithSchemes(['http:', 'https:']).transform((value) => value.replace(/\/+$/, ''));

const booleanFlag = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), 'must be true or false')
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const timezone = nonEmpty.refine((value) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Asia/Ho_Chi_Minh');

const utcOffset = z
  .string()
  .trim()
  .regex(/^[+-](0\d|1[0-4]):[0-5]\d$/, 'must be a UTC offset such as +07:00');

const cronExpression = nonEmpty.refine(
  (value) => isValidCron(value),
  'must be a cron expression such as "0 */6 * * *"',
);

/** 32-byte key as 64 hex characters or base64. */
const encryptionKey = nonEmpty.transform((value, ctx) => {
  const key = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (key.length !== 32 || (!/^[0-9a-fA-F]{64}$/.test(value) && key.toString('base64') !== value)) {
    ctx.addIssue({ code: 'custom', message: 'must be 32 bytes written as 64 hex characters or base64' });
    return z.NEVER;
  }
  return key;
});

// ---------------------------------------------------------------------------------------------

export interface VariableSpec {
  name: string;
  /** Default as written in the docs; `undefined` means "unset" (and `defaultText` explains). */
  default?: string;
  defaultText?: string;
  description: string;
  /** Never printed, not even when invalid. */
  secret?: boolean;
  /** Contains credentials in its userinfo part: printed with the password hidden. */
  url?: boolean;
  schema: z.ZodType;
}

/** Every variable the service reads. Order is the order of the README table. */
export const VARIABLES = [
  {
    name: 'REDIS_URL',
    defaultText: '(unset: embedded for `start`, else `redis://127.0.0.1:6379`)',
    description: 'Redis',
    url: true,
    schema: urlWithSchemes(['redis:', 'rediss:']),
  },
  {
    name: 'MONGO_URL',
    defaultText: '(unset: embedded for `start`, else `mongodb://127.0.0.1:27017`)',
    description: 'MongoDB',
    url: true,
    schema: urlWithSchemes(['mongodb:', 'mongodb+srv:']),
  },
  { name: 'MONGO_DB', default: 'market_ingest', description: 'database name', schema: nonEmpty },
  { name: 'HOST', default: '0.0.0.0', description: 'ingest HTTP listen address', schema: nonEmpty },
  { name: 'PORT', default: '8080', description: 'ingest HTTP port', schema: integer(0, 65535) },
  { name: 'STREAM_KEY', default: 'market-ingest:events', description: 'event stream', schema: nonEmpty },
  {
    name: 'DEAD_LETTER_STREAM_KEY',
    default: 'market-ingest:dead',
    description: 'dead-letter stream',
    schema: nonEmpty,
  },
  {
    name: 'CHANGES_STREAM_KEY',
    default: 'market-ingest:changes',
    description: 'change notifications for downstream',
    schema: nonEmpty,
  },
  {
    name: 'CONSUMER_GROUP',
    default: 'market-ingest-workers',
    description: 'consumer group',
    schema: nonEmpty,
  },
  {
    name: 'CONSUMER_NAME',
    defaultText: '`<hostname>-<pid>`',
    description: "this worker's consumer name",
    schema: nonEmpty,
  },
  {
    name: 'STREAM_MAXLEN',
    default: '1000000',
    description:
      'hard cap on the event stream: at this many entries webhooks are answered 503 `ERR_BACKLOG_FULL`; entries are trimmed only once every consumer group has acknowledged them',
    // Low enough for tests to fill it; one marketplace page (100 entities) still fits whole.
    schema: integer(100, 1_000_000_000),
  },
  { name: 'BATCH_SIZE', default: '500', description: 'entries per XREADGROUP', schema: integer(1, 10_000) },
  {
    name: 'DETAIL_BATCH_SIZE',
    default: '50',
    description: 'IDs per marketplace detail call (max 50)',
    schema: integer(1, 50),
  },
  {
    name: 'MAX_DELIVERIES',
    default: '5',
    description:
      'deliveries that ended without an outcome (the worker died or hung) before an entry is dead-lettered',
    schema: integer(1, 1000),
  },
  {
    name: 'CLAIM_IDLE_MS',
    default: '60000',
    description:
      'idle time before another worker reclaims a pending entry; a live worker renews its entries every third of it',
    schema: integer(1000, 86_400_000),
  },
  {
    name: 'RETRY_WINDOW_MS',
    default: '86400000',
    description:
      "how long an entry's own retryable failure is retried (with growing delay) before it is dead-lettered; outages do not count",
    schema: integer(1000, 30 * 86_400_000),
  },
  {
    name: 'BATCH_TIMEOUT_MS',
    default: '300000',
    description:
      'longest one batch may take; a batch past it is given up and its entries are reclaimed as stalled',
    schema: integer(1000, 86_400_000),
  },
  {
    name: 'DEDUPE_TTL_SECONDS',
    default: '86400',
    description: "how long a webhook's event id is remembered",
    schema: integer(1, 30 * 86_400),
  },
  {
    name: 'BODY_LIMIT_BYTES',
    default: '1048576',
    description: 'largest accepted webhook body',
    schema: integer(1024, 64 * 1024 * 1024),
  },
  {
    name: 'WEBHOOK_RATE_LIMIT_PER_MINUTE',
    default: '60000',
    description: 'webhook requests per client IP per minute, shared across ingest replicas through Redis',
    schema: integer(1, 100_000_000),
  },
  {
    name: 'TRUST_PROXY',
    default: 'false',
    description: 'trust `X-Forwarded-*` headers (set when behind a load balancer)',
    schema: booleanFlag,
  },
  {
    name: 'SHOP_CONCURRENCY',
    default: '8',
    description: 'shop groups of one batch the worker fetches and maps concurrently',
    schema: integer(1, 256),
  },
  {
    name: 'METRICS_PORT',
    defaultText: '(unset: metrics only on the ingest port)',
    description: 'port of a separate `/metrics` server for the `worker` and `reconcile` roles',
    schema: integer(1, 65535),
  },
  {
    name: 'SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    description:
      "how long a graceful shutdown waits for the work in flight (webhooks being answered, the worker's batch, a reconcile page) before the process exits anyway; `worker` allows 2 s and `start` 5 s more to close its connections",
    schema: integer(100, 600_000),
  },
  {
    name: 'STARTUP_WAIT_MS',
    default: '60000',
    description:
      'how long `worker`, `reconcile` and `start` wait for Redis and MongoDB at start (retrying, logged) before they exit 1',
    schema: integer(0, 3_600_000),
  },
  { name: 'TIKTOK_APP_KEY', description: 'TikTok Shop app key', schema: nonEmpty },
  { name: 'TIKTOK_APP_SECRET', description: 'TikTok Shop app secret', secret: true, schema: nonEmpty },
  {
    name: 'TIKTOK_API_BASE_URL',
    default: 'https://open-api.tiktokglobalshop.com',
    description: 'TikTok Shop API',
    schema: httpUrl,
  },
  {
    name: 'TIKTOK_AUTH_BASE_URL',
    default: 'https://auth.tiktok-shops.com',
    description: 'TikTok token refresh',
    schema: httpUrl,
  },
  {
    name: 'SHOPEE_PARTNER_ID',
    description: 'Shopee Open Platform partner id',
    schema: integer(1, 2 ** 53 - 1),
  },
  {
    name: 'SHOPEE_PARTNER_KEY',
    description: 'Shopee Open Platform partner key',
    secret: true,
    schema: nonEmpty,
  },
  {
    name: 'SHOPEE_PUSH_PARTNER_KEY',
    defaultText: '(unset: `SHOPEE_PARTNER_KEY`)',
    description: 'the console\'s "Live Push Partner Key" that signs pushes',
    secret: true,
    schema: nonEmpty,
  },
  {
    name: 'SHOPEE_API_BASE_URL',
    default: 'https://partner.shopeemobile.com',
    description: 'Shopee API',
    schema: httpUrl,
  },
  {
    name: 'SHOPEE_WEBHOOK_URL',
    defaultText: '(unset: rebuilt from the request)',
    description: 'the exact callback URL registered with Shopee (it is part of the signed string)',
    schema: urlWithSchemes(['http:', 'https:']),
  },
  {
    name: 'TIKTOK_SERVICE_ID',
    defaultText: '(unset: `shops connect` offers only the legacy `app_key` link)',
    description:
      "the app's Service ID from TikTok Partner Center (not the app key): the `service_id` of the authorization link",
    schema: nonEmpty,
  },
  {
    name: 'TIKTOK_AUTHORIZE_URL',
    default: 'https://services.tiktokshop.com/open/authorize',
    description:
      'TikTok authorization page the link points to (US shops: `https://services.us.tiktokshop.com/open/authorize`)',
    schema: httpUrl,
  },
  {
    name: 'SHOPEE_AUTHORIZE_URL',
    default: 'https://open.shopee.com/auth',
    description:
      'Shopee authorization page of the newer unsigned link (China `https://open.shopee.cn/auth`, Brazil `https://open.shopee.com.br/auth`)',
    schema: httpUrl,
  },
  {
    name: 'OAUTH_REDIRECT_BASE_URL',
    defaultText: '(unset: `shops connect` needs `--redirect-url` for Shopee)',
    description:
      'public base URL of this ingest server that the marketplaces redirect sellers to: `<base>/oauth/tiktok/callback`, `<base>/oauth/shopee/callback`',
    schema: httpUrl,
  },
  {
    name: 'TIKTOK_RATE_LIMIT_PER_MINUTE',
    default: '600',
    description: 'outbound TikTok API budget per shop, shared by all processes',
    schema: integer(1, 1_000_000),
  },
  {
    name: 'SHOPEE_RATE_LIMIT_PER_MINUTE',
    default: '600',
    description: 'outbound Shopee API budget per shop, shared by all processes',
    schema: integer(1, 1_000_000),
  },
  {
    name: 'MARKETPLACE_TIMEOUT_MS',
    default: '15000',
    description: 'timeout of one marketplace API request',
    schema: integer(100, 300_000),
  },
  {
    name: 'MARKETPLACE_MAX_ATTEMPTS',
    default: '4',
    description: 'attempts per marketplace request (retries on network errors, 5xx, 429)',
    schema: integer(1, 20),
  },
  {
    name: 'RECONCILE_CRON',
    default: '0 */6 * * *',
    description: 'reconcile schedule',
    schema: cronExpression,
  },
  {
    name: 'RECONCILE_OVERLAP_MINUTES',
    default: '60',
    description:
      "how far before where a shop's last successful reconcile ended (or before the start of today, for a first run) a reconcile window begins",
    schema: integer(0, 7 * 24 * 60),
  },
  {
    name: 'RECONCILE_MAX_GAP_HOURS',
    default: '48',
    description:
      "longest time since a shop's last successful reconcile that a scheduled run still lists from; beyond it the run lists today only and logs that a backfill is advised",
    schema: integer(1, 31 * 24),
  },
  {
    name: 'RECONCILE_MAX_LAG',
    default: '50000',
    description: 'consumer-group lag above which reconcile pauses enqueuing until it drops',
    schema: integer(1, 100_000_000),
  },
  {
    name: 'TIMEZONE',
    default: 'Asia/Ho_Chi_Minh',
    description: 'zone for "today" and the cron',
    schema: timezone,
  },
  {
    name: 'TIMEZONE_OFFSET',
    default: '+07:00',
    description: 'offset written into stored ISO timestamps',
    schema: utcOffset,
  },
  {
    name: 'TOKEN_ENCRYPTION_KEY',
    defaultText: '(unset: tokens stored as given)',
    description: '32-byte key (hex or base64) to encrypt shop tokens at rest',
    secret: true,
    schema: encryptionKey,
  },
  {
    name: 'LOG_LEVEL',
    default: 'info',
    description: 'pino level',
    schema: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  },
] as const satisfies readonly VariableSpec[];

export type VariableName = (typeof VARIABLES)[number]['name'];

/** The parsed value of each variable, typed from its schema (absent when unset without default). */
type ParsedVariables = {
  [K in VariableName]: z.output<Extract<(typeof VARIABLES)[number], { name: K }>['schema']> | undefined;
};

export type LogLevel = (typeof LOG_LEVELS)[number];

export interface TikTokConfig {
  appKey: string;
  appSecret: string;
  apiBaseUrl: string;
  authBaseUrl: string;
  /** The Service ID of the authorization link; undefined: only the legacy app_key link. */
  serviceId?: string | undefined;
  /** Default: the services.tiktokshop.com page (optional so hand-built configs need not name it). */
  authorizeUrl?: string;
  rateLimitPerMinute: number;
}

export interface ShopeeConfig {
  partnerId: number;
  partnerKey: string;
  /** Signs pushes (the console's "Live Push Partner Key"); undefined: `partnerKey` does. */
  pushPartnerKey: string | undefined;
  apiBaseUrl: string;
  /** The callback URL registered with Shopee; undefined means "rebuild it from the request". */
  webhookUrl: string | undefined;
  /** The newer unsigned authorization page (default open.shopee.com/auth). */
  authorizeUrl?: string;
  rateLimitPerMinute: number;
}

export interface Config {
  /**
   * undefined: `start` embeds a server; other commands use the one a running `start` recorded
   * (the dispatcher fills it in), else DEFAULT_REDIS_URL (see resolveRedisUrl).
   */
  redisUrl: string | undefined;
  mongoUrl: string | undefined;
  mongoDb: string;
  host: string;
  port: number;
  streamKey: string;
  deadLetterStreamKey: string;
  changesStreamKey: string;
  consumerGroup: string;
  consumerName: string;
  streamMaxLen: number;
  batchSize: number;
  detailBatchSize: number;
  maxDeliveries: number;
  claimIdleMs: number;
  retryWindowMs: number;
  batchTimeoutMs: number;
  dedupeTtlSeconds: number;
  bodyLimitBytes: number;
  webhookRateLimitPerMinute: number;
  trustProxy: boolean;
  shopConcurrency: number;
  metricsPort: number | undefined;
  shutdownTimeoutMs: number;
  startupWaitMs: number;
  /** undefined when the platform's credentials are unset: the platform is disabled. */
  tiktok: TikTokConfig | undefined;
  shopee: ShopeeConfig | undefined;
  /** Public base URL of the OAuth callbacks (no trailing slash); undefined: not configured. */
  oauthRedirectBaseUrl?: string | undefined;
  marketplaceTimeoutMs: number;
  marketplaceMaxAttempts: number;
  reconcileCron: string;
  reconcileOverlapMinutes: number;
  reconcileMaxGapHours: number;
  reconcileMaxLag: number;
  timezone: string;
  timezoneOffset: string;
  tokenEncryptionKey: Buffer | undefined;
  logLevel: LogLevel;
}

/** Thrown by loadConfig; `problems` holds one readable line per bad variable. */
export class ConfigError extends AppError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('ERR_CONFIG', `invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * `host:port` of a server URL (several, comma-separated, for a MongoDB seed list), without scheme,
 * credentials, path or options: what error messages name, safe to show anywhere.
 */
export function serverAddress(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  const defaultPort =
    scheme === 'redis' || scheme === 'rediss' ? 6379 : scheme === 'mongodb' ? 27017 : undefined;
  const rest = url.slice(scheme ? scheme.length + 3 : 0);
  // After the last "@": a password written without percent-encoding may hold "/", "?" or "@".
  const hosts = rest.slice(rest.lastIndexOf('@') + 1).split(/[/?#]/, 1)[0] ?? '';
  return hosts
    .split(',')
    .map((host) => (defaultPort === undefined || /:\d+$/.test(host) ? host : `${host}:${defaultPort}`))
    .join(',');
}

/** Shows a URL with any password replaced, so a bad MONGO_URL can be reported safely. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    // Not a URL: hide everything between "//" and "@" in case it holds credentials.
    return value.replace(/\/\/[^@/]*@/, '//***@');
  }
}

function describeValue(spec: VariableSpec, raw: string): string {
  if (spec.secret) return '';
  const shown = spec.url ? redactUrl(raw) : raw;
  return `=${JSON.stringify(shown.length > 80 ? `${shown.slice(0, 77)}...` : shown)}`;
}

type Env = Record<string, string | undefined>;

/**
 * Parses and validates the environment. Empty strings count as unset.
 * Throws ConfigError listing every bad variable at once.
 */
export function loadConfig(env: Env = process.env): Readonly<Config> {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];

  for (const spec of VARIABLES as readonly VariableSpec[]) {
    const raw = env[spec.name];
    const input = raw === undefined || raw.trim() === '' ? spec.default : raw;
    if (input === undefined) continue;
    const result = spec.schema.safeParse(input);
    if (result.success) {
      values[spec.name] = result.data;
    } else {
      const message = result.error.issues[0]?.message ?? 'is invalid';
      problems.push(`${spec.name}${describeValue(spec, input)} ${message}`);
    }
  }

  const pairs = [
    ['TIKTOK_APP_KEY', 'TIKTOK_APP_SECRET'],
    ['SHOPEE_PARTNER_ID', 'SHOPEE_PARTNER_KEY'],
  ] as const;
  for (const [a, b] of pairs) {
    const hasA = env[a]?.trim();
    const hasB = env[b]?.trim();
    if (hasA && !hasB)
      problems.push(`${b} must be set when ${a} is set (or unset both to disable the platform)`);
    if (hasB && !hasA)
      problems.push(`${a} must be set when ${b} is set (or unset both to disable the platform)`);
  }

  if (problems.length > 0) throw new ConfigError(problems);

  const v = values as ParsedVariables;
  // Variables with a default are always present after a successful parse.
  const d = values as { [K in VariableName]: NonNullable<ParsedVariables[K]> };
  const tiktok: TikTokConfig | undefined =
    v.TIKTOK_APP_KEY && v.TIKTOK_APP_SECRET
      ? Object.freeze({
          appKey: v.TIKTOK_APP_KEY,
          appSecret: v.TIKTOK_APP_SECRET,
          apiBaseUrl: d.TIKTOK_API_BASE_URL,
          authBaseUrl: d.TIKTOK_AUTH_BASE_URL,
          serviceId: v.TIKTOK_SERVICE_ID,
          authorizeUrl: d.TIKTOK_AUTHORIZE_URL,
          rateLimitPerMinute: d.TIKTOK_RATE_LIMIT_PER_MINUTE,
        })
      : undefined;
  const shopee: ShopeeConfig | undefined =
    v.SHOPEE_PARTNER_ID && v.SHOPEE_PARTNER_KEY
      ? Object.freeze({
          partnerId: v.SHOPEE_PARTNER_ID,
          partnerKey: v.SHOPEE_PARTNER_KEY,
          pushPartnerKey: v.SHOPEE_PUSH_PARTNER_KEY,
          apiBaseUrl: d.SHOPEE_API_BASE_URL,
          webhookUrl: v.SHOPEE_WEBHOOK_URL,
          authorizeUrl: d.SHOPEE_AUTHORIZE_URL,
          rateLimitPerMinute: d.SHOPEE_RATE_LIMIT_PER_MINUTE,
        })
      : undefined;

  return Object.freeze({
    redisUrl: v.REDIS_URL,
    mongoUrl: v.MONGO_URL,
    mongoDb: d.MONGO_DB,
    host: d.HOST,
    port: d.PORT,
    streamKey: d.STREAM_KEY,
    deadLetterStreamKey: d.DEAD_LETTER_STREAM_KEY,
    changesStreamKey: d.CHANGES_STREAM_KEY,
    consumerGroup: d.CONSUMER_GROUP,
    consumerName: v.CONSUMER_NAME ?? `${hostname()}-${process.pid}`,
    streamMaxLen: d.STREAM_MAXLEN,
    batchSize: d.BATCH_SIZE,
    detailBatchSize: d.DETAIL_BATCH_SIZE,
    maxDeliveries: d.MAX_DELIVERIES,
    claimIdleMs: d.CLAIM_IDLE_MS,
    retryWindowMs: d.RETRY_WINDOW_MS,
    batchTimeoutMs: d.BATCH_TIMEOUT_MS,
    dedupeTtlSeconds: d.DEDUPE_TTL_SECONDS,
    bodyLimitBytes: d.BODY_LIMIT_BYTES,
    webhookRateLimitPerMinute: d.WEBHOOK_RATE_LIMIT_PER_MINUTE,
    trustProxy: d.TRUST_PROXY,
    shopConcurrency: d.SHOP_CONCURRENCY,
    metricsPort: v.METRICS_PORT,
    shutdownTimeoutMs: d.SHUTDOWN_TIMEOUT_MS,
    startupWaitMs: d.STARTUP_WAIT_MS,
    tiktok,
    shopee,
    oauthRedirectBaseUrl: v.OAUTH_REDIRECT_BASE_URL,
    marketplaceTimeoutMs: d.MARKETPLACE_TIMEOUT_MS,
    marketplaceMaxAttempts: d.MARKETPLACE_MAX_ATTEMPTS,
    reconcileCron: d.RECONCILE_CRON,
    reconcileOverlapMinutes: d.RECONCILE_OVERLAP_MINUTES,
    reconcileMaxGapHours: d.RECONCILE_MAX_GAP_HOURS,
    reconcileMaxLag: d.RECONCILE_MAX_LAG,
    timezone: d.TIMEZONE,
    timezoneOffset: d.TIMEZONE_OFFSET,
    tokenEncryptionKey: v.TOKEN_ENCRYPTION_KEY,
    logLevel: d.LOG_LEVEL,
  });
}

export function resolveRedisUrl(config: Pick<Config, 'redisUrl'>): string {
  return config.redisUrl ?? DEFAULT_REDIS_URL;
}

export function resolveMongoUrl(config: Pick<Config, 'mongoUrl'>): string {
  return config.mongoUrl ?? DEFAULT_MONGO_URL;
}
