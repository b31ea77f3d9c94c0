/**
 * TikTok Shop authorization (MARKETPLACES-MORE.md §1): the link a seller opens, and the token
 * exchange's answer as tokens. Pure functions; the exchange call itself is the client's.
 *
 * - Link (likely): `<TIKTOK_AUTHORIZE_URL>?service_id=<Service ID>&state=<nonce>`; the redirect
 *   URL is fixed in Partner Center, so none is sent. Legacy (unconfirmed):
 *   `<TIKTOK_AUTH_BASE_URL>/oauth/authorize?app_key=<key>&state=<nonce>`.
 * - Exchange (confident): `GET <auth>/api/v2/token/get?app_key&app_secret&auth_code&grant_type=authorized_code`,
 *   unsigned; success is body `code == 0`. `access_token_expire_in` and `refresh_token_expire_in`
 *   are ABSOLUTE unix seconds (a small number is read as a lifetime, in case).
 */
import { z } from 'zod';

export const TIKTOK_DEFAULT_AUTHORIZE_URL = 'https://services.tiktokshop.com/open/authorize';
export const TIKTOK_LEGACY_AUTHORIZE_PATH = '/oauth/authorize';
export const TIKTOK_TOKEN_GET_PATH = '/api/v2/token/get';
/** The literal TikTok expects (not OAuth's `authorization_code`). */
export const TIKTOK_GRANT_TYPE = 'authorized_code';

export type TikTokLinkKind = 'service' | 'legacy';

export interface TikTokLinkInput {
  kind: TikTokLinkKind;
  state: string;
  /** `service`: the authorization page and the app's Service ID. */
  authorizeUrl?: string;
  serviceId?: string;
  /** `legacy`: the auth host and the app key. */
  authBaseUrl?: string;
  appKey?: string;
}

/** The authorization link; throws TypeError when the kind's inputs are missing. */
export function tiktokAuthorizationLink(input: TikTokLinkInput): string {
  if (input.kind === 'service') {
    if (!input.serviceId) throw new TypeError('a TikTok service link needs the Service ID');
    const url = new URL(input.authorizeUrl ?? TIKTOK_DEFAULT_AUTHORIZE_URL);
    url.searchParams.set('service_id', input.serviceId);
    url.searchParams.set('state', input.state);
    return url.toString();
  }
  if (!input.authBaseUrl || !input.appKey) throw new TypeError('a legacy TikTok link needs the app key');
  const url = new URL(`${input.authBaseUrl.replace(/\/+$/, '')}${TIKTOK_LEGACY_AUTHORIZE_PATH}`);
  url.searchParams.set('app_key', input.appKey);
  url.searchParams.set('state', input.state);
  return url.toString();
}

/** `data` of a successful token/get (also the shape of token/refresh). */
export const tiktokTokenGetSchema = z.looseObject({
  data: z.looseObject({
    access_token: z.string().min(1),
    access_token_expire_in: z.number().int().positive(),
    refresh_token: z.string().min(1),
    refresh_token_expire_in: z.number().int().positive().optional(),
    open_id: z.string().optional(),
    seller_name: z.string().optional(),
    seller_base_region: z.string().optional(),
    user_type: z.number().int().optional(),
  }),
});
export type TikTokTokenGetBody = z.infer<typeof tiktokTokenGetSchema>;

export interface TikTokGrant {
  access_token: string;
  refresh_token: string;
  access_token_expires_at: Date;
  /** When the refresh token dies, i.e. when the seller must authorize again; null if not said. */
  authorization_expires_at: Date | null;
  seller_name: string | null;
  /** 0 seller, 1 creator (a creator's grant comes from the wrong link). */
  user_type: number | null;
}

/** Above this a TikTok `*_expire_in` is a unix time; below, a lifetime in seconds. */
const UNIX_TIME_FLOOR = 1_000_000_000;

/** A TikTok `*_expire_in` as a date: absolute unix seconds, or (guard) seconds from `nowMs`. */
export function tiktokExpiry(value: number, nowMs: number): Date {
  return new Date(value > UNIX_TIME_FLOOR ? value * 1000 : nowMs + value * 1000);
}

export function tiktokGrantOf(body: TikTokTokenGetBody, nowMs: number): TikTokGrant {
  const { data } = body;
  return {
    access_token: data.access_token,
    refresh_token: data.refresh_token,
    access_token_expires_at: tiktokExpiry(data.access_token_expire_in, nowMs),
    authorization_expires_at:
      data.refresh_token_expire_in === undefined ? null : tiktokExpiry(data.refresh_token_expire_in, nowMs),
    seller_name: data.seller_name ?? null,
    user_type: data.user_type ?? null,
  };
}
