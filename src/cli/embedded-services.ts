/**
 * Embedded Redis and MongoDB for `market-ingest start` when REDIS_URL / MONGO_URL are unset, so
 * `npm ci && npm start` works on a fresh machine. Data lives under ./data so a restart keeps it.
 *
 * - Redis: a `redis-server` binary on PATH, with AOF (appendfsync everysec); else the optional
 *   package redis-memory-server, which downloads and compiles Redis on first use (needs internet
 *   and a C compiler), with the same persistence.
 * - MongoDB: mongodb-memory-server-core with a persistent dbPath, using a `mongod` on PATH or
 *   MONGOMS_SYSTEM_BINARY (read by the library itself) when present, otherwise its download.
 * When neither can be had, `EmbeddedUnavailable` says in one line what to set instead. Each
 * server dies with this process, even on SIGKILL (a watchdog, or the libraries' own killers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { delimiter, join, resolve } from 'node:path';

import { serverAddress } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { messageOf } from '../shared/errors.js';

export interface EmbeddedService {
  url: string;
  /** e.g. "embedded redis-server at 127.0.0.1:41234 (data in /srv/app/data/redis)" */
  description: string;
  /** Where its data lives. */
  dataDir: string;
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

/** The first executable `binary` on `path` (the PATH of this process), or undefined. */
function onPath(binary: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
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

/** How long redis-server may take to shut down on SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000;

const NO_REDIS =
  'no Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379) or install redis-server (apt-get install redis-server, brew install redis)';

/**
 * AOF with fsync every second, under `dir`: a restart keeps the streams and the consumer group.
 * No RDB snapshots: the AOF is the copy, and a snapshot that cannot be written (disk full) makes
 * redis-server refuse to shut down.
 */
const persistence = (dir: string) => [
  '--dir',
  dir,
  '--appendonly',
  'yes',
  '--appendfsync',
  'everysec',
  '--save',
  '',
];

/**
 * Redis from `redis-server` on `searchPath`, else from redis-memory-server; EmbeddedUnavailable
 * with one line saying what to set when neither works.
 */
export async function startEmbeddedRedis(
  dataDir: string,
  logger: Logger,
  searchPath: string | undefined,
): Promise<EmbeddedService> {
  const dir = resolve(dataDir, 'redis');
  makeDataDir(dir);
  const port = await freePort();
  const binary = onPath('redis-server', searchPath);
  const server = binary
    ? await runRedisServer(binary, dir, port)
    : await runRedisMemoryServer(dir, port, logger);
  logger.debug({ component: 'embedded', dir, port }, 'embedded Redis started');
  return server;
}

async function runRedisServer(binary: string, dir: string, port: number): Promise<EmbeddedService> {
  // Its own process group, so a terminal's Ctrl-C reaches only us: we stop Redis last, after
  // the roles that write to it.
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', ...persistence(dir)], {
    stdio: 'ignore',
    detached: true,
  });
  try {
    await waitForPort(port, child, 10_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new EmbeddedUnavailable(
      `embedded redis-server did not start: ${(error as Error).message}; set REDIS_URL`,
    );
  }
  watchOver(child);
  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    description: `embedded redis-server at 127.0.0.1:${port} (data in ${dir})`,
    dataDir: dir,
    stop() {
      stopping ??= new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        // redis-server flushes the AOF on SIGTERM; one that cannot shut down is killed.
        const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        child.once('exit', () => {
          clearTimeout(kill);
          done();
        });
        child.kill('SIGTERM');
      });
      return stopping;
    },
  };
}

/**
 * Stops `child` if this process dies without doing so (SIGKILL, a crash): a small detached node
 * process polls both pids every second. mongodb-memory-server and redis-memory-server do the same.
 */
function watchOver(child: ChildProcess): void {
  const script = `
    const [parent, child, graceMs] = process.argv.slice(1).map(Number);
    const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    const signal = (name) => { try { process.kill(child, name); } catch {} };
    const timer = setInterval(() => {
      if (!alive(child)) process.exit(0);
      if (alive(parent)) return;
      clearInterval(timer);
      signal('SIGTERM');
      setTimeout(() => { signal('SIGKILL'); process.exit(0); }, graceMs);
      setInterval(() => { if (!alive(child)) process.exit(0); }, 100);
    }, 1000);`;
  const args = [String(process.pid), String(child.pid), String(STOP_GRACE_MS)];
  spawn(process.execPath, ['-e', script, ...args], {
    stdio: 'ignore',
    detached: true,
  }).unref();
}

