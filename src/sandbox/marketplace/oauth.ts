/**
 * The fake marketplaces' authorization flow (MARKETPLACES-MORE.md §1), checked as the real ones
 * are said to check it:
 *
 * - TikTok: `/open/authorize?service_id&state` (and the legacy `/oauth/authorize?app_key&state`)
 *   on the auth host; the seller "approves" at once and is redirected to the redirect URL set in
 *   Partner Center (`setTikTokRedirectUrl`) with `code` and `state`. `GET /api/v2/token/get`
 *   takes app_key, app_secret, auth_code and grant_type=authorized_code; codes are single-use and
 *   live 30 minutes; expiries are absolute unix seconds. Every shop of the grant gets the pair.
 * - Shopee: the signed `/api/v2/shop/auth_partner` link (partner sign, dies after 5 minutes) and
 *   the unsigned `/auth` link; the redirect carries `code` and `shop_id` or `main_account_id`
 *   (and `state` for the newer link). `POST /api/v2/auth/token/get` is partner-signed, answers at
 *   the top level with `shop_id_list`; codes are single-use and live 10 minutes.
 *
 * Who approves is set by the test (`approveAs`): some shops, or a main account with its shops.
 */
import { expectedShopeeSign, randomToken, requestId, safeEqualHex } from './crypto.js';
import { numberParam, type FakePlatform, type FakeReply, type FakeRequest, type FakeStore } from './state.js';

export const OAUTH_ENDPOINTS = {
  tiktokAuthorize: '/open/authorize',
  tiktokLegacyAuthorize: '/oauth/authorize',
  tiktokTokenGet: '/api/v2/token/get',
  shopeeAuthPartner: '/api/v2/shop/auth_partner',
  shopeeAuthorize: '/auth',
  shopeeTokenGet: '/api/v2/auth/token/get',
  shopeeShopInfo: '/api/v2/shop/get_shop_info',
} as const;

/** The fake's own codes (none published) for a refused authorization code. */
export const OAUTH_CODES = { tiktokInvalidCode: 36004004, shopeeInvalidCode: 'error_invalid_code' } as const;

const TIKTOK_CODE_TTL_MS = 30 * 60_000;
const SHOPEE_CODE_TTL_MS = 10 * 60_000;
const SHOPEE_LINK_TTL_SECONDS = 5 * 60;

/** Who approves an authorization: these shops, or (Shopee) a main account holding them. */
export interface FakeGrant {
  shopIds: string[];
  mainAccountId?: string;
}

interface IssuedCode {
  platform: FakePlatform;
  grant: FakeGrant;
  expiresAt: number;
  used: boolean;
}

export interface FakeOAuthState {
  serviceId: string;
  tiktokRedirectUrl: string | null;
  approver: Partial<Record<FakePlatform, FakeGrant>>;
  codes: Map<string, IssuedCode>;
}

export function createOAuthState(serviceId: string): FakeOAuthState {
  return { serviceId, tiktokRedirectUrl: null, approver: {}, codes: new Map() };
}

const redirect = (location: string): FakeReply => ({
  status: 302,
  body: { redirect: location },
  headers: { location },
  errorCode: null,
});

const page = (status: number, message: string): FakeReply => ({
  status,
  body: { error: message },
  errorCode: 'authorize_refused',
});

