/**
 * The request context: retry schedule (exponential backoff with full jitter, Retry-After),
 * limiter hooks, and classification of every outcome into typed errors. The transport is an
 * undici MockAgent passed in as the Dispatcher; sleep, clock and randomness are injected.
 */

import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { AppError, isAppError } from '../../src/shared/errors.js';
import {
  createHttpContext,
  fullJitterDelay,
  parseRetryAfter,
  platformCodeOf,
  type HttpContext,
  type HttpContextOptions,
  type ResponseClassifier,
} from '../../src/marketplaces/http.js';
import { classifyShopeeResponse } from '../../src/marketplaces/shopee/client.js';
import { classifyTikTokResponse } from '../../src/marketplaces/tiktok/client.js';
import { silentLogger } from '../support/context.js';
import { unlimitedLimiter, type RecordingLimiter } from '../support/fake-marketplace/deps.js';
import { marketplaceFixture } from '../support/mapping.js';

const ORIGIN = 'http://marketplace.test';
const NOW = Date.parse('2026-11-21T03:30:00Z');
let agent: MockAgent;
let limiter: RecordingLimiter;
let sleeps: number[];

function context(options: Partial<HttpContextOptions> = {}): HttpContext {
  return createHttpContext({
    platform: 'tiktok',
    baseUrl: ORIGIN,
    classify: classifyTikTokResponse,
    limiter,
    logger: silentLogger,
    timeoutMs: 1_000,
    maxAttempts: 4,
    dispatcher: agent,
    backoffBaseMs: 100,
    backoffMaxMs: 1_000,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    now: () => NOW,
    random: () => 0.5,
    ...options,
  });
}

const call = {
  name: 'get_thing',
  method: 'GET' as const,
  path: '/thing',
  budgetKey: 'shop-1',
  prepare: () => ({ query: {} }),
};
const pool = () => agent.get(ORIGIN);
const intercept = () => pool().intercept({ path: (p: string) => p.startsWith('/thing'), method: 'GET' });
const OK = { code: 0, message: 'Success', request_id: 'r', data: { fine: true } };

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  limiter = unlimitedLimiter();
  sleeps = [];
});

afterEach(async () => {
  await agent.close();
});

describe('backoff schedule', () => {
  it('is exponential with full jitter, capped', () => {
    const half = () => 0.5;
    expect([1, 2, 3, 4, 5].map((attempt) => fullJitterDelay(attempt, half, 100, 1_000))).toEqual([
      50, 100, 200, 400, 500,
    ]);
    expect(fullJitterDelay(3, () => 0, 100, 1_000)).toBe(0);
    expect(fullJitterDelay(3, () => 0.999_999, 100, 1_000)).toBe(399);
  });

  it('sleeps the jittered delay between attempts on 5xx and succeeds', async () => {
    intercept().reply(503, 'busy').times(3);
    intercept().reply(200, OK);

    await expect(context().send(call)).resolves.toEqual(OK);
    expect(sleeps).toEqual([50, 100, 200]);
    expect(limiter.acquired).toHaveLength(4);
  });

  it('stops after maxAttempts with a retryable ERR_MARKETPLACE_TRANSIENT', async () => {
    intercept().reply(500, { code: 36009003, message: 'internal' }).times(3);

    const error = await failure(context({ maxAttempts: 3 }).send(call));
    expect(error.code).toBe('ERR_MARKETPLACE_TRANSIENT');
    expect(error.retryable).toBe(true);
    expect(error.details).toMatchObject({ status: 500, attempts: 3, endpoint: '/thing' });
    expect(sleeps).toHaveLength(2);
  });

  it('retries network errors', async () => {
    intercept().replyWithError(new Error('socket hang up'));
    intercept().reply(200, OK);

    await expect(context().send(call)).resolves.toEqual(OK);
    expect(sleeps).toEqual([50]);
  });

  it('retries a timed-out request', async () => {
    intercept().reply(200, OK).delay(500);
    intercept().reply(200, OK);

    await expect(context({ timeoutMs: 50 }).send(call)).resolves.toEqual(OK);
    expect(sleeps).toHaveLength(1);
  });

  it('reports a timeout as ERR_MARKETPLACE_TRANSIENT when attempts run out', async () => {
    intercept().reply(200, OK).delay(500);

    const error = await failure(context({ timeoutMs: 50, maxAttempts: 1 }).send(call));
    expect(error.code).toBe('ERR_MARKETPLACE_TRANSIENT');
    expect(error.message).toMatch(/timed out after 50 ms/);
  });
});

