/**
 * The fake marketplace's own signature rules, written from MARKETPLACES.md independently of
 * src/marketplaces (the fake is the clients' peer: sharing code would let one bug pass both sides).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const hmacHex = (key: string, message: string) =>
  createHmac('sha256', key).update(message, 'utf8').digest('hex');

export function safeEqualHex(expected: string, provided: string | undefined): boolean {
  if (provided === undefined || provided.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(provided));
}

/** TikTok API: secret + path + sorted params (minus sign, access_token) as name+value + body (not for GET/multipart) + secret. */
export function expectedTikTokSign(
  appSecret: string,
  method: string,
  path: string,
  params: URLSearchParams,
  rawBody: string,
  contentType: string | undefined,
): string {
  const names = [...new Set(params.keys())]
    .filter((name) => name !== 'sign' && name !== 'access_token')
    .sort();
  let message = appSecret + path;
  for (const name of names) message += name + (params.get(name) ?? '');
  if (method !== 'GET' && !(contentType ?? '').startsWith('multipart/')) message += rawBody;
  return hmacHex(appSecret, message + appSecret);
}

/** Shopee API: partner_id + path + timestamp [+ access_token + shop_id]. */
export function expectedShopeeSign(
  partnerKey: string,
  partnerId: string,
  path: string,
  timestamp: string,
  shop?: { accessToken: string; shopId: string },
): string {
  const message = `${partnerId}${path}${timestamp}${shop ? `${shop.accessToken}${shop.shopId}` : ''}`;
  return hmacHex(partnerKey, message);
}

/** TikTok webhook `Authorization`: HMAC(app secret, app key + body). */
export function tiktokWebhookSignature(appKey: string, appSecret: string, body: string): string {
  return hmacHex(appSecret, appKey + body);
}

/** Shopee push `Authorization`: HMAC(partner key, callback URL + "|" + body). */
export function shopeeWebhookSignature(partnerKey: string, callbackUrl: string, body: string): string {
  return hmacHex(partnerKey, `${callbackUrl}|${body}`);
}

export function randomToken(prefix: string): string {
  return `${prefix}${randomBytes(16).toString('hex')}`;
}

export function requestId(): string {
  return randomBytes(12).toString('hex').toUpperCase();
}
