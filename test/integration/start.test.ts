/**
 * `market-ingest start` and `npm run demo` as a newcomer runs them: real child processes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

import { createPipeline, pipelineEnv, type Pipeline } from '../support/pipeline.js';

const CLI = join(process.cwd(), 'src/cli.ts');
const TSX = join(process.cwd(), 'node_modules/tsx/dist/esm/index.mjs');

let p: Pipeline | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await p?.cleanup();
  p = undefined;
});

describe('market-ingest start', () => {
  it('runs every role in one process: a signed webhook becomes a stored order; SIGTERM exits 0', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const [order] = pipeline.fake.seedOrders('tiktok', shopId, 1);
    const child = spawn(process.execPath, ['--import', TSX, CLI, 'start'], {
      env: {
        PATH: process.env.PATH,
        ...pipelineEnv(pipeline, { HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn' }),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('start did not print where it listens')), 20_000);
      createInterface({ input: child.stdout }).on('line', (line) => {
        const match = /listening on (http:\/\/\S+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });

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
