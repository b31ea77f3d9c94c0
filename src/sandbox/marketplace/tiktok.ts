/**
 * The fake TikTok Shop API (202309) and its auth host. Checks requests the way TikTok does:
 * app_key, a fresh timestamp, the request signature, the shop_cipher and the access token in
 * `x-tts-access-token`, and each search's page_size range; failures answer HTTP 200 with
 * TikTok's `{code != 0, message, request_id}`, with TikTok's codes and messages.
 */
import { expectedTikTokSign, randomToken, requestId, safeEqualHex } from './crypto.js';
import {
  decodeOffset,
  encodeOffset,
  numberParam,
  tokensExpired,
  unixSeconds,
  type FakeReply,
  type FakeRequest,
  type FakeShopState,
  type FakeStore,
  type Json,
  type RouteMatch,
  type Router,
} from './state.js';
import { matchTikTokFinance } from './tiktok-finance.js';
import { tiktokTrackingData } from './tracking.js';

/** Endpoint names in the call log: the API path, with the product id as a placeholder. */
export const TIKTOK_ENDPOINTS = {
  orderDetail: '/order/202309/orders',
  orderSearch: '/order/202309/orders/search',
  returnSearch: '/return_refund/202309/returns/search',
  productDetail: '/product/202309/products/{product_id}',
  productSearch: '/product/202309/products/search',
  tokenRefresh: '/api/v2/token/refresh',
  authorizedShops: '/authorization/202309/shops',
  tracking: '/fulfillment/202309/orders/{order_id}/tracking',
} as const;

/**
 * The codes the fake answers with: TikTok's own where its common-errors and endpoint tables give
 * them (as copied in rymndcs/tiktok_shop_rb_api test/fixtures/error_list.json), else in TikTok's
 * style (marked). 36009004 is TikTok's code for many refusals; its message says which.
 */
export const TIKTOK_CODES = {
  invalidSign: 106001,
  missingShopCipher: 106013,
  /** The fake's own: no published code for a shop_cipher that names no shop. */
  invalidShopCipher: 106004,
  /** Invalid access token, app_key, timestamp or parameter (the message tells them apart). */
  invalidRequest: 36009004,
  expiredAccessToken: 105002,
  /** The fake's own: no published code for a refused refresh token. */
  invalidRefreshToken: 105003,
  tooManyRequests: 36009002,
  internalError: 36009003,
  requestTimeout: 36009007,
  /** Get Product of an unknown id (get-product-202309). */
  productNotFound: 12019150,
  /** The fake's own: no published code for Get Tracking of an unknown order. */
  orderNotFound: 21011001,
} as const;

/** TikTok's messages for the 36009004 refusals the fake makes (common-errors). */
const MESSAGES = {
  accessToken: 'Invalid credentials. The `x-tts-access-token` header is invalid.',
  appKey: 'Invalid credentials. Invalid `app_key` query parameter.',
  timestamp:
    'Invalid timestamp. The value of the `timestamp` query parameter must not be earlier than 5 minutes before the current time.',
  param: 'invalid param error',
} as const;

const invalid = (message: string, status = 200) => tiktokError(TIKTOK_CODES.invalidRequest, message, status);

const MAX_DETAIL_IDS = 50;

/** `page_size` bounds of each search (official SDK): returns [10, 50] with default 10, else [1, 100] required. */
const PAGE_SIZES = {
  orders: { min: 1, max: 100, default: undefined },
  returns: { min: 10, max: 50, default: 10 },
  products: { min: 1, max: 100, default: undefined },
} as const;

function ok(data: unknown): FakeReply {
  return {
    status: 200,
    body: { code: 0, message: 'Success', request_id: requestId(), data },
    errorCode: null,
  };
}

export function tiktokError(code: number, message: string, status = 200): FakeReply {
  return { status, body: { code, message, request_id: requestId(), data: null }, errorCode: String(code) };
}

function byUpdateTime(a: Json, b: Json, idField: string): number {
  return (
    unixSeconds(a.update_time) - unixSeconds(b.update_time) ||
    String(a[idField]).localeCompare(String(b[idField]))
  );
}

