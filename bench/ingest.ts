/**
 * Ingest throughput against a bare Fastify baseline (numbers in BENCHMARKS.md).
 *
 *   npm run bench                         # 3 rounds x (bare, ingest), 10 s each, then a CPU profile
 *   npm run bench -- --rounds 5 --duration 20 --connections 100 --no-profile
 *
 * The load generator (autocannon) runs in this process; every server under test runs in a fresh
 * child process of its own, so they never share an event loop with the generator. Both servers get
 * the identical request stream: distinct, correctly signed ~1 KB TikTok order webhooks, so the
 * ingest side verifies each one and nothing is deduplicated. Ingest is the real thing
 * (`startIngest`): fail-fast Redis client, Redis-backed rate limiter, HMAC over the raw body, zod,
 * the dedupe+XADD Lua script, metrics. Its rate limit is raised so it counts but never rejects.
 *
 * Other modes: `--serve bare|ingest` (what each child runs; prints "READY <url>"),
 * `--target URL` (load a server started by hand, e.g. under a profiler),
 * `--summarise-profile FILE` (self time by package and function of a .cpuprofile).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import Fastify from 'fastify';

import { startIngest } from '../src/ingest/main.js';
import { loadConfig } from '../src/shared/config.js';
import { installGracefulShutdown } from '../src/shared/lifecycle.js';
import { createLogger } from '../src/shared/logger.js';
import { closeRedis, createRedis, type Redis } from '../src/shared/redis.js';
import { redisServerVersion, startRedisServer } from '../test/support/processes.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const APP_KEY = 'bench_app_key';
const APP_SECRET = 'bench_app_secret';
const STREAM_KEY = 'bench:events';

type Mode = 'bare' | 'ingest';

// ---------------------------------------------------------------------------------------------
// Child: one server, announces "READY <url>" on stdout, exits 0 on SIGTERM.

async function serve(mode: Mode): Promise<void> {
  if (mode === 'bare') {
    const app = Fastify();
    app.post('/webhooks/tiktok', () => ({ ok: true }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    installGracefulShutdown({
      components: [{ name: 'http', close: () => app.close() }],
      timeoutMs: 5_000,
      logger: createLogger({ level: 'warn', pretty: false }),
    });
    process.stdout.write(`READY ${url}\n`);
    return;
  }
  const config = loadConfig({
    REDIS_URL: process.env.REDIS_URL,
    HOST: '127.0.0.1',
    PORT: '0',
    STREAM_KEY,
    // Bounded memory over a long run; trimming (MAXLEN ~) is part of the measured cost.
    STREAM_MAXLEN: '100000',
    WEBHOOK_RATE_LIMIT_PER_MINUTE: '100000000',
    TIKTOK_APP_KEY: APP_KEY,
    TIKTOK_APP_SECRET: APP_SECRET,
    LOG_LEVEL: 'info',
  });
  const logger = createLogger({ level: config.logLevel, pretty: false });
  const ingest = await startIngest(config, logger);
  installGracefulShutdown({
    components: [{ name: 'ingest', close: () => ingest.close() }],
    timeoutMs: 5_000,
    logger,
  });
  process.stdout.write(`READY ${ingest.address}\n`);
}

// ---------------------------------------------------------------------------------------------
// Parent: load generation and reporting.

interface ServerChild {
  child: ChildProcess;
  url: string;
  stop(): Promise<number | null>;
}

async function startServer(mode: Mode, redisUrl: string, nodeFlags: string[] = []): Promise<ServerChild> {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', SELF, '--serve', mode], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: redisUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start`)), 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('READY ')) {
        clearTimeout(timer);
        resolve(line.slice('READY '.length));
      } else if (/"level":"(warn|error|fatal)"/.test(line)) {
        process.stderr.write(`[${mode}] ${line}\n`);
      }
    });
    void exited.then((code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
  return {
    child,
    url,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** A realistic ~1 KB TikTok order notification, unique per call, signed as TikTok signs it. */
function webhookFactory(): () => { body: string; signature: string } {
  const run = randomBytes(4).toString('hex');
  let sequence = 0;
  const note = 'Please deliver between 9:00 and 17:00, call before arrival. '.repeat(13);
  return () => {
    sequence += 1;
    const body = JSON.stringify({
      type: 1,
      tts_notification_id: `${run}-${sequence}`,
      shop_id: '7494012345678901234',
      timestamp: 1732182600,
      data: {
        order_id: `5764614130${String(sequence).padStart(8, '0')}`,
        order_status: 'AWAITING_SHIPMENT',
        is_on_hold_order: false,
        update_time: 1732182598,
        buyer_message: note,
      },
    });
    const signature = createHmac('sha256', APP_SECRET).update(APP_KEY).update(body).digest('hex');
    return { body, signature };
  };
}

