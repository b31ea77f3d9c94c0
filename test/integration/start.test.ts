/**
 * `market-ingest start` and `npm run demo` as a newcomer runs them: real child processes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

import { closeRedis, createRedis } from '../../src/shared/redis.js';
import { encodeDeadLetterInfo, encodeStreamEntry } from '../../src/shared/stream.js';
import { silentLogger } from '../support/context.js';
import { createPipeline, pipelineEnv, type Pipeline } from '../support/pipeline.js';
import { emulatorAvailable, findOnPath } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const CLI = join(process.cwd(), 'src/cli.ts');
const TSX = join(process.cwd(), 'node_modules/tsx/dist/esm/index.mjs');
const FAKE_MONGOD = join(process.cwd(), 'test/support/fake-mongod.py');

let p: Pipeline | undefined;
const children: ChildProcess[] = [];
const directories: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await p?.cleanup();
  p = undefined;
  for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mi-start-'));
  directories.push(dir);
  return dir;
}

/** `market-ingest ARGS` as a long-running child process; stdout is a pipe (not a TTY). */
function spawnCli(args: string[], options: { cwd?: string; env: Record<string, string | undefined> }) {
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => stdout.push(line));
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  return { child, stdout, stderr };
}

/** `market-ingest ARGS` run to its end. */
async function runCli(args: string[], options: { cwd?: string; env: Record<string, string | undefined> }) {
  const run = spawnCli(args, options);
  const code = await new Promise<number | null>((resolve) => run.child.once('close', resolve));
  return { code, stdout: run.stdout.join('\n'), stderr: run.stderr.join('\n') };
}

/** True while something accepts connections at the URL's host:port. */
function answers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(Number(port), hostname);
  });
}

type LogLine = Record<string, unknown>;

/** The JSON summary line `start` logs when stdout is not a terminal. */
async function startSummary(stdout: string[], child: ChildProcess, timeoutMs = 60_000): Promise<LogLine> {
  let summary: LogLine | undefined;
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`start exited with ${child.exitCode}`);
    summary = stdout
      .map((line) => {
        try {
          return JSON.parse(line) as LogLine;
        } catch {
          return {}; // not JSON: the "only JSON lines" test says so
        }
      })
      .find((line) => line.component === 'start' && typeof line.listen === 'string');
    return summary !== undefined;
  }, timeoutMs);
  return summary!;
}

describe('market-ingest start', () => {
  it('runs every role in one process: a signed webhook becomes a stored order; SIGTERM exits 0', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const [order] = pipeline.fake.seedOrders('tiktok', shopId, 1);
    const { child, stdout } = spawnCli(['start'], {
      env: {
        PATH: process.env.PATH,
        ...pipelineEnv(pipeline, { HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' }),
      },
    });
    const address = String((await startSummary(stdout, child)).local_url);

    const body = JSON.stringify({
      type: 1,
      tts_notification_id: 'start-test-1',
      shop_id: shopId,
      timestamp: Math.floor(Date.now() / 1000),
      data: { order_id: order!.id, order_status: 'AWAITING_SHIPMENT', update_time: order!.update_time },
    });
    const answer = await pipeline.fake.sendTikTokWebhook(`${address}/webhooks/tiktok`, body);
    expect(answer).toEqual({
      status: 200,
      body: expect.stringMatching(/^\{"ok":true,"id":"\d+-\d+"\}$/) as unknown,
    });

    const { db } = await pipeline.env.mongo();
    const deadline = Date.now() + 15_000;
    let stored = null;
    while (!stored && Date.now() < deadline) {
      stored = await db.collection('orders').findOne({ order_id: String(order!.id) });
      if (!stored) await new Promise((r) => setTimeout(r, 100));
    }
    expect(stored).toMatchObject({ platform: 'tiktok', shop_id: shopId, sync_source: 'webhook' });

    const metrics = await (await fetch(`${address}/metrics`)).text();
    expect(metrics).toContain('market_ingest_worker_documents_written_total');
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
  }, 60_000);

  it('without MONGO_URL and no way to get MongoDB, exits 1 with one line saying what to set', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'mi-start-'));
    try {
      const result = spawnSync(process.execPath, ['--import', TSX, CLI, 'start'], {
        cwd,
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          PATH: '/usr/bin:/bin', // no mongod here
          REDIS_URL: 'redis://127.0.0.1:1',
          // Points the embedded MongoDB at a binary that does not exist: no download is tried.
          MONGOMS_SYSTEM_BINARY: join(cwd, 'no-such-mongod'),
          LOG_LEVEL: 'silent',
        },
      });
      expect(result.status).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^market-ingest start: no MongoDB: set MONGO_URL/);
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 70_000);
});

