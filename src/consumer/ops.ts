/**
 * What ops use to see and fix what is stuck: a readable summary of the consumer group's pending
 * entries, and the dead-letter stream (list and filter, show, replay into the event stream, purge).
 * Each function does what the equivalent raw Redis commands would (see README), in one place.
 */
import type { Config } from '../shared/config.js';
import { AppError } from '../shared/errors.js';
import type { Redis } from '../shared/redis.js';
import { fieldsToRecord } from '../shared/stream.js';
import { retryScheduleKey } from './group.js';

export type OpsConfig = Pick<
  Config,
  'streamKey' | 'consumerGroup' | 'deadLetterStreamKey' | 'streamMaxLen' | 'claimIdleMs'
>;

/**
 * How a consumer looks from its idle time: `stalled` holds entries past twice CLAIM_IDLE_MS (its
 * worker is likely dead; another worker reclaims them), `inactive` has been silent for an hour
 * with nothing pending (a stopped worker's name left in the group).
 */
export type ConsumerState = 'active' | 'stalled' | 'inactive';

/** Idle time after which a consumer with nothing pending counts as `inactive`. */
export const INACTIVE_CONSUMER_MS = 3_600_000;

export function consumerState(
  consumer: { pending: number; idleMs: number },
  claimIdleMs: number,
): ConsumerState {
  if (consumer.pending > 0 && consumer.idleMs > 2 * claimIdleMs) return 'stalled';
  if (consumer.pending === 0 && consumer.idleMs >= INACTIVE_CONSUMER_MS) return 'inactive';
  return 'active';
}

export interface PendingSummary {
  stream: string;
  group: string;
  /** false when the group does not exist yet (no worker has started). */
  groupExists: boolean;
  streamLength: number;
  /** Entries not yet delivered to the group (Redis >= 7). */
  lag: number | null;
  pending: number;
  consumers: { name: string; pending: number; idleMs: number; state: ConsumerState }[];
  oldestIdleMs: number | null;
  /** Entries examined for the per-shop and delivery breakdowns (at most `sample`). */
  sampled: number;
  topShops: { platform: string; shopId: string; pending: number }[];
  /** deliveries -> number of entries */
  deliveries: Record<string, number>;
  /** Entries acked after a failed try and waiting in the retry schedule for their next one. */
  retries: RetryScheduleSummary;
}

export interface RetryScheduleSummary {
  waiting: number;
  /** ms until the earliest is due (negative: overdue, no worker is promoting); null when none. */
  nextDueInMs: number | null;
  /** last error code -> entries, over the earliest `sample` waiting. */
  byLastError: Record<string, number>;
}

const DEAD_LETTER_FIELDS = new Set(['original_id', 'deliveries', 'error_code', 'error_message', 'dead_at']);

export async function pendingSummary(
  redis: Redis,
  config: OpsConfig,
  sample = 1000,
): Promise<PendingSummary> {
  const { streamKey, consumerGroup } = config;
  const streamLength = await redis.xlen(streamKey);
  const retries = await retryScheduleSummary(redis, streamKey, sample);
  const groups = (await redis.xinfo('GROUPS', streamKey).catch(() => [])) as unknown[][];
  const group = groups.map(pairsToRecord).find((g) => g.name === consumerGroup);
  const empty: PendingSummary = {
    stream: streamKey,
    group: consumerGroup,
    groupExists: false,
    streamLength,
    lag: null,
    pending: 0,
    consumers: [],
    oldestIdleMs: null,
    sampled: 0,
    topShops: [],
    deliveries: {},
    retries,
  };
  if (!group) return empty;

  const consumers = ((await redis.xinfo('CONSUMERS', streamKey, consumerGroup)) as unknown[][])
    .map(pairsToRecord)
    .map((c) => ({ name: String(c.name), pending: Number(c.pending), idleMs: Number(c.idle) }))
    .map((c) => ({ ...c, state: consumerState(c, config.claimIdleMs) }));
  const rows = (await redis.xpending(streamKey, consumerGroup, '-', '+', sample)) as [
    string,
    string,
    number,
    number,
  ][];

  const shops = new Map<string, { platform: string; shopId: string; pending: number }>();
  const deliveries: Record<string, number> = {};
  if (rows.length > 0) {
    const pipeline = redis.pipeline();
    for (const [id] of rows) pipeline.xrange(streamKey, id, id);
    const entries = (await pipeline.exec()) ?? [];
    rows.forEach(([, , , delivered], i) => {
      deliveries[String(delivered)] = (deliveries[String(delivered)] ?? 0) + 1;
      const found = entries[i]?.[1] as [string, string[]][] | undefined;
      const fields = found?.[0] ? fieldsToRecord(found[0][1]) : {};
      const platform = fields.platform ?? '?';
      const shopId = fields.shop_id ?? '(entry trimmed)';
      const key = `${platform}:${shopId}`;
      const shop = shops.get(key) ?? { platform, shopId, pending: 0 };
      shop.pending++;
      shops.set(key, shop);
    });
  }

  return {
    ...empty,
    groupExists: true,
    lag: group.lag === null || group.lag === undefined ? null : Number(group.lag),
    pending: Number(group.pending),
    consumers,
    oldestIdleMs: rows.length > 0 ? Math.max(...rows.map((r) => Number(r[2]))) : null,
    sampled: rows.length,
    topShops: [...shops.values()].sort((a, b) => b.pending - a.pending).slice(0, 10),
    deliveries,
  };
}