function withQuery(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

function issueCode(store: FakeStore, oauth: FakeOAuthState, platform: FakePlatform): string | FakeReply {
  const grant = oauth.approver[platform];
  if (!grant || grant.shopIds.length === 0) return page(400, `no ${platform} seller is signed in`);
  const code = randomToken(platform === 'tiktok' ? 'TTC_' : 'SPC');
  const ttl = platform === 'tiktok' ? TIKTOK_CODE_TTL_MS : SHOPEE_CODE_TTL_MS;
  oauth.codes.set(code, { platform, grant, expiresAt: store.now() + ttl, used: false });
  return code;
}

/** Takes a code once: undefined when unknown, used, expired or another platform's. */
function takeCode(store: FakeStore, oauth: FakeOAuthState, platform: FakePlatform, code: string | null) {
  const issued = code === null ? undefined : oauth.codes.get(code);
  if (!issued || issued.platform !== platform || issued.used || issued.expiresAt <= store.now())
    return undefined;
  issued.used = true;
  return issued;
}

/** The grant's shops all get one new token pair (TikTok: one grant; Shopee main account: the first pair). */
function grantTokens(store: FakeStore, platform: FakePlatform, grant: FakeGrant) {
  const accessToken = randomToken(platform === 'tiktok' ? 'TTP_' : 'SPA');
  const refreshToken = randomToken(platform === 'tiktok' ? 'TTR_' : 'SPR');
  const expiresAt = store.now() + store.settings.accessTokenTtlSeconds * 1000;
  const shops = grant.shopIds.map((id) => store.shops[platform].get(id)).filter((s) => s !== undefined);
  for (const shop of shops) {
    shop.accessToken = accessToken;
    shop.refreshToken = refreshToken;
    shop.accessTokenExpiresAt = expiresAt;
  }
  return { accessToken, refreshToken, expiresAt, shops };
}

function tiktokAnswer(code: number, message: string, data: unknown = null): FakeReply {
  return {
    status: 200,
    body: { code, message, request_id: requestId(), data },
    errorCode: code === 0 ? null : String(code),
  };
}

function tiktokAuthorize(store: FakeStore, oauth: FakeOAuthState, request: FakeRequest, legacy: boolean) {
  const { query } = request;
  const app = legacy
    ? query.get('app_key') === store.settings.appKey
    : query.get('service_id') === oauth.serviceId;
  if (!app) return page(400, legacy ? 'unknown app_key' : 'unknown service_id');
  if (!oauth.tiktokRedirectUrl) return page(400, 'the app has no redirect URL in Partner Center');
  const code = issueCode(store, oauth, 'tiktok');
  if (typeof code !== 'string') return code;
  return redirect(withQuery(oauth.tiktokRedirectUrl, { code, state: query.get('state') ?? '' }));
}

function tiktokTokenGet(store: FakeStore, oauth: FakeOAuthState, request: FakeRequest): FakeReply {
  const { query } = request;
  const { settings } = store;
  if (query.get('app_key') !== settings.appKey || query.get('app_secret') !== settings.appSecret) {
    return tiktokAnswer(36009004, 'Invalid credentials. Invalid `app_key` query parameter.');
  }
  if (query.get('grant_type') !== 'authorized_code') {
    return tiktokAnswer(36009004, 'invalid param error: grant_type must be authorized_code');
  }
  const issued = takeCode(store, oauth, 'tiktok', query.get('auth_code'));
  if (!issued) return tiktokAnswer(OAUTH_CODES.tiktokInvalidCode, 'auth_code is invalid, used or expired');
  const { accessToken, refreshToken, expiresAt, shops } = grantTokens(store, 'tiktok', issued.grant);
  const refreshEnds = Math.floor(Math.min(...shops.map((s) => s.authorizationExpiresAt)) / 1000);
  return tiktokAnswer(0, 'success', {
    access_token: accessToken,
    access_token_expire_in: Math.floor(expiresAt / 1000),
    refresh_token: refreshToken,
    refresh_token_expire_in: refreshEnds,
    open_id: `open_${issued.grant.shopIds[0]}`,
    seller_name: shops[0]?.name ?? 'fake seller',
    seller_base_region: 'VN',
    user_type: 0,
    granted_scopes: ['seller.order.info', 'seller.product.basic', 'seller.return_refund.basic'],
  });
}

const shopeeError = (status: number, error: string, message: string): FakeReply => ({
  status,
  body: { error, message, request_id: requestId() },
  errorCode: error,
});

/** partner_id, a fresh timestamp (within `maxAgeSeconds`) and the partner signature. */
function shopeePartnerCheck(store: FakeStore, request: FakeRequest, maxAgeSeconds: number) {
  const { query } = request;
  const { settings } = store;
  if (query.get('partner_id') !== String(settings.partnerId))
    return shopeeError(400, 'error_param', 'Wrong partner_id');
  const timestamp = numberParam(query.get('timestamp'));
  if (timestamp === undefined || Math.abs(store.now() / 1000 - timestamp) > maxAgeSeconds) {
    return shopeeError(400, 'error_param', 'Invalid timestamp');
  }
  const expected = expectedShopeeSign(
    settings.partnerKey,
    String(settings.partnerId),
    request.path,
    String(timestamp),
  );
  if (!safeEqualHex(expected, query.get('sign') ?? undefined))
    return shopeeError(403, 'error_sign', 'Wrong sign.');
  return undefined;
}

function shopeeRedirect(store: FakeStore, oauth: FakeOAuthState, target: string, state: string | null) {
  const code = issueCode(store, oauth, 'shopee');
  if (typeof code !== 'string') return code;
  const grant = oauth.approver.shopee!;
  const who: Record<string, string> = grant.mainAccountId
    ? { main_account_id: grant.mainAccountId }
    : { shop_id: grant.shopIds[0]! };
  return redirect(withQuery(target, { code, ...who, ...(state === null ? {} : { state }) }));
}

function shopeeAuthorize(store: FakeStore, oauth: FakeOAuthState, request: FakeRequest, signed: boolean) {
  const { query } = request;
  if (signed) {
    const refused = shopeePartnerCheck(store, request, SHOPEE_LINK_TTL_SECONDS);
    if (refused) return refused;
    const target = query.get('redirect');
    return target ? shopeeRedirect(store, oauth, target, null) : page(400, 'redirect is required');
  }
  if (query.get('partner_id') !== String(store.settings.partnerId)) return page(400, 'unknown partner_id');
  const target = query.get('redirect_uri');
  if (!target || query.get('response_type') !== 'code')
    return page(400, 'redirect_uri and response_type=code are required');
  return shopeeRedirect(store, oauth, target, query.get('state'));
}

function shopeeTokenGet(store: FakeStore, oauth: FakeOAuthState, request: FakeRequest): FakeReply {
  const refused = shopeePartnerCheck(store, request, store.settings.timestampToleranceSeconds);
  if (refused) return refused;
  const body = (request.json ?? {}) as Record<string, unknown>;
  if (body.partner_id !== store.settings.partnerId) {
    return shopeeError(400, 'error_param', 'partner_id in the body does not match');
  }
  const issued = takeCode(store, oauth, 'shopee', typeof body.code === 'string' ? body.code : null);
  if (!issued)
    return shopeeError(400, OAUTH_CODES.shopeeInvalidCode, 'Invalid code: used, expired or unknown.');
  const { grant } = issued;
  const matches = grant.mainAccountId
    ? String(body.main_account_id) === grant.mainAccountId
    : String(body.shop_id) === grant.shopIds[0];
  if (!matches) return shopeeError(400, 'error_param', 'shop_id or main_account_id does not match the code');
  const { accessToken, refreshToken } = grantTokens(store, 'shopee', grant);
  return {
    status: 200,
    body: {
      request_id: requestId(),
      error: '',
      message: '',
      access_token: accessToken,
      refresh_token: refreshToken,
      expire_in: store.settings.accessTokenTtlSeconds,
      shop_id_list: grant.shopIds.map(Number),
      merchant_id_list: [],
    },
    errorCode: null,
  };
}

/** The authorization routes of `host`, or undefined when the request is not one. */
export function matchOAuth(
  store: FakeStore,
  oauth: FakeOAuthState,
  host: 'tiktok-auth' | 'shopee',
  request: FakeRequest,
): { platform: FakePlatform; endpoint: string; handle: () => FakeReply } | undefined {
  const route = `${request.method} ${request.path}`;
  const E = OAUTH_ENDPOINTS;
  const routes: Record<string, () => FakeReply> =
    host === 'tiktok-auth'
      ? {
          [`GET ${E.tiktokAuthorize}`]: () => tiktokAuthorize(store, oauth, request, false),
          [`GET ${E.tiktokLegacyAuthorize}`]: () => tiktokAuthorize(store, oauth, request, true),
          [`GET ${E.tiktokTokenGet}`]: () => tiktokTokenGet(store, oauth, request),
        }
      : {
          [`GET ${E.shopeeAuthPartner}`]: () => shopeeAuthorize(store, oauth, request, true),
          [`GET ${E.shopeeAuthorize}`]: () => shopeeAuthorize(store, oauth, request, false),
          [`POST ${E.shopeeTokenGet}`]: () => shopeeTokenGet(store, oauth, request),
        };
  const handle = routes[route];
  if (!handle) return undefined;
  return { platform: host === 'shopee' ? 'shopee' : 'tiktok', endpoint: request.path, handle };
}
