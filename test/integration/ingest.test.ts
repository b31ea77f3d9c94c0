/**
 * The webhook endpoint over a real listening server and real Redis (CONTRACT §3–4).
 * Each app gets its own test environment, so stream, dedupe and rate-limit keys never collide.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createStreamTrimmer } from '../../src/consumer/trim.js';
import { buildIngestApp } from '../../src/ingest/app.js';
import { dedupeKey } from '../../src/ingest/append.js';
import { waitForRedis, webhookHandlersFromConfig } from '../../src/ingest/main.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import { closeRedis, createRedis, type Redis } from '../../src/shared/redis.js';
import { decodeStreamEntry, fieldsToRecord } from '../../src/shared/stream.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';
import { captureLogs } from '../support/logs.js';
import { startRedisServer, type ServiceProcess } from '../support/processes.js';

const TIKTOK = { TIKTOK_APP_KEY: 'it_app_key', TIKTOK_APP_SECRET: 'it_app_secret_do_not_log' };
const SHOPEE = { SHOPEE_PARTNER_ID: '2001234', SHOPEE_PARTNER_KEY: 'it_partner_key_do_not_log' };
const RECEIVED_AT = 1_732_182_600_123;
/** The whole 503 body: no Redis error text reaches the marketplace. */
const UNAVAILABLE = { error: { code: 'ERR_UNAVAILABLE', message: 'service unavailable, retry later' } };
const BACKLOG_FULL = { error: { code: 'ERR_BACKLOG_FULL', message: 'event backlog full, retry later' } };
/** The 200 of a stored event: it names the stream entry (CONTRACT §3 v2). */
const STORED = { ok: true, id: expect.stringMatching(/^\d+-\d+$/) as unknown };

const FIXTURES = new URL('../fixtures/webhooks/', import.meta.url);
const fixture = (path: string): Buffer => readFileSync(new URL(path, FIXTURES));

/** Every field of a CONTRACT §4 stream entry. */
const ENTRY_FIELDS = [
  'v',
  'platform',
  'shop_id',
  'kind',
  'entity_id',
  'version',
  'event_id',
  'event_type',
  'source',
  'received_at',
  'payload',
];

function signTikTok(body: Buffer | string): string {
  return createHmac('sha256', TIKTOK.TIKTOK_APP_SECRET)
    .update(TIKTOK.TIKTOK_APP_KEY)
    .update(body)
    .digest('hex');
}

function signShopee(url: string, body: Buffer | string): string {
  return createHmac('sha256', SHOPEE.SHOPEE_PARTNER_KEY).update(`${url}|`).update(body).digest('hex');
}

function tiktokOrder(notificationId: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 1,
    tts_notification_id: notificationId,
    shop_id: '7494012345678901234',
    timestamp: 1732182600,
    data: { order_id: `o-${notificationId}`, order_status: 'AWAITING_SHIPMENT', update_time: 1732182598 },
    ...extra,
  });
}

interface LogCapture {
  lines: Record<string, unknown>[];
  text(): string;
}

interface RunningApp {
  env: TestEnv;
  app: FastifyInstance;
  url: string;
  /** The app's own fail-fast client. */
  redis: Redis;
  /** A separate client for assertions. */
  inspect: Redis;
  logs: LogCapture;
  post(path: string, body: string | Buffer, headers?: Record<string, string>): Promise<Answer>;
  entries(): Promise<[id: string, fields: string[]][]>;
}

interface Answer {
  status: number;
  body: unknown;
  text: string;
}

const running: RunningApp[] = [];

