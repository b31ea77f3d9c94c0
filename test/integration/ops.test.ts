import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { formatPending } from '../../src/consumer/ops-commands.js';
import {
  consumerState,
  findDeadLetters,
  INACTIVE_CONSUMER_MS,
  listDeadLetters,
  pendingSummary,
  purgeDeadLetters,
  replayDeadLetters,
} from '../../src/consumer/ops.js';
import { ensureConsumerGroup } from '../../src/consumer/worker.js';
import type { Redis } from '../../src/shared/redis.js';
import {
  decodeStreamEntry,
  encodeDeadLetterInfo,
  encodeStreamEntry,
  type StreamEvent,
} from '../../src/shared/stream.js';
import { createTestEnv, type TestEnv } from '../support/context.js';

let env: TestEnv;
let redis: Redis;

function event(shopId: string, entityId: string): StreamEvent {
  return {
    platform: 'tiktok',
    shop_id: shopId,
    kind: 'order',
    entity_id: entityId,
    version: 100,
    event_id: `evt-${entityId}`,
    event_type: '1',
    source: 'webhook',
    received_at: 1_700_000_000_000,
    payload: '{"type":1}',
  };
}

beforeEach(() => {
  env = createTestEnv();
  redis = env.redis();
});
afterEach(() => env.cleanup());

describe('pending summary', () => {
  it('says when the group does not exist yet', async () => {
    await redis.xadd(env.config.streamKey, '*', ...encodeStreamEntry(event('s1', 'o1')));
    const summary = await pendingSummary(redis, env.config);
    expect(summary).toMatchObject({ groupExists: false, streamLength: 1, pending: 0 });
    expect(formatPending(summary)).toContain('does not exist yet');
  });

  it('counts pending entries per consumer, shop and delivery count', async () => {
    const { streamKey, consumerGroup } = env.config;
    await ensureConsumerGroup(redis, streamKey, consumerGroup);
    for (const [shop, order] of [
      ['s1', 'o1'],
      ['s1', 'o2'],
      ['s2', 'o3'],
      ['s1', 'o4'],
    ]) {
      await redis.xadd(streamKey, '*', ...encodeStreamEntry(event(shop!, order!)));
    }
    await redis.xreadgroup('GROUP', consumerGroup, 'worker-a', 'COUNT', 3, 'STREAMS', streamKey, '>');
    // Deliver the first entry a second time through a claim by another consumer.
    const [first] = (await redis.xrange(streamKey, '-', '+', 'COUNT', 1)) as [string, string[]][];
    await redis.xclaim(streamKey, consumerGroup, 'worker-b', 0, first![0]);

    const summary = await pendingSummary(redis, env.config);
    expect(summary).toMatchObject({ groupExists: true, streamLength: 4, pending: 3, lag: 1, sampled: 3 });
    expect(summary.consumers.map((c) => [c.name, c.pending]).sort()).toEqual([
      ['worker-a', 2],
      ['worker-b', 1],
    ]);
    expect(summary.topShops[0]).toEqual({ platform: 'tiktok', shopId: 's1', pending: 2 });
    expect(summary.deliveries).toEqual({ '1': 2, '2': 1 });
    const text = formatPending(summary);
    expect(text).toContain('pending: 3');
    expect(text).toContain('tiktok:s1  2');
  });
});

describe('pending: consumers idle for long', () => {
  it('marks a consumer holding entries past twice CLAIM_IDLE_MS as stalled', async () => {
    const { streamKey, consumerGroup } = env.config;
    await ensureConsumerGroup(redis, streamKey, consumerGroup);
    await redis.xadd(streamKey, '*', ...encodeStreamEntry(event('s1', 'o1')));
    await redis.xreadgroup('GROUP', consumerGroup, 'gone-worker', 'COUNT', 1, 'STREAMS', streamKey, '>');
    const config = { ...env.config, claimIdleMs: 20 };

    let summary = await pendingSummary(redis, config);
    while (summary.consumers[0]!.idleMs <= 40) {
      await new Promise((r) => setTimeout(r, 10));
      summary = await pendingSummary(redis, config);
    }

    expect(summary.consumers).toEqual([expect.objectContaining({ name: 'gone-worker', state: 'stalled' })]);
    expect(formatPending(summary)).toMatch(
      /gone-worker {2}pending 1 .*\(stalled\? its entries will be reclaimed\)/,
    );
    // Within CLAIM_IDLE_MS the same consumer is just working.
    expect((await pendingSummary(redis, env.config)).consumers[0]!.state).toBe('active');
  });

  it('calls a consumer silent for an hour with nothing pending inactive', () => {
    const claimIdleMs = 60_000;
    expect(consumerState({ pending: 0, idleMs: INACTIVE_CONSUMER_MS }, claimIdleMs)).toBe('inactive');
    expect(consumerState({ pending: 0, idleMs: INACTIVE_CONSUMER_MS - 1 }, claimIdleMs)).toBe('active');
    expect(consumerState({ pending: 2, idleMs: 2 * claimIdleMs + 1 }, claimIdleMs)).toBe('stalled');
    expect(consumerState({ pending: 2, idleMs: 2 * claimIdleMs }, claimIdleMs)).toBe('active');
    const text = formatPending({
      stream: 's',
      group: 'g',
      groupExists: true,
      streamLength: 0,
      lag: 0,
      pending: 0,
      consumers: [{ name: 'old-1', pending: 0, idleMs: 3 * INACTIVE_CONSUMER_MS, state: 'inactive' }],
      oldestIdleMs: null,
      sampled: 0,
      topShops: [],
      deliveries: {},
      retries: { waiting: 0, nextDueInMs: null, byLastError: {} },
    });
    expect(text).toContain('old-1  pending 0  idle 3.0h  (inactive)');
  });
});

