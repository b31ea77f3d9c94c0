/**
 * `market-ingest ingest` as a real process: it listens, stores a webhook, and on SIGTERM stops
 * accepting, finishes the request in flight, closes Redis and exits 0 — within SHUTDOWN_TIMEOUT_MS.
 * Also the generic shutdown helper every role uses (src/shared/lifecycle.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

import { installGracefulShutdown } from '../../src/shared/lifecycle.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';

const APP_KEY = 'proc_app_key';
const APP_SECRET = 'proc_app_secret';
const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;

function signedOrder(id: string): { body: string; signature: string } {
  const body = JSON.stringify({
    type: 1,
    tts_notification_id: id,
    shop_id: 's1',
    data: { order_id: `o-${id}`, update_time: 1732182598 },
  });
  const signature = createHmac('sha256', APP_SECRET).update(APP_KEY).update(body).digest('hex');
  return { body, signature };
}

interface IngestProcess {
  child: ChildProcess;
  address: string;
  exited: Promise<number | null>;
  logs: Record<string, unknown>[];
}

const children: ChildProcess[] = [];
const envs: TestEnv[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const env of envs.splice(0)) await env.cleanup();
});

async function startIngestProcess(
  extraEnv: Record<string, string> = {},
): Promise<IngestProcess & { env: TestEnv }> {
  const env = createTestEnv();
  envs.push(env);
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'ingest'], {
    env: {
      PATH: process.env.PATH,
      REDIS_URL: env.redisUrl,
      HOST: '127.0.0.1',
      PORT: '0',
      STREAM_KEY: env.config.streamKey,
      TIKTOK_APP_KEY: APP_KEY,
      TIKTOK_APP_SECRET: APP_SECRET,
      LOG_LEVEL: 'info',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ingest did not start:\n${stderr}`)), 20_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (typeof entry.address === 'string' && entry.component === 'ingest') {
        clearTimeout(timer);
        resolve(entry.address);
      }
    });
    void exited.then((code) => reject(new Error(`ingest exited with ${code}:\n${stderr}`)));
  });
  return { child, address, exited, logs, env };
}

/** Sends headers and half the body, and returns a function that sends the rest and reads the answer. */
async function startSlowRequest(address: string, body: string, signature: string) {
  const { port } = new URL(address);
  const socket = new Socket();
  let received = '';
  const closed = new Promise<string>((resolve) => {
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('close', () => resolve(received));
    socket.on('error', () => resolve(received));
  });
  await new Promise<void>((resolve) => socket.connect(Number(port), '127.0.0.1', resolve));
  const half = Math.floor(body.length / 2);
  socket.write(
    `POST /webhooks/tiktok HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Authorization: ${signature}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n` +
      body.slice(0, half),
  );
  // Let the server parse the headers: until then the connection counts as idle and is closed.
  await new Promise((r) => setTimeout(r, 200));
  return {
    /** The server closes the connection after answering (Connection: close). */
    finish: () => {
      socket.write(body.slice(half));
      return closed;
    },
    abandon: () => socket.destroy(),
  };
}

