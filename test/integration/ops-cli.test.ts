/** The ops and reconcile commands through the real dispatcher, against real services. */
import { afterEach, describe, expect, it } from 'vitest';

import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch, type CliIo } from '../../src/cli/dispatch.js';
import { COLLECTIONS } from '../../src/shared/mongo.js';
import { encodeDeadLetterInfo, encodeStreamEntry, type StreamEvent } from '../../src/shared/stream.js';
import { createPipeline, orderEvent, pipelineEnv, type Pipeline } from '../support/pipeline.js';
import { waitFor } from '../support/wait.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

function run(pipeline: Pipeline, ...argv: string[]) {
  return runWith(pipeline, {}, ...argv);
}

async function runWith(pipeline: Pipeline, env: Record<string, string>, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: pipelineEnv(pipeline, { LOG_LEVEL: 'silent', ...env }),
    isTTY: false,
  };
  const code = await dispatch(COMMANDS, argv, io);
  return { code, out: out.join(''), err: err.join('') };
}

describe('reconcile run', () => {
  it('backfills a date range and exits 0, one line per shop-day', async () => {
    p = await createPipeline();
    const shopId = await p.addShop('tiktok');
    const result = await run(p, 'reconcile', 'run', '--from', '2026-11-01', '--to', '2026-11-02');
    expect(result.code).toBe(0);
    expect(result.out).toContain(`tiktok:${shopId} 2026-11-01: 0 enqueued (1/2)`);
    expect(result.out).toMatch(/run .+: succeeded; 1 shops/);
  });

  it('exits 1 when a shop failed', async () => {
    p = await createPipeline();
    const shopId = await p.addShop('tiktok');
    p.fake.knobs.failShop('tiktok', shopId, { status: 400 });
    const result = await run(p, 'reconcile', 'run', '--platform', 'tiktok');
    expect(result.code).toBe(1);
    expect(result.out).toContain(': failed;');
    expect(result.err).toContain(`tiktok:${shopId}`);
  });

  it.each([
    [['--date', '2026-11-01', '--from', '2026-11-01', '--to', '2026-11-02'], 'not both'],
    [['--from', '2026-11-01'], 'go together'],
    [['--date', '2026-13-01'], 'YYYY-MM-DD'],
    [['--from', '2026-11-05', '--to', '2026-11-01'], 'after'],
    [['--platform', 'lazada'], 'tiktok or shopee'],
  ])('rejects %j with exit 2', async (flags, message) => {
    p = await createPipeline();
    const result = await run(p, 'reconcile', 'run', ...flags);
    expect(result.code).toBe(2);
    expect(result.err).toContain(message);
  });
});

describe('pending and dlq', () => {
  it('shows pending entries and dead letters, replays and purges them', async () => {
    p = await createPipeline();
    const { config } = p.env;
    const redis = p.env.redis();
    const event = {
      platform: 'tiktok' as const,
      shop_id: 's1',
      kind: 'order' as const,
      entity_id: 'o1',
      version: 1,
      event_id: 'e1',
      event_type: '1',
      source: 'webhook' as const,
      received_at: 1,
      payload: '{}',
    };
    await redis.xgroup('CREATE', config.streamKey, config.consumerGroup, '0', 'MKSTREAM');
    await redis.xadd(config.streamKey, '*', ...encodeStreamEntry(event));
    await redis.xreadgroup('GROUP', config.consumerGroup, 'w1', 'STREAMS', config.streamKey, '>');
    const pending = await run(p, 'pending', '--json');
    expect(pending.code).toBe(0);
    expect(JSON.parse(pending.out)).toMatchObject({ pending: 1, consumers: [{ name: 'w1', pending: 1 }] });
    expect((await run(p, 'pending')).out).toContain('pending: 1');

    expect((await run(p, 'dlq', 'list')).out).toContain('empty');
    const deadId = await redis.xadd(
      config.deadLetterStreamKey,
      '*',
      ...encodeStreamEntry(event),
      ...encodeDeadLetterInfo({
        original_id: '1-0',
        deliveries: 5,
        error_code: 'ERR_X',
        error_message: 'boom',
        dead_at: 1,
      }),
    );
    const listed = await run(p, 'dlq', 'list', '--json');
    expect(JSON.parse(listed.out)).toEqual({
      total: 1,
      matched: 1,
      shown: 1,
      entries: [expect.objectContaining({ id: deadId })],
    });
    expect((await run(p, 'dlq', 'replay')).code).toBe(2);
    expect((await run(p, 'dlq', 'replay', 'not-an-id')).code).toBe(2);
    const replayed = await run(p, 'dlq', 'replay', deadId!);
    expect(replayed.code).toBe(0);
    expect(replayed.out).toContain('1 replayed');
    expect((await run(p, 'dlq', 'replay', '1-0')).code).toBe(1);
    expect((await run(p, 'dlq', 'purge', '--before', 'yesterday')).code).toBe(2);
    expect((await run(p, 'dlq', 'purge', '--all')).out).toContain('0 dead letters removed');
  });
});