describe('dead-letter stream', () => {
  async function addDead(entityId: string): Promise<string> {
    return (await redis.xadd(
      env.config.deadLetterStreamKey,
      '*',
      ...encodeStreamEntry(event('s1', entityId)),
      ...encodeDeadLetterInfo({
        original_id: '1-0',
        deliveries: 5,
        error_code: 'ERR_MARKETPLACE_TRANSIENT',
        error_message: 'HTTP 503',
        dead_at: Date.now(),
      }),
    ))!;
  }

  it('lists dead letters oldest first with their error', async () => {
    await addDead('o1');
    await addDead('o2');
    const listed = await listDeadLetters(redis, env.config, 10);
    expect(listed.map((e) => e.fields.entity_id)).toEqual(['o1', 'o2']);
    expect(listed[0]?.fields).toMatchObject({ error_code: 'ERR_MARKETPLACE_TRANSIENT', deliveries: '5' });
  });

  it('finds dead letters by code, platform, shop, kind and dead_at, saying how many match of how many', async () => {
    const add = (shopId: string, code: string, deadAt: number) =>
      redis.xadd(
        env.config.deadLetterStreamKey,
        '*',
        ...encodeStreamEntry(event(shopId, `o-${shopId}-${deadAt}`)),
        ...encodeDeadLetterInfo({
          original_id: '1-0',
          deliveries: 1,
          error_code: code,
          error_message: 'x',
          dead_at: deadAt,
        }),
      );
    await add('s1', 'ERR_SHOP_UNKNOWN', 1_000);
    await add('s2', 'ERR_SHOP_UNKNOWN', 2_000);
    await add('s1', 'ERR_MAPPING', 3_000);
    await add('s1', 'ERR_SHOP_UNKNOWN', 4_000);

    const byCode = await findDeadLetters(redis, env.config, 1, { code: 'ERR_SHOP_UNKNOWN' });
    expect(byCode).toMatchObject({ matched: 3, total: 4 });
    expect(byCode.entries.map((e) => e.fields.dead_at)).toEqual(['1000']);
    const narrow = await findDeadLetters(redis, env.config, 10, {
      code: 'ERR_SHOP_UNKNOWN',
      platform: 'tiktok',
      shopId: 's1',
      kind: 'order',
      since: new Date(2_000),
    });
    expect(narrow.entries.map((e) => e.fields.dead_at)).toEqual(['4000']);
    expect(await findDeadLetters(redis, env.config, 10, { kind: 'return' })).toMatchObject({ matched: 0 });
    expect(await findDeadLetters(redis, env.config, 2)).toMatchObject({ matched: 4, total: 4 });

    const replayed = await replayDeadLetters(redis, env.config, {
      matching: { shopId: 's1', since: new Date(2_000) },
    });
    expect(replayed.replayed).toHaveLength(2);
    expect((await listDeadLetters(redis, env.config, 10)).map((e) => e.fields.dead_at)).toEqual([
      '1000',
      '2000',
    ]);
  });

  it('replays chosen entries back into the event stream as source=replay and removes them', async () => {
    const a = await addDead('o1');
    await addDead('o2');
    const result = await replayDeadLetters(redis, env.config, [a, '999-0'], () => 1_800_000_000_000);
    expect(result.replayed).toHaveLength(1);
    expect(result.notFound).toEqual(['999-0']);
    const [entry] = (await redis.xrange(env.config.streamKey, '-', '+')) as [string, string[]][];
    const replayed = decodeStreamEntry(entry![1]);
    expect(replayed).toMatchObject({ entity_id: 'o1', source: 'replay', received_at: 1_800_000_000_000 });
    expect(entry![1]).not.toContain('error_code');
    expect((await listDeadLetters(redis, env.config, 10)).map((e) => e.fields.entity_id)).toEqual(['o2']);
  });

  it('replays everything with --all', async () => {
    for (let i = 0; i < 7; i++) await addDead(`o${i}`);
    const result = await replayDeadLetters(redis, env.config, 'all');
    expect(result.replayed).toHaveLength(7);
    expect(await redis.xlen(env.config.streamKey)).toBe(7);
    expect(await redis.xlen(env.config.deadLetterStreamKey)).toBe(0);
  });

  it('issue 10 #4: dlq replay refuses to push the event stream past STREAM_MAXLEN instead of trimming unprocessed entries', async () => {
    const capped = createTestEnv({ STREAM_MAXLEN: '100' });
    env.defer(() => capped.cleanup());
    const { config } = capped;
    // 100 unprocessed entries with webhook-sized bodies, 60 dead letters waiting for a replay.
    const backlog: string[] = [];
    for (let i = 0; i < 100; i++) {
      const entry = { ...event('s1', `b${i}`), payload: JSON.stringify({ padding: 'x'.repeat(300) }) };
      backlog.push((await redis.xadd(config.streamKey, '*', ...encodeStreamEntry(entry)))!);
    }
    for (let i = 0; i < 60; i++)
      await redis.xadd(config.deadLetterStreamKey, '*', ...encodeStreamEntry(event('s1', `dead${i}`)));
    const streamIds = async () =>
      ((await redis.xrange(config.streamKey, '-', '+')) as [string, string[]][]).map(([id]) => id);

    const refused = await replayDeadLetters(redis, config, 'all').catch((error: unknown) => error);

    expect(await streamIds()).toEqual(backlog);
    expect(refused).toMatchObject({ code: 'ERR_BACKLOG_FULL', retryable: true });
    expect((refused as Error).message).toContain('STREAM_MAXLEN (100)');
    expect(await redis.xlen(config.deadLetterStreamKey)).toBe(60);

    // The workers processed 60 of the backlog and they were trimmed: now all 60 fit.
    await redis.xtrim(config.streamKey, 'MINID', backlog[60]!);
    const replayed = await replayDeadLetters(redis, config, 'all');
    expect(replayed.replayed).toHaveLength(60);
    expect(await redis.xlen(config.streamKey)).toBe(100);
    expect((await streamIds()).slice(0, 40)).toEqual(backlog.slice(60));
  });

  it('replays by id only when every chosen entry fits', async () => {
    const capped = createTestEnv({ STREAM_MAXLEN: '100' });
    env.defer(() => capped.cleanup());
    const { config } = capped;
    for (let i = 0; i < 99; i++)
      await redis.xadd(config.streamKey, '*', ...encodeStreamEntry(event('s1', `b${i}`)));
    const dead: string[] = [];
    for (let i = 0; i < 2; i++)
      dead.push(
        (await redis.xadd(config.deadLetterStreamKey, '*', ...encodeStreamEntry(event('s1', `d${i}`))))!,
      );

    await expect(replayDeadLetters(redis, config, dead)).rejects.toMatchObject({ code: 'ERR_BACKLOG_FULL' });
    expect(await redis.xlen(config.streamKey)).toBe(99);

    const one = await replayDeadLetters(redis, config, [dead[1]!, '999-0']);
    expect(one).toMatchObject({ replayed: [{ deadId: dead[1] }], notFound: ['999-0'] });
    expect(await redis.xlen(config.streamKey)).toBe(100);
  });

  it('purges entries dead-lettered before a time, or all', async () => {
    await addDead('old');
    await new Promise((r) => setTimeout(r, 5));
    const cut = new Date();
    await new Promise((r) => setTimeout(r, 5));
    await addDead('new');
    expect(await purgeDeadLetters(redis, env.config, { before: cut }, { dryRun: true })).toBe(1);
    expect(await redis.xlen(env.config.deadLetterStreamKey)).toBe(2);
    expect(await purgeDeadLetters(redis, env.config, { before: cut })).toBe(1);
    expect((await listDeadLetters(redis, env.config, 10)).map((e) => e.fields.entity_id)).toEqual(['new']);
    expect(await purgeDeadLetters(redis, env.config, 'all', { dryRun: true })).toBe(1);
    expect(await purgeDeadLetters(redis, env.config, 'all')).toBe(1);
    expect(await redis.xlen(env.config.deadLetterStreamKey)).toBe(0);
  });
});