/** Keeps entities whose `field` is within each bound given ([ge, lt) or [ge, le]). */
function inRange(entity: Json, field: string, bounds: { ge?: unknown; lt?: unknown; le?: unknown }): boolean {
  const value = unixSeconds(entity[field]);
  const { ge, lt, le } = bounds;
  return (
    (typeof ge !== 'number' || value >= ge) &&
    (typeof lt !== 'number' || value < lt) &&
    (typeof le !== 'number' || value <= le)
  );
}

/** What an endpoint handler reads once the shop's credentials held. */
interface TikTokContext {
  store: FakeStore;
  request: FakeRequest;
  query: URLSearchParams;
  /** The JSON body, `{}` when there is none. */
  body: Json;
  shop: FakeShopState;
  /** The id in the path (product or order id, URI-decoded); '' for fixed paths. */
  pathId: string;
}

/**
 * One endpoint. `path` is the exact path, or a pattern whose first group is the path's id.
 * `ids` is read when the request is matched, before latency and hooks, for the call log.
 */
interface TikTokRoute {
  method: 'GET' | 'POST';
  path: string | RegExp;
  endpoint: string;
  ids?: (request: FakeRequest, pathId: string) => string[];
  handle: (ctx: TikTokContext) => FakeReply;
}

const expiredToken = () =>
  tiktokError(
    TIKTOK_CODES.expiredAccessToken,
    'Expired credentials. The `access_token` or `x-tts-access-token` header has expired.',
  );

const byCipher = (store: FakeStore, cipher: string | null) =>
  [...store.shops.tiktok.values()].find((shop) => shop.shopCipher === cipher);

/** The app's credentials: app_key, a fresh timestamp and the signature; undefined when they hold. */
function authenticateApp(store: FakeStore, request: FakeRequest): FakeReply | undefined {
  const { settings } = store;
  const { query } = request;
  if (query.get('app_key') !== settings.appKey) return invalid(MESSAGES.appKey);
  const timestamp = numberParam(query.get('timestamp'));
  if (
    timestamp === undefined ||
    Math.abs(store.now() / 1000 - timestamp) > settings.timestampToleranceSeconds
  ) {
    return invalid(MESSAGES.timestamp);
  }
  const expected = expectedTikTokSign(
    settings.appSecret,
    request.method,
    request.path,
    query,
    request.rawBody,
    request.headers['content-type'],
  );
  if (!safeEqualHex(expected, query.get('sign') ?? undefined)) {
    return tiktokError(TIKTOK_CODES.invalidSign, 'Invalid credentials: the sign is wrong');
  }
  return undefined;
}

/** Everything TikTok checks before it looks at the endpoint's own parameters. */
function authenticate(store: FakeStore, request: FakeRequest): FakeShopState | FakeReply {
  const refused = authenticateApp(store, request);
  if (refused) return refused;
  const cipher = request.query.get('shop_cipher');
  if (!cipher) {
    return tiktokError(
      TIKTOK_CODES.missingShopCipher,
      'Missing identifier. The `shop_cipher` query parameter is required to identify the target shop.',
    );
  }
  const shop = byCipher(store, cipher);
  if (!shop) return tiktokError(TIKTOK_CODES.invalidShopCipher, 'Invalid shop_cipher');
  const token = request.headers['x-tts-access-token'];
  if (token !== shop.accessToken) return invalid(MESSAGES.accessToken);
  if (tokensExpired(shop, store)) return expiredToken();
  return shop;
}

/** Runs `handler` once the shop's credentials hold, else answers their refusal. */
function withShop(
  store: FakeStore,
  request: FakeRequest,
  pathId: string,
  handler: (ctx: TikTokContext) => FakeReply,
): () => FakeReply {
  return () => {
    const shop = authenticate(store, request);
    if ('status' in shop) return shop;
    const body = (request.json ?? {}) as Json;
    return handler({ store, request, query: request.query, body, shop, pathId });
  };
}

function paged(query: URLSearchParams, items: Json[], sizes: (typeof PAGE_SIZES)[keyof typeof PAGE_SIZES]) {
  const size = numberParam(query.get('page_size')) ?? sizes.default;
  if (size === undefined || size < sizes.min || size > sizes.max)
    return invalid(`${MESSAGES.param}: page_size must be within [${sizes.min}, ${sizes.max}]`);
  const offset = decodeOffset(query.get('page_token'));
  if (offset === undefined) return invalid(`${MESSAGES.param}: page_token`);
  const page = items.slice(offset, offset + size);
  const next = offset + size < items.length ? encodeOffset(offset + size) : '';
  return { page, next, total: items.length };
}

