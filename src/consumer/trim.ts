/**
 * Trims the event stream below what every consumer group has acknowledged, never further.
 *
 * XADD no longer trims (STREAM_MAXLEN is a hard cap at ingest, see src/ingest/append.ts), so the
 * stream only shrinks here. Per group, everything before its smallest pending id — or, with
 * nothing pending, everything up to its last-delivered id — has been acknowledged by it; the
 * entries after last-delivered have not been read yet and must stay. The stream is trimmed
 * with `XTRIM MINID ~` to the minimum of those bounds over all groups: approximate trimming
 * removes only whole internal nodes, so it may keep a few acknowledged entries but never removes
 * one at or after the bound. A stream without a group is not trimmed at all.
 *
 * One Lua script computes the bound and trims, so no read or ack can slip in between. Needs
 * Redis >= 6.2 (XTRIM MINID).
 */
import { Counter, Gauge, type Registry } from 'prom-client';

import type { Redis } from '../shared/redis.js';

/**
 * KEYS = [stream]. Returns {entries trimmed, XLEN after}. Stream ids are compared as decimal
 * strings (ms-seq), since Lua numbers lose precision beyond 2^53.
 */
const TRIM_SCRIPT = `
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return {0, 0} end

local function incr(digits)
  local tail = ''
  for i = #digits, 1, -1 do
    local d = tonumber(string.sub(digits, i, i))
    if d < 9 then return string.sub(digits, 1, i - 1) .. (d + 1) .. tail end
    tail = '0' .. tail
  end
  return '1' .. tail
end

local function after(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if seq == '18446744073709551615' then return incr(ms) .. '-0' end
  return ms .. '-' .. incr(seq)
end

local function less(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  if #ams ~= #bms then return #ams < #bms end
  if ams ~= bms then return ams < bms end
  if #aseq ~= #bseq then return #aseq < #bseq end
  return aseq < bseq
end

local safe = nil
for _, group in ipairs(redis.call('XINFO', 'GROUPS', key)) do
  local name, last
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] end
    if group[i] == 'last-delivered-id' then last = group[i + 1] end
  end
  local pending = redis.call('XPENDING', key, name)
  local bound
  if pending[1] > 0 then bound = pending[2] else bound = after(last) end
  if safe == nil or less(bound, safe) then safe = bound end
end

local trimmed = 0
if safe ~= nil then trimmed = redis.call('XTRIM', key, 'MINID', '~', safe) end
return {trimmed, redis.call('XLEN', key)}
`;

const COMMAND = 'marketIngestTrimAcknowledged';

/**
 * With `~`, one XTRIM removes at most 100 nodes' worth of entries (Redis' default LIMIT), which
 * keeps each script call short; a large backlog that was just acknowledged is trimmed over
 * several calls within one `trim()`, so ingest does not keep refusing events for it.
 */
const MAX_ROUNDS_PER_TRIM = 100;

type TrimCommand = (key: string) => Promise<[number, number]>;

export interface TrimResult {
  /** Entries removed by this call. */
  trimmed: number;
  /** XLEN of the stream afterwards. */
  length: number;
}

export interface StreamTrimmer {
  /** Removes what every consumer group has acknowledged. Rejects with the Redis client's error. */
  trim(): Promise<TrimResult>;
}

export interface StreamTrimmerOptions {
  redis: Redis;
  streamKey: string;
}

export function createStreamTrimmer(options: StreamTrimmerOptions): StreamTrimmer {
  const { redis, streamKey } = options;
  // defineCommand sends EVALSHA, and EVAL on a connection that has not loaded it (e.g. after a restart).
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: TRIM_SCRIPT });
  const run = (redis as unknown as Record<typeof COMMAND, TrimCommand>)[COMMAND].bind(redis);

  return {
    async trim() {
      let trimmed = 0;
      let length = 0;
      for (let round = 0; round < MAX_ROUNDS_PER_TRIM; round++) {
        const [removed, after] = await run(streamKey);
        trimmed += removed;
        length = after;
        if (removed === 0) break;
      }
      return { trimmed, length };
    },
  };
}

export interface StreamMetrics {
  /** Records one trim: the stream's length after it and how many entries it removed. */
  observe(result: TrimResult): void;
}

/**
 * The stream's length against its cap: alert well before `length` reaches `maxlen` (ingest then
 * answers 503). Registered on the registry the process passes in.
 */
export function createStreamMetrics(registry: Registry, options: { streamMaxLen: number }): StreamMetrics {
  const registers = [registry];
  const length = new Gauge({
    name: 'market_ingest_stream_length',
    help: 'Entries in the event stream (XLEN) after the last trim: not yet acknowledged by every consumer group, plus a few acknowledged ones trimming has not reached',
    registers,
  });
  const maxlen = new Gauge({
    name: 'market_ingest_stream_maxlen',
    help: 'STREAM_MAXLEN: at this stream length ingest answers 503 ERR_BACKLOG_FULL',
    registers,
  });
  const trimmed = new Counter({
    name: 'market_ingest_stream_trimmed_total',
    help: 'Entries trimmed from the event stream after every consumer group acknowledged them',
    registers,
  });
  maxlen.set(options.streamMaxLen);
  return {
    observe(result) {
      length.set(result.length);
      trimmed.inc(result.trimmed);
    },
  };
}
