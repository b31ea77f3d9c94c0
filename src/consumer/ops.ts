/**
 * What ops use to see and fix what is stuck: a readable summary of the consumer group's pending
 * entries, and the dead-letter stream (list, replay into the event stream, purge).
 * Each function does what the equivalent raw Redis commands would (see README), in one place.
 */
import type { Config } from '../shared/config.js';
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

/**
 * Re-adds dead letters to the event stream with `source=replay` and removes them from the
 * dead-letter stream, one MULTI per entry so an entry is never in neither.
 */
export async function replayDeadLetters(
  redis: Redis,
  config: OpsConfig,
  ids: readonly string[] | 'all',
  now: () => number = Date.now,
): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: [], notFound: [] };
  const batches: AsyncIterable<[string, string[]][]> =
    ids === 'all'
      ? scanAll(redis, config.deadLetterStreamKey)
      : byIds(redis, config.deadLetterStreamKey, ids, result);
  for await (const entries of batches) {
    for (const [deadId, flat] of entries) {
      const fields: string[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const name = flat[i]!;
        if (DEAD_LETTER_FIELDS.has(name)) continue;
        const value = name === 'source' ? 'replay' : name === 'received_at' ? String(now()) : flat[i + 1]!;
        fields.push(name, value);
      }
      const replies = await redis
        .multi()
        .xadd(config.streamKey, 'MAXLEN', '~', config.streamMaxLen, '*', ...fields)
        .xdel(config.deadLetterStreamKey, deadId)
        .exec();
      const failed = replies?.find(([error]) => error);
      if (!replies || failed) throw failed?.[0] ?? new Error('replay transaction aborted');
      result.replayed.push({ deadId, newId: String(replies[0]![1]) });
    }
  }
  return result;
}

async function* scanAll(redis: Redis, key: string): AsyncIterable<[string, string[]][]> {
  // Entries are deleted as they are replayed, so always read from the start.
  for (;;) {
    const entries = (await redis.xrange(key, '-', '+', 'COUNT', 500)) as [string, string[]][];
    if (entries.length === 0) return;
    yield entries;
  }
}

async function* byIds(
  redis: Redis,
  key: string,
  ids: readonly string[],
  result: ReplayResult,
): AsyncIterable<[string, string[]][]> {
  for (const id of ids) {
    const entries = (await redis.xrange(key, id, id)) as [string, string[]][];
    if (entries.length === 0) result.notFound.push(id);
    else yield entries;
  }
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
