/**
 * The consumer group's Redis side: every step the worker takes on the stream, one round trip
 * each. Steps that read and then write run as Lua scripts, so no other worker can interleave:
 *
 * - `readNew`          XREADGROUP `>` on the dedicated blocking connection;
 * - `claimStalled`     XAUTOCLAIM entries idle past CLAIM_IDLE_MS, with each one's exact delivery
 *                      count, and the ids Redis found deleted from the stream (acked here);
 * - `keepClaimed`      XCLAIM … JUSTID of in-flight entries still owned by this consumer: resets
 *                      their idle time without counting a delivery (the lock renewal);
 * - `settle`           the verdicts of a batch: XACK, XACK + schedule a retry, XACK + dead letter —
 *                      non-ack verdicts only for entries this consumer still owns;
 * - `promoteDueRetries` moves retries whose time has come from the schedule back into the stream.
 *
 * The retry schedule is a sorted set beside the stream (`<STREAM_KEY>:retry`), scored by due
 * time; a member is the entry's fields as JSON. An entry waiting there is no longer pending, so
 * an entry in the PEL is always either in flight or stalled — its delivery count minus one is
 * exactly how often a worker died or hung on it.
 */
import type { Redis } from '../shared/redis.js';

export interface BatchEntry {
  /** Stream entry id. */
  id: string;
  fields: readonly string[];
  /** Deliveries of this copy, this one included (1 + times it was reclaimed from a stalled worker). */
  deliveries: number;
  /** Processed before within this delivery: the worker held it through an outage and tries again. */
  heldBefore?: boolean;
}

export type Settlement =
  | { id: string; type: 'ack' }
  | { id: string; type: 'retry'; dueAt: number; fields: readonly string[] }
  | { id: string; type: 'dead'; fields: readonly string[] };

export interface ClaimResult {
  /** XAUTOCLAIM cursor; '0-0' when the pending list was scanned to its end. */
  next: string;
  entries: BatchEntry[];
  /** Pending ids whose entries were deleted from the stream (trimmed or XDEL'd); already acked. */
  deleted: string[];
}

export interface RetrySchedule {
  size: number;
  /** unix ms of the earliest due retry, null when none. */
  nextDueAt: number | null;
}

export interface ConsumerGroup {
  ensure(): Promise<void>;
  readNew(count: number, blockMs: number): Promise<BatchEntry[]>;
  claimStalled(minIdleMs: number, cursor: string, count: number): Promise<ClaimResult>;
  /** Renews the given in-flight ids; answers those still owned by this consumer. */
  keepClaimed(ids: readonly string[]): Promise<Set<string>>;
  /** Per settlement, in order: true when applied, false when another consumer owns the entry now. */
  settle(settlements: readonly Settlement[]): Promise<boolean[]>;
  promoteDueRetries(nowMs: number, limit: number): Promise<number>;
  retrySchedule(): Promise<RetrySchedule>;
  /** XINFO GROUPS for this group; lag is null when Redis cannot compute it (e.g. after deletions). */
  lagAndPending(): Promise<{ lag: number | null; pending: number }>;
  /** Removes this consumer from the group if it holds no pending entry; true when removed. */
  leaveIfIdle(): Promise<boolean>;
}

export interface ConsumerGroupOptions {
  /** Commands; never used for a blocking read. */
  redis: Redis;
  /** XREADGROUP BLOCK only: a blocked connection must never be shared. */
  blockingRedis: Redis;
  streamKey: string;
  deadLetterStreamKey: string;
  group: string;
  consumer: string;
}

export function retryScheduleKey(streamKey: string): string {
  return `${streamKey}:retry`;
}

// KEYS: stream. ARGV: group, consumer, min idle, cursor, count.
// Redis 7 removes deleted entries from the PEL and lists them third; Redis 6.2 returns them
// without fields and keeps them pending, so they are acked here.
const CLAIM_STALLED = `
local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local claimed, deleted = {}, {}
for _, entry in ipairs(reply[2]) do
  local id = entry[1]
  if entry[2] then
    local row = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)[1]
    claimed[#claimed + 1] = {id, entry[2], row and row[4] or 1}
  else
    redis.call('XACK', KEYS[1], ARGV[1], id)
    deleted[#deleted + 1] = id
  end
end
for _, id in ipairs(reply[3] or {}) do deleted[#deleted + 1] = id end
return {reply[1], claimed, deleted}
`;

// KEYS: stream. ARGV: group, consumer, ids… Claims with JUSTID: idle reset, count unchanged.
const KEEP_CLAIMED = `
local kept = {}
for i = 3, #ARGV do
  local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)[1]
  if row and row[2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept[#kept + 1] = ARGV[i]
  end
end
return kept
`;

// KEYS: stream, dead-letter stream, retry schedule. ARGV: group, consumer, then per settlement
// id, type (a|r|d), due (r), payload (r: schedule member; d: fields as a JSON array).
const SETTLE = `
local results = {}
for i = 3, #ARGV, 4 do
  local id, kind = ARGV[i], ARGV[i + 1]
  local owned = true
  if kind ~= 'a' then
    local row = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)[1]
    owned = row ~= nil and row[2] == ARGV[2]
  end
  if owned then
    if kind == 'r' then
      redis.call('ZADD', KEYS[3], ARGV[i + 2], ARGV[i + 3])
    elseif kind == 'd' then
      redis.call('XADD', KEYS[2], '*', unpack(cjson.decode(ARGV[i + 3])))
    end
    redis.call('XACK', KEYS[1], ARGV[1], id)
    results[#results + 1] = 1
  else
    results[#results + 1] = 0
  end
end
return results
`;