interface Measurement {
  mode: Mode;
  rps: number;
  p50: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
  /** CPU (user + system) the server process used per request during the measured run, in µs. */
  serverCpuMicros?: number;
  /** Same for redis-server (from INFO cpu). */
  redisCpuMicros?: number;
}

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** user + system CPU seconds of a process, from /proc (Linux); undefined elsewhere. */
function processCpuSeconds(pid: number | undefined): number | undefined {
  try {
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const value = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return value('used_cpu_user') + value('used_cpu_sys');
}

async function load(url: string, seconds: number, connections: number): Promise<autocannon.Result> {
  const next = webhookFactory();
  return autocannon({
    url: `${url}/webhooks/tiktok`,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          const { body, signature } = next();
          return {
            ...request,
            body,
            headers: { 'content-type': 'application/json', authorization: signature },
          };
        },
      },
    ],
  });
}

async function measure(
  mode: Mode,
  redis: Redis,
  redisUrl: string,
  options: { seconds: number; warmup: number; connections: number },
): Promise<Measurement> {
  const server = await startServer(mode, redisUrl);
  try {
    await load(server.url, options.warmup, options.connections); // JIT, pools, script cache
    const cpuBefore = processCpuSeconds(server.child.pid);
    const redisBefore = await redisCpuSeconds(redis);
    const result = await load(server.url, options.seconds, options.connections);
    const cpuAfter = processCpuSeconds(server.child.pid);
    const redisAfter = await redisCpuSeconds(redis);
    const perRequest = (seconds: number) => (seconds * 1e6) / result.requests.total;
    return {
      mode,
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      total: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      serverCpuMicros:
        cpuBefore === undefined || cpuAfter === undefined ? undefined : perRequest(cpuAfter - cpuBefore),
      redisCpuMicros: perRequest(redisAfter - redisBefore),
    };
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// CPU profile summary: self time per function and per package/file.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = path.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  return relative(ROOT, path);
}

/** Stages of the webhook path, matched against a sample's stack (function name @ file). */
const STAGES: [label: string, matches: (frame: string) => boolean][] = [
  ['signature check (HMAC over the raw body)', (f) => f.startsWith('verify@') && f.includes('/webhook.ts')],
  ['envelope parse + zod validation + mapping', (f) => f.startsWith('toStreamEntry@')],
  [
    'Redis batch: build and write the script call',
    (f) => f.startsWith('send@') && f.includes('/ingest/append.ts'),
  ],
  [
    'rate limiter (plugin + store)',
    (f) => f.includes('@fastify/rate-limit') || f.includes('/ingest/rate-limit.ts'),
  ],
  ['Redis replies (parser, promise resolution)', (f) => f.includes('ioredis/built/DataHandler')],
  ['HTTP response write', (f) => f.includes('node:_http_outgoing')],
  ['HTTP request parse, routing, onRequest hooks', (f) => f.startsWith('parserOnHeadersComplete@')],
];

export function summariseProfile(file: string, top = 15): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  let total = 0;
  let idle = 0;
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  const byStage = new Map<string, number>(STAGES.map(([label]) => [label, 0]));
  for (const [id, micros] of selfMicros) {
    total += micros;
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') {
      idle += micros;
      continue;
    }
    const name = frame.functionName || '(anonymous)';
    const place = where(frame.url);
    const key = frame.url ? `${name}  ${place}:${frame.lineNumber + 1}` : name;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
    const group = frame.url ? place : name; // (garbage collector), (program), native functions
    byPlace.set(group, (byPlace.get(group) ?? 0) + micros);
    // Inclusive: a sample counts once for each stage found anywhere on its stack.
    const stack: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const f = byId.get(at)!.callFrame;
      stack.push(`${f.functionName}@${f.url}`);
    }
    for (const [label, matches] of STAGES)
      if (stack.some(matches)) byStage.set(label, byStage.get(label)! + micros);
  }
  const busy = total - idle;
  const pct = (micros: number) => `${((100 * micros) / busy).toFixed(1).padStart(5)}%`;
  const rank = (map: Map<string, number>, limit = top) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([k, v]) => `  ${pct(v)}  ${k}`)
      .join('\n');
  return [
    `profile ${file}: ${(total / 1e6).toFixed(1)} s sampled, ${((100 * idle) / total).toFixed(0)}% idle; ` +
      'shares below are of the busy (non-idle) time',
    'inclusive time by stage of the webhook path:',
    rank(byStage, STAGES.length),
    'self time by package / file:',
    rank(byPlace),
    'self time by function:',
    rank(byFunction),
  ].join('\n');
}

