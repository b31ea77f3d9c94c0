/** CLI commands for ops: `pending`, `dlq list|show|replay|purge` (CONTRACT §1). */
import {
  EXIT_FAILURE,
  EXIT_OK,
  UsageError,
  type CommandContext,
  type CommandSpec,
  type FlagValues,
} from '../shared/command.js';
import { redactUrl, resolveMongoUrl, resolveRedisUrl } from '../shared/config.js';
import { isAppError, messageOf } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { COLLECTIONS, connectMongo } from '../shared/mongo.js';
import {
  closeRedis,
  createRedis,
  isRedisConnectionError,
  redisUnreachable,
  type Redis,
} from '../shared/redis.js';
import { ENTITY_KINDS, PLATFORMS } from '../shared/stream.js';
import { parseIsoDate } from '../shared/time.js';
import {
  findDeadLetters,
  getDeadLetter,
  pendingSummary,
  purgeDeadLetters,
  replayDeadLetters,
  type DeadLetterEntry,
  type DeadLetterFilter,
  type DeadLetterListing,
  type PendingSummary,
} from './ops.js';

async function withRedis<T>(ctx: CommandContext, work: (redis: Redis) => Promise<T>): Promise<T> {
  const config = ctx.config();
  // Logs go to stderr through the command's (redacting) output: stdout is the answer, maybe JSON.
  const logger = createLogger({
    level: 'error',
    pretty: false,
    destination: { write: (line: string) => ctx.io.stderr(line) },
  });
  // Default profile: commands wait for the connection (briefly) instead of failing before it is up.
  const redis = createRedis({ url: resolveRedisUrl(config), name: 'cli', logger });
  try {
    return await work(redis);
  } catch (error) {
    // Down or unreachable: a typed error the dispatcher reports as "cannot reach Redis at host:port".
    if (isRedisConnectionError(error)) throw redisUnreachable(resolveRedisUrl(config), { cause: error });
    throw new Error(`Redis at ${redactUrl(resolveRedisUrl(config))}: ${messageOf(error)}`);
  } finally {
    await closeRedis(redis);
  }
}