describe('market-ingest ingest (process)', () => {
  it('serves webhooks, and on SIGTERM finishes the request in flight, then exits 0', async () => {
    const ingest = await startIngestProcess();
    const first = signedOrder('p-1');
    const response = await fetch(`${ingest.address}/webhooks/tiktok`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: first.signature },
      body: first.body,
    });
    expect(await response.json()).toEqual({ ok: true, id: expect.stringMatching(/^\d+-\d+$/) as unknown });

    const second = signedOrder('p-2');
    const slow = await startSlowRequest(ingest.address, second.body, second.signature);
    ingest.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    // No longer accepting new connections...
    await expect(fetch(`${ingest.address}/healthz`)).rejects.toThrow();
    // ...but the one in flight completes and is stored.
    const answer = await slow.finish();
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain('{"ok":true,"id":"');

    expect(await ingest.exited).toBe(0);
    expect(ingest.logs.some((l) => l.msg === 'shut down cleanly')).toBe(true);
    const redis = ingest.env.redis();
    expect(await redis.xlen(ingest.env.config.streamKey)).toBe(2);
  });

  it('exits (code 1) at SHUTDOWN_TIMEOUT_MS when a request never finishes', async () => {
    const ingest = await startIngestProcess({ SHUTDOWN_TIMEOUT_MS: '500' });
    const { body, signature } = signedOrder('stuck-1');
    const stuck = await startSlowRequest(ingest.address, body, signature);
    const started = Date.now();
    ingest.child.kill('SIGTERM');
    expect(await ingest.exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(ingest.logs.some((l) => l.msg === 'shutdown timed out; exiting anyway')).toBe(true);
    stuck.abandon();
  });

  it('a second signal during shutdown exits at once', async () => {
    const ingest = await startIngestProcess({ SHUTDOWN_TIMEOUT_MS: '60000' });
    const { body, signature } = signedOrder('stuck-2');
    const stuck = await startSlowRequest(ingest.address, body, signature);
    ingest.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(ingest.child.exitCode).toBeNull();
    ingest.child.kill('SIGINT');
    expect(await ingest.exited).toBe(1);
    stuck.abandon();
  });
});

describe('installGracefulShutdown', () => {
  const record = (closed: string[], name: string) => {
    closed.push(name);
    return Promise.resolve();
  };

  function harness(components: { name: string; close: () => Promise<void> }[], timeoutMs = 1_000) {
    const source = new EventEmitter();
    const exits: number[] = [];
    const shutdown = installGracefulShutdown({
      components,
      timeoutMs,
      logger: silentLogger,
      source,
      exit: (code) => exits.push(code),
    });
    return { source, exits, shutdown };
  }

  it('closes components in order on SIGTERM, once, then exits 0', async () => {
    const closed: string[] = [];
    const { source, exits, shutdown } = harness([
      { name: 'http', close: () => record(closed, 'http') },
      { name: 'redis', close: () => record(closed, 'redis') },
    ]);
    source.emit('SIGTERM', 'SIGTERM');
    expect(await shutdown.finished).toBe(0);
    expect(await shutdown.shutdown('again')).toBe(0);
    expect(closed).toEqual(['http', 'redis']);
    expect(exits).toEqual([0]);
    expect(source.listenerCount('SIGTERM')).toBe(0);
  });

  it('keeps closing after a component fails, and exits 1', async () => {
    const closed: string[] = [];
    const { exits, shutdown } = harness([
      { name: 'a', close: () => Promise.reject(new Error('boom')) },
      { name: 'b', close: () => record(closed, 'b') },
    ]);
    expect(await shutdown.shutdown('test')).toBe(1);
    expect(closed).toEqual(['b']);
    expect(exits).toEqual([1]);
  });

  it('a shutdown for a failed component closes everything and still exits 1', async () => {
    const closed: string[] = [];
    const { exits, shutdown } = harness([{ name: 'a', close: () => record(closed, 'a') }]);
    expect(await shutdown.shutdown('worker failure', { failed: true })).toBe(1);
    expect(closed).toEqual(['a']);
    expect(exits).toEqual([1]);
  });

  it('exits 1 when closing outlasts the timeout', async () => {
    const { exits, shutdown } = harness([{ name: 'hang', close: () => new Promise(() => {}) }], 50);
    expect(await shutdown.shutdown('test')).toBe(1);
    expect(exits).toEqual([1]);
  });

  it('a second signal while closing exits immediately', () => {
    const { source, exits, shutdown } = harness(
      [{ name: 'hang', close: () => new Promise(() => {}) }],
      60_000,
    );
    source.emit('SIGTERM', 'SIGTERM');
    source.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([1]);
    shutdown.dispose();
  });
});
