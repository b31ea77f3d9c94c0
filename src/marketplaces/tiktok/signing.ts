/**
 * TikTok Shop API request signing (MARKETPLACES.md, confident; EcomPHP/tiktokshop-php `src/Client.php`).
 *
 * sign = lowercase hex HMAC-SHA256(key = app secret, message =
 *   app secret + request path
 *   + every query parameter except `sign` and `access_token`, sorted by name, written name+value
 *   + the raw JSON body (omitted for GET and multipart requests)
 *   + app secret)
 *
 * The access token travels in the `x-tts-access-token` header, never in the signed string.
 */
import { createHmac } from 'node:crypto';

export const TIKTOK_ACCESS_TOKEN_HEADER = 'x-tts-access-token';

/** Query parameters that are never part of the signed string. */
const UNSIGNED_PARAMS = new Set(['sign', 'access_token']);

export interface TikTokSignInput {
  appSecret: string;
  method: string;
  /** The request path only, e.g. "/order/202309/orders" (no host, no query). */
  path: string;
  query: Readonly<Record<string, string>>;
  /** The exact body bytes that will be sent, as text. */
  body?: string | undefined;
  contentType?: string | undefined;
}

/** The string that is HMAC'd: exposed so a test can check it against the documented rule. */
export function tiktokStringToSign(input: TikTokSignInput): string {
  const params = Object.keys(input.query)
    .filter((name) => !UNSIGNED_PARAMS.has(name))
    .sort()
    .map((name) => `${name}${input.query[name]}`)
    .join('');
  const includeBody =
    input.method.toUpperCase() !== 'GET' && !(input.contentType ?? '').toLowerCase().startsWith('multipart/');
  const body = includeBody ? (input.body ?? '') : '';
  return `${input.appSecret}${input.path}${params}${body}${input.appSecret}`;
}

export function tiktokSign(input: TikTokSignInput): string {
  return createHmac('sha256', input.appSecret).update(tiktokStringToSign(input), 'utf8').digest('hex');
}

export interface TikTokSignedQueryInput {
  appKey: string;
  appSecret: string;
  method: 'GET' | 'POST';
  path: string;
  /** The endpoint's own parameters (ids, page_size, page_token, …). */
  params?: Readonly<Record<string, string>>;
  /** Shop-scoped calls only. */
  shopCipher?: string | null;
  /** Unix seconds. */
  timestamp: number;
  body?: string;
}

/** The full query of a signed call: the endpoint's parameters plus app_key, timestamp, shop_cipher and sign. */
export function tiktokSignedQuery(input: TikTokSignedQueryInput): Record<string, string> {
  const query: Record<string, string> = {
    ...input.params,
    app_key: input.appKey,
    timestamp: String(input.timestamp),
  };
  if (input.shopCipher) query.shop_cipher = input.shopCipher;
  query.sign = tiktokSign({
    appSecret: input.appSecret,
    method: input.method,
    path: input.path,
    query,
    body: input.body,
    contentType: 'application/json',
  });
  return query;
}
