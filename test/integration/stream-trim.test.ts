/**
 * Trimming the event stream to what every consumer group has acknowledged (issue 10 #4), against
 * real Redis with real consumer groups: reads with XREADGROUP, acks with XACK.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createStreamMetrics, createStreamTrimmer, type StreamTrimmer } from '../../src/consumer/trim.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import type { Redis } from '../../src/shared/redis.js';
import { createTestEnv, type TestEnv } from '../support/context.js';

let env: TestEnv;
let redis: Redis;
let key: string;
let trimmer: StreamTrimmer;

beforeEach(() => {
  env = createTestEnv();
  redis = env.redis();
  key = env.config.streamKey;
  trimmer = createStreamTrimmer({ redis, streamKey: key });
});
afterEach(() => env.cleanup());

/** Adds `count` entries big enough that Redis spreads them over many internal nodes. */
async function addEntries(count: number): Promise<string[]> {
  const pipeline = redis.pipeline();
  for (let i = 0; i < count; i++) pipeline.xadd(key, '*', 'n', String(i), 'payload', 'x'.repeat(200));
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([, id]) => String(id));
}

async function createGroup(group: string): Promise<void> {
  await redis.xgroup('CREATE', key, group, '0', 'MKSTREAM');
}

/** Delivers the next `count` undelivered entries to `group`; returns their ids. */
async function read(group: string, count: number): Promise<string[]> {
  const reply = (await redis.xreadgroup('GROUP', group, 'c1', 'COUNT', count, 'STREAMS', key, '>')) as
    [string, [string, string[]][]][] | null;
  return (reply?.[0]?.[1] ?? []).map(([id]) => id);
}

async function ack(group: string, ids: string[]): Promise<void> {
  if (ids.length > 0) await redis.xack(key, group, ...ids);
}

async function remainingIds(): Promise<string[]> {
  return ((await redis.xrange(key, '-', '+')) as [string, string[]][]).map(([id]) => id);
}

describe('createStreamTrimmer', () => {
  it('never removes a pending or undelivered entry: two groups, one far behind, pending entries in the middle', async () => {
    const ids = await addEntries(1000);
    await createGroup('fast');
    await createGroup('slow');
    // fast: read everything, acked all but two entries in the middle (still pending).
    const fastRead = await read('fast', 1000);
    await ack('fast', [...fastRead.slice(0, 400), ...fastRead.slice(402)]);
    // slow: read and acked the first 600 only; the last 400 were never delivered to it.
    await ack('slow', await read('slow', 600));

    const first = await trimmer.trim();
    let left = await remainingIds();
    expect(left).toEqual(expect.arrayContaining(ids.slice(400)));
    expect(first.trimmed).toBeGreaterThan(0);
    expect(first.trimmed + first.length).toBe(1000);
    expect(first.length).toBe(left.length);

    // fast settles its two: now slow's undelivered entries are the bound.
    await ack('fast', fastRead.slice(400, 402));
    const second = await trimmer.trim();
    left = await remainingIds();
    expect(left).toEqual(expect.arrayContaining(ids.slice(600)));
    expect(second.trimmed).toBeGreaterThan(0);
    expect(left.length).toBe(second.length);

    // slow catches up: everything is acknowledged by both groups.
    await ack('slow', await read('slow', 1000));
    const last = await trimmer.trim();
    expect(last.length).toBe(0);
    expect(first.trimmed + second.trimmed + last.trimmed).toBe(1000);
  });

  it('removes what the only group acknowledged, keeps what it has not read', async () => {
    await addEntries(500);
    await createGroup('workers');
    await ack('workers', await read('workers', 500));

    expect(await trimmer.trim()).toEqual({ trimmed: 500, length: 0 });

    const unread = await addEntries(20);
    expect(await trimmer.trim()).toEqual({ trimmed: 0, length: 20 });
    expect(await remainingIds()).toEqual(unread);
  });

  it('trims a large acknowledged backlog in one call, over several bounded XTRIMs', async () => {
    // XTRIM ~ removes at most 100 nodes' worth (10,000 entries by default) per command.
    await addEntries(12_000);
    await createGroup('workers');
    await ack('workers', await read('workers', 12_000));

    expect(await trimmer.trim()).toEqual({ trimmed: 12_000, length: 0 });
  });

  it('keeps entries that were delivered but not acknowledged, whoever holds them', async () => {
    await addEntries(300);
    await createGroup('workers');
    const delivered = await read('workers', 300);
    await ack('workers', delivered.slice(200));

    const result = await trimmer.trim();

    expect(result).toEqual({ trimmed: 0, length: 300 });
  });

  it('removes nothing from a stream without a consumer group', async () => {
    await addEntries(300);
    expect(await trimmer.trim()).toEqual({ trimmed: 0, length: 300 });
    expect(await redis.xlen(key)).toBe(300);
  });

  it('handles a missing stream', async () => {
    expect(await trimmer.trim()).toEqual({ trimmed: 0, length: 0 });
    expect(await redis.exists(key)).toBe(0);
  });
});

describe('createStreamMetrics', () => {
  it('reports the cap, the length after the last trim and the entries trimmed', async () => {
    const registry = createMetricsRegistry({ processMetrics: false });
    const metrics = createStreamMetrics(registry, { streamMaxLen: 5000 });
    await addEntries(150);
    await createGroup('workers');
    await ack('workers', await read('workers', 150));
    metrics.observe(await trimmer.trim());
    await addEntries(7);
    metrics.observe(await trimmer.trim());

    const text = await registry.metrics();
    expect(text).toContain('market_ingest_stream_maxlen 5000');
    expect(text).toContain('market_ingest_stream_length 7');
    expect(text).toContain('market_ingest_stream_trimmed_total 150');
  });
});
