/**
 * `market-ingest sandbox` as a newcomer runs it, as a real child process against the test Redis
 * and MongoDB (own database and stream keys). Real-looking marketplace credentials in the
 * environment must be ignored: they point nowhere, so orders only arrive if the sandbox uses its
 * simulator. Expected: orders, returns and products stored; change notifications, including
 * updates as statuses move on; duplicates answered as such; simulated 5xx/429 absorbed by retries,
 * so NO dead letters; exit 0 on SIGTERM; no real secret in any output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, expect, it } from 'vitest';

import { fieldsToRecord } from '../../src/shared/stream.js';
import { createTestEnv, type TestEnv } from '../support/context.js';

const CLI = join(process.cwd(), 'src/cli.ts');
const TSX = join(process.cwd(), 'node_modules/tsx/dist/esm/index.mjs');

const REAL = {
  TIKTOK_APP_KEY: 'real-app-key-4411',
  TIKTOK_APP_SECRET: 'real-app-secret-9f2e',
  TIKTOK_API_BASE_URL: 'http://127.0.0.1:9',
  TIKTOK_AUTH_BASE_URL: 'http://127.0.0.1:9',
  SHOPEE_PARTNER_ID: '1000001',
  SHOPEE_PARTNER_KEY: 'real-partner-key-71c0',
  SHOPEE_PUSH_PARTNER_KEY: 'real-push-key-0be3',
  SHOPEE_API_BASE_URL: 'http://127.0.0.1:9',
  SHOPEE_WEBHOOK_URL: 'https://real.example.com/webhooks/shopee',
};

let env: TestEnv | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await env?.cleanup();
  env = undefined;
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not seen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

it('runs the service against its simulator: orders, returns, products and changes flow; SIGTERM exits 0', async () => {
  env = createTestEnv();
  const { config } = env;
  const child = spawn(process.execPath, ['--import', TSX, CLI, 'sandbox', '--rate', '40'], {
    env: {
      PATH: process.env.PATH,
      ...REAL,
      REDIS_URL: env.redisUrl,
      MONGO_URL: env.mongoUrl,
      MONGO_DB: config.mongoDb,
      STREAM_KEY: config.streamKey,
      DEAD_LETTER_STREAM_KEY: config.deadLetterStreamKey,
      CHANGES_STREAM_KEY: config.changesStreamKey,
      CONSUMER_GROUP: config.consumerGroup,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  const logs: Record<string, unknown>[] = [];
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    output += `${line}\n`;
    logs.push(JSON.parse(line) as Record<string, unknown>); // stdout is not a TTY: JSON lines only
  });

  const running = await until(
    'the "sandbox running" line',
    () => Promise.resolve(logs.find((entry) => entry.msg === 'sandbox running')),
    40_000,
  );
  expect(running).toMatchObject({ database: config.mongoDb, streams: { events: config.streamKey } });
  expect(running.ingest).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

  const { db } = await env.mongo();
  const redis = env.redis();
  const stored = await until(
    'orders, returns, products and order updates',
    async () => {
      const [orders, returns, products] = await Promise.all(
        ['orders', 'returns', 'products'].map((name) => db.collection(name).countDocuments()),
      );
      const changes = (await redis.xrange(config.changesStreamKey, '-', '+')).map(([, f]) =>
        fieldsToRecord(f),
      );
      const updated = changes.some((change) => change.kind === 'order' && change.change === 'updated');
      return orders! >= 20 && returns! >= 1 && products! >= 1 && updated ? { orders, changes } : undefined;
    },
    90_000,
  );
  expect(stored.changes.length).toBeGreaterThanOrEqual(20);
  const platforms = await db.collection('orders').distinct('platform');
  expect(platforms.sort()).toEqual(['shopee', 'tiktok']);
  expect((await db.collection('orders').distinct('status')).length).toBeGreaterThan(1);

  child.kill('SIGTERM');
  expect(await exited).toBe(0);

  const progress = logs.filter((entry) => entry.msg === 'sandbox progress').at(-1);
  expect(progress).toBeDefined();
  expect(progress).toMatchObject({ refused: 0, unanswered: 0, deadLetters: 0 });
  for (const counter of ['sent', 'accepted', 'duplicates', 'failuresInjected', 'orders', 'notifications'])
    expect(progress![counter], counter).toBeGreaterThan(0);
  // The simulated failures are retryable: nothing may end up dead-lettered.
  expect(await redis.xlen(config.deadLetterStreamKey)).toBe(0);
  for (const secret of [REAL.TIKTOK_APP_SECRET, REAL.SHOPEE_PARTNER_KEY, REAL.SHOPEE_PUSH_PARTNER_KEY])
    expect(output).not.toContain(secret);
}, 180_000);
