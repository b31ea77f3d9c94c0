/**
 * `market-ingest webhook send` against a real ingest (in-process, real Redis): with the
 * deployment's secrets it is accepted (200, exit 0) and lands in the stream as the right kind;
 * with other secrets, another Shopee push key or callback URL it is refused (401, exit 1); no
 * secrets, no answer and bad flags each say so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch, type CliIo } from '../../src/cli/dispatch.js';
import { startIngest, type RunningIngest } from '../../src/ingest/main.js';
import { WEBHOOK_TYPES } from '../../src/sandbox/webhooks.js';
import { decodeStreamEntry } from '../../src/shared/stream.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';

const SECRETS = {
  TIKTOK_APP_KEY: 'deploy-app-key',
  TIKTOK_APP_SECRET: 'deploy-app-secret-5f1c',
  SHOPEE_PARTNER_ID: '2001234',
  SHOPEE_PARTNER_KEY: 'deploy-partner-key-77aa',
  SHOPEE_PUSH_PARTNER_KEY: 'deploy-push-key-91bb',
};
const CALLBACK_URL = 'https://hooks.example.com/webhooks/shopee';

/** Two deployments: one rebuilds the Shopee callback URL from the request, one has SHOPEE_WEBHOOK_URL. */
let env: TestEnv;
let ingest: RunningIngest;
let registered: RunningIngest;

beforeAll(async () => {
  env = createTestEnv({ ...SECRETS, HOST: '127.0.0.1', PORT: '0' });
  ingest = await startIngest(env.config, silentLogger);
  registered = await startIngest(
    { ...env.config, shopee: { ...env.config.shopee!, webhookUrl: CALLBACK_URL } },
    silentLogger,
  );
});

afterAll(async () => {
  await ingest?.close();
  await registered?.close();
  await env?.cleanup();
});

async function send(senderEnv: Record<string, string>, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    env: { LOG_LEVEL: 'silent', ...senderEnv },
    isTTY: false,
  };
  const code = await dispatch(COMMANDS, ['webhook', 'send', ...argv], io);
  return { code, out: out.join(''), err: err.join('') };
}

async function lastEntry() {
  const entries = await env.redis().xrevrange(env.config.streamKey, '+', '-', 'COUNT', 1);
  const [, fields] = entries[0]!;
  return decodeStreamEntry(fields);
}

const KINDS: Record<string, string> = {
  1: 'order',
  11: 'order',
  3: 'order',
  4: 'order',
  12: 'return',
  29: 'return',
  5: 'product',
};

describe('market-ingest webhook send', () => {
  for (const platform of ['tiktok', 'shopee'] as const) {
    for (const type of WEBHOOK_TYPES[platform].keys()) {
      it(`${platform} type ${type} with the deployment's secrets: 200, exit 0, stored as its kind`, async () => {
        const url = `${ingest.address}/webhooks/${platform}`;
        const result = await send(SECRETS, '--platform', platform, '--type', String(type), '--url', url);
        expect(result.err).toBe('');
        expect(result.out).toMatch(/^HTTP 200 OK$/m);
        expect(result.out).toMatch(/"ok":true/);
        expect(result.code).toBe(0);
        expect(await lastEntry()).toMatchObject({
          platform,
          kind: KINDS[type] ?? 'shop',
          event_type: String(type),
        });
      });
    }
  }

  it('with another TikTok secret: 401, exit 1, and the secrets appear nowhere in the output', async () => {
    const wrong = { ...SECRETS, TIKTOK_APP_SECRET: 'stale-secret-0000' };
    const url = `${ingest.address}/webhooks/tiktok`;
    const result = await send(wrong, '--platform', 'tiktok', '--type', '1', '--url', url);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/^HTTP 401 Unauthorized$/m);
    expect(result.out).toContain('ERR_SIGNATURE');
    expect(result.out).toMatch(/signature refused/);
    for (const secret of ['stale-secret-0000', ...Object.values(SECRETS)])
      expect(`${result.out}${result.err}`).not.toContain(secret);
  });

  it('Shopee signs with the push key: without it (partner key only) the push is refused', async () => {
    const { SHOPEE_PUSH_PARTNER_KEY: _push, ...partnerOnly } = SECRETS;
    const url = `${ingest.address}/webhooks/shopee`;
    const refused = await send(partnerOnly, '--platform', 'shopee', '--type', '3', '--url', url);
    expect(refused.out).toMatch(/^HTTP 401/m);
    expect(refused.code).toBe(1);
  });

  it('Shopee signs SHOPEE_WEBHOOK_URL when set: accepted by a deployment that registered it, refused otherwise', async () => {
    const url = `${registered.address}/webhooks/shopee`;
    const signedForCallback = await send(
      { ...SECRETS, SHOPEE_WEBHOOK_URL: CALLBACK_URL },
      '--platform',
      'shopee',
      '--type',
      '29',
      '--url',
      url,
    );
    expect(signedForCallback.out).toMatch(/^HTTP 200/m);
    expect(signedForCallback.code).toBe(0);
    const signedForLocal = await send(SECRETS, '--platform', 'shopee', '--type', '29', '--url', url);
    expect(signedForLocal.out).toMatch(/^HTTP 401/m);
    expect(signedForLocal.out).toMatch(/callback URL/);
    expect(signedForLocal.code).toBe(1);
  });

  it('without --url, sends to the local ingest on PORT', async () => {
    const port = new URL(ingest.address).port;
    const result = await send({ ...SECRETS, PORT: port }, '--platform', 'tiktok', '--type', '12');
    expect(result.out).toContain(`POST http://127.0.0.1:${port}/webhooks/tiktok`);
    expect(result.code).toBe(0);
  });

  it("says which secrets to set when the platform's are not configured (exit 1)", async () => {
    const { TIKTOK_APP_KEY: _k, TIKTOK_APP_SECRET: _s, ...shopeeOnly } = SECRETS;
    const result = await send(shopeeOnly, '--platform', 'tiktok', '--type', '1', '--url', ingest.address);
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      'market-ingest webhook send: TikTok secrets are not configured: set TIKTOK_APP_KEY and TIKTOK_APP_SECRET\n',
    );
    expect(result.out).toBe('');
  });

  it('exits 1 with one line when nothing answers', async () => {
    const result = await send(
      SECRETS,
      '--platform',
      'tiktok',
      '--type',
      '1',
      '--url',
      'http://127.0.0.1:1/webhooks/tiktok',
    );
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /^market-ingest webhook send: no answer from http:\/\/127\.0\.0\.1:1\/webhooks\/tiktok: \S+/,
    );
  });

  it('rejects an unknown platform or type with exit 2 and the types it knows', async () => {
    const badType = await send(SECRETS, '--platform', 'shopee', '--type', '1');
    expect(badType.code).toBe(2);
    expect(badType.err).toContain('--type must be one of 2, 3, 4, 29 for shopee');
    const badPlatform = await send(SECRETS, '--platform', 'lazada', '--type', '1');
    expect(badPlatform.code).toBe(2);
    expect(badPlatform.err).toContain('--platform must be tiktok or shopee');
  });
});
