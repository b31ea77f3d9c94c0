/** The ops and reconcile commands through the real dispatcher, against real services. */
import { afterEach, describe, expect, it } from 'vitest';

import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch, type CliIo } from '../../src/cli/dispatch.js';
import { encodeDeadLetterInfo, encodeStreamEntry } from '../../src/shared/stream.js';
import { createPipeline, pipelineEnv, type Pipeline } from '../support/pipeline.js';

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
    expect(JSON.parse(listed.out)).toEqual([expect.objectContaining({ id: deadId })]);
    expect((await run(p, 'dlq', 'replay')).code).toBe(2);
    expect((await run(p, 'dlq', 'replay', 'not-an-id')).code).toBe(2);
    const replayed = await run(p, 'dlq', 'replay', deadId!);
    expect(replayed.code).toBe(0);
    expect(replayed.out).toContain('1 replayed');
    expect((await run(p, 'dlq', 'replay', '1-0')).code).toBe(1);
    expect((await run(p, 'dlq', 'purge', '--before', 'yesterday')).code).toBe(2);
    expect((await run(p, 'dlq', 'purge')).out).toContain('0 dead letters removed');
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
