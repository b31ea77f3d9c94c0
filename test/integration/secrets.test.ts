/**
 * issue 12 #2: no secret in any output. The roles and the ops commands run as real processes with
 * a distinctive value in every secret variable, against a Redis user given the wrong password, a
 * MongoDB URL whose password the server refuses, and the right credentials. Everything they write
 * to stdout and stderr, and what ingest serves on /metrics and /readyz, is searched for the secrets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { closeRedis, createRedis } from '../../src/shared/redis.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';
import { startFakeMarketplace, type FakeMarketplace } from '../support/fake-marketplace/index.js';
import { sleep, waitFor } from '../support/wait.js';

const CLI = join(process.cwd(), 'src/cli.ts');
const TSX = join(process.cwd(), 'node_modules/tsx/dist/esm/index.mjs');

const KEY = randomBytes(32);
const SECRETS = {
  TIKTOK_APP_SECRET: 'tts-app-secret-Q7v2Lx9w',
  SHOPEE_PARTNER_KEY: 'shopee-partner-key-Zr4Kp8n',
  SHOPEE_PUSH_PARTNER_KEY: 'shopee-push-key-Hm3Wd6q',
  TOKEN_ENCRYPTION_KEY: KEY.toString('hex'),
  'TOKEN_ENCRYPTION_KEY (base64)': KEY.toString('base64'),
  'Redis password': 'redis-pass-Ub5Ny1k',
  'wrong Redis password': 'wrong-redis-pass-Xe8Tc3',
  'MongoDB password': 'mongo-pass-Jf6Rs2z',
  'shop access token': 'shop-access-token-Vk9Pq4m',
  'shop refresh token': 'shop-refresh-token-Ty2Gb7c',
};

/** The names of the secrets `text` contains. */
function leaked(text: string, extra: Record<string, string> = {}): string[] {
  return Object.entries({ ...SECRETS, ...extra })
    .filter(([, value]) => text.includes(value))
    .map(([name]) => name);
}

interface CliRun {
  name: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process exited and its output is read. */
  closed: Promise<number | null>;
}

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function spawnCli(argv: string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...argv], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { name: argv.join(' '), child, output: () => output, closed };
}

/** Waits for the process to end by itself; a role still running after `ms` is stopped with SIGTERM. */
async function finish(run: CliRun, ms = 60_000): Promise<number | null> {
  const ended = await Promise.race([run.closed.then(() => true), sleep(ms).then(() => false)]);
  if (!ended) run.child.kill('SIGTERM');
  return run.closed;
}

async function waitForOutput(run: CliRun, pattern: RegExp, ms = 60_000): Promise<RegExpExecArray> {
  await waitFor(() => pattern.test(run.output()) || run.child.exitCode !== null, ms);
  const match = pattern.exec(run.output());
  if (!match) throw new Error(`${run.name} exited without printing ${String(pattern)}:\n${run.output()}`);
  return match;
}

async function stop(run: CliRun): Promise<number | null> {
  run.child.kill('SIGTERM');
  return run.closed;
}

interface Setup {
  env: TestEnv;
  fake: FakeMarketplace;
  redisUrl: (password: string) => string;
  mongoUrl: (password?: string) => string;
  /** Every variable: secrets set, the test's own keys and database, the fake marketplace. */
  baseEnv: Record<string, string>;
}

/**
 * The test's own keys and database, a fake marketplace that signs with the secret values, and a
 * Redis ACL user whose password is the right one (the default user stays as the harness has it).
 */