async function startApp(
  overrides: Record<string, string> = {},
  options: { redisUrl?: string } = {},
): Promise<RunningApp> {
  const env = createTestEnv(overrides);
  const { lines, logger } = captureLogs('info');
  const redisUrl = options.redisUrl ?? env.redisUrl;
  const redis = createRedis({
    url: redisUrl,
    name: 'ingest-test',
    logger: silentLogger,
    profile: 'fail-fast',
  });
  const inspect = env.redis();
  const app = buildIngestApp({
    config: env.config,
    redis,
    handlers: webhookHandlersFromConfig(env.config),
    logger,
    metrics: createMetricsRegistry(),
    clock: { now: () => RECEIVED_AT },
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  env.defer(() => closeRedis(redis));
  await waitForRedis(redis, 5_000);
  env.defer(() => app.close());
  const started: RunningApp = {
    env,
    app,
    url,
    redis,
    inspect,
    logs: { lines, text: () => lines.map((l) => JSON.stringify(l)).join('\n') },
    async post(path, body, headers = {}) {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: response.status, body: parsed, text };
    },
    entries: () => inspect.xrange(env.config.streamKey, '-', '+'),
  };
  running.push(started);
  return started;
}

afterEach(async () => {
  for (const app of running.splice(0)) await app.env.cleanup();
});

describe('POST /webhooks/tiktok and /webhooks/shopee', () => {
  it('stores a valid TikTok event as exactly one entry with every CONTRACT §4 field', async () => {
    const t = await startApp({ ...TIKTOK, ...SHOPEE });
    const body = fixture('tiktok/order-status-change.json');

    const answer = await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) });

    expect(answer).toMatchObject({ status: 200, body: { ok: true } });
    const entries = await t.entries();
    expect(entries).toHaveLength(1);
    expect(answer.body).toEqual({ ok: true, id: entries[0]![0] });
    const fields = entries[0]![1];
    expect(Object.keys(fieldsToRecord(fields)).sort()).toEqual([...ENTRY_FIELDS].sort());
    expect(decodeStreamEntry(fields)).toEqual({
      platform: 'tiktok',
      shop_id: '7494012345678901234',
      kind: 'order',
      entity_id: '576461413038785752',
      version: 1732182598,
      event_id: '7327112393057371910',
      event_type: '1',
      source: 'webhook',
      received_at: RECEIVED_AT,
      payload: body.toString('utf8'),
    });
    // Remembered for DEDUPE_TTL_SECONDS under the stream key.
    const ttl = await t.inspect.ttl(dedupeKey(t.env.config.streamKey, 'tiktok', '7327112393057371910'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(t.env.config.dedupeTtlSeconds);
  });

  it('stores a valid Shopee push, signed over the URL it arrived at, with the shop id as a string', async () => {
    const t = await startApp({ ...TIKTOK, ...SHOPEE });
    const body = fixture('shopee/order-status-update.json');

    const answer = await t.post('/webhooks/shopee', body, {
      authorization: signShopee(`${t.url}/webhooks/shopee`, body),
    });

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(STORED);
    const entries = await t.entries();
    expect(entries).toHaveLength(1);
    expect(Object.keys(fieldsToRecord(entries[0]![1])).sort()).toEqual([...ENTRY_FIELDS].sort());
    expect(decodeStreamEntry(entries[0]![1])).toEqual({
      platform: 'shopee',
      shop_id: '220456789',
      kind: 'order',
      entity_id: '2411210ABCDEF1',
      version: 1732182598,
      event_id: createHash('sha256').update(body).digest('hex'),
      event_type: '3',
      source: 'webhook',
      received_at: RECEIVED_AT,
      payload: body.toString('utf8'),
    });
  });

  it('issue 11 #7: a TikTok webhook whose product_id is a 19-digit JSON number is stored with that exact id', async () => {
    const t = await startApp({ ...TIKTOK });
    const body = fixture('tiktok/product-status-change-numeric-id.json');

    const answer = await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) });

    expect(answer.status).toBe(200); // was 400 ERR_PAYLOAD: the event was lost
    const entries = await t.entries();
    expect(entries).toHaveLength(1);
    const entry = fieldsToRecord(entries[0]![1]);
    // The raw field as stored, not only the decoded one: ids travel as strings (CONTRACT §4).
    expect(entry.entity_id).toBe('1729592969712207009');
    expect(entry.payload).toBe(body.toString('utf8'));
    expect(decodeStreamEntry(entries[0]![1])).toMatchObject({ kind: 'product', event_type: '5' });
  });

  it('issue 11 #8: a Shopee return push (code 29) is stored as kind return, not ignored', async () => {
    const t = await startApp({ ...SHOPEE });
    const body = fixture('shopee/return-update.json');

    const answer = await t.post('/webhooks/shopee', body, {
      authorization: signShopee(`${t.url}/webhooks/shopee`, body),
    });

    expect(answer.body).toEqual(STORED); // was {"ok":true,"ignored":true}: nothing stored
    const entries = await t.entries();
    expect(entries.map(([, fields]) => decodeStreamEntry(fields))).toEqual([
      expect.objectContaining({
        kind: 'return',
        entity_id: '2411230RTN0001',
        event_type: '29',
        shop_id: '220456789',
      }),
    ]);
  });

  it('issue 11 #11: with SHOPEE_PUSH_PARTNER_KEY set, pushes signed with it are accepted and the partner key is refused', async () => {
    const pushKey = 'it_push_key_do_not_log';
    const t = await startApp({ ...SHOPEE, SHOPEE_PUSH_PARTNER_KEY: pushKey });
    const body = fixture('shopee/order-status-update.json');
    const url = `${t.url}/webhooks/shopee`;
    const signedWithPushKey = createHmac('sha256', pushKey).update(`${url}|`).update(body).digest('hex');

    const refused = await t.post('/webhooks/shopee', body, { authorization: signShopee(url, body) });
    const accepted = await t.post('/webhooks/shopee', body, { authorization: signedWithPushKey });

    expect(refused.status).toBe(401);
    expect(accepted.status).toBe(200);
    expect(await t.entries()).toHaveLength(1);
    expect(t.logs.text()).not.toContain(pushKey);
    expect(t.logs.text()).not.toContain(SHOPEE.SHOPEE_PARTNER_KEY);
  });

  it('verifies Shopee against SHOPEE_WEBHOOK_URL when set, not the URL the process sees', async () => {
    const registered = 'https://hooks.example.com/market/webhooks/shopee';
    const t = await startApp({ ...SHOPEE, SHOPEE_WEBHOOK_URL: registered });
    const body = fixture('shopee/tracking-number.json');

    const local = await t.post('/webhooks/shopee', body, {
      authorization: signShopee(`${t.url}/webhooks/shopee`, body),
    });
    const proxied = await t.post('/webhooks/shopee', body, { authorization: signShopee(registered, body) });

    expect(local.status).toBe(401);
    expect(proxied.status).toBe(200);
    expect(await t.entries()).toHaveLength(1);
  });

  it('with TRUST_PROXY, rebuilds the Shopee callback URL from X-Forwarded-Proto/Host', async () => {
    const t = await startApp({ ...SHOPEE, TRUST_PROXY: 'true' });
    const body = fixture('shopee/order-status-update.json');
    const answer = await t.post('/webhooks/shopee', body, {
      authorization: signShopee('https://hooks.example.com/webhooks/shopee', body),
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'hooks.example.com',
    });
    expect(answer.status).toBe(200);
  });

  it('the same event twice gives one entry; the second answer says duplicate', async () => {
    const t = await startApp(TIKTOK);
    const body = tiktokOrder('dup-1');
    const headers = { authorization: signTikTok(body) };

    const first = await t.post('/webhooks/tiktok', body, headers);
    const second = await t.post('/webhooks/tiktok', body, headers);

    expect(first.body).toEqual(STORED);
    expect(second).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(await t.entries()).toHaveLength(1);
  });

  it('the same event delivered 25 times at once is stored once (dedupe and XADD are one atomic step)', async () => {
    const t = await startApp(TIKTOK);
    const body = tiktokOrder('burst-1');
    const headers = { authorization: signTikTok(body) };

    const answers = await Promise.all(
      Array.from({ length: 25 }, () => t.post('/webhooks/tiktok', body, headers)),
    );

    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => (a.body as { duplicate?: boolean }).duplicate !== true)).toHaveLength(1);
    expect(await t.entries()).toHaveLength(1);
  });

  it('a burst of distinct events stores each one once, with its own fields (appends share one script call)', async () => {
    const t = await startApp({ ...TIKTOK, ...SHOPEE });
    const tiktokBodies = Array.from({ length: 40 }, (_, i) => tiktokOrder(`burst-${i}`));
    const shopeeBodies = Array.from({ length: 10 }, (_, i) =>
      JSON.stringify({
        code: 3,
        shop_id: 1000 + i,
        data: { ordersn: `SN${i}`, update_time: 1700000000 + i },
      }),
    );

    const answers = await Promise.all([
      ...tiktokBodies.map((body) => t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) })),
      ...shopeeBodies.map((body) =>
        t.post('/webhooks/shopee', body, { authorization: signShopee(`${t.url}/webhooks/shopee`, body) }),
      ),
    ]);

    expect(answers.map((a) => a.body)).toEqual(answers.map(() => STORED));
    // Each answer names its own entry, though they were stored by one script call.
    const idByPayload = new Map(
      (await t.entries()).map(([id, fields]) => [fieldsToRecord(fields).payload, id]),
    );
    [...tiktokBodies, ...shopeeBodies].forEach((body, i) =>
      expect((answers[i]!.body as { id: string }).id).toBe(idByPayload.get(body)),
    );
    const stored = (await t.entries()).map(([, fields]) => decodeStreamEntry(fields));
    expect(stored).toHaveLength(50);
    const byPayload = new Map(stored.map((event) => [event.payload, event]));
    tiktokBodies.forEach((body, i) =>
      expect(byPayload.get(body)).toMatchObject({ event_id: `burst-${i}`, entity_id: `o-burst-${i}` }),
    );
    shopeeBodies.forEach((body, i) =>
      expect(byPayload.get(body)).toMatchObject({
        shop_id: String(1000 + i),
        entity_id: `SN${i}`,
        version: 1700000000 + i,
      }),
    );
  });

  it('every answer carries x-request-id: a sane incoming one is kept, else a new one; log lines carry it', async () => {
    const t = await startApp(TIKTOK);
    const body = tiktokOrder('rid-1');
    const send = (headers: Record<string, string>, path = '/webhooks/tiktok') =>
      fetch(`${t.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });

    const kept = await send({ authorization: signTikTok(body), 'x-request-id': 'edge-7f3a.42:1' });
    expect(kept.status).toBe(200);
    expect(kept.headers.get('x-request-id')).toBe('edge-7f3a.42:1');

    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const rejected = await send({
      authorization: 'f'.repeat(64),
      'x-request-id': 'has spaces; and="quotes"',
    });
    expect(rejected.status).toBe(401);
    const generated = rejected.headers.get('x-request-id');
    expect(generated).toMatch(UUID);
    const rejection = t.logs.lines.find((line) => line.msg === 'webhook signature rejected');
    expect(rejection).toMatchObject({ reqId: generated });

    const tooLong = await send({ 'x-request-id': 'a'.repeat(129) }, '/nowhere');
    expect(tooLong.status).toBe(404);
    expect(tooLong.headers.get('x-request-id')).toMatch(UUID);
    const others = await Promise.all([
      fetch(`${t.url}/healthz`),
      fetch(`${t.url}/metrics`),
      send({ authorization: signTikTok(body) }, '/webhooks/shopee'),
      fetch(`${t.url}/webhooks/tiktok`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body }),
    ]);
    expect(others.map((r) => r.status)).toEqual([200, 200, 404, 415]);
    const ids = others.map((r) => r.headers.get('x-request-id'));
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
    // A URL Fastify cannot decode is refused before any hook runs: it carries an id too.
    const badUrl = await rawRequest(
      t.url,
      'POST /webhooks/%E0%A4%A HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
    );
    expect(badUrl).toMatch(/^HTTP\/1\.1 400/);
    expect(badUrl).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/i);
  });

  it('a verified type we do not handle is answered ignored and not enqueued', async () => {
    const t = await startApp(TIKTOK);
    // Type 2 is not in CONTRACT §3 (type 7, once the example here, is handled since issue 13).
    const body = Buffer.from(
      '{"type":2,"tts_notification_id":"n2","shop_id":"7494012345678901234","data":{}}',
    );
    const answer = await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) });
    expect(answer).toMatchObject({ status: 200, body: { ok: true, ignored: true } });
    expect(await t.entries()).toHaveLength(0);
  });

  it('a disabled platform (credentials unset) answers 404 whatever it is sent', async () => {
    const t = await startApp(TIKTOK);
    const body = fixture('shopee/order-status-update.json');
    const attempts: Record<string, string>[] = [
      { authorization: signShopee(`${t.url}/webhooks/shopee`, body) },
      { 'content-type': 'text/plain' },
    ];
    for (const headers of attempts) {
      const answer = await t.post('/webhooks/shopee', body, headers);
      expect(answer.status).toBe(404);
      expect(answer.body).toMatchObject({ error: { code: 'ERR_NOT_FOUND' } });
    }
    expect(await t.entries()).toHaveLength(0);
  });

  it('401 ERR_SIGNATURE for a wrong or missing signature, logged without the header or secret', async () => {
    const t = await startApp(TIKTOK);
    const body = tiktokOrder('sig-1');
    const forged = createHmac('sha256', 'guessed').update(TIKTOK.TIKTOK_APP_KEY).update(body).digest('hex');

    const wrong = await t.post('/webhooks/tiktok', body, { authorization: forged });
    const missing = await t.post('/webhooks/tiktok', body);
    const upper = await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body).toUpperCase() });

    for (const answer of [wrong, missing, upper]) {
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ error: { code: 'ERR_SIGNATURE' } });
    }
    expect(await t.entries()).toHaveLength(0);
    const warnings = t.logs.lines.filter((l) => l.msg === 'webhook signature rejected');
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatchObject({ level: 'warn', platform: 'tiktok', shop_id: '7494012345678901234' });
    const logged = t.logs.text();
    expect(logged).not.toContain(forged);
    expect(logged).not.toContain(signTikTok(body).toUpperCase());
    expect(logged).not.toContain(TIKTOK.TIKTOK_APP_SECRET);
  });

  it('400 ERR_PAYLOAD for a correctly signed body that is not JSON or lacks required fields', async () => {
    const t = await startApp(TIKTOK);
    for (const body of [
      'not json at all',
      '{"type":1,"shop_id":"s","tts_notification_id":"n","data":{}}',
      '[]',
    ]) {
      const answer = await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) });
      expect(answer.status, body).toBe(400);
      expect(answer.body).toMatchObject({ error: { code: 'ERR_PAYLOAD' } });
    }
    expect(await t.entries()).toHaveLength(0);
  });

  it('413 ERR_TOO_LARGE above BODY_LIMIT_BYTES, with or without a Content-Length', async () => {
    const t = await startApp({ ...TIKTOK, BODY_LIMIT_BYTES: '2048' });
    const body = tiktokOrder('big-1', { padding: 'x'.repeat(3000) });
    const headers = { authorization: signTikTok(body) };

    const declared = await t.post('/webhooks/tiktok', body, headers);
    const chunked = await fetch(`${t.url}/webhooks/tiktok`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: new Blob([body]).stream(),
      duplex: 'half',
    });

    expect(declared.status).toBe(413);
    expect(declared.body).toMatchObject({ error: { code: 'ERR_TOO_LARGE' } });
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toMatchObject({ error: { code: 'ERR_TOO_LARGE' } });
    // Just under the limit is fine.
    const fits = tiktokOrder('big-2', { padding: 'x'.repeat(1500) });
    expect((await t.post('/webhooks/tiktok', fits, { authorization: signTikTok(fits) })).status).toBe(200);
    expect(await t.entries()).toHaveLength(1);
  });

  it('415 ERR_MEDIA_TYPE for anything but application/json (charset parameters allowed)', async () => {
    const t = await startApp(TIKTOK);
    const body = tiktokOrder('media-1');
    const authorization = signTikTok(body);
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/jsonp',
      'multipart/form-data',
    ]) {
      const answer = await t.post('/webhooks/tiktok', body, { authorization, 'content-type': type });
      expect(answer.status, type).toBe(415);
      expect(answer.body).toMatchObject({ error: { code: 'ERR_MEDIA_TYPE' } });
    }
    const noType = await fetch(`${t.url}/webhooks/tiktok`, { method: 'POST', headers: { authorization } });
    expect(noType.status).toBe(415);
    expect(await t.entries()).toHaveLength(0);

    const withCharset = await t.post('/webhooks/tiktok', body, {
      authorization,
      'content-type': 'application/json; charset=utf-8',
    });
    expect(withCharset.status).toBe(200);
  });

  it('429 ERR_RATE_LIMITED past WEBHOOK_RATE_LIMIT_PER_MINUTE, counted in Redis under the stream key', async () => {
    const t = await startApp({ ...TIKTOK, WEBHOOK_RATE_LIMIT_PER_MINUTE: '3' });
    const answers: Answer[] = [];
    for (let i = 0; i < 5; i++) {
      const body = tiktokOrder(`rl-${i}`);
      answers.push(await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) }));
    }
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
    expect(answers[3]!.body).toMatchObject({ error: { code: 'ERR_RATE_LIMITED' } });
    expect(await t.entries()).toHaveLength(3);
    const counters = await t.inspect.keys(`${t.env.config.streamKey}:ratelimit:*`);
    expect(counters).toHaveLength(1);
    expect(await t.inspect.get(counters[0]!)).toBe('5');
    // Health endpoints are not rate limited.
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('concurrent requests are counted one by one: exactly the limit passes, the rest get 429', async () => {
    const t = await startApp({ ...TIKTOK, WEBHOOK_RATE_LIMIT_PER_MINUTE: '5' });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => {
        const body = tiktokOrder(`rlc-${i}`);
        return t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) });
      }),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
    expect(await t.entries()).toHaveLength(5);
    const [counter] = await t.inspect.keys(`${t.env.config.streamKey}:ratelimit:*`);
    expect(await t.inspect.get(counter!)).toBe('12');
    expect(await t.inspect.pttl(counter!)).toBeGreaterThan(0);
  });

  it('a failed XADD answers 503 and leaves the event unmarked, so the retry is accepted', async () => {
    const t = await startApp(TIKTOK);
    const body = tiktokOrder('wrongtype-1');
    const headers = { authorization: signTikTok(body) };
    // A string where the stream should be: the script fails with WRONGTYPE.
    await t.inspect.set(t.env.config.streamKey, 'not a stream');

    const failed = await t.post('/webhooks/tiktok', body, headers);

    expect(failed.status).toBe(503);
    expect(failed.body).toEqual(UNAVAILABLE);
    expect(failed.text).not.toMatch(/WRONGTYPE|redis|ioredis/i);
    expect(await t.inspect.exists(dedupeKey(t.env.config.streamKey, 'tiktok', 'wrongtype-1'))).toBe(0);

    await t.inspect.del(t.env.config.streamKey);
    const retried = await t.post('/webhooks/tiktok', body, headers);
    expect(retried.body).toEqual(STORED);
    expect(await t.entries()).toHaveLength(1);
  });
});

describe('STREAM_MAXLEN, a hard cap', () => {
  /** Posts in small concurrent groups; returns each event id with its answer. */
  async function postOrders(t: RunningApp, ids: string[]): Promise<Map<string, Answer>> {
    const answers = new Map<string, Answer>();
    for (let i = 0; i < ids.length; i += 10) {
      await Promise.all(
        ids.slice(i, i + 10).map(async (id) => {
          const body = tiktokOrder(id);
          answers.set(id, await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) }));
        }),
      );
    }
    return answers;
  }

  const idsWith = (answers: Map<string, Answer>, status: number) =>
    [...answers].filter(([, a]) => a.status === status).map(([id]) => id);

  it('issue 10 #4: a backlog larger than STREAM_MAXLEN silently drops undelivered events', async () => {
    const t = await startApp({ ...TIKTOK, STREAM_MAXLEN: '100' });
    const { streamKey, consumerGroup } = t.env.config;
    const ids = Array.from({ length: 150 }, (_, i) => `cap-${i}`);

    // No worker running: the stream fills up.
    const answers = await postOrders(t, ids);

    const accepted = idsWith(answers, 200);
    const refused = idsWith(answers, 503);
    // Every event answered 200 is in the stream: none was trimmed away.
    const stored = (await t.entries()).map(([, fields]) => decodeStreamEntry(fields).event_id);
    expect(stored.sort()).toEqual([...accepted].sort());
    expect(accepted).toHaveLength(100);
    expect(refused).toHaveLength(50);
    for (const id of refused) expect(answers.get(id)?.body).toEqual(BACKLOG_FULL);
    for (const id of refused) expect(await t.inspect.exists(dedupeKey(streamKey, 'tiktok', id))).toBe(0);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain('market_ingest_ingest_backlog_full_total{platform="tiktok"} 50');
    expect(metrics).toContain(
      'market_ingest_webhooks_total{platform="tiktok",outcome="rejected_backlog_full"} 50',
    );
    const warnings = t.logs.lines.filter((l) => String(l.msg).startsWith('event stream full'));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThan(refused.length);

    // A worker reads and acknowledges everything; trimming makes room; the retries are accepted.
    await t.inspect.xgroup('CREATE', streamKey, consumerGroup, '0');
    const read = (await t.inspect.xreadgroup(
      'GROUP',
      consumerGroup,
      'w1',
      'COUNT',
      1000,
      'STREAMS',
      streamKey,
      '>',
    )) as [string, [string, string[]][]][];
    await t.inspect.xack(streamKey, consumerGroup, ...read[0]![1].map(([id]) => id));
    expect(await createStreamTrimmer({ redis: t.inspect, streamKey }).trim()).toEqual({
      trimmed: 100,
      length: 0,
    });

    const retried = await postOrders(t, refused);
    expect(idsWith(retried, 200).sort()).toEqual([...refused].sort());
    expect(await t.inspect.xlen(streamKey)).toBe(50);
  });
});

describe('GET /healthz, /readyz, /metrics', () => {
  it('report liveness, readiness and per-outcome webhook counts', async () => {
    const t = await startApp(TIKTOK);
    const body = tiktokOrder('m-1');
    await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) });
    await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) });
    await t.post('/webhooks/tiktok', body, { authorization: 'bad' });
    await t.post('/webhooks/shopee', body);

    const health = await fetch(`${t.url}/healthz`);
    const ready = await fetch(`${t.url}/readyz`);
    const metrics = await fetch(`${t.url}/metrics`);
    const text = await metrics.text();

    expect(health.status).toBe(200);
    expect(ready.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(text).toContain('market_ingest_webhooks_total{platform="tiktok",outcome="accepted"} 1');
    expect(text).toContain('market_ingest_webhooks_total{platform="tiktok",outcome="duplicate"} 1');
    expect(text).toContain('market_ingest_webhooks_total{platform="tiktok",outcome="rejected_signature"} 1');
    expect(text).toContain('market_ingest_webhooks_total{platform="shopee",outcome="rejected_not_found"} 1');
    expect(text).toMatch(
      /market_ingest_http_request_duration_seconds_count\{route="\/webhooks\/tiktok",method="POST",status_code="200"\} 2/,
    );
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});

describe('Redis unreachable', () => {
  let redisServer: ServiceProcess;

  beforeAll(async () => {
    redisServer = await startRedisServer();
  });
  afterAll(async () => {
    await redisServer.stop();
  });

  async function untilReady(url: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await fetch(`${url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('not ready after Redis came back');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('answers 503 within 2 s while Redis is down, then accepts the same event once it is back', async () => {
    const t = await startApp(TIKTOK, { redisUrl: redisServer.url });
    const inspect = createRedis({ url: redisServer.url, name: 'inspect', logger: silentLogger });
    t.env.defer(() => closeRedis(inspect));
    const body = tiktokOrder('outage-1');
    const headers = { authorization: signTikTok(body) };
    await untilReady(t.url);

    await redisServer.kill();
    const started = Date.now();
    const during = await t.post('/webhooks/tiktok', body, headers);
    const elapsed = Date.now() - started;

    expect(during.status).toBe(503);
    expect(during.body).toEqual(UNAVAILABLE);
    expect(during.text).not.toMatch(/ECONNREFUSED|writeable|offline|ioredis|Connection/i);
    expect(elapsed).toBeLessThan(2_000);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);

    await redisServer.restart();
    await untilReady(t.url);
    expect(await inspect.exists(dedupeKey(t.env.config.streamKey, 'tiktok', 'outage-1'))).toBe(0);
    const after = await t.post('/webhooks/tiktok', body, headers);
    expect(after.body).toEqual(STORED);
    expect(await inspect.xlen(t.env.config.streamKey)).toBe(1);
    await inspect.del(t.env.config.streamKey, dedupeKey(t.env.config.streamKey, 'tiktok', 'outage-1'));
  });

  it('answers 503 within 2 s when Redis stalls without closing the connection', async () => {
    const t = await startApp(TIKTOK, { redisUrl: redisServer.url });
    await untilReady(t.url);
    const blocker = createRedis({ url: redisServer.url, name: 'blocker', logger: silentLogger });
    t.env.defer(() => closeRedis(blocker));
    const body = tiktokOrder('stall-1');

    // A busy script holds Redis for 2.2 s; every other client's command waits behind it.
    const stall = blocker.eval(
      "local t = redis.call('TIME'); local stop = t[1] * 1000000 + t[2] + 2200000; " +
        "while true do local n = redis.call('TIME'); if n[1] * 1000000 + n[2] > stop then break end end; return 1",
      0,
    );
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const during = await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) });
    const elapsed = Date.now() - started;
    await stall;

    expect(during.status).toBe(503);
    expect(elapsed).toBeLessThan(2_000);
    // The stalled write may have landed after the 503; the retry is then a duplicate, never lost.
    const retry = await t.post('/webhooks/tiktok', body, { authorization: signTikTok(body) });
    expect(retry.status).toBe(200);
    expect(await blocker.xlen(t.env.config.streamKey)).toBe(1);
    await blocker.del(t.env.config.streamKey, dedupeKey(t.env.config.streamKey, 'tiktok', 'stall-1'));
  });
});