describe('429 and Retry-After', () => {
  it('waits Retry-After seconds and penalizes the limiter for as long', async () => {
    intercept().reply(429, { code: 36009002, message: 'slow down' }, { headers: { 'retry-after': '3' } });
    intercept().reply(200, OK);

    await expect(context().send(call)).resolves.toEqual(OK);
    expect(sleeps).toEqual([3_000]);
    expect(limiter.penalties).toEqual([{ platform: 'tiktok', shopId: 'shop-1', forMs: 3_000 }]);
  });

  it('reads Retry-After as an HTTP date against the injected clock', async () => {
    const at = new Date(NOW + 7_000).toUTCString();
    intercept().reply(429, '', { headers: { 'retry-after': at } });
    intercept().reply(200, OK);

    await context().send(call);
    expect(sleeps).toEqual([7_000]);
  });

  it('uses backoff and the default penalty without Retry-After', async () => {
    intercept().reply(429, '');
    intercept().reply(200, OK);

    await context({ defaultPenaltyMs: 1_234 }).send(call);
    expect(sleeps).toEqual([50]);
    expect(limiter.penalties).toEqual([{ platform: 'tiktok', shopId: 'shop-1', forMs: 1_234 }]);
  });

  it('hands a Retry-After longer than it will wait back to the caller as retryable', async () => {
    intercept().reply(429, '', { headers: { 'retry-after': '120' } });

    const error = await failure(context({ maxRetryAfterMs: 30_000 }).send(call));
    expect(error.code).toBe('ERR_MARKETPLACE_RATE_LIMITED');
    expect(error.retryable).toBe(true);
    expect(sleeps).toEqual([]);
    expect(limiter.penalties).toEqual([{ platform: 'tiktok', shopId: 'shop-1', forMs: 120_000 }]);
  });

  it('treats a rate-limit code in a 200 body like a 429', async () => {
    intercept().reply(200, { code: 36009002, message: 'Too many requests', request_id: 'r1' });
    intercept().reply(200, OK);

    await expect(context().send(call)).resolves.toEqual(OK);
    expect(limiter.penalties).toHaveLength(1);
    expect(sleeps).toEqual([50]);
  });

  it('parses Retry-After values', () => {
    expect(parseRetryAfter('5', NOW)).toBe(5_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter(new Date(NOW + 2_000).toUTCString(), NOW)).toBe(2_000);
    expect(parseRetryAfter(new Date(NOW - 2_000).toUTCString(), NOW)).toBe(0);
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
  });
});

describe('errors that are not retried', () => {
  it.each([
    [400, { code: 36009001, message: 'bad param' }, 'ERR_MARKETPLACE_REJECTED'],
    [404, 'not found', 'ERR_MARKETPLACE_REJECTED'],
    [404, { message: 'no route' }, 'ERR_MARKETPLACE_REJECTED'],
    [401, 'who are you', 'ERR_MARKETPLACE_AUTH'],
    [200, { code: 105002, message: 'Access token is expired' }, 'ERR_MARKETPLACE_AUTH'],
    [200, { code: 106001, message: 'Invalid sign' }, 'ERR_MARKETPLACE_REJECTED'],
    [200, '<html>maintenance</html>', 'ERR_MARKETPLACE_RESPONSE'],
    [200, { data: {} }, 'ERR_MARKETPLACE_RESPONSE'],
  ])('HTTP %i %j -> %s after one attempt', async (status, body, code) => {
    intercept().reply(status, typeof body === 'string' ? body : JSON.stringify(body));

    const error = await failure(context().send(call));
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(false);
    expect(sleeps).toEqual([]);
    expect(limiter.acquired).toHaveLength(1);
  });

  it('keeps the platform code for callers', async () => {
    intercept().reply(200, { code: 12052048, message: 'Product does not exist', request_id: 'abc' });
    const error = await failure(context().send(call));
    expect(platformCodeOf(error)).toBe('12052048');
    expect(error.message).toMatch(/request_id abc/);
  });
});

