/**
 * Webhook signature verification, one test per failure mode (as standard-webhooks does).
 * The expected digests in signature-vectors.json were computed with openssl, not with this code.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { loadConfig, VARIABLES } from '../../src/shared/config.js';
import { isAppError } from '../../src/shared/errors.js';
import { createShopeeWebhookHandler } from '../../src/marketplaces/shopee/webhook.js';
import { hmacSha256Hex, signatureMatches } from '../../src/marketplaces/signature.js';
import { createTikTokWebhookHandler } from '../../src/marketplaces/tiktok/webhook.js';
import type { WebhookHandler, WebhookRequest } from '../../src/marketplaces/types.js';

const FIXTURES = new URL('../fixtures/webhooks/', import.meta.url);
const fixture = (path: string): Buffer => readFileSync(new URL(path, FIXTURES));

interface Vectors {
  tiktok: { appKey: string; appSecret: string; body: string; signature: string };
  shopee: { partnerKey: string; callbackUrl: string; body: string; signature: string };
}
const vectors = JSON.parse(fixture('signature-vectors.json').toString('utf8')) as Vectors;

function verifyError(handler: WebhookHandler, request: WebhookRequest): unknown {
  try {
    handler.verify(request);
    return undefined;
  } catch (error) {
    return error;
  }
}

function expectRejected(handler: WebhookHandler, request: WebhookRequest): void {
  const error = verifyError(handler, request);
  expect(isAppError(error, 'ERR_SIGNATURE'), String(error)).toBe(true);
}

function tampered(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  const at = copy.indexOf('"shop_id"');
  copy[at + 12] = copy[at + 12] === 0x31 ? 0x32 : 0x31; // change one digit of the shop id
  return copy;
}

describe('TikTok webhook signature: hex HMAC-SHA256(app secret, app key + raw body)', () => {
  const v = vectors.tiktok;
  const body = fixture(v.body);
  const handler = createTikTokWebhookHandler({ appKey: v.appKey, appSecret: v.appSecret });
  const request = (overrides: Partial<WebhookRequest> = {}): WebhookRequest => ({
    rawBody: body,
    signature: v.signature,
    url: 'http://127.0.0.1/webhooks/tiktok',
    ...overrides,
  });

  it('accepts the signature computed independently over the exact bytes', () => {
    expect(verifyError(handler, request())).toBeUndefined();
  });

  it('covers the raw bytes, not a re-serialisation: the compact form of the same JSON fails', () => {
    const compact = Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8'))));
    expect(compact.equals(body)).toBe(false);
    expectRejected(handler, request({ rawBody: compact }));
  });

  it('rejects a tampered body', () => {
    expectRejected(handler, request({ rawBody: tampered(body) }));
  });

  it('rejects a signature made with another secret', () => {
    const other = createTikTokWebhookHandler({ appKey: v.appKey, appSecret: 'another_secret' });
    expectRejected(other, request());
  });

  it('rejects a signature made for another app key', () => {
    const other = createTikTokWebhookHandler({ appKey: 'another_app_key', appSecret: v.appSecret });
    expectRejected(other, request());
  });

  it('rejects a missing Authorization header', () => {
    expectRejected(handler, request({ signature: undefined }));
    expectRejected(handler, request({ signature: '' }));
  });

  it('rejects uppercase hex (the contract says lowercase)', () => {
    expectRejected(handler, request({ signature: v.signature.toUpperCase() }));
  });

  it('rejects a truncated, prefixed or padded signature', () => {
    expectRejected(handler, request({ signature: v.signature.slice(0, -1) }));
    expectRejected(handler, request({ signature: `sha256=${v.signature}` }));
    expectRejected(handler, request({ signature: ` ${v.signature}` }));
  });
});

describe('Shopee push signature: hex HMAC-SHA256(partner key, callback URL + "|" + raw body)', () => {
  const v = vectors.shopee;
  const body = fixture(v.body);
  const request = (overrides: Partial<WebhookRequest> = {}): WebhookRequest => ({
    rawBody: body,
    signature: v.signature,
    url: v.callbackUrl,
    ...overrides,
  });
  // SHOPEE_WEBHOOK_URL unset: the URL the request arrived at is the signed one.
  const fromRequest = createShopeeWebhookHandler({ partnerKey: v.partnerKey, webhookUrl: undefined });
  // SHOPEE_WEBHOOK_URL set: the registered URL wins over what the process sees behind a proxy.
  const configured = createShopeeWebhookHandler({ partnerKey: v.partnerKey, webhookUrl: v.callbackUrl });

  it('accepts the signature computed independently, with the URL rebuilt from the request', () => {
    expect(verifyError(fromRequest, request())).toBeUndefined();
  });

  it('accepts it with SHOPEE_WEBHOOK_URL set, whatever URL the request arrived at', () => {
    expect(verifyError(configured, request({ url: 'http://10.0.0.7:8080/webhooks/shopee' }))).toBeUndefined();
  });

  it('rejects when the request arrived at a different callback URL than the one signed', () => {
    expectRejected(fromRequest, request({ url: 'https://hooks.example.com/webhooks/shopee?x=1' }));
    expectRejected(fromRequest, request({ url: 'http://hooks.example.com/webhooks/shopee' }));
  });

  it('rejects when SHOPEE_WEBHOOK_URL differs from the URL the push was signed for', () => {
    const elsewhere = createShopeeWebhookHandler({
      partnerKey: v.partnerKey,
      webhookUrl: 'https://other.example.com/webhooks/shopee',
    });
    expectRejected(elsewhere, request());
  });

  it('rejects a tampered body', () => {
    expectRejected(fromRequest, request({ rawBody: tampered(body) }));
  });

  it('rejects a signature made with another partner key', () => {
    const other = createShopeeWebhookHandler({ partnerKey: 'another_key', webhookUrl: undefined });
    expectRejected(other, request());
  });

  it('rejects a missing Authorization header', () => {
    expectRejected(fromRequest, request({ signature: undefined }));
  });

  it('rejects uppercase hex', () => {
    expectRejected(fromRequest, request({ signature: v.signature.toUpperCase() }));
  });

  it('needs the "|" separator: URL + body without it does not verify', () => {
    const withoutSeparator = hmacSha256Hex(v.partnerKey, v.callbackUrl, body);
    expectRejected(fromRequest, request({ signature: withoutSeparator }));
  });
});

describe('issue 11 #11: Shopee pushes are signed with the Live Push Partner Key (SHOPEE_PUSH_PARTNER_KEY)', () => {
  const v = vectors.shopee;
  const body = fixture(v.body);
  const request: WebhookRequest = { rawBody: body, signature: v.signature, url: v.callbackUrl };
  const handlerFor = (env: Record<string, string>) => {
    const { shopee } = loadConfig({ SHOPEE_PARTNER_ID: '2001234', ...env });
    if (!shopee) throw new Error('shopee should be enabled');
    return createShopeeWebhookHandler(shopee);
  };

  it('verifies a push signed with the push key when it differs from the API partner key', () => {
    // The vector was signed with v.partnerKey, configured here as the push key only.
    const handler = handlerFor({
      SHOPEE_PARTNER_KEY: 'api_partner_key',
      SHOPEE_PUSH_PARTNER_KEY: v.partnerKey,
    });
    expect(verifyError(handler, request)).toBeUndefined();
  });

  it('then rejects a push signed with the API partner key', () => {
    const handler = handlerFor({ SHOPEE_PARTNER_KEY: v.partnerKey, SHOPEE_PUSH_PARTNER_KEY: 'push_key' });
    expectRejected(handler, request);
  });

  it('falls back to SHOPEE_PARTNER_KEY when unset (or empty)', () => {
    expect(verifyError(handlerFor({ SHOPEE_PARTNER_KEY: v.partnerKey }), request)).toBeUndefined();
    const empty = handlerFor({ SHOPEE_PARTNER_KEY: v.partnerKey, SHOPEE_PUSH_PARTNER_KEY: '  ' });
    expect(verifyError(empty, request)).toBeUndefined();
  });

  it('is a secret of the config schema (never printed)', () => {
    expect(VARIABLES.find((spec) => spec.name === 'SHOPEE_PUSH_PARTNER_KEY')).toMatchObject({ secret: true });
  });
});

describe('signatureMatches', () => {
  const expected = hmacSha256Hex('key', 'message');

  it('is true only for the identical lowercase hex string', () => {
    expect(signatureMatches(expected, expected)).toBe(true);
    expect(signatureMatches(expected, expected.toUpperCase())).toBe(false);
    const lastDigitChanged = expected.slice(0, -1) + (expected.endsWith('0') ? '1' : '0');
    expect(signatureMatches(expected, lastDigitChanged)).toBe(false);
  });

  it('is false, without throwing, for any length or non-ASCII input', () => {
    for (const provided of [undefined, '', 'a', expected + 'a', 'é'.repeat(64), '\u0100'.repeat(64)])
      expect(signatureMatches(expected, provided)).toBe(false);
  });
});
