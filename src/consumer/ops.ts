/**
 * What ops use to see and fix what is stuck: a readable summary of the consumer group's pending
 * entries, and the dead-letter stream (list, replay into the event stream, purge).
 * Each function does what the equivalent raw Redis commands would (see README), in one place.
 */
import type { Config } from '../shared/config.js';
import { AppError } from '../shared/errors.js';
import type { Redis } from '../shared/redis.js';
import { fieldsToRecord } from '../shared/stream.js';
import { retryScheduleKey } from './group.js';

export type OpsConfig = Pick<Config, 'streamKey' | 'consumerGroup' | 'deadLetterStreamKey' | 'streamMaxLen'>;

export interface PendingSummary {
  stream: string;
  group: string;
  /** false when the group does not exist yet (no worker has started). */
  groupExists: boolean;
  streamLength: number;
  /** Entries not yet delivered to the group (Redis >= 7). */
  lag: number | null;
  pending: number;
  consumers: { name: string; pending: number; idleMs: number }[];
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
    .map((c) => ({ name: String(c.name), pending: Number(c.pending), idleMs: Number(c.idle) }));
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

export async function listDeadLetters(
  redis: Redis,
  config: OpsConfig,
  limit: number,
): Promise<DeadLetterEntry[]> {
  const entries = (await redis.xrange(config.deadLetterStreamKey, '-', '+', 'COUNT', limit)) as [
    string,
    string[],
  ][];
  return entries.map(([id, fields]) => ({ id, fields: fieldsToRecord(fields) }));
}

export interface ReplayResult {
  replayed: { deadId: string; newId: string }[];
  notFound: string[];
}

type RawEntry = [id: string, fields: string[]];

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
 * ERR_BACKLOG_FULL. `all` takes the dead letters present when it starts, not later ones.
 */
export async function replayDeadLetters(
  redis: Redis,
  config: OpsConfig,
  ids: readonly string[] | 'all',
  now: () => number = Date.now,
): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: [], notFound: [] };
  const selection =
    ids === 'all'
      ? await selectAll(redis, config.deadLetterStreamKey)
      : await selectByIds(redis, config.deadLetterStreamKey, ids, result);
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

/** Removes dead letters older than `before` (all of them without it). Returns how many. */
export async function purgeDeadLetters(redis: Redis, config: OpsConfig, before?: Date): Promise<number> {
  if (!before) {
    const count = await redis.xlen(config.deadLetterStreamKey);
    await redis.del(config.deadLetterStreamKey);
    return count;
  }
  // Stream ids start with the ms timestamp of the XADD, i.e. when the entry was dead-lettered.
  return Number(await redis.xtrim(config.deadLetterStreamKey, 'MINID', `${before.getTime()}-0`));
}

function pairsToRecord(pairs: unknown[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) record[String(pairs[i])] = pairs[i + 1];
  return record;
}