async function setup(): Promise<Setup> {
  const env = createTestEnv();
  cleanups.push(() => env.cleanup());
  const fake = await startFakeMarketplace({
    seed: 12,
    tiktok: { appSecret: SECRETS.TIKTOK_APP_SECRET },
    shopee: { partnerKey: SECRETS.SHOPEE_PARTNER_KEY, pushPartnerKey: SECRETS.SHOPEE_PUSH_PARTNER_KEY },
  });
  cleanups.push(() => fake.close());

  const user = `${env.id}-user`;
  const admin = createRedis({ url: env.redisUrl, name: 'secrets-admin', logger: silentLogger });
  await admin.call('ACL', 'SETUSER', user, 'on', `>${SECRETS['Redis password']}`, '~*', '&*', '+@all');
  cleanups.push(async () => {
    await admin.call('ACL', 'DELUSER', user).catch(() => undefined);
    await closeRedis(admin);
  });

  const withCredentials = (base: string, username: string, password: string | undefined) => {
    const url = new URL(base);
    url.username = password === undefined ? '' : username;
    url.password = password ?? '';
    return url.toString();
  };
  const { config } = env;
  return {
    env,
    fake,
    redisUrl: (password) => withCredentials(env.redisUrl, user, password),
    mongoUrl: (password) => withCredentials(env.mongoUrl, 'market', password),
    baseEnv: {
      TIKTOK_APP_KEY: fake.credentials.tiktok.appKey,
      TIKTOK_APP_SECRET: SECRETS.TIKTOK_APP_SECRET,
      TIKTOK_API_BASE_URL: fake.tiktokBaseUrl,
      TIKTOK_AUTH_BASE_URL: fake.authBaseUrl,
      SHOPEE_PARTNER_ID: String(fake.credentials.shopee.partnerId),
      SHOPEE_PARTNER_KEY: SECRETS.SHOPEE_PARTNER_KEY,
      SHOPEE_PUSH_PARTNER_KEY: SECRETS.SHOPEE_PUSH_PARTNER_KEY,
      SHOPEE_API_BASE_URL: fake.shopeeBaseUrl,
      TOKEN_ENCRYPTION_KEY: SECRETS.TOKEN_ENCRYPTION_KEY,
      MONGO_DB: config.mongoDb,
      STREAM_KEY: config.streamKey,
      DEAD_LETTER_STREAM_KEY: config.deadLetterStreamKey,
      CHANGES_STREAM_KEY: config.changesStreamKey,
      CONSUMER_GROUP: config.consumerGroup,
      HOST: '127.0.0.1',
      PORT: '0',
      CLAIM_IDLE_MS: '1000',
      LOG_LEVEL: 'trace',
    },
  };
}

/**
 * A TikTok shop at the fake marketplace, registered with `shops add` under the secret tokens; its
 * access token has expired, so the worker refreshes it (app secret and refresh token on the wire).
 */
async function registerShop(s: Setup, env: Record<string, string>) {
  const expired = new Date(Date.now() - 60_000);
  const shop = s.fake.addShop('tiktok', {
    accessToken: SECRETS['shop access token'],
    refreshToken: SECRETS['shop refresh token'],
    accessTokenExpiresAt: expired,
  });
  const flags = {
    platform: 'tiktok',
    'shop-id': shop.shopId,
    'shop-cipher': shop.shopCipher!,
    'access-token': SECRETS['shop access token'],
    'refresh-token': SECRETS['shop refresh token'],
    'access-token-expires-at': expired.toISOString(),
  };
  const add = spawnCli(['shops', 'add', ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v])], env);
  expect(await finish(add)).toBe(0);
  return { shop, output: add.output() };
}

/** Asserts that no run's output (nor any served body) holds a secret, naming the run that leaked. */
function expectNoSecrets(outputs: Record<string, string>, extra: Record<string, string> = {}): void {
  const leaks = Object.entries(outputs)
    .map(([name, text]) => ({ name, secrets: leaked(text, extra) }))
    .filter((leak) => leak.secrets.length > 0);
  expect(
    leaks,
    Object.entries(outputs)
      .map(([n, t]) => `--- ${n}\n${t}`)
      .join('\n'),
  ).toEqual([]);
}