async function retryScheduleSummary(
  redis: Redis,
  streamKey: string,
  sample: number,
): Promise<RetryScheduleSummary> {
  const key = retryScheduleKey(streamKey);
  const [waiting, earliest] = await Promise.all([
    redis.zcard(key),
    redis.zrange(key, '0', String(sample - 1), 'WITHSCORES'),
  ]);
  const byLastError: Record<string, number> = {};
  for (let i = 0; i + 1 < earliest.length; i += 2) {
    let code = '?';
    try {
      const fields = (JSON.parse(earliest[i]!) as { f: string[] }).f;
      code = fieldsToRecord(fields).last_error_code || '?';
    } catch {
      // an unreadable member is still counted
    }
    byLastError[code] = (byLastError[code] ?? 0) + 1;
  }
  return {
    waiting,
    nextDueInMs: earliest.length >= 2 ? Number(earliest[1]) - Date.now() : null,
    byLastError,
  };
}

export interface DeadLetterEntry {
  id: string;
  fields: Record<string, string>;
}

type RawEntry = [id: string, fields: string[]];

/** What `dlq list|replay` narrow the dead letters to; every criterion given must hold. */
export interface DeadLetterFilter {
  /** `error_code`, exactly. */
  code?: string;
  platform?: string;
  shopId?: string;
  kind?: string;
  /** Dead-lettered at or after this time (the entry's `dead_at`). */
  since?: Date;
}

export function isEmptyFilter(filter: DeadLetterFilter): boolean {
  return Object.values(filter).every((value) => value === undefined);
}

export function matchesDeadLetter(fields: Record<string, string>, filter: DeadLetterFilter): boolean {
  return (
    (filter.code === undefined || fields.error_code === filter.code) &&
    (filter.platform === undefined || fields.platform === filter.platform) &&
    (filter.shopId === undefined || fields.shop_id === filter.shopId) &&
    (filter.kind === undefined || fields.kind === filter.kind) &&
    (filter.since === undefined || Number(fields.dead_at) >= filter.since.getTime())
  );
}

const SCAN_BATCH = 500;
/** Entries read by id per pipeline during a filtered replay. */
const READ_BATCH = 100;

/**
 * A stream's entries oldest first, up to `end`, a batch at a time. The cursor is exclusive and
 * moves on by id, so entries deleted meanwhile (replayed ones) neither stop nor repeat the scan.
 */
async function* scanForward(redis: Redis, key: string, end = '+'): AsyncIterable<RawEntry[]> {
  let start = '-';
  for (;;) {
    const entries = (await redis.xrange(key, start, end, 'COUNT', SCAN_BATCH)) as RawEntry[];
    if (entries.length === 0) return;
    yield entries;
    if (entries.length < SCAN_BATCH) return;
    start = `(${entries[entries.length - 1]![0]}`;
  }
}

/** The oldest `limit` dead letters, unfiltered. */
export async function listDeadLetters(
  redis: Redis,
  config: OpsConfig,
  limit: number,
): Promise<DeadLetterEntry[]> {
  const entries = (await redis.xrange(config.deadLetterStreamKey, '-', '+', 'COUNT', limit)) as RawEntry[];
  return entries.map(([id, fields]) => ({ id, fields: fieldsToRecord(fields) }));
}

export interface DeadLetterListing {
  /** The oldest `limit` entries that match. */
  entries: DeadLetterEntry[];
  /** Entries that match the filter (all of them without one). */
  matched: number;
  /** Entries in the dead-letter stream. */
  total: number;
}

/**
 * The first `limit` dead letters matching `filter`, with how many match and how many there are,
 * so a listing can say "50 of 55". A filter reads the whole dead-letter stream (Redis cannot
 * filter a stream); without one this is XLEN and one XRANGE.
 */