describe('platform classifiers', () => {
  it('TikTok: code 0 is success; codes map to retry meanings', () => {
    const classify: ResponseClassifier = classifyTikTokResponse;
    expect(classify({ code: 0, message: 'Success', data: {} }, 200)).toBeUndefined();
    expect(classify({ code: 36009002, message: '' }, 200)?.code).toBe('ERR_MARKETPLACE_RATE_LIMITED');
    expect(classify({ code: 105001, message: '' }, 200)?.code).toBe('ERR_MARKETPLACE_AUTH');
    expect(classify({ code: 36009003, message: '' }, 200)?.code).toBe('ERR_MARKETPLACE_TRANSIENT');
    expect(classify({ code: 98765, message: '' }, 200)?.code).toBe('ERR_MARKETPLACE_REJECTED');
    expect(classify([], 200)?.code).toBe('ERR_MARKETPLACE_RESPONSE');
  });

  it('Shopee: empty or missing error is success; error strings map to retry meanings', () => {
    const classify: ResponseClassifier = classifyShopeeResponse;
    expect(classify({ error: '', message: '', response: {} }, 200)).toBeUndefined();
    expect(classify({ access_token: 'a', refresh_token: 'r', expire_in: 14_400 }, 200)).toBeUndefined();
    expect(classify({ error: 'error_auth', message: 'Invalid access_token.' }, 403)?.code).toBe(
      'ERR_MARKETPLACE_AUTH',
    );
    expect(classify({ error: 'invalid_access_token' }, 403)?.code).toBe('ERR_MARKETPLACE_AUTH');
    expect(classify({ error: 'error_too_many_request' }, 200)?.code).toBe('ERR_MARKETPLACE_RATE_LIMITED');
    expect(classify({ error: 'error_server' }, 200)?.code).toBe('ERR_MARKETPLACE_TRANSIENT');
    expect(classify({ error: 'error_sign', message: 'Wrong sign.' }, 403)).toMatchObject({
      code: 'ERR_MARKETPLACE_REJECTED',
      platformCode: 'error_sign',
    });
    expect(classify('nope', 200)?.code).toBe('ERR_MARKETPLACE_RESPONSE');
  });

  it('Shopee: an auth error on HTTP 403 is not retried here', async () => {
    intercept().reply(403, { error: 'invalid_access_token', message: 'Invalid access_token.' });
    const error = await failure(context({ platform: 'shopee', classify: classifyShopeeResponse }).send(call));
    expect(isAppError(error, 'ERR_MARKETPLACE_AUTH')).toBe(true);
    expect(sleeps).toEqual([]);
  });
});