describe('no secret in any output', () => {
  it('issue 12 #2: a failing-auth run (wrong Redis password) prints and logs no secret', async () => {
    const s = await setup();
    const env = {
      ...s.baseEnv,
      REDIS_URL: s.redisUrl(SECRETS['wrong Redis password']),
      MONGO_URL: s.mongoUrl(),
    };
    const outputs: Record<string, string> = {};

    const roles = ['worker', 'start'].map((role) => spawnCli([role], env));
    const ingest = spawnCli(['ingest'], env);
    const commands = [['pending'], ['dlq', 'list'], ['shops', 'list'], ['config']].map((argv) =>
      spawnCli(argv, env),
    );

    const address = (await waitForOutput(ingest, /listening on (http:\/\/[\w.:-]+)/))[1]!;
    const order = await s.fake.sendTikTokWebhook(`${address}/webhooks/tiktok`, {
      type: 1,
      tts_notification_id: 'secrets-wrong-redis',
      shop_id: '1',
      data: { order_id: '1', update_time: 1 },
    });
    expect(order.status).toBe(503); // Redis refuses us: not stored
    outputs['ingest /readyz'] = await (await fetch(`${address}/readyz`)).text();
    outputs['ingest /metrics'] = await (await fetch(`${address}/metrics`)).text();
    await stop(ingest);

    for (const run of [...roles, ...commands]) await finish(run);
    for (const run of [...roles, ingest, ...commands]) outputs[run.name] = run.output();

    // The runs did meet the refusal they are about.
    for (const run of [...roles, commands[0]!, commands[1]!]) expect(run.output()).toContain('WRONGPASS');
    expect(await commands[0]!.closed).toBe(1);
    expect(await commands[3]!.closed).toBe(0);
    expectNoSecrets(outputs);
  }, 180_000);

  it('issue 12 #2: a failing-auth run (MongoDB refuses the password in MONGO_URL) prints and logs no secret', async () => {
    const s = await setup();
    const env = {
      ...s.baseEnv,
      REDIS_URL: s.redisUrl(SECRETS['Redis password']),
      MONGO_URL: s.mongoUrl(SECRETS['MongoDB password']),
    };
    const runs = [['worker'], ['start'], ['shops', 'list'], ['config']].map((argv) => spawnCli(argv, env));
    const codes = await Promise.all(runs.map((run) => finish(run)));

    expect(codes).toEqual([1, 1, 1, 0]);
    for (const run of runs.slice(0, 3)) expect(run.output()).toContain('MongoDB');
    expectNoSecrets(Object.fromEntries(runs.map((run) => [run.name, run.output()])));
  }, 180_000);

  it('issue 12 #2: with the right credentials, a webhook stored end to end, nothing printed or logged holds a secret', async () => {
    const s = await setup();
    const env = { ...s.baseEnv, REDIS_URL: s.redisUrl(SECRETS['Redis password']), MONGO_URL: s.mongoUrl() };
    const outputs: Record<string, string> = {};

    const { shop, output } = await registerShop(s, env);
    outputs['shops add'] = output;
    const [order] = s.fake.seedOrders('tiktok', shop.shopId, 1);

    const start = spawnCli(['start'], env);
    const address = (await waitForOutput(start, /listening on (http:\/\/[\w.:-]+)/))[1]!;
    const body = {
      type: 1,
      tts_notification_id: 'secrets-right',
      shop_id: shop.shopId,
      timestamp: Math.floor(Date.now() / 1000),
      data: { order_id: order!.id, order_status: 'AWAITING_SHIPMENT', update_time: order!.update_time },
    };
    expect((await s.fake.sendTikTokWebhook(`${address}/webhooks/tiktok`, body)).status).toBe(200);
    const forged = await fetch(`${address}/webhooks/tiktok`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'f'.repeat(64) },
      body: JSON.stringify({ ...body, tts_notification_id: 'forged' }),
    });
    expect(forged.status).toBe(401);
    const { db } = await s.env.mongo();
    await waitFor(async () => (await db.collection('orders').countDocuments()) === 1, 60_000);
    outputs['start /readyz'] = await (await fetch(`${address}/readyz`)).text();
    outputs['start /metrics'] = await (await fetch(`${address}/metrics`)).text();
    expect(await stop(start)).toBe(0);
    outputs.start = start.output();

    const worker = spawnCli(['worker'], env);
    const ingest = spawnCli(['ingest'], env);
    const commands = [['pending'], ['dlq', 'list'], ['shops', 'list'], ['config', '--json']].map((argv) =>
      spawnCli(argv, env),
    );
    await waitForOutput(worker, /worker started/);
    await waitForOutput(ingest, /listening on/);
    expect(await Promise.all([stop(worker), stop(ingest), ...commands.map((run) => finish(run))])).toEqual([
      0, 0, 0, 0, 0, 0,
    ]);
    for (const run of [worker, ingest, ...commands]) outputs[run.name] = run.output();

    // The refreshed tokens the worker stored are secrets too.
    const refreshed = s.fake.toShop('tiktok', shop.shopId);
    expect(refreshed.access_token).not.toBe(SECRETS['shop access token']);
    expectNoSecrets(outputs, {
      'refreshed access token': refreshed.access_token,
      'refreshed refresh token': refreshed.refresh_token!,
    });
  }, 240_000);
});