export async function findDeadLetters(
  redis: Redis,
  config: OpsConfig,
  limit: number,
  filter: DeadLetterFilter = {},
): Promise<DeadLetterListing> {
  const key = config.deadLetterStreamKey;
  if (isEmptyFilter(filter)) {
    // One transaction, so the count and the entries describe the same stream.
    const replies = await redis.multi().xlen(key).xrange(key, '-', '+', 'COUNT', limit).exec();
    const failed = replies?.find(([error]) => error);
    if (!replies || failed) throw failed?.[0] ?? new Error('dead-letter listing aborted');
    const total = Number(replies[0]![1]);
    const entries = (replies[1]![1] as RawEntry[]).map(([id, fields]) => ({
      id,
      fields: fieldsToRecord(fields),
    }));
    return { entries, matched: total, total };
  }
  const listing: DeadLetterListing = { entries: [], matched: 0, total: 0 };
  for await (const batch of scanForward(redis, key)) {
    for (const [id, flat] of batch) {
      listing.total += 1;
      const fields = fieldsToRecord(flat);
      if (!matchesDeadLetter(fields, filter)) continue;
      listing.matched += 1;
      if (listing.entries.length < limit) listing.entries.push({ id, fields });
    }
  }
  return listing;
}

/** One dead letter by its id in the dead-letter stream, or null. */
export async function getDeadLetter(
  redis: Redis,
  config: OpsConfig,
  id: string,
): Promise<DeadLetterEntry | null> {
  const [entry] = (await redis.xrange(config.deadLetterStreamKey, id, id)) as RawEntry[];
  return entry ? { id: entry[0], fields: fieldsToRecord(entry[1]) } : null;
}

export interface ReplayResult {
  replayed: { deadId: string; newId: string }[];
  notFound: string[];
}

/** Which dead letters to replay: these ids, all of them, or those matching a filter. */
export type ReplaySelector = readonly string[] | 'all' | { matching: DeadLetterFilter };

/** The dead letters a replay will take: how many, and the entries in batches. */
interface ReplaySelection {
  count: number;
  batches: AsyncIterable<RawEntry[]> | Iterable<RawEntry[]>;
}

/**
 * Re-adds dead letters to the event stream with `source=replay` and removes them from the
 * dead-letter stream, one MULTI per entry so an entry is never in neither.
 *
 * The event stream is never trimmed here (that would drop entries not yet processed): when the
 * replay would take it above STREAM_MAXLEN, nothing is replayed and this rejects with
 * ERR_BACKLOG_FULL. `all` and a filter take the dead letters present when it starts, not later
 * ones; an entry selected by a filter and gone before its turn (replayed by someone else) is
 * reported in `notFound`.
 */
export async function replayDeadLetters(
  redis: Redis,
  config: OpsConfig,
  which: ReplaySelector,
  now: () => number = Date.now,
): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: [], notFound: [] };
  const key = config.deadLetterStreamKey;
  const selection =
    which === 'all' || ('matching' in which && isEmptyFilter(which.matching))
      ? await selectAll(redis, key)
      : 'matching' in which
        ? await selectMatching(redis, key, which.matching, result)
        : await selectByIds(redis, key, which, result);
  await ensureRoom(redis, config, selection.count);
  for await (const entries of selection.batches) {
    for (const [deadId, flat] of entries) {
      const newId = await replayOne(redis, config, deadId, replayFields(flat, now));
      result.replayed.push({ deadId, newId });
    }
  }
  return result;
}

/** The original entry's fields, as a replay: without the dead-letter fields, source and time renewed. */
function replayFields(flat: string[], now: () => number): string[] {
  const fields: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i]!;
    if (DEAD_LETTER_FIELDS.has(name)) continue;
    const value = name === 'source' ? 'replay' : name === 'received_at' ? String(now()) : flat[i + 1]!;
    fields.push(name, value);
  }
  return fields;
}

async function replayOne(redis: Redis, config: OpsConfig, deadId: string, fields: string[]): Promise<string> {
  const replies = await redis
    .multi()
    .xadd(config.streamKey, '*', ...fields)
    .xdel(config.deadLetterStreamKey, deadId)
    .exec();
  const failed = replies?.find(([error]) => error);
  if (!replies || failed) throw failed?.[0] ?? new Error('replay transaction aborted');
  return String(replies[0]![1]);
}

/**
 * Checked once, before anything is replayed. Webhooks may take room meanwhile; the stream then
 * ends above the cap by at most this replay, and ingest answers 503 until the workers catch up.
 */