function positiveInteger(value: unknown, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a whole number >= 1`);
  return n;
}

const isoTime = (value: unknown): Date | undefined =>
  typeof value === 'string' ? parseIsoDate(value) : undefined;

const ISO_EXAMPLE = 'an ISO-8601 time such as 2026-11-01T00:00:00+07:00';

function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

function formatRetries(retries: PendingSummary['retries']): string[] {
  if (retries.waiting === 0) return [];
  const due =
    retries.nextDueInMs === null
      ? '-'
      : retries.nextDueInMs <= 0
        ? 'now'
        : `in ${duration(retries.nextDueInMs)}`;
  const lines = ['', `waiting for retry: ${retries.waiting}   next due: ${due}`, 'by last error:'];
  for (const [code, count] of Object.entries(retries.byLastError).sort(([, a], [, b]) => b - a)) {
    lines.push(`  ${code}  ${count}`);
  }
  return lines;
}

const CONSUMER_MARKS = {
  active: '',
  stalled: '  (stalled? its entries will be reclaimed)',
  inactive: '  (inactive)',
} as const;

export function formatPending(summary: PendingSummary): string {
  if (!summary.groupExists) {
    const retries = formatRetries(summary.retries).join('\n');
    return `stream ${summary.stream}: ${summary.streamLength} entries; consumer group ${summary.group} does not exist yet (no worker has started)\n${retries ? `${retries}\n` : ''}`;
  }
  const lines = [
    `stream ${summary.stream} (${summary.streamLength} entries), group ${summary.group}`,
    `pending: ${summary.pending}   not yet delivered (lag): ${summary.lag ?? 'unknown'}   oldest idle: ${duration(summary.oldestIdleMs)}`,
  ];
  if (summary.consumers.length > 0) {
    lines.push('', 'consumers:');
    for (const c of summary.consumers)
      lines.push(`  ${c.name}  pending ${c.pending}  idle ${duration(c.idleMs)}${CONSUMER_MARKS[c.state]}`);
  }
  if (summary.topShops.length > 0) {
    lines.push('', `top shops by pending (of ${summary.sampled} examined):`);
    for (const s of summary.topShops) lines.push(`  ${s.platform}:${s.shopId}  ${s.pending}`);
  }
  const deliveries = Object.entries(summary.deliveries).sort(([a], [b]) => Number(a) - Number(b));
  if (deliveries.length > 0) {
    lines.push('', 'deliveries so far:');
    for (const [times, count] of deliveries) lines.push(`  ${times}x  ${count}`);
  }
  lines.push(...formatRetries(summary.retries));
  return `${lines.join('\n')}\n`;
}

export const pendingCommand: CommandSpec = {
  name: 'pending',
  usage: '[--json] [--sample N]',
  summary: "summary of the consumer group's pending entries (what XPENDING shows, readable)",
  options: { json: { type: 'boolean' }, sample: { type: 'string' } },
  async run(ctx) {
    const sample = ctx.flags.sample === undefined ? 1000 : positiveInteger(ctx.flags.sample, '--sample');
    const summary = await withRedis(ctx, (redis) => pendingSummary(redis, ctx.config(), sample));
    ctx.io.stdout(ctx.flags.json ? `${JSON.stringify(summary, null, 2)}\n` : formatPending(summary));
    return EXIT_OK;
  },
};

/** `dlq list` and `dlq replay` narrow the dead letters with these (CONTRACT §1 v2). */
const FILTER_OPTIONS = {
  code: { type: 'string' },
  platform: { type: 'string' },
  shop: { type: 'string' },
  kind: { type: 'string' },
  since: { type: 'string' },
} as const;
const FILTER_USAGE = '[--code C] [--platform P] [--shop ID] [--kind K] [--since ISO]';

function hasFilterFlags(flags: FlagValues): boolean {
  return Object.keys(FILTER_OPTIONS).some((name) => flags[name] !== undefined);
}

function filterProblem(flags: FlagValues): string | undefined {
  const { platform, kind, since } = flags;
  if (platform !== undefined && !(PLATFORMS as readonly unknown[]).includes(platform))
    return `--platform must be one of ${PLATFORMS.join(', ')}`;
  if (kind !== undefined && !(ENTITY_KINDS as readonly unknown[]).includes(kind))
    return `--kind must be one of ${ENTITY_KINDS.join(', ')}`;
  if (since !== undefined && !isoTime(since)) return `--since takes ${ISO_EXAMPLE}`;
  return undefined;
}

function filterFrom(flags: FlagValues): DeadLetterFilter {
  const text = (name: string) => (typeof flags[name] === 'string' ? flags[name] : undefined);
  return {
    code: text('code'),
    platform: text('platform'),
    shopId: text('shop'),
    kind: text('kind'),
    since: isoTime(flags.since),
  };
}

/** The filter as the operator typed it, e.g. "--code ERR_SHOP_UNKNOWN --shop 123". */
function describeFilter(flags: FlagValues): string {
  return Object.keys(FILTER_OPTIONS)
    .filter((name) => typeof flags[name] === 'string')
    .map((name) => `--${name} ${String(flags[name])}`)
    .join(' ');
}

function formatDeadLetterLine({ id, fields: f }: DeadLetterEntry): string {
  const when = f.dead_at ? new Date(Number(f.dead_at)).toISOString() : '?';
  return `${id}  ${when}  ${f.platform}:${f.shop_id} ${f.kind} ${f.entity_id}  ${f.error_code} after ${f.deliveries} deliveries: ${f.error_message}\n`;
}

/** "50 of 55 dead letters" — the count says whether the listing stopped short. */
function listingHeadline(listing: DeadLetterListing, filter: string): string {
  const more = listing.entries.length < listing.matched ? ' (--limit N to see more)' : '';
  if (!filter) return `${listing.entries.length} of ${listing.total} dead letters, oldest first${more}\n`;
  return `${listing.entries.length} of ${listing.matched} dead letters matching ${filter}, oldest first${more} (${listing.total} in the stream)\n`;
}

export const dlqListCommand: CommandSpec = {
  name: 'dlq list',
  usage: `[--limit N] ${FILTER_USAGE} [--json]`,
  summary: 'list dead-lettered entries, oldest first, and how many there are ("50 of 55")',
  options: { limit: { type: 'string' }, json: { type: 'boolean' }, ...FILTER_OPTIONS },
  validate: filterProblem,
  async run(ctx) {
    const limit = ctx.flags.limit === undefined ? 50 : positiveInteger(ctx.flags.limit, '--limit');
    const filter = describeFilter(ctx.flags);
    const listing = await withRedis(ctx, (redis) =>
      findDeadLetters(redis, ctx.config(), limit, filterFrom(ctx.flags)),
    );
    if (ctx.flags.json) {
      const { total, matched, entries } = listing;
      ctx.io.stdout(`${JSON.stringify({ total, matched, shown: entries.length, entries }, null, 2)}\n`);
    } else if (listing.total === 0) {
      ctx.io.stdout('the dead-letter stream is empty\n');
    } else {
      ctx.io.stdout(listingHeadline(listing, filter));
      for (const entry of listing.entries) ctx.io.stdout(formatDeadLetterLine(entry));
    }
    return EXIT_OK;
  },
};

const STREAM_ID = /^\d+-\d+$/;

type SyncFailureLookup = { record: Record<string, unknown> | null } | { unavailable: string };

/**
 * The `sync_failures` document the worker wrote with this dead letter (its payload is the entry's,
 * printed once already); MongoDB being down is reported, not fatal.
 */
async function syncFailureOf(ctx: CommandContext, streamId: string | undefined): Promise<SyncFailureLookup> {
  if (!streamId) return { record: null };
  const config = ctx.config();
  try {
    const mongo = await connectMongo({
      url: resolveMongoUrl(config),
      dbName: config.mongoDb,
      logger: createLogger({ level: 'silent', pretty: false }),
      appName: 'market-ingest-cli',
      serverSelectionTimeoutMS: 3_000,
    });
    try {
      const record = await mongo.db
        .collection(COLLECTIONS.syncFailures)
        .findOne({ stream_id: streamId }, { sort: { failed_at: -1 }, projection: { _id: 0, payload: 0 } });
      return { record };
    } finally {
      await mongo.close();
    }
  } catch (error) {
    return { unavailable: isAppError(error) ? error.message : 'MongoDB read failed' };
  }
}

/** The payload as indented JSON when it is JSON, else as stored. */
function prettyPayload(payload: string | undefined): string {
  if (payload === undefined) return '(none)';
  try {
    return JSON.stringify(JSON.parse(payload), null, 2);
  } catch {
    return payload;
  }
}

function formatDeadLetter(entry: DeadLetterEntry, failure: SyncFailureLookup): string {
  const { payload, ...fields } = entry.fields;
  const width = Math.max(...Object.keys(fields).map((name) => name.length));
  const lines = [`dead letter ${entry.id}`];
  if (fields.dead_at) lines.push(`  dead at: ${new Date(Number(fields.dead_at)).toISOString()}`);
  lines.push(`  error: ${fields.error_code ?? '?'}: ${fields.error_message ?? ''}`, '', 'fields:');
  for (const [name, value] of Object.entries(fields)) lines.push(`  ${name.padEnd(width)}  ${value}`);
  lines.push('', 'payload:', prettyPayload(payload), '', 'sync_failures record:');
  if ('unavailable' in failure) lines.push(`  not read: ${failure.unavailable}`);
  else if (!failure.record) lines.push(`  none with stream_id ${fields.original_id ?? '?'}`);
  else lines.push(JSON.stringify(failure.record, null, 2));
  return `${lines.join('\n')}\n`;
}

export const dlqShowCommand: CommandSpec = {
  name: 'dlq show',
  usage: 'ID [--json]',
  summary: 'one dead letter whole: its fields, error, payload and sync_failures record',
  options: { json: { type: 'boolean' } },
  positionals: true,
  validate: (_flags, ids) => {
    if (ids.length !== 1) return 'give exactly one dead-letter id (from dlq list)';
    return STREAM_ID.test(ids[0]!)
      ? undefined
      : `"${ids[0]}" is not a stream entry id (like 1732170000000-0)`;
  },
  async run(ctx) {
    const id = ctx.positionals[0]!;
    const entry = await withRedis(ctx, (redis) => getDeadLetter(redis, ctx.config(), id));
    if (!entry) {
      ctx.io.stderr(`not in the dead-letter stream: ${id}\n`);
      return EXIT_FAILURE;
    }
    const failure = await syncFailureOf(ctx, entry.fields.original_id);
    if (ctx.flags.json) {
      const syncFailure = 'record' in failure ? failure.record : { unavailable: failure.unavailable };
      ctx.io.stdout(`${JSON.stringify({ ...entry, sync_failure: syncFailure }, null, 2)}\n`);
    } else {
      ctx.io.stdout(formatDeadLetter(entry, failure));
    }
    return EXIT_OK;
  },
};

export const dlqReplayCommand: CommandSpec = {
  name: 'dlq replay',
  usage: `ID... | --all | ${FILTER_USAGE}`,
  summary:
    'move dead letters back to the event stream (source=replay); refused (exit 1) if it would exceed STREAM_MAXLEN',
  options: { all: { type: 'boolean' }, ...FILTER_OPTIONS },
  positionals: true,
  validate: (flags, ids) => {
    const selects = flags.all || hasFilterFlags(flags);
    if (selects && ids.length > 0) return 'give entry ids, or --all / filters, not both';
    if (!selects && ids.length === 0)
      return 'give at least one entry id, --all, or filters (--code --platform --shop --kind --since)';
    const bad = ids.find((id) => !STREAM_ID.test(id));
    if (bad) return `"${bad}" is not a stream entry id (like 1732170000000-0)`;
    return filterProblem(flags);
  },
  async run(ctx) {
    const which = ctx.positionals.length > 0 ? ctx.positionals : { matching: filterFrom(ctx.flags) };
    // A full event stream is an answer, not a Redis failure: withRedis must not reword it.
    const result = await withRedis(ctx, (redis) =>
      replayDeadLetters(redis, ctx.config(), which).catch((error: unknown) => {
        if (isAppError(error, 'ERR_BACKLOG_FULL')) return error;
        throw error;
      }),
    );
    if (isAppError(result)) {
      ctx.io.stderr(`dlq replay refused: ${result.message}\n`);
      return EXIT_FAILURE;
    }
    for (const { deadId, newId } of result.replayed) ctx.io.stdout(`replayed ${deadId} as ${newId}\n`);
    for (const id of result.notFound) ctx.io.stderr(`not in the dead-letter stream: ${id}\n`);
    const filter = describeFilter(ctx.flags);
    ctx.io.stdout(`${result.replayed.length} replayed${filter ? ` (matching ${filter})` : ''}\n`);
    return result.notFound.length > 0 ? EXIT_FAILURE : EXIT_OK;
  },
};

export const dlqPurgeCommand: CommandSpec = {
  name: 'dlq purge',
  usage: '--all | --before ISO [--dry-run]',
  summary: 'delete dead letters (all, or those dead-lettered before a time); --dry-run only counts',
  options: { all: { type: 'boolean' }, before: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  // Deleting is not undone: what to delete is always said, never assumed.
  validate: (flags) => {
    if (flags.all && flags.before !== undefined) return 'give --all or --before, not both';
    if (!flags.all && flags.before === undefined)
      return 'say what to delete: --all, or --before ISO (add --dry-run to only count)';
    if (flags.before !== undefined && !isoTime(flags.before)) return `--before takes ${ISO_EXAMPLE}`;
    return undefined;
  },
  async run(ctx) {
    const before = isoTime(ctx.flags.before);
    const dryRun = ctx.flags['dry-run'] === true;
    const count = await withRedis(ctx, (redis) =>
      purgeDeadLetters(redis, ctx.config(), before ? { before } : 'all', { dryRun }),
    );
    const scope = before ? ` dead-lettered before ${before.toISOString()}` : '';
    ctx.io.stdout(
      dryRun
        ? `${count} dead letters${scope} would be removed (dry run: nothing removed)\n`
        : `${count} dead letters${scope} removed\n`,
    );
    return EXIT_OK;
  },
};

export const OPS_COMMANDS = [
  pendingCommand,
  dlqListCommand,
  dlqShowCommand,
  dlqReplayCommand,
  dlqPurgeCommand,
];
