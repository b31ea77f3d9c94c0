/**
 * Dedupe and append in one atomic Redis step (a Lua script, so no other client can interleave).
 * For each event:
 *
 *   1. its id was seen within DEDUPE_TTL_SECONDS  -> nothing written, "duplicate";
 *   2. the stream already holds STREAM_MAXLEN entries -> nothing written, "full";
 *   3. otherwise XADD (no trimming)                -> the entry;
 *   4. only then SET the dedupe key with EX.
 *
 * STREAM_MAXLEN is a hard cap, not a trim length: trimming here would drop entries no worker has
 * processed yet. The stream is trimmed only below what every consumer group has acknowledged
 * (src/consumer/trim.ts), so a full stream means a backlog, and a refused event is answered 503
 * for the marketplace to retry. A refused event is not marked seen, so its retry is accepted.
 *
 * The order matters: Lua scripts are not rolled back, writes before an error persist. Marking the
 * event as seen last means a failed XADD never leaves it marked, so the marketplace's retry is
 * accepted instead of being answered "duplicate" for an event that was never stored.
 *
 * Appends requested in the same event-loop turn go to Redis as one script call (a batch): one
 * command, one write, one reply for many webhooks. Measured under load, one Redis command per
 * webhook had been the largest single cost per request (BENCHMARKS.md). Each event keeps its own dedupe check and its own answer; two deliveries of one
 * event in one batch store it once. If the script fails part-way, the events before the failure
 * are stored and marked; every caller gets the error (503), and the retries of those stored ones
 * are answered "duplicate" — never lost, never doubled.
 */
import type { Redis } from '../shared/redis.js';
import { encodeStreamEntry, type Platform, type StreamEvent } from '../shared/stream.js';

/**
 * KEYS = [stream, dedupe key of event 1, …]; ARGV = [maxlen, ttl, n, the n field names, then the
 * n values of event 1, of event 2, …]. The names are the same for every entry (CONTRACT §4), so
 * they are sent once per batch: half the arguments, and argument handling was the larger part
 * of the client's cost per event. Replies, per event: the new entry's id, nil (duplicate) or 0
 * (the stream is full). XLEN is read once per batch and counted up, since nothing interleaves.
 */
const APPEND_SCRIPT = `
local maxlen = tonumber(ARGV[1])
local ttl = ARGV[2]
local n = tonumber(ARGV[3])
local length = redis.call('XLEN', KEYS[1])
local entry = {}
local results = {}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    results[i - 1] = false
  elseif length >= maxlen then
    results[i - 1] = 0
  else
    local values = 3 + n + (i - 2) * n
    for f = 1, n do
      entry[2 * f - 1] = ARGV[3 + f]
      entry[2 * f] = ARGV[values + f]
    end
    local id = redis.call('XADD', KEYS[1], '*', unpack(entry, 1, 2 * n))
    length = length + 1
    redis.call('SET', KEYS[i], id, 'EX', ttl)
    results[i - 1] = id
  end
end
return results
`;

const COMMAND = 'marketIngestAppend';

/** The entry's field names, in encodeStreamEntry's order (name, value, name, value, …). */
const FIELD_NAMES = encodeStreamEntry({
  platform: 'tiktok',
  shop_id: '',
  kind: 'order',
  entity_id: '',
  version: 0,
  event_id: '',
  event_type: '',
  source: 'webhook',
  received_at: 0,
  payload: '',
}).filter((_value, i) => i % 2 === 0);

/** Bounds one script call: Redis runs it without interleaving, and large bodies add up. */
const MAX_BATCH_EVENTS = 64;
const MAX_BATCH_PAYLOAD_CHARS = 1 << 20;

/** Per event: the entry id, null for a duplicate, 0 when the stream is full. */
type ScriptReply = (string | null | 0)[];

type AppendCommand = (
  numberOfKeys: number,
  ...keysThenArgs: (string | number | readonly string[])[]
) => Promise<ScriptReply>;

/** `full`: the stream holds STREAM_MAXLEN entries; nothing was written or marked. */
export type AppendResult = { status: 'stored'; id: string } | { status: 'duplicate' } | { status: 'full' };

export interface EventAppender {
  /**
   * Rejects with the Redis client's error when Redis is unreachable or refuses the write, or with
   * AppendTimeout when Redis has not answered within `timeoutMs`.
   */
  append(event: StreamEvent, timeoutMs: number): Promise<AppendResult>;
}