async function profileIngest(redisUrl: string, seconds: number, connections: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mi-bench-prof-'));
  try {
    const server = await startServer('ingest', redisUrl, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    await load(server.url, 3, connections);
    await load(server.url, seconds, connections);
    const code = await server.stop();
    if (code !== 0) throw new Error(`profiled server exited with ${code}`);
    // One file per thread (tsx runs a loader thread too); the main thread's is the largest.
    const file = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0];
    if (!file) throw new Error('no .cpuprofile written');
    return summariseProfile(join(dir, file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fmt(m: Measurement): string {
  const problems = m.non2xx || m.errors ? `  (non-2xx ${m.non2xx}, errors ${m.errors})` : '';
  const cpu =
    m.serverCpuMicros === undefined
      ? ''
      : `  cpu/req: server ${m.serverCpuMicros.toFixed(0)} µs, redis ${(m.redisCpuMicros ?? 0).toFixed(0)} µs`;
  return `${m.mode.padEnd(6)} ${m.rps.toFixed(0).padStart(7)} req/s  p50 ${String(m.p50).padStart(3)} ms  p99 ${String(m.p99).padStart(3)} ms  ${m.total} requests${cpu}${problems}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      serve: { type: 'string' },
      'summarise-profile': { type: 'string' },
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '100' },
      'no-profile': { type: 'boolean', default: false },
      target: { type: 'string' },
    },
  });
  if (values.serve === 'bare' || values.serve === 'ingest') return serve(values.serve);
  if (values['summarise-profile']) {
    process.stdout.write(`${summariseProfile(values['summarise-profile'])}\n`);
    return;
  }

  const rounds = Number(values.rounds);
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  const warmup = Number(values.warmup);
  if (values.target) {
    // Load a server started by hand (e.g. under a profiler): `--serve ingest` prints its URL.
    const result = await load(values.target, seconds, connections);
    const m: Measurement = {
      mode: 'ingest',
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      total: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
    };
    process.stdout.write(`${fmt(m)}\n`);
    return;
  }
  const redisServer = await startRedisServer();
  const redis = createRedis({ url: redisServer.url, name: 'bench', logger: createLogger({ level: 'warn' }) });
  process.stdout.write(
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
      `node ${process.version}, redis ${redisServerVersion()}\n` +
      `load: ${connections} connections, ${seconds} s per run after ${warmup} s warm-up, ${rounds} rounds, ` +
      `distinct signed ~1 KB TikTok bodies\n\n`,
  );
  const ratios: number[] = [];
  const all: Measurement[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const bare = await measure('bare', redis, redisServer.url, { seconds, warmup, connections });
      const ingest = await measure('ingest', redis, redisServer.url, { seconds, warmup, connections });
      all.push(bare, ingest);
      const ratio = ingest.rps / bare.rps;
      ratios.push(ratio);
      process.stdout.write(
        `round ${round}\n  ${fmt(bare)}\n  ${fmt(ingest)}\n  ratio ingest/bare ${ratio.toFixed(2)}\n`,
      );
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const of = (mode: Mode) => all.filter((m) => m.mode === mode);
    process.stdout.write(
      `\nmean: bare ${mean(of('bare').map((m) => m.rps)).toFixed(0)} req/s, ` +
        `ingest ${mean(of('ingest').map((m) => m.rps)).toFixed(0)} req/s, ratio ${mean(ratios).toFixed(2)} ` +
        `(min ${Math.min(...ratios).toFixed(2)}); worst ingest p99 ${Math.max(...of('ingest').map((m) => m.p99))} ms\n`,
    );
    if (!values['no-profile']) {
      process.stdout.write(`\nprofiling ingest (--cpu-prof) under the same load for ${seconds} s...\n`);
      process.stdout.write(`${await profileIngest(redisServer.url, seconds, connections)}\n`);
    }
  } finally {
    await closeRedis(redis);
    await redisServer.stop();
  }
}

await main();