describe('market-ingest start: where things run (issue 12 #1, #7)', () => {
  const canEmbedMongo = findOnPath('mongod') !== undefined || emulatorAvailable();
  // Embedded Redis from redis-server on PATH; embedded MongoDB from mongod on PATH, else the
  // wire emulator behind a stand-in mongod (test/support/fake-mongod.py).
  const embeddingEnv = (extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH,
    MONGOMS_SYSTEM_BINARY: FAKE_MONGOD,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  });
  // Other commands: REDIS_URL and MONGO_URL unset, like a newcomer following the README.
  const commandEnv = { PATH: process.env.PATH, LOG_LEVEL: 'silent' };

  it.skipIf(!canEmbedMongo)(
    'issue 12 #1: start with the URLs unset records its embedded servers; shops add, pending and dlq list run in that directory use them and say so',
    async () => {
      const cwd = tempDir();
      const start = spawnCli(['start'], { cwd, env: embeddingEnv() });
      const summary = await startSummary(start.stdout, start.child);
      expect(summary.services).toBe('data/services.json');

      const record = JSON.parse(readFileSync(join(cwd, 'data/services.json'), 'utf8')) as {
        redis: { url: string };
        mongo: { url: string };
      };
      expect(record).toMatchObject({ pid: start.child.pid });
      const redisAddress = record.redis.url.replace('redis://', '');
      expect(String(summary.redis)).toContain(redisAddress);
      const using = `using the embedded Redis at ${redisAddress} and MongoDB at `;

      // A dead letter written straight into the embedded Redis.
      const redis = createRedis({ url: record.redis.url, name: 'test', logger: silentLogger });
      const deadId = await redis.xadd(
        'market-ingest:dead',
        '*',
        ...encodeStreamEntry({
          platform: 'tiktok',
          shop_id: '7001',
          kind: 'order',
          entity_id: 'o-embedded',
          version: 1,
          event_id: 'e-embedded',
          event_type: '1',
          source: 'webhook',
          received_at: 1,
          payload: '{}',
        }),
        ...encodeDeadLetterInfo({
          original_id: '1-0',
          deliveries: 5,
          error_code: 'ERR_X',
          error_message: 'boom',
          dead_at: 1,
        }),
      );
      await closeRedis(redis);

      const listed = await runCli(['dlq', 'list', '--json'], { cwd, env: commandEnv });
      expect(listed).toMatchObject({ code: 0 });
      expect(listed.stdout).toContain(deadId);
      expect(listed.stderr).toContain(using);
      expect(listed.stderr).toContain('started by market-ingest start (data/services.json)');

      const added = await runCli(
        [
          'shops',
          'add',
          '--platform',
          'tiktok',
          '--shop-id',
          '7001',
          '--shop-cipher',
          'ROW_c',
          '--access-token',
          'tok-a',
          '--refresh-token',
          'tok-r',
        ],
        { cwd, env: commandEnv },
      );
      expect(added).toMatchObject({ code: 0 });
      expect(added.stderr).toContain(using);
      const shops = await runCli(['shops', 'list', '--json'], { cwd, env: commandEnv });
      expect(shops.stdout).toContain('7001');

      const pending = await runCli(['pending', '--json'], { cwd, env: commandEnv });
      expect(pending).toMatchObject({ code: 0 });
      expect(JSON.parse(pending.stdout)).toMatchObject({ stream: 'market-ingest:events' });

      // A second start here must not run a second Redis on the same data directory.
      const second = await runCli(['start'], { cwd, env: embeddingEnv() });
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(
        `another market-ingest start (pid ${start.child.pid}) runs embedded servers`,
      );

      // Killed outright: its servers die with it, and commands say they fall back to the defaults.
      start.child.kill('SIGKILL');
      await waitFor(
        async () => !(await answers(record.redis.url)) && !(await answers(record.mongo.url)),
        20_000,
      );
      const after = await runCli(['config'], { cwd, env: commandEnv });
      expect(after.stderr).toContain(
        `the embedded Redis at ${redisAddress} recorded in data/services.json is not running (market-ingest start, pid ${start.child.pid}, ended without a clean stop); using 127.0.0.1:6379 (REDIS_URL unset)`,
      );
      expect(after.stderr).toContain('using 127.0.0.1:27017 (MONGO_URL unset)');
    },
    180_000,
  );

  it('issue 12 #1: only what start embedded is recorded; a clean stop removes the record and its servers', async () => {
    p = await createPipeline(); // MongoDB from the harness; Redis embedded
    const cwd = tempDir();
    const start = spawnCli(['start'], {
      cwd,
      env: embeddingEnv({ MONGO_URL: p.env.mongoUrl, MONGO_DB: p.env.config.mongoDb }),
    });
    await startSummary(start.stdout, start.child);
    const record = JSON.parse(readFileSync(join(cwd, 'data/services.json'), 'utf8')) as {
      redis: { url: string };
      mongo?: unknown;
    };
    expect(record.mongo).toBeUndefined(); // MONGO_URL was given: not recorded, not written anywhere
    const during = await runCli(['config'], { cwd, env: commandEnv });
    expect(during.stderr).toBe(
      `using the embedded Redis at ${record.redis.url.replace('redis://', '')} started by market-ingest start (data/services.json)`,
    );

    start.child.kill('SIGTERM');
    expect(await new Promise((resolve) => start.child.once('exit', resolve))).toBe(0);
    expect(existsSync(join(cwd, 'data/services.json'))).toBe(false);
    expect(await answers(record.redis.url)).toBe(false);
    const after = await runCli(['config'], { cwd, env: commandEnv });
    expect(after).toMatchObject({ code: 0, stderr: '' }); // the documented defaults, silently
  }, 90_000);

  it('issue 12 #1: without redis-server on PATH, start tries redis-memory-server, then says in one line what to set', async () => {
    const cwd = tempDir();
    const result = await runCli(['start'], {
      cwd,
      env: {
        PATH: tempDir(), // nothing on it: no redis-server
        MONGO_URL: 'mongodb://127.0.0.1:1',
        // Should redis-memory-server be installed, its download fails at once, online or not.
        REDISMS_DOWNLOAD_URL: 'http://127.0.0.1:1/redis-stable.tar.gz',
        REDISMS_DOWNLOAD_DIR: join(cwd, 'redis-binaries'),
        LOG_LEVEL: 'silent',
      },
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^market-ingest start: no Redis: set REDIS_URL \(e\.g\. redis:\/\/127\.0\.0\.1:6379\) or install redis-server/,
    );
    expect(lines[0]).toContain('redis-memory-server');
  }, 90_000);

  it('issue 12 #1: every command reads ./.env; variables already set win over it', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, '.env'), 'STREAM_KEY=from-dotenv\nMONGO_DB=from-dotenv\n');
    const result = await runCli(['config', '--json'], {
      cwd,
      env: { PATH: process.env.PATH, MONGO_DB: 'from-env' },
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ STREAM_KEY: 'from-dotenv', MONGO_DB: 'from-env' });
  }, 60_000);

  it('issue 12 #7: on a stdout that is not a terminal, start writes only JSON lines, naming the real bind address', async () => {
    p = await createPipeline();
    const { child, stdout } = spawnCli(['start'], {
      env: { PATH: process.env.PATH, ...pipelineEnv(p, { HOST: '0.0.0.0', PORT: '0', LOG_LEVEL: 'info' }) },
    });
    const summary = await startSummary(stdout, child);
    expect(summary.all_interfaces).toBe(true);
    expect(summary.local_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const port = /:(\d+)$/.exec(String(summary.local_url))![1];
    expect(summary.listen).toBe(`http://0.0.0.0:${port}`);
    expect(summary.msg).toBe(
      `market-ingest listening on http://0.0.0.0:${port} (all interfaces; from this machine: http://127.0.0.1:${port})`,
    );
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('close', resolve));
    expect(stdout.length).toBeGreaterThan(3);
    for (const line of stdout) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    const ingestLine = stdout
      .map((line) => JSON.parse(line) as LogLine)
      .find((line) => line.component === 'ingest' && String(line.msg).startsWith('ingest listening on'));
    expect(ingestLine?.msg).toBe(`ingest listening on http://0.0.0.0:${port}`);
  }, 90_000);
});

describe('npm run demo', () => {
  it('prints its report: accepted, duplicates, one rejected, everything stored, nothing pending', async () => {
    p = await createPipeline(); // only for the harness's Redis and MongoDB URLs
    const result = spawnSync(process.execPath, ['--import', TSX, 'scripts/demo.ts'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env.PATH, REDIS_URL: p.env.redisUrl, MONGO_URL: p.env.mongoUrl },
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/accepted\s+120/);
    expect(result.stdout).toMatch(/duplicates\s+30/);
    expect(result.stdout).toMatch(/rejected\s+1 \(bad signature\)/);
    expect(result.stdout).toMatch(/orders stored\s+120/);
    expect(result.stdout).toMatch(/pending\s+0/);
    expect(result.stdout).toMatch(/dead letters\s+0/);
  }, 70_000);
});
