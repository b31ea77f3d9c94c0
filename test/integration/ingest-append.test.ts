/**
 * The two Redis steps of the webhook path, driven directly against real Redis: the batched
 * dedupe+XADD script and the coalescing rate-limit store. Calls made in one synchronous block
 * are guaranteed to share a batch, which HTTP requests cannot guarantee.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  AppendTimeout,
  createEventAppender,
  dedupeKey,
  type EventAppender,
} from '../../src/ingest/append.js';
import { waitForRedis } from '../../src/ingest/main.js';
import { createRateLimitStore } from '../../src/ingest/rate-limit.js';
import { closeRedis, createRedis, type Redis } from '../../src/shared/redis.js';
import { decodeStreamEntry, type StreamEvent } from '../../src/shared/stream.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';

let env: TestEnv;
let redis: Redis;
let inspect: Redis;

beforeEach(async () => {
  env = createTestEnv();
  redis = createRedis({ url: env.redisUrl, name: 'append-test', logger: silentLogger, profile: 'fail-fast' });
  env.defer(() => closeRedis(redis));
  inspect = env.redis();
  await waitForRedis(redis, 5_000);
});
afterEach(async () => {
  await env.cleanup();
});

function event(id: string, overrides: Partial<StreamEvent> = {}): StreamEvent {
  return {
    platform: 'tiktok',
    shop_id: `shop-${id}`,
    kind: 'order',
    entity_id: `order-${id}`,
    version: 1732182598,
    event_id: id,
    event_type: '1',
    source: 'webhook',
    received_at: 1732182600123,
    payload: `{"id":"${id}","note":"ünïcödé"}`,
    ...overrides,
  };
}

function appender(streamMaxLen = 1000): EventAppender {
  return createEventAppender({
    redis,
    streamKey: env.config.streamKey,
    streamMaxLen,
    dedupeTtlSeconds: 60,
  });
}

describe('createEventAppender', () => {
  it('appends a same-turn batch in order, each event with its own fields, deduping within the batch', async () => {
    const append = appender();
    const events = ['a', 'b', 'c', 'b', 'd'].map((id) => event(id));

    const results = await Promise.all(events.map((e) => append.append(e, 1_000)));

    expect(results.map((r) => r.status)).toEqual(['stored', 'stored', 'stored', 'duplicate', 'stored']);
    const entries = await inspect.xrange(env.config.streamKey, '-', '+');
    expect(entries.map(([id]) => id)).toEqual(results.flatMap((r) => (r.status === 'stored' ? [r.id] : [])));
    expect(entries.map(([, fields]) => decodeStreamEntry(fields))).toEqual(
      ['a', 'b', 'c', 'd'].map((id) => event(id)),
    );
    for (const id of ['a', 'b', 'c', 'd'])
      expect(await inspect.ttl(dedupeKey(env.config.streamKey, 'tiktok', id))).toBeGreaterThan(0);
  });

  it('keeps platforms apart: the same event id on two platforms is two events', async () => {
    const append = appender();
    const [tiktok, shopee] = await Promise.all([
      append.append(event('same'), 1_000),
      append.append(event('same', { platform: 'shopee' }), 1_000),
    ]);
    expect([tiktok.status, shopee.status]).toEqual(['stored', 'stored']);
  });

  it('splits a burst larger than one batch and still stores every event once', async () => {
    const append = appender();
    const ids = Array.from({ length: 150 }, (_, i) => `e${i}`);
    const results = await Promise.all(ids.map((id) => append.append(event(id), 5_000)));
    expect(results.every((r) => r.status === 'stored')).toBe(true);
    expect(await inspect.xlen(env.config.streamKey)).toBe(150);
  });

  it('at streamMaxLen entries each event of a batch is refused: not stored, not marked, nothing trimmed', async () => {
    const append = appender(100);
    const before = await Promise.all(
      Array.from({ length: 98 }, (_, i) => append.append(event(`old${i}`), 5_000)),
    );
    const oldest = await inspect.xrange(env.config.streamKey, '-', '+', 'COUNT', 1);

    // One batch: two fit, then the stream is full; an event stored earlier is still a duplicate.
    const results = await Promise.all(
      ['a', 'b', 'c', 'd', 'old0'].map((id) => append.append(event(id), 1_000)),
    );

    expect(before.every((r) => r.status === 'stored')).toBe(true);
    expect(results.map((r) => r.status)).toEqual(['stored', 'stored', 'full', 'full', 'duplicate']);
    expect(await inspect.xlen(env.config.streamKey)).toBe(100);
    expect(await inspect.xrange(env.config.streamKey, '-', '+', 'COUNT', 1)).toEqual(oldest);
    for (const id of ['c', 'd'])
      expect(await inspect.exists(dedupeKey(env.config.streamKey, 'tiktok', id))).toBe(0);

    // Room again (here by deleting entries): the refused events are accepted on retry.
    await inspect.xtrim(env.config.streamKey, 'MAXLEN', 90);
    const retried = await Promise.all(['c', 'd'].map((id) => append.append(event(id), 1_000)));
    expect(retried.map((r) => r.status)).toEqual(['stored', 'stored']);
  });

  it('a failing batch rejects every caller and marks none of them seen', async () => {
    const append = appender();
    await inspect.set(env.config.streamKey, 'not a stream');

    const outcomes = await Promise.allSettled(['x', 'y'].map((id) => append.append(event(id), 1_000)));

    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(await inspect.exists(dedupeKey(env.config.streamKey, 'tiktok', 'x'))).toBe(0);
    expect(await inspect.exists(dedupeKey(env.config.streamKey, 'tiktok', 'y'))).toBe(0);
  });

  it('rejects with AppendTimeout when Redis does not answer before the deadline', async () => {
    const append = appender();
    const blocker = env.redis();
    // Holds Redis for 300 ms; the append's own budget is 50 ms.
    const stall = blocker.eval(
      "local t = redis.call('TIME'); local stop = t[1] * 1000000 + t[2] + 300000; " +
        "while true do local n = redis.call('TIME'); if n[1] * 1000000 + n[2] > stop then break end end; return 1",
      0,
    );
    await new Promise((r) => setTimeout(r, 20));
    await expect(append.append(event('late'), 50)).rejects.toBeInstanceOf(AppendTimeout);
    await stall;
  });
});

describe('createRateLimitStore', () => {
  type Count = { current: number; ttl: number };

  function hit(store: ReturnType<typeof makeStore>, key: string, windowMs = 60_000): Promise<Count> {
    return new Promise((resolve, reject) =>
      store.incr(key, (error, result) => (error ? reject(error) : resolve(result!)), windowMs, 10),
    );
  }

  function makeStore(timeoutMs = 1_000) {
    const Store = createRateLimitStore({ redis, keyPrefix: `${env.config.streamKey}:rl:`, timeoutMs });
    return new Store({});
  }

  it('hits in one turn are counted with one INCRBY, each caller getting its own running count', async () => {
    const store = makeStore();
    const counts = await Promise.all([
      hit(store, 'ip1'),
      hit(store, 'ip1'),
      hit(store, 'ip2'),
      hit(store, 'ip1'),
    ]);
    expect(counts.map((c) => c.current)).toEqual([1, 2, 1, 3]);
    expect(counts.every((c) => c.ttl > 0 && c.ttl <= 60_000)).toBe(true);

    const later = await hit(store, 'ip1');
    expect(later.current).toBe(4);
    expect(await inspect.get(`${env.config.streamKey}:rl:ip1`)).toBe('4');
  });

  it('starts a new window once the old one expired', async () => {
    const store = makeStore();
    await Promise.all([hit(store, 'ip', 100), hit(store, 'ip', 100)]);
    await new Promise((r) => setTimeout(r, 150));
    expect((await hit(store, 'ip', 100)).current).toBe(1);
  });

  it('fails (so the plugin lets the request through) when Redis does not answer in time', async () => {
    const store = makeStore(50);
    const blocker = env.redis();
    const stall = blocker.eval(
      "local t = redis.call('TIME'); local stop = t[1] * 1000000 + t[2] + 300000; " +
        "while true do local n = redis.call('TIME'); if n[1] * 1000000 + n[2] > stop then break end end; return 1",
      0,
    );
    await new Promise((r) => setTimeout(r, 20));
    await expect(hit(store, 'ip')).rejects.toThrow(/no answer within 50 ms/);
    await stall;
  });
});