describe('dlq replay against a full event stream', () => {
  it('exits 1 with the reason and replays nothing when the replay would exceed STREAM_MAXLEN', async () => {
    p = await createPipeline();
    const { config } = p.env;
    const redis = p.env.redis();
    const event = {
      platform: 'tiktok' as const,
      shop_id: 's1',
      kind: 'order' as const,
      entity_id: 'o1',
      version: 1,
      event_id: 'e1',
      event_type: '1',
      source: 'webhook' as const,
      received_at: 1,
      payload: '{}',
    };
    for (let i = 0; i < 100; i++) await redis.xadd(config.streamKey, '*', ...encodeStreamEntry(event));
    const deadId = await redis.xadd(config.deadLetterStreamKey, '*', ...encodeStreamEntry(event));

    const refused = await runWith(p, { STREAM_MAXLEN: '100' }, 'dlq', 'replay', '--all');

    expect(refused.code).toBe(1);
    expect(refused.err).toContain('dlq replay refused');
    expect(refused.err).toContain('STREAM_MAXLEN (100)');
    expect(refused.err).not.toContain('Redis at');
    expect(await redis.xlen(config.streamKey)).toBe(100);
    expect(await redis.xrange(config.deadLetterStreamKey, '-', '+')).toHaveLength(1);

    const replayed = await runWith(p, { STREAM_MAXLEN: '101' }, 'dlq', 'replay', deadId!);
    expect(replayed).toMatchObject({ code: 0 });
    expect(replayed.out).toContain('1 replayed');
  });
});

/** A dead letter as the worker writes it, for the shop, kind, code and time given. */
async function addDeadLetter(
  pipeline: Pipeline,
  over: {
    platform?: 'tiktok' | 'shopee';
    shop?: string;
    kind?: StreamEvent['kind'];
    code?: string;
    deadAt?: number;
    entity?: string;
  } = {},
): Promise<string> {
  const event: StreamEvent = {
    platform: over.platform ?? 'tiktok',
    shop_id: over.shop ?? 's1',
    kind: over.kind ?? 'order',
    entity_id: over.entity ?? 'o1',
    version: 1,
    event_id: `e-${over.entity ?? 'o1'}`,
    event_type: '1',
    source: 'webhook',
    received_at: 1,
    payload: '{"type":1,"data":{"order_id":"o1"}}',
  };
  const info = encodeDeadLetterInfo({
    original_id: '1-0',
    deliveries: 1,
    error_code: over.code ?? 'ERR_SHOP_UNKNOWN',
    error_message: 'boom',
    dead_at: over.deadAt ?? Date.parse('2026-11-01T00:00:00Z'),
  });
  const redis = pipeline.env.redis();
  return (await redis.xadd(
    pipeline.env.config.deadLetterStreamKey,
    '*',
    ...encodeStreamEntry(event),
    ...info,
  ))!;
}