/** The part of redis-memory-server's API used here (it is an optional dependency, loaded by name). */
interface RedisMemoryServerLike {
  stop(): Promise<boolean>;
}
interface RedisMemoryServerFactory {
  create(options: Record<string, unknown>): Promise<RedisMemoryServerLike>;
}
/** CommonJS seen from ESM: the class as a named export, or only on `default`. */
interface RedisMemoryServerModule {
  RedisMemoryServer?: RedisMemoryServerFactory;
  default?: RedisMemoryServerFactory & { RedisMemoryServer?: RedisMemoryServerFactory };
}
const REDIS_MEMORY_SERVER = 'redis-memory-server';

async function runRedisMemoryServer(dir: string, port: number, logger: Logger): Promise<EmbeddedService> {
  let module: RedisMemoryServerModule;
  try {
    module = (await import(REDIS_MEMORY_SERVER)) as RedisMemoryServerModule;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND';
    throw new EmbeddedUnavailable(
      `${NO_REDIS}; the optional package redis-memory-server ${missing ? 'is not installed' : `cannot be loaded: ${firstLine(error)}`}`,
    );
  }
  const factory = module.RedisMemoryServer ?? module.default?.RedisMemoryServer ?? module.default;
  logger.info(
    { component: 'embedded', dir },
    'redis-server is not on PATH: starting Redis with redis-memory-server (the first time, it downloads and compiles Redis)',
  );
  // The library reports a failed start on console.warn; we report it in one line.
  const warn = console.warn;
  console.warn = () => undefined;
  let server: RedisMemoryServerLike;
  try {
    if (!factory) throw new Error('it exports no RedisMemoryServer');
    server = await factory.create({
      autoStart: true,
      instance: { ip: '127.0.0.1', port, args: persistence(dir) },
    });
  } catch (error) {
    throw new EmbeddedUnavailable(
      `${NO_REDIS}; redis-memory-server could not build or start one (it needs internet and a C compiler): ${firstLine(error)}`,
    );
  } finally {
    console.warn = warn;
  }
  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    description: `embedded Redis (redis-memory-server) at 127.0.0.1:${port} (data in ${dir})`,
    dataDir: dir,
    stop() {
      stopping ??= server.stop().then(() => undefined);
      return stopping;
    },
  };
}

function firstLine(error: unknown): string {
  const detail = (error as { msg?: unknown } | undefined)?.msg;
  const text = typeof detail === 'string' ? detail : messageOf(error);
  return text.split('\n')[0] ?? text;
}

export async function startEmbeddedMongo(
  dataDir: string,
  logger: Logger,
  searchPath: string | undefined,
): Promise<EmbeddedService> {
  const dir = resolve(dataDir, 'mongo');
  makeDataDir(dir);
  const systemBinary = onPath('mongod', searchPath);
  let server: { getUri(): string; stop(options?: { doCleanup?: boolean }): Promise<boolean> };
  // The library reports a failed start on console.warn with a stack; we report it in one line.
  const warn = console.warn;
  try {
    const { MongoMemoryServer } = await import('mongodb-memory-server-core');
    console.warn = () => undefined;
    server = await MongoMemoryServer.create({
      // A slow first start (a busy machine, a fresh dbPath) is not a failure.
      instance: { dbPath: dir, storageEngine: 'wiredTiger', ip: '127.0.0.1', launchTimeout: 30_000 },
      ...(systemBinary ? { binary: { systemBinary } } : {}),
    });
  } catch (error) {
    throw new EmbeddedUnavailable(
      `no MongoDB: set MONGO_URL (e.g. mongodb://127.0.0.1:27017), or put mongod on PATH / set MONGOMS_SYSTEM_BINARY ` +
        `(embedded MongoDB could not start: ${firstLine(error)})`,
    );
  } finally {
    console.warn = warn;
  }
  logger.debug({ component: 'embedded', dir }, 'embedded mongod started');
  let stopping: Promise<void> | undefined;
  const url = server.getUri();
  return {
    url,
    description: `embedded mongod at ${serverAddress(url)} (data in ${dir})`,
    dataDir: dir,
    stop() {
      stopping ??= server.stop({ doCleanup: false }).then(() => undefined);
      return stopping;
    },
  };
}