/**
 * Get Authorized Shops: no shop_cipher, the access token names the grant; every shop holding
 * that token is listed (one grant can cover several shops). The grant is read at match time.
 */
function authorizedShopsRoute(store: FakeStore, request: FakeRequest): RouteMatch {
  const token = request.headers['x-tts-access-token'];
  const granted = [...store.shops.tiktok.values()].filter(
    (s) => token !== undefined && s.accessToken === token,
  );
  return {
    platform: 'tiktok',
    endpoint: TIKTOK_ENDPOINTS.authorizedShops,
    shopId: granted[0]?.shopId ?? null,
    ids: [],
    handle: () => authorizedShops(store, request, granted),
  };
}

function authorizedShops(store: FakeStore, request: FakeRequest, granted: FakeShopState[]): FakeReply {
  const refused = authenticateApp(store, request);
  if (refused) return refused;
  if (granted.length === 0) return invalid(MESSAGES.accessToken);
  if (granted.some((shop) => tokensExpired(shop, store))) return expiredToken();
  return ok({
    shops: granted.map((shop) => ({
      id: shop.shopId,
      name: shop.name,
      region: shop.region,
      seller_type: 'LOCAL',
      cipher: shop.shopCipher,
      code: `USLC${shop.shopId.slice(-6)}`,
    })),
  });
}

const orderIdsParam = (request: FakeRequest) => (request.query.get('ids') ?? '').split(',').filter(Boolean);

function orderDetail({ request, shop }: TikTokContext): FakeReply {
  const ids = orderIdsParam(request);
  if (ids.length === 0 || ids.length > MAX_DETAIL_IDS) {
    return invalid(`${MESSAGES.param}: ids must hold 1..${MAX_DETAIL_IDS} order ids`);
  }
  return ok({ orders: ids.map((id) => shop.orders.get(id)).filter(Boolean) });
}

function orderSearch({ shop, body: filters, query }: TikTokContext): FakeReply {
  const orders = [...shop.orders.values()]
    .filter((o) => inRange(o, 'update_time', { ge: filters.update_time_ge, lt: filters.update_time_lt }))
    .filter((o) => inRange(o, 'create_time', { ge: filters.create_time_ge, lt: filters.create_time_lt }))
    .filter((o) => typeof filters.order_status !== 'string' || o.status === filters.order_status)
    .sort((a, b) => byUpdateTime(a, b, 'id'));
  const result = paged(query, orders, PAGE_SIZES.orders);
  if ('status' in result) return result;
  return ok({ orders: result.page, next_page_token: result.next, total_count: result.total });
}

const bodyIdSet = (value: unknown) => (Array.isArray(value) ? new Set(value.map(String)) : undefined);

function returnSearch({ shop, body: filters, query }: TikTokContext): FakeReply {
  const wanted = bodyIdSet(filters.return_ids);
  const orderIds = bodyIdSet(filters.order_ids);
  const returns = [...shop.returns.values()]
    .filter((r) => !wanted || wanted.has(String(r.return_id)))
    .filter((r) => !orderIds || orderIds.has(String(r.order_id)))
    .filter((r) => inRange(r, 'update_time', { ge: filters.update_time_ge, lt: filters.update_time_lt }))
    .filter((r) => inRange(r, 'create_time', { ge: filters.create_time_ge, lt: filters.create_time_lt }))
    .sort((a, b) => byUpdateTime(a, b, 'return_id'));
  const result = paged(query, returns, PAGE_SIZES.returns);
  if ('status' in result) return result;
  return ok({ return_orders: result.page, next_page_token: result.next, total_count: result.total });
}