describe('dlq (v2)', () => {
  it('issue 12 #5: dlq list says "50 of 55" when it stops at its limit', async () => {
    p = await createPipeline();
    for (let i = 0; i < 55; i++) await addDeadLetter(p, { entity: `o${i}` });

    const listed = await run(p, 'dlq', 'list');

    expect(listed.code).toBe(0);
    const lines = listed.out.trimEnd().split('\n');
    expect(lines[0]).toBe('50 of 55 dead letters, oldest first (--limit N to see more)');
    expect(lines).toHaveLength(51);
    expect(JSON.parse((await run(p, 'dlq', 'list', '--json', '--limit', '3')).out)).toMatchObject({
      total: 55,
      matched: 55,
      shown: 3,
    });
    expect((await run(p, 'dlq', 'list', '--limit', '60')).out).toMatch(
      /^55 of 55 dead letters, oldest first\n/,
    );
  });

  it('issue 12 #5: dlq purge without --all or --before deletes nothing and exits 2 with a usage line', async () => {
    p = await createPipeline();
    await addDeadLetter(p);

    const refused = await run(p, 'dlq', 'purge');

    expect(refused.code).toBe(2);
    expect(refused.err).toContain('--all, or --before ISO');
    expect(refused.err).toContain('Usage: market-ingest dlq purge --all | --before ISO [--dry-run]');
    expect(refused.out).toBe('');
    expect(await p.env.redis().xlen(p.env.config.deadLetterStreamKey)).toBe(1);
    expect((await run(p, 'dlq', 'purge', '--all', '--before', '2026-11-01')).code).toBe(2);
  });

  it('issue 12 #5: dlq purge --dry-run only counts; without it the same scope is deleted', async () => {
    p = await createPipeline();
    const dead = p.env.config.deadLetterStreamKey;
    const redis = p.env.redis();
    await addDeadLetter(p, { entity: 'old' });
    await new Promise((r) => setTimeout(r, 5));
    const cut = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    await addDeadLetter(p, { entity: 'new' });

    const counted = await run(p, 'dlq', 'purge', '--before', cut, '--dry-run');
    expect(counted).toMatchObject({ code: 0 });
    expect(counted.out).toContain('1 dead letters dead-lettered before');
    expect(counted.out).toContain('would be removed (dry run: nothing removed)');
    expect((await run(p, 'dlq', 'purge', '--all', '--dry-run')).out).toMatch(
      /^2 dead letters would be removed/,
    );
    expect(await redis.xlen(dead)).toBe(2);

    expect((await run(p, 'dlq', 'purge', '--before', cut)).out).toMatch(
      /^1 dead letters dead-lettered before .* removed\n$/,
    );
    expect(await redis.xlen(dead)).toBe(1);
    expect((await run(p, 'dlq', 'purge', '--all')).out).toBe('1 dead letters removed\n');
    expect(await redis.xlen(dead)).toBe(0);
  });

  it('issue 12 #5: dlq list and dlq replay filter by --code --platform --shop --kind --since', async () => {
    p = await createPipeline();
    const nov = Date.parse('2026-11-10T00:00:00Z');
    const oct = Date.parse('2026-10-10T00:00:00Z');
    await addDeadLetter(p, { entity: 'a', shop: '1', code: 'ERR_SHOP_UNKNOWN', deadAt: oct });
    const b = await addDeadLetter(p, { entity: 'b', shop: '1', code: 'ERR_SHOP_UNKNOWN', deadAt: nov });
    await addDeadLetter(p, { entity: 'c', shop: '2', code: 'ERR_SHOP_UNKNOWN', deadAt: nov });
    await addDeadLetter(p, { entity: 'd', shop: '1', code: 'ERR_MAPPING', deadAt: nov });
    await addDeadLetter(p, { entity: 'e', shop: '1', code: 'ERR_SHOP_UNKNOWN', deadAt: nov, kind: 'return' });
    await addDeadLetter(p, {
      entity: 'f',
      shop: '1',
      code: 'ERR_SHOP_UNKNOWN',
      deadAt: nov,
      platform: 'shopee',
    });
    const filter = [
      '--code',
      'ERR_SHOP_UNKNOWN',
      '--platform',
      'tiktok',
      '--shop',
      '1',
      '--kind',
      'order',
      '--since',
      '2026-11-01T00:00:00+07:00',
    ];

    const listed = await run(p, 'dlq', 'list', ...filter);
    expect(listed.code).toBe(0);
    expect(listed.out.split('\n')[0]).toBe(
      '1 of 1 dead letters matching --code ERR_SHOP_UNKNOWN --platform tiktok --shop 1 --kind order --since 2026-11-01T00:00:00+07:00, oldest first (6 in the stream)',
    );
    expect(listed.out).toContain(`${b}  2026-11-10T00:00:00.000Z  tiktok:1 order b`);
    expect(listed.out.trimEnd().split('\n')).toHaveLength(2);

    const replayed = await run(p, 'dlq', 'replay', ...filter);
    expect(replayed).toMatchObject({ code: 0, err: '' });
    expect(replayed.out).toMatch(new RegExp(`^replayed ${b} as \\d+-\\d+\n1 replayed \\(matching --code`));
    const stream = await p.env.redis().xrange(p.env.config.streamKey, '-', '+');
    expect(stream.map(([, f]) => f[f.indexOf('entity_id') + 1])).toEqual(['b']);
    expect(JSON.parse((await run(p, 'dlq', 'list', '--json')).out)).toMatchObject({ total: 5 });

    for (const bad of [
      ['--platform', 'lazada'],
      ['--kind', 'orders'],
      ['--since', 'yesterday'],
    ]) {
      expect((await run(p, 'dlq', 'list', ...bad)).code).toBe(2);
      expect((await run(p, 'dlq', 'replay', ...bad)).code).toBe(2);
    }
    expect((await run(p, 'dlq', 'replay', b, '--code', 'ERR_X')).code).toBe(2);
  });

  it('issue 12 #5: dlq show prints one dead letter whole, with its payload and sync_failures record', async () => {
    p = await createPipeline();
    const order = p.fake.generate.tiktokOrder();
    // No shop registered: the worker dead-letters it with ERR_SHOP_UNKNOWN and records it in sync_failures.
    await p.enqueue([orderEvent('tiktok', '7001', order, { payload: '{"type":1,"data":{"order_id":"x"}}' })]);
    await p.startWorker();
    const redis = p.env.redis();
    await waitFor(async () => (await redis.xlen(p!.env.config.deadLetterStreamKey)) > 0);
    const deadId = (await redis.xrange(p.env.config.deadLetterStreamKey, '-', '+'))[0]![0];
    const { db } = await p.env.mongo();
    expect(await db.collection(COLLECTIONS.syncFailures).countDocuments()).toBe(1);

    const shown = await run(p, 'dlq', 'show', deadId);

    expect(shown).toMatchObject({ code: 0, err: '' });
    expect(shown.out).toContain(`dead letter ${deadId}`);
    expect(shown.out).toMatch(/error: ERR_SHOP_UNKNOWN: /);
    expect(shown.out).toMatch(/entity_id +\S+/);
    expect(shown.out).toContain('payload:\n{\n  "type": 1,\n  "data": {\n    "order_id": "x"\n  }\n}');
    expect(shown.out).toContain('sync_failures record:\n{');
    expect(shown.out).toContain('"stream_id"');
    const json = JSON.parse((await run(p, 'dlq', 'show', deadId, '--json')).out) as Record<string, unknown>;
    expect(json).toMatchObject({ id: deadId, fields: { error_code: 'ERR_SHOP_UNKNOWN' } });
    expect(json.sync_failure).toMatchObject({ error: { code: 'ERR_SHOP_UNKNOWN' }, shop_id: '7001' });

    expect((await run(p, 'dlq', 'show', '1-0')).code).toBe(1);
    expect((await run(p, 'dlq', 'show')).code).toBe(2);
  });
});
