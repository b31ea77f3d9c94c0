/**
 * Real service processes for tests: a redis-server, a mongod, or the MongoDB wire emulator,
 * each on a free port with its own temporary directory, stopped (and its directory removed)
 * by `stop()`. Tests that need to take a server down and bring it back use `restart()`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ServiceProcess {
  url: string;
  port: number;
  /** One line for the test log, e.g. "redis-server 7.0.15 on 127.0.0.1:40123". */
  description: string;
  /** Stops the process; keeps its data directory so restart() comes back with the same data. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port after kill(). */
  restart(): Promise<void>;
  /** Stops it and removes its data directory. Idempotent. */
  stop(): Promise<void>;
}

const HERE = dirname(fileURLToPath(import.meta.url));
export const EMULATOR_SCRIPT = join(HERE, 'mongo-emulator', 'server.py');
export const DEBIAN_PYTHON = '/usr/bin/python3';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export function findOnPath(binary: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  const path = result.stdout.trim();
  return result.status === 0 && path ? path : undefined;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`process exited with code ${child.exitCode} before listening`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.connect(port, '127.0.0.1');
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function killChild(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited(child);
  clearTimeout(timer);
}

interface Launch {
  command: string;
  args: (port: number, dir: string) => string[];
  url: (port: number) => string;
  describe: (port: number) => string;
  /** Resolves once the process serves; defaults to waiting for the TCP port. */
  ready?: (child: ChildProcess, port: number) => Promise<void>;
  stdin?: 'pipe' | 'ignore';
}

async function launch(spec: Launch, dirPrefix: string): Promise<ServiceProcess> {
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let stderr = '';

  const start = async () => {
    stderr = '';
    const proc = spawn(spec.command, spec.args(port, dir), {
      stdio: [spec.stdin ?? 'ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    try {
      await (spec.ready ? spec.ready(proc, port) : waitForPort(port, proc, 15_000));
    } catch (error) {
      await killChild(proc, 'SIGKILL');
      throw new Error(`${spec.command} did not start: ${(error as Error).message}\n${stderr}`);
    }
  };
  await start();

  let stopped = false;
  return {
    url: spec.url(port),
    port,
    description: spec.describe(port),
    kill: (signal = 'SIGTERM') => killChild(child, signal),
    restart: start,
    async stop() {
      if (stopped) return;
      stopped = true;
      await killChild(child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function redisServerVersion(binary = 'redis-server'): string {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return /v=(\S+)/.exec(out)?.[1] ?? 'unknown';
}

export function startRedisServer(
  binary = findOnPath('redis-server') ?? 'redis-server',
): Promise<ServiceProcess> {
  const version = redisServerVersion(binary);
  return launch(
    {
      command: binary,
      // No persistence: tests own their data, and a restart starting empty is what "Redis lost
      // everything" looks like. --dir keeps any stray file out of the repo.
      args: (port, dir) => [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--logfile',
        '',
        '--loglevel',
        'warning',
      ],
      url: (port) => `redis://127.0.0.1:${port}`,
      describe: (port) => `redis-server ${version} on 127.0.0.1:${port}`,
    },
    'mi-redis-',
  );
}

export function startMongod(binary: string): Promise<ServiceProcess> {
  const version = /db version v(\S+)/.exec(
    spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout ?? '',
  )?.[1];
  return launch(
    {
      command: binary,
      args: (port, dir) => ['--port', String(port), '--bind_ip', '127.0.0.1', '--dbpath', dir, '--quiet'],
      url: (port) => `mongodb://127.0.0.1:${port}`,
      describe: (port) => `mongod ${version ?? 'unknown'} on 127.0.0.1:${port}`,
    },
    'mi-mongod-',
  );
}

/** True when the emulator can run here: Debian's python with mockupdb and mongomock. */
export function emulatorAvailable(python = DEBIAN_PYTHON): boolean {
  if (!existsSync(python) || !existsSync(EMULATOR_SCRIPT)) return false;
  return spawnSync(python, ['-c', 'import mockupdb, mongomock'], { stdio: 'ignore' }).status === 0;
}

export function startMongoEmulator(python = DEBIAN_PYTHON): Promise<ServiceProcess> {
  let version = 'unknown';
  return launch(
    {
      command: python,
      args: (port) => [EMULATOR_SCRIPT, '--host', '127.0.0.1', '--port', String(port)],
      url: (port) => `mongodb://127.0.0.1:${port}/?directConnection=true`,
      describe: (port) => `emulator (mongomock ${version}) on 127.0.0.1:${port}`,
      // stdin stays open as a pipe: when this process dies, the emulator sees EOF and exits.
      stdin: 'pipe',
      ready: (child) =>
        new Promise<void>((resolve, reject) => {
          const lines = createInterface({ input: child.stdout! });
          const timer = setTimeout(() => reject(new Error('no READY line within 15 s')), 15_000);
          lines.on('line', (line) => {
            const match = /^READY (\d+) mongomock (\S+)/.exec(line);
            if (!match) return;
            version = match[2]!;
            clearTimeout(timer);
            resolve();
          });
          child.once('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`emulator exited with code ${code}`));
          });
        }),
    },
    'mi-mongo-emulator-',
  );
}
