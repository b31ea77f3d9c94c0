/**
 * Embedded Redis and MongoDB for `market-ingest start` when REDIS_URL / MONGO_URL are unset, so
 * `npm ci && npm start` works on a fresh machine. Data lives under ./data so a restart keeps it.
 *
 * - Redis: a `redis-server` binary on PATH, with AOF (appendfsync everysec).
 * - MongoDB: mongodb-memory-server-core with a persistent dbPath, using a `mongod` on PATH or
 *   MONGOMS_SYSTEM_BINARY (read by the library itself) when present, otherwise its download.
 * When neither can be had, `EmbeddedUnavailable` says in one line what to set instead.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';

import type { Logger } from '../shared/logger.js';

export interface EmbeddedService {
  url: string;
  description: string;
  /** Idempotent; keeps the data directory. */
  stop(): Promise<void>;
}

export class EmbeddedUnavailable extends Error {
  override name = 'EmbeddedUnavailable';
}

function makeDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new EmbeddedUnavailable(
      `cannot create ${dir} for embedded data (${(error as NodeJS.ErrnoException).code ?? String(error)}); ` +
        'run from a writable directory or set REDIS_URL and MONGO_URL',
    );
  }
}

function onPath(binary: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  const path = found.stdout?.trim();
  return found.status === 0 && path ? path : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((done) => {
      const socket = new Socket();
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
      socket.connect(port, '127.0.0.1');
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not listening after ${timeoutMs} ms`);
}

export async function startEmbeddedRedis(dataDir: string, logger: Logger): Promise<EmbeddedService> {
  const binary = onPath('redis-server');
  if (!binary) {
    throw new EmbeddedUnavailable(
      'no Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379) or install redis-server (apt-get install redis-server)',
    );
  }
  const dir = resolve(dataDir, 'redis');
  makeDataDir(dir);
  const port = await freePort();
  const child = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  try {
    await waitForPort(port, child, 10_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new EmbeddedUnavailable(
      `embedded redis-server did not start: ${(error as Error).message}; set REDIS_URL`,
    );
  }
  logger.debug({ component: 'embedded', dir, port }, 'embedded redis-server started');
  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    description: `embedded redis-server (data in ${dir})`,
    stop() {
      stopping ??= new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM'); // redis-server flushes the AOF on SIGTERM
      });
      return stopping;
    },
  };
}

export async function startEmbeddedMongo(dataDir: string, logger: Logger): Promise<EmbeddedService> {
  const dir = resolve(dataDir, 'mongo');
  makeDataDir(dir);
  const systemBinary = onPath('mongod');
  let server: { getUri(): string; stop(options?: { doCleanup?: boolean }): Promise<boolean> };
  // The library reports a failed start on console.warn with a stack; we report it in one line.
  const warn = console.warn;
  try {
    const { MongoMemoryServer } = await import('mongodb-memory-server-core');
    console.warn = () => undefined;
    server = await MongoMemoryServer.create({
      instance: { dbPath: dir, storageEngine: 'wiredTiger', ip: '127.0.0.1' },
      ...(systemBinary ? { binary: { systemBinary } } : {}),
    });
  } catch (error) {
    const detail = (error as { msg?: unknown }).msg;
    const reason =
      typeof detail === 'string'
        ? detail
        : (error instanceof Error ? error.message : String(error)).split('\n')[0];
    throw new EmbeddedUnavailable(
      `no MongoDB: set MONGO_URL (e.g. mongodb://127.0.0.1:27017), or put mongod on PATH / set MONGOMS_SYSTEM_BINARY ` +
        `(embedded MongoDB could not start: ${reason})`,
    );
  } finally {
    console.warn = warn;
  }
  logger.debug({ component: 'embedded', dir }, 'embedded mongod started');
  let stopping: Promise<void> | undefined;
  return {
    url: server.getUri(),
    description: `embedded mongod (data in ${dir})`,
    stop() {
      stopping ??= server.stop({ doCleanup: false }).then(() => undefined);
      return stopping;
    },
  };
}