function productSearch({ shop, body: filters, query }: TikTokContext): FakeReply {
  // Product search filters by update_time_ge / update_time_le (inclusive); it has no
  // update_time_lt, so an update_time_lt in the body is an unknown field and ignored.
  const status = filters.status ?? 'ALL';
  if (typeof status !== 'string' || !PRODUCT_SEARCH_STATUSES.has(status))
    return invalid(`${MESSAGES.param}: status must be one of ${[...PRODUCT_SEARCH_STATUSES].join(', ')}`);
  const products = [...shop.products.values()]
    .filter((p) => productHasStatus(p, status))
    .filter((p) => inRange(p, 'update_time', { ge: filters.update_time_ge, le: filters.update_time_le }))
    .filter((p) => inRange(p, 'create_time', { ge: filters.create_time_ge, le: filters.create_time_le }))
    .sort((a, b) => byUpdateTime(a, b, 'id'));
  const result = paged(query, products, PAGE_SIZES.products);
  if ('status' in result) return result;
  // The search answers summaries, not full products.
  const summaries = result.page.map((p) => ({
    id: p.id,
    title: p.title,
    status: p.status,
    skus: p.skus,
    sales_regions: ['US'],
    create_time: p.create_time,
    update_time: p.update_time,
    is_not_for_sale: false,
  }));
  return ok({ products: summaries, next_page_token: result.next, total_count: result.total });
}

function tracking({ shop, pathId: orderId }: TikTokContext): FakeReply {
  return shop.orders.has(orderId)
    ? ok(tiktokTrackingData(shop, orderId))
    : tiktokError(TIKTOK_CODES.orderNotFound, 'The order does not exist.');
}

function productDetail({ shop, pathId: productId }: TikTokContext): FakeReply {
  // Get Product does not return products in FREEZE or DELETED status (§4).
  const product = shop.products.get(productId);
  return product && !UNREADABLE_PRODUCT_STATUSES.has(String(product.status))
    ? ok(product)
    : tiktokError(TIKTOK_CODES.productNotFound, 'The product ID does not exist.');
}

/**
 * The endpoint table, tried in order (a GET of /products/search is Get Product of id "search",
 * as TikTok's path patterns make it); the finance API routes through tiktok-finance.ts.
 */
const TIKTOK_ROUTES: readonly TikTokRoute[] = [
  {
    method: 'GET',
    path: TIKTOK_ENDPOINTS.orderDetail,
    endpoint: TIKTOK_ENDPOINTS.orderDetail,
    ids: orderIdsParam,
    handle: orderDetail,
  },
  {
    method: 'POST',
    path: TIKTOK_ENDPOINTS.orderSearch,
    endpoint: TIKTOK_ENDPOINTS.orderSearch,
    handle: orderSearch,
  },
  {
    method: 'POST',
    path: TIKTOK_ENDPOINTS.returnSearch,
    endpoint: TIKTOK_ENDPOINTS.returnSearch,
    ids: (request) => {
      const body = (request.json ?? {}) as Json;
      return Array.isArray(body.return_ids) ? body.return_ids.map(String) : [];
    },
    handle: returnSearch,
  },
  {
    method: 'POST',
    path: TIKTOK_ENDPOINTS.productSearch,
    endpoint: TIKTOK_ENDPOINTS.productSearch,
    handle: productSearch,
  },
  {
    method: 'GET',
    path: /^\/fulfillment\/202309\/orders\/([^/]+)\/tracking$/,
    endpoint: TIKTOK_ENDPOINTS.tracking,
    ids: (_, orderId) => [orderId],
    handle: tracking,
  },
  {
    method: 'GET',
    path: /^\/product\/202309\/products\/([^/]+)$/,
    endpoint: TIKTOK_ENDPOINTS.productDetail,
    ids: (_, productId) => [productId],
    handle: productDetail,
  },
];

/** The route's path id ('' for a fixed path), or undefined when the route does not match. */
function pathIdOf(route: TikTokRoute, request: FakeRequest): string | undefined {
  if (route.method !== request.method) return undefined;
  if (typeof route.path === 'string') return route.path === request.path ? '' : undefined;
  const found = route.path.exec(request.path);
  return found ? decodeURIComponent(found[1]!) : undefined;
}

function match(store: FakeStore, request: FakeRequest): RouteMatch | undefined {
  if (request.method === 'GET' && request.path === TIKTOK_ENDPOINTS.authorizedShops) {
    return authorizedShopsRoute(store, request);
  }
  const shopId = byCipher(store, request.query.get('shop_cipher'))?.shopId ?? null;
  const route = (endpoint: string, ids: string[], handle: () => FakeReply): RouteMatch => ({
    platform: 'tiktok',
    endpoint,
    shopId,
    ids,
    handle,
  });
  for (const entry of TIKTOK_ROUTES) {
    const pathId = pathIdOf(entry, request);
    if (pathId === undefined) continue;
    const ids = entry.ids?.(request, pathId) ?? [];
    return route(entry.endpoint, ids, withShop(store, request, pathId, entry.handle));
  }
  return matchTikTokFinance(request, {
    route,
    withShop: (req, handler) => withShop(store, req, '', (ctx) => handler(ctx.shop)),
    ok,
    invalid,
  });
}