/**
 * Redis did not answer in time. The write may still land afterwards; it was answered 503, and
 * the marketplace's retry then finds it and is answered "duplicate": late, never lost.
 */
export class AppendTimeout extends Error {
  override name = 'AppendTimeout';
}

export interface EventAppenderOptions {
  redis: Redis;
  streamKey: string;
  /** Events are refused (`full`) while the stream holds this many entries. */
  streamMaxLen: number;
  dedupeTtlSeconds: number;
}

/** Under the stream key, so everything one stream owns shares its prefix (and its cleanup). */
export function dedupeKey(streamKey: string, platform: Platform, eventId: string): string {
  return `${streamKey}:dedupe:${platform}:${eventId}`;
}

interface Pending {
  keys: string[];
  values: string[];
  settle: { resolve: (result: AppendResult) => void; reject: (error: unknown) => void }[];
  payloadChars: number;
  /** performance.now() by which the most urgent member must have its answer. */
  deadline: number;
  settled: boolean;
}

const DUPLICATE: AppendResult = Object.freeze({ status: 'duplicate' });
const FULL: AppendResult = Object.freeze({ status: 'full' });

function toResult(reply: string | null | 0 | undefined): AppendResult {
  if (typeof reply === 'string') return { status: 'stored', id: reply };
  return reply === 0 ? FULL : DUPLICATE;
}

export function createEventAppender(options: EventAppenderOptions): EventAppender {
  const { redis, streamKey, streamMaxLen, dedupeTtlSeconds } = options;
  // defineCommand sends EVALSHA, and EVAL on a connection that has not loaded it (e.g. after a restart).
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { lua: APPEND_SCRIPT });
  const run = (redis as unknown as Record<typeof COMMAND, AppendCommand>)[COMMAND].bind(redis);

  let open: Pending | undefined;

  function settle(batch: Pending, outcome: ScriptReply | Error): void {
    if (batch.settled) return;
    batch.settled = true;
    if (outcome instanceof Error) {
      for (const { reject } of batch.settle) reject(outcome);
      return;
    }
    for (let i = 0; i < batch.settle.length; i++) batch.settle[i]!.resolve(toResult(outcome[i]));
  }

  function send(batch: Pending): void {
    if (open === batch) open = undefined;
    // One timer per batch rather than per request: when the most urgent member's time is up the
    // whole batch is answered 503 (they were sent together; a stalled Redis stalls them all).
    const timer = setTimeout(
      () => settle(batch, new AppendTimeout('no answer from Redis in time')),
      Math.max(0, batch.deadline - performance.now()),
    );
    // ioredis flattens array arguments itself; spreading them here would copy them once more.
    run(
      batch.settle.length + 1,
      streamKey,
      batch.keys,
      streamMaxLen,
      dedupeTtlSeconds,
      FIELD_NAMES.length,
      FIELD_NAMES,
      batch.values,
    ).then(
      (ids) => {
        clearTimeout(timer);
        settle(batch, ids);
      },
      (error: unknown) => {
        clearTimeout(timer);
        settle(batch, error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  return {
    append(event, timeoutMs) {
      const fields = encodeStreamEntry(event);
      // The script reads FIELD_NAMES.length values per event; another shape would misalign the batch.
      if (fields.length !== 2 * FIELD_NAMES.length)
        return Promise.reject(new Error('stream entry fields differ from FIELD_NAMES'));
      return new Promise<AppendResult>((resolve, reject) => {
        const deadline = performance.now() + timeoutMs;
        let batch = open;
        if (batch === undefined) {
          batch = { keys: [], values: [], settle: [], payloadChars: 0, deadline, settled: false };
          open = batch;
          // After this turn's other I/O callbacks, so a burst shares one script call.
          setImmediate(send, batch);
        }
        batch.keys.push(dedupeKey(streamKey, event.platform, event.event_id));
        for (let i = 1; i < fields.length; i += 2) batch.values.push(fields[i]!);
        batch.settle.push({ resolve, reject });
        batch.payloadChars += event.payload.length;
        if (deadline < batch.deadline) batch.deadline = deadline;
        if (batch.settle.length >= MAX_BATCH_EVENTS || batch.payloadChars >= MAX_BATCH_PAYLOAD_CHARS) {
          open = undefined; // later appends start a new batch; this one still goes at setImmediate
        }
      });
    },
  };
}
