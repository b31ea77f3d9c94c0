/**
 * Shopee shop authorization (MARKETPLACES-MORE.md §1): the links a seller opens, and the token
 * and shop-info answers as plain values. Pure functions; the calls themselves are the client's.
 *
 * - Signed link (confident): `<api>/api/v2/shop/auth_partner?partner_id&timestamp&sign&redirect`,
 *   sign = HMAC-SHA256(partner_key, partner_id + path + timestamp); it dies after 5 minutes.
 * - Newer link (likely): `<SHOPEE_AUTHORIZE_URL>?partner_id&auth_type=seller&redirect_uri&response_type=code&state`.
 * Whether Shopee echoes `state` is unconfirmed, so the state also rides inside the redirect URL
 * (Shopee appends `code` and `shop_id`/`main_account_id` to it): the callback takes either.
 *
 * Token get answers at the top level (no `response`): `expire_in` is a duration (≈14400 s), but
 * the API page's own sample is an absolute time, so a value > 1e9 is read as one. Ids are int64
 * in Shopee's API and arrive as JSON numbers: one that is not a safe integer is refused rather
 * than silently changed.
 */
import { z } from 'zod';

import { shopeeSign } from './signing.js';

export const SHOPEE_AUTH_PARTNER_PATH = '/api/v2/shop/auth_partner';
export const SHOPEE_TOKEN_GET_PATH = '/api/v2/auth/token/get';
export const SHOPEE_SHOP_INFO_PATH = '/api/v2/shop/get_shop_info';
export const SHOPEE_DEFAULT_AUTHORIZE_URL = 'https://open.shopee.com/auth';

export type ShopeeLinkKind = 'signed' | 'open';

/** The redirect URL with the state in its query, so it comes back whether or not Shopee echoes it. */
export function shopeeRedirectWithState(redirectUrl: string, state: string): string {
  const url = new URL(redirectUrl);
  url.searchParams.set('state', state);
  return url.toString();
}

export interface ShopeeSignedLinkInput {
  apiBaseUrl: string;
  partnerId: number;
  partnerKey: string;
  /** Unix seconds; the link is refused 5 minutes later. */
  timestamp: number;
  redirectUrl: string;
}

/** The legacy signed `auth_partner` link. */
export function shopeeSignedAuthorizationLink(input: ShopeeSignedLinkInput): string {
  const url = new URL(`${input.apiBaseUrl.replace(/\/+$/, '')}${SHOPEE_AUTH_PARTNER_PATH}`);
  url.searchParams.set('partner_id', String(input.partnerId));
  url.searchParams.set('timestamp', String(input.timestamp));
  url.searchParams.set(
    'sign',
    shopeeSign({
      partnerId: input.partnerId,
      partnerKey: input.partnerKey,
      path: SHOPEE_AUTH_PARTNER_PATH,
      timestamp: input.timestamp,
    }),
  );
  url.searchParams.set('redirect', input.redirectUrl);
  return url.toString();
}

export interface ShopeeOpenLinkInput {
  authorizeUrl?: string;
  partnerId: number;
  redirectUrl: string;
  state: string;
}

/** The newer unsigned open.shopee.com link. */
export function shopeeOpenAuthorizationLink(input: ShopeeOpenLinkInput): string {
  const url = new URL(input.authorizeUrl ?? SHOPEE_DEFAULT_AUTHORIZE_URL);
  url.searchParams.set('partner_id', String(input.partnerId));
  url.searchParams.set('auth_type', 'seller');
  url.searchParams.set('redirect_uri', input.redirectUrl);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('state', input.state);
  return url.toString();
}

const safeId = z
  .union([z.number().int().nonnegative(), z.string().regex(/^\d{1,20}$/)])
  .refine((value) => typeof value === 'string' || Number.isSafeInteger(value), 'id beyond 2^53')
  .transform(String);

export const shopeeTokenGetSchema = z.looseObject({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expire_in: z.number().int().positive(),
  shop_id_list: z
    .array(safeId)
    .nullish()
    .transform((list) => list ?? []),
  merchant_id_list: z
    .array(safeId)
    .nullish()
    .transform((list) => list ?? []),
});
export type ShopeeTokenGetBody = z.infer<typeof shopeeTokenGetSchema>;

export const shopeeShopInfoSchema = z.looseObject({
  shop_name: z.string().nullish(),
  region: z.string().nullish(),
  status: z.string().nullish(),
  expire_time: z.number().int().nullish(),
  auth_time: z.number().int().nullish(),
});
export type ShopeeShopInfoBody = z.infer<typeof shopeeShopInfoSchema>;

export interface ShopeeGrant {
  access_token: string;
  refresh_token: string;
  access_token_expires_at: Date;
  /** The shops the grant covers (a main account lists several; all share this first pair). */
  shop_ids: string[];
}

/** Shopee's `expire_in`: a duration, unless it is already a unix time (the API page's sample). */
export function shopeeExpiry(expireIn: number, nowMs: number): Date {
  return new Date(expireIn > 1_000_000_000 ? expireIn * 1000 : nowMs + expireIn * 1000);
}

/**
 * The grant of a token/get answer. A shop-account grant may answer without `shop_id_list`: the
 * shop asked about is then the one covered.
 */
export function shopeeGrantOf(body: ShopeeTokenGetBody, nowMs: number, askedShopId?: string): ShopeeGrant {
  const listed = body.shop_id_list;
  return {
    access_token: body.access_token,
    refresh_token: body.refresh_token,
    access_token_expires_at: shopeeExpiry(body.expire_in, nowMs),
    shop_ids: listed.length > 0 ? [...new Set(listed)] : askedShopId ? [askedShopId] : [],
  };
}

export interface ShopeeShopInfo {
  name: string | null;
  /** get_shop_info.expire_time: when the seller's authorization ends (≤ 365 days). */
  authorization_expires_at: Date | null;
}

export function shopeeShopInfoOf(body: ShopeeShopInfoBody): ShopeeShopInfo {
  return {
    name: body.shop_name ? body.shop_name : null,
    authorization_expires_at: body.expire_time ? new Date(body.expire_time * 1000) : null,
  };
}