async function ensureRoom(redis: Redis, config: OpsConfig, count: number): Promise<void> {
  const length = await redis.xlen(config.streamKey);
  if (count === 0 || length + count <= config.streamMaxLen) return;
  throw new AppError(
    'ERR_BACKLOG_FULL',
    `replaying ${count} dead letters would put the event stream at ${length + count} entries, above ` +
      `STREAM_MAXLEN (${config.streamMaxLen}); nothing was replayed. Let the workers catch up ` +
      '(`market-ingest pending`) or replay fewer entries.',
    { details: { length, count, maxlen: config.streamMaxLen } },
  );
}

async function selectAll(redis: Redis, key: string): Promise<ReplaySelection> {
  // Up to the newest entry now: entries dead-lettered during the replay (perhaps replayed ones
  // failing again) are not chased, and the count checked against the cap holds.
  const [newest] = (await redis.xrevrange(key, '+', '-', 'COUNT', 1)) as RawEntry[];
  if (!newest) return { count: 0, batches: [] };
  const last = newest[0];
  return { count: await redis.xlen(key), batches: scanUpTo(redis, key, last) };
}

async function* scanUpTo(redis: Redis, key: string, last: string): AsyncIterable<RawEntry[]> {
  // Entries are deleted as they are replayed, so always read from the start.
  for (;;) {
    const entries = (await redis.xrange(key, '-', last, 'COUNT', 500)) as RawEntry[];
    if (entries.length === 0) return;
    yield entries;
  }
}

/** The ids matching now (one pass, ids only: payloads can be large), then their entries in batches. */
async function selectMatching(
  redis: Redis,
  key: string,
  filter: DeadLetterFilter,
  result: ReplayResult,
): Promise<ReplaySelection> {
  const ids: string[] = [];
  for await (const batch of scanForward(redis, key)) {
    for (const [id, flat] of batch) if (matchesDeadLetter(fieldsToRecord(flat), filter)) ids.push(id);
  }
  return { count: ids.length, batches: readByIds(redis, key, ids, result) };
}

async function* readByIds(
  redis: Redis,
  key: string,
  ids: readonly string[],
  result: ReplayResult,
): AsyncIterable<RawEntry[]> {
  for (let i = 0; i < ids.length; i += READ_BATCH) {
    const chunk = ids.slice(i, i + READ_BATCH);
    const pipeline = redis.pipeline();
    for (const id of chunk) pipeline.xrange(key, id, id);
    const replies = (await pipeline.exec()) ?? [];
    const found: RawEntry[] = [];
    chunk.forEach((id, j) => {
      const [error, entries] = replies[j] ?? [new Error('no reply'), undefined];
      if (error) throw error;
      const entry = (entries as RawEntry[])[0];
      if (entry) found.push(entry);
      else result.notFound.push(id);
    });
    yield found;
  }
}

async function selectByIds(
  redis: Redis,
  key: string,
  ids: readonly string[],
  result: ReplayResult,
): Promise<ReplaySelection> {
  const found: RawEntry[] = [];
  for (const id of ids) {
    const entries = (await redis.xrange(key, id, id)) as RawEntry[];
    if (entries.length === 0) result.notFound.push(id);
    else found.push(...entries);
  }
  return { count: found.length, batches: [found] };
}

/** What `dlq purge` removes: everything, or what was dead-lettered before a time. */
export type PurgeScope = 'all' | { before: Date };

/** Removes the dead letters in scope, or with `dryRun` only counts them. Returns how many. */
export async function purgeDeadLetters(
  redis: Redis,
  config: OpsConfig,
  scope: PurgeScope,
  options: { dryRun?: boolean } = {},
): Promise<number> {
  const key = config.deadLetterStreamKey;
  if (scope === 'all') {
    if (options.dryRun) return redis.xlen(key);
    // One transaction: the count is exactly what was deleted.
    const replies = await redis.multi().xlen(key).del(key).exec();
    const failed = replies?.find(([error]) => error);
    if (!replies || failed) throw failed?.[0] ?? new Error('purge transaction aborted');
    return Number(replies[0]![1]);
  }
  // Stream ids start with the ms timestamp of the XADD, i.e. when the entry was dead-lettered.
  const minId = `${scope.before.getTime()}-0`;
  if (!options.dryRun) return Number(await redis.xtrim(key, 'MINID', minId));
  let count = 0;
  for await (const batch of scanForward(redis, key, `(${minId}`)) count += batch.length;
  return count;
}

function pairsToRecord(pairs: unknown[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) record[String(pairs[i])] = pairs[i + 1];
  return record;
}