// KEYS: stream. ARGV: group, consumer. Deleting a consumer drops its pending entries from the
// group, so it is deleted only when it has none (checked and done atomically).
const LEAVE_IF_IDLE = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

// KEYS: retry schedule, stream. ARGV: now, limit.
const PROMOTE_DUE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', unpack(cjson.decode(member).f))
  redis.call('ZREM', KEYS[1], member)
end
return #due
`;

type Script = (...args: (string | number)[]) => Promise<unknown>;

const SCRIPTS = {
  marketIngestClaimStalled: { lua: CLAIM_STALLED, numberOfKeys: 1 },
  marketIngestKeepClaimed: { lua: KEEP_CLAIMED, numberOfKeys: 1 },
  marketIngestSettle: { lua: SETTLE, numberOfKeys: 3 },
  marketIngestPromoteDue: { lua: PROMOTE_DUE, numberOfKeys: 2 },
  marketIngestLeaveIfIdle: { lua: LEAVE_IF_IDLE, numberOfKeys: 1 },
} as const;

function script(redis: Redis, name: keyof typeof SCRIPTS): Script {
  // defineCommand sends EVALSHA, and EVAL on a connection that has not loaded it yet.
  if (!(name in redis)) redis.defineCommand(name, SCRIPTS[name]);
  const command = (redis as unknown as Record<string, Script>)[name]!;
  return command.bind(redis);
}

export function createConsumerGroup(options: ConsumerGroupOptions): ConsumerGroup {
  const { redis, streamKey, group, consumer } = options;
  const retryKey = retryScheduleKey(streamKey);
  const claimStalled = script(redis, 'marketIngestClaimStalled');
  const keepClaimed = script(redis, 'marketIngestKeepClaimed');
  const settle = script(redis, 'marketIngestSettle');
  const promoteDue = script(redis, 'marketIngestPromoteDue');
  const leaveIfIdle = script(redis, 'marketIngestLeaveIfIdle');

  return {
    ensure: () => ensureConsumerGroup(redis, streamKey, group),

    async readNew(count, blockMs) {
      const reply = await options.blockingRedis.xreadgroup(
        'GROUP',
        group,
        consumer,
        'COUNT',
        count,
        'BLOCK',
        blockMs,
        'STREAMS',
        streamKey,
        '>',
      );
      const entries = reply?.[0]?.[1] ?? [];
      return entries.flatMap(([id, fields]) => (fields ? [{ id, fields, deliveries: 1 }] : []));
    },

    async claimStalled(minIdleMs, cursor, count) {
      const [next, claimed, deleted] = (await claimStalled(
        streamKey,
        group,
        consumer,
        minIdleMs,
        cursor,
        count,
      )) as [string, [string, string[], number][], string[]];
      return {
        next,
        entries: claimed.map(([id, fields, deliveries]) => ({ id, fields, deliveries: Number(deliveries) })),
        deleted,
      };
    },

    async keepClaimed(ids) {
      if (ids.length === 0) return new Set();
      return new Set((await keepClaimed(streamKey, group, consumer, ...ids)) as string[]);
    },

    async settle(settlements) {
      if (settlements.length === 0) return [];
      const args: (string | number)[] = [];
      for (const s of settlements) {
        if (s.type === 'ack') args.push(s.id, 'a', 0, '');
        else if (s.type === 'retry') args.push(s.id, 'r', s.dueAt, JSON.stringify({ id: s.id, f: s.fields }));
        else args.push(s.id, 'd', 0, JSON.stringify(s.fields));
      }
      const results = (await settle(
        streamKey,
        options.deadLetterStreamKey,
        retryKey,
        group,
        consumer,
        ...args,
      )) as number[];
      return results.map((applied) => applied === 1);
    },

    async promoteDueRetries(nowMs, limit) {
      return Number(await promoteDue(retryKey, streamKey, nowMs, limit));
    },

    async retrySchedule() {
      const [size, first] = await Promise.all([
        redis.zcard(retryKey),
        redis.zrange(retryKey, '0', '0', 'WITHSCORES'),
      ]);
      return { size, nextDueAt: first.length === 2 ? Number(first[1]) : null };
    },

    async leaveIfIdle() {
      return Number(await leaveIfIdle(streamKey, group, consumer)) === 1;
    },

    async lagAndPending() {
      const groups = (await redis.xinfo('GROUPS', streamKey)) as unknown[][];
      for (const info of groups) {
        const record: Record<string, unknown> = {};
        for (let i = 0; i + 1 < info.length; i += 2) record[String(info[i])] = info[i + 1];
        if (record.name !== group) continue;
        const lag = record.lag === null || record.lag === undefined ? null : Number(record.lag) || 0;
        return { lag, pending: Number(record.pending) || 0 };
      }
      return { lag: null, pending: 0 };
    },
  };
}

/** Creates the group reading the whole stream; an existing group (BUSYGROUP) is fine. */
export async function ensureConsumerGroup(redis: Redis, streamKey: string, group: string): Promise<void> {
  try {
    // From the start of the stream, not `$`: events accepted before the first worker ever ran
    // must be processed too. Re-reading is safe: the version guard makes writes idempotent.
    await redis.xgroup('CREATE', streamKey, group, '0', 'MKSTREAM');
  } catch (error) {
    if (!(error instanceof Error && error.message.includes('BUSYGROUP'))) throw error;
  }
}