export function createTikTokRouter(store: FakeStore): Router {
  return {
    match: (request) => match(store, request),
    error(status, kind, message) {
      if (kind === 'rate_limited') return tiktokError(TIKTOK_CODES.tooManyRequests, message, status);
      if (kind === 'server') return tiktokError(TIKTOK_CODES.internalError, message, status);
      return invalid(`${MESSAGES.param}: ${message}`, status);
    },
  };
}

/** Search Products `status` values (official SDK SearchProductsRequestBody); ALL is the default. */
const PRODUCT_SEARCH_STATUSES = new Set([
  'ALL',
  'DRAFT',
  'PENDING',
  'FAILED',
  'ACTIVATE',
  'SELLER_DEACTIVATED',
  'PLATFORM_DEACTIVATED',
  'FREEZE',
  'DELETED',
]);
/** Statuses Get Product answers "does not exist" for (MARKETPLACES-MORE.md §4). */
const UNREADABLE_PRODUCT_STATUSES = new Set(['FREEZE', 'DELETED']);

/**
 * The fake's reading of `status`: ALL lists every product except DELETED ones (the Seller
 * Center's "All" tab leaves deleted products out; undocumented, so the client asks for DELETED
 * and FREEZE on their own too, and FREEZE is listed by both here to exercise its de-duplication).
 */
function productHasStatus(product: Json, status: string): boolean {
  if (status === 'ALL') return product.status !== 'DELETED';
  return product.status === status;
}

/** TikTok's auth host: only the token refresh. */
export function createTikTokAuthRouter(store: FakeStore): Router {
  const { settings } = store;
  return {
    match(request) {
      if (request.method !== 'GET' || request.path !== TIKTOK_ENDPOINTS.tokenRefresh) return undefined;
      const refreshToken = request.query.get('refresh_token');
      // One grant's shops share the pair (issue 13): a refresh renews all of them.
      const granted = [...store.shops.tiktok.values()].filter((s) => s.refreshToken === refreshToken);
      const shop = granted[0];
      return {
        platform: 'tiktok',
        endpoint: TIKTOK_ENDPOINTS.tokenRefresh,
        shopId: shop?.shopId ?? null,
        ids: [],
        handle() {
          const { query } = request;
          if (query.get('app_key') !== settings.appKey || query.get('app_secret') !== settings.appSecret) {
            return invalid(MESSAGES.appKey);
          }
          if (query.get('grant_type') !== 'refresh_token') {
            return invalid(`${MESSAGES.param}: grant_type must be refresh_token`);
          }
          if (!shop) return tiktokError(TIKTOK_CODES.invalidRefreshToken, 'Invalid refresh_token');
          const nowSeconds = Math.floor(store.now() / 1000);
          const accessToken = randomToken('TTP_');
          const renewed = randomToken('TTR_');
          for (const each of granted) {
            each.accessToken = accessToken;
            each.refreshToken = renewed;
            each.accessTokenExpiresAt = (nowSeconds + settings.accessTokenTtlSeconds) * 1000;
          }
          return ok({
            access_token: shop.accessToken,
            access_token_expire_in: nowSeconds + settings.accessTokenTtlSeconds,
            refresh_token: shop.refreshToken,
            refresh_token_expire_in: nowSeconds + 365 * 86_400,
            open_id: `open_${shop.shopId}`,
            seller_name: shop.name,
            seller_base_region: 'US',
            user_type: 0,
            granted_scopes: ['seller.order.info', 'seller.product.basic', 'seller.return_refund.basic'],
          });
        },
      };
    },
    error(status, kind, message) {
      return tiktokError(
        kind === 'rate_limited' ? TIKTOK_CODES.tooManyRequests : TIKTOK_CODES.internalError,
        message,
        status,
      );
    },
  };
}