describe('hostile input', () => {
  /** Deterministic, so a failure reproduces. */
  function prng(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let x = state;
      x = Math.imul(x ^ (x >>> 15), x | 1);
      x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
      return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
    };
  }

  it('a few hundred random and malformed requests get only 4xx, store nothing, and the server stays healthy', async () => {
    const t = await startApp({ ...TIKTOK, ...SHOPEE, BODY_LIMIT_BYTES: '4096' });
    const random = prng(20261121);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    const fixtureBody = fixture('tiktok/order-status-change.json').toString('utf8').trim();
    const bodies: (() => Buffer | string)[] = [
      () => bytes(Math.floor(random() * 300)),
      () => bytes(5000),
      () => fixtureBody.slice(0, Math.floor(random() * (fixtureBody.length - 1))),
      () => fixtureBody.replace(/[0-9]/, String(Math.floor(random() * 10))) + ' ',
      () => '',
      () => '{}',
      () => 'null',
      () => '{"type":1}',
      () => `{"type":1,"shop_id":${'['.repeat(2000)}`,
      () => JSON.stringify({ __proto__: { polluted: true }, constructor: { prototype: {} }, type: 1 }),
      () => '\uFEFF{"type":1}',
    ];
    const contentTypes = [
      'application/json',
      'text/plain',
      '',
      'application/json; charset=latin1',
      'x/y',
      'application/',
    ];
    const signatures = [
      () => undefined,
      () => '',
      () => 'a'.repeat(64),
      () => bytes(32).toString('hex').toUpperCase(),
      () => bytes(200).toString('base64'),
      () => 'Bearer abc',
    ];
    const paths = [
      '/webhooks/tiktok',
      '/webhooks/shopee',
      '/webhooks/tiktok?x=1',
      '/webhooks/lazada',
      '/webhooks/tiktok/',
    ];

    const statuses = new Map<number, number>();
    for (let batch = 0; batch < 30; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const body = pick(bodies)();
          // Some bodies are correctly signed: they must still be refused as payloads, not stored.
          const signed = random() < 0.3;
          const signature = signed ? signTikTok(body) : pick(signatures)();
          const headers: Record<string, string> = {};
          const contentType = pick(contentTypes);
          if (contentType) headers['content-type'] = contentType;
          if (signature !== undefined) headers.authorization = signature;
          if (random() < 0.2) headers['x-forwarded-for'] = '1.2.3.4, 5.6.7.8';
          const response = await fetch(`${t.url}${pick(paths)}`, { method: 'POST', headers, body });
          await response.arrayBuffer();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          expect(
            response.status,
            `${response.status} for ${contentType} ${String(body).slice(0, 40)}`,
          ).toBeGreaterThanOrEqual(400);
          expect(response.status).toBeLessThan(500);
        }),
      );
    }

    // Malformed HTTP straight on the socket: the server must answer 400 or close, and live on.
    for (const raw of [
      'POST /webhooks/tiktok HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      'POST /webhooks/tiktok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
      'POST /webhooks/%E0%A4%A HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
      'GARBAGE\r\n\r\n',
    ]) {
      const reply = await rawRequest(t.url, raw);
      expect(reply === '' || /^HTTP\/1\.1 4\d\d/.test(reply), reply).toBe(true);
    }

    expect([...statuses.keys()].every((s) => s >= 400 && s < 500)).toBe(true);
    expect(await t.entries()).toHaveLength(0);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const valid = tiktokOrder('after-fuzz');
    expect((await t.post('/webhooks/tiktok', valid, { authorization: signTikTok(valid) })).body).toEqual(
      STORED,
    );
  });
});

function rawRequest(baseUrl: string, raw: string): Promise<string> {
  const { port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let received = '';
    socket.setTimeout(2_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('close', () => resolve(received));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? resolve(received) : reject(error),
    );
    socket.connect(Number(port), '127.0.0.1', () => socket.end(raw));
  });
}
