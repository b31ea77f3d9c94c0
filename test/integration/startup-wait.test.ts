/**
 * Roles started before their servers (compose, a reboot) wait for them, and every way of saying
 * "Redis / MongoDB is down" is one plain line naming host:port — never the URL, never a password.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch, type CliIo } from '../../src/cli/dispatch.js';
import { createTestEnv, type TestEnv } from '../support/context.js';
import { freePort, startRedisServer, type ServiceProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const CLI = join(process.cwd(), 'src/cli.ts');
const TSX = join(process.cwd(), 'node_modules/tsx/dist/esm/index.mjs');
const PASSWORD = 'pw-4f1c9e-never-printed';

let env: TestEnv | undefined;
let redis: ServiceProcess | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await redis?.stop();
  redis = undefined;
  await env?.cleanup();
  env = undefined;
});

/** The worker role as a child process, its output kept line by line. */
function startWorker(vars: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', TSX, CLI, 'worker'], {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...vars },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => stdout.push(line));
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  return { child, stdout, stderr, exited };
}

function workerEnv(test: TestEnv, overrides: Record<string, string>): Record<string, string> {
  const { config } = test;
  return {
    REDIS_URL: test.redisUrl,
    MONGO_URL: test.mongoUrl,
    MONGO_DB: config.mongoDb,
    STREAM_KEY: config.streamKey,
    DEAD_LETTER_STREAM_KEY: config.deadLetterStreamKey,
    CHANGES_STREAM_KEY: config.changesStreamKey,
    CONSUMER_GROUP: config.consumerGroup,
    ...overrides,
  };
}

const hasLine = (lines: string[], text: string) => lines.some((line) => line.includes(text));

describe('start-up waits (issue 12 #7)', () => {
  it('issue 12 #7: a worker started while Redis is down waits for it, and starts once it is up', async () => {
    env = createTestEnv();
    redis = await startRedisServer();
    await redis.kill(); // down, its port known: it comes back there
    const worker = startWorker(workerEnv(env, { REDIS_URL: redis.url, STARTUP_WAIT_MS: '120000' }));

    await waitFor(() => hasLine(worker.stdout, `waiting for Redis at 127.0.0.1:${redis!.port}`), 30_000);
    expect(worker.child.exitCode).toBeNull();

    await redis.restart();
    await waitFor(() => hasLine(worker.stdout, '"msg":"worker started"'), 60_000);
    expect(hasLine(worker.stdout, `Redis at 127.0.0.1:${redis.port} is reachable`)).toBe(true);

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  }, 120_000);

  it('issue 12 #7: a worker whose Redis never comes exits 1 with "cannot reach Redis at host:port", no password anywhere', async () => {
    env = createTestEnv();
    const port = await freePort();
    const worker = startWorker(
      workerEnv(env, { REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${port}`, STARTUP_WAIT_MS: '2000' }),
    );
    expect(await worker.exited).toBe(1);
    expect(worker.stderr).toEqual([
      `market-ingest worker: cannot reach Redis at 127.0.0.1:${port} (waited 2 s)`,
    ]);
    expect(hasLine(worker.stdout, `waiting for Redis at 127.0.0.1:${port}`)).toBe(true);
    expect([...worker.stdout, ...worker.stderr].join('\n')).not.toContain(PASSWORD);
  }, 60_000);

  it('issue 12 #7: a worker whose MongoDB never comes exits 1 with "cannot reach MongoDB at host:port", no password anywhere', async () => {
    env = createTestEnv();
    const port = await freePort();
    const worker = startWorker(
      workerEnv(env, { MONGO_URL: `mongodb://app:${PASSWORD}@127.0.0.1:${port}`, STARTUP_WAIT_MS: '2000' }),
    );
    expect(await worker.exited).toBe(1);
    expect(worker.stderr).toEqual([
      `market-ingest worker: cannot reach MongoDB at 127.0.0.1:${port} (waited 2 s)`,
    ]);
    expect([...worker.stdout, ...worker.stderr].join('\n')).not.toContain(PASSWORD);
  }, 60_000);
});

describe('plain words for a server that is down (issue 12 #7)', () => {
  it('issue 12 #7: pending and dlq list with Redis down say "cannot reach Redis at host:port", exit 1', async () => {
    const port = await freePort();
    for (const argv of [['pending'], ['dlq', 'list']]) {
      const out: string[] = [];
      const err: string[] = [];
      const io: CliIo = {
        stdout: (t) => out.push(t),
        stderr: (t) => err.push(t),
        env: { REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${port}`, LOG_LEVEL: 'silent' },
        isTTY: false,
      };
      const code = await dispatch(COMMANDS, argv, io);
      expect({ code, out: out.join(''), err: err.join('') }).toEqual({
        code: 1,
        out: '',
        err: `market-ingest ${argv.join(' ')}: cannot reach Redis at 127.0.0.1:${port}\n`,
      });
    }
  });
});