describe('requests', () => {
  it('prepares every attempt afresh and sends query, headers and body', async () => {
    let prepared = 0;
    const seen: { path: string; body: string | undefined; auth: string | undefined }[] = [];
    pool()
      .intercept({ path: (p: string) => p.startsWith('/search'), method: 'POST' })
      .reply((options) => {
        const headers = options.headers as Record<string, string>;
        seen.push({
          path: options.path,
          body: options.body as string | undefined,
          auth: headers['x-tts-access-token'],
        });
        return { statusCode: seen.length === 1 ? 503 : 200, data: OK };
      })
      .times(2);

    await context().send({
      name: 'search',
      method: 'POST',
      path: '/search',
      budgetKey: 'shop-1',
      prepare: () => ({
        query: { attempt: String(++prepared), tag: ['a', 'b'] },
        headers: { 'x-tts-access-token': 'tok', 'content-type': 'application/json' },
        body: '{"q":1}',
      }),
    });

    expect(seen).toEqual([
      { path: '/search?attempt=1&tag=a&tag=b', body: '{"q":1}', auth: 'tok' },
      { path: '/search?attempt=2&tag=a&tag=b', body: '{"q":1}', auth: 'tok' },
    ]);
  });

  it('refuses to send once closed', async () => {
    const http = context();
    await http.close();
    await http.close();
    const error = await failure(http.send(call));
    expect(error.code).toBe('ERR_MARKETPLACE_TRANSIENT');
  });
});

const fixture = <T>(name: string) => marketplaceFixture<T>(name);

describe('issue 11 #10: classifiers against the platforms’ published error tables', () => {
  const classifyTikTok: ResponseClassifier = classifyTikTokResponse;
  const classifyShopee: ResponseClassifier = classifyShopeeResponse;
  const tiktok = fixture<{ pairs: { code: string; message: string }[] }>('tiktok-errors');
  /** The published refusals that a new access token fixes. */
  const tokenRefusals = new Set([
    '101000 Invalid query or header. The `category_asset_cipher` query parameter or `x-tts-access-token` header is invalid.',
    '105002 Expired credentials. The `access_token` or `x-tts-access-token` header has expired.',
    '36009004 Invalid credentials. The `access_token` header is invalid.',
    '36009004 Invalid credentials. The `x-tts-access-token` header is invalid.',
  ]);
  const otherKinds: Record<string, string> = {
    '36009002': 'ERR_MARKETPLACE_RATE_LIMITED',
    '36009003': 'ERR_MARKETPLACE_TRANSIENT',
    '36009007': 'ERR_MARKETPLACE_TRANSIENT',
  };

  it.each(tiktok.pairs.map((p) => [p.code, p.message] as const))(
    'issue 11 #10: TikTok %s "%s"',
    (code, message) => {
      const expected = tokenRefusals.has(`${code} ${message}`)
        ? 'ERR_MARKETPLACE_AUTH'
        : (otherKinds[code] ?? 'ERR_MARKETPLACE_REJECTED');
      expect(classifyTikTok({ code: Number(code), message, request_id: 'r' }, 200)).toMatchObject({
        code: expected,
        platformCode: code,
      });
    },
  );

  const shopee = fixture<{
    common_error_list: { entries: { error: string; description: string }[] };
    error_examples: { body: { error: string; message: string } }[];
    success_with_placeholder_error: { body: unknown };
  }>('shopee-errors');
  const shopeeKinds: Record<string, string> = {
    error_auth: 'ERR_MARKETPLACE_AUTH',
    invalid_acceess_token: 'ERR_MARKETPLACE_AUTH',
    error_rate_limit: 'ERR_MARKETPLACE_RATE_LIMITED',
    error_sign: 'ERR_MARKETPLACE_REJECTED',
    // Not found is an error here; the client reads it as "absent" for single-object fetches.
    error_not_found: 'ERR_MARKETPLACE_REJECTED',
  };

  it.each([
    ...shopee.common_error_list.entries.map((e) => [e.error, e.description] as const),
    ...shopee.error_examples.map((e) => [e.body.error, e.body.message] as const),
  ])('issue 11 #10: Shopee %s "%s"', (error, message) => {
    expect(classifyShopee({ error, message, request_id: 'r' }, 403)).toMatchObject({
      code: shopeeKinds[error],
      platformCode: error,
    });
  });

  it('issue 11 #10: Shopee’s published success sample with `"error": "-"` is a success', () => {
    expect(classifyShopee(shopee.success_with_placeholder_error.body, 200)).toBeUndefined();
  });
});
