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

export function createTikTokRouter(store: FakeStore): Router {
  const { settings } = store;
  const shops = store.shops.tiktok;
  const byCipher = (cipher: string | null) => [...shops.values()].find((shop) => shop.shopCipher === cipher);

  /** The app's credentials: app_key, a fresh timestamp and the signature; undefined when they hold. */
  function authenticateApp(request: FakeRequest): FakeReply | undefined {
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
  function authenticate(request: FakeRequest): FakeShopState | FakeReply {
    const refused = authenticateApp(request);
    if (refused) return refused;
    const { query } = request;
    const cipher = query.get('shop_cipher');
    if (!cipher) {
      return tiktokError(
        TIKTOK_CODES.missingShopCipher,
        'Missing identifier. The `shop_cipher` query parameter is required to identify the target shop.',
      );
    }
    const shop = byCipher(cipher);
    if (!shop) return tiktokError(TIKTOK_CODES.invalidShopCipher, 'Invalid shop_cipher');
    const token = request.headers['x-tts-access-token'];
    if (token !== shop.accessToken) return invalid(MESSAGES.accessToken);
    if (tokensExpired(shop, store)) {
      return tiktokError(
        TIKTOK_CODES.expiredAccessToken,
        'Expired credentials. The `access_token` or `x-tts-access-token` header has expired.',
      );
    }
    return shop;
  }

  function withShop(
    request: FakeRequest,
    handler: (shop: FakeShopState, body: Json) => FakeReply,
  ): () => FakeReply {
    return () => {
      const shop = authenticate(request);
      if ('status' in shop) return shop;
      const body = (request.json ?? {}) as Json;
      return handler(shop, body);
    };
  }

  function paged(request: FakeRequest, items: Json[], sizes: (typeof PAGE_SIZES)[keyof typeof PAGE_SIZES]) {
    const size = numberParam(request.query.get('page_size')) ?? sizes.default;
    if (size === undefined || size < sizes.min || size > sizes.max)
      return invalid(`${MESSAGES.param}: page_size must be within [${sizes.min}, ${sizes.max}]`);
    const offset = decodeOffset(request.query.get('page_token'));
    if (offset === undefined) return invalid(`${MESSAGES.param}: page_token`);
    const page = items.slice(offset, offset + size);
    const next = offset + size < items.length ? encodeOffset(offset + size) : '';
    return { page, next, total: items.length };
  }

  /**
   * Get Authorized Shops: no shop_cipher, the access token names the grant; every shop holding
   * that token is listed (one grant can cover several shops).
   */
  function authorizedShops(request: FakeRequest, granted: FakeShopState[]): FakeReply {
    const refused = authenticateApp(request);
    if (refused) return refused;
    if (granted.length === 0) return invalid(MESSAGES.accessToken);
    if (granted.some((shop) => tokensExpired(shop, store))) {
      return tiktokError(
        TIKTOK_CODES.expiredAccessToken,
        'Expired credentials. The `access_token` or `x-tts-access-token` header has expired.',
      );
    }
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

  function match(request: FakeRequest): RouteMatch | undefined {
    if (request.method === 'GET' && request.path === TIKTOK_ENDPOINTS.authorizedShops) {
      const token = request.headers['x-tts-access-token'];
      const granted = [...shops.values()].filter((s) => token !== undefined && s.accessToken === token);
      return {
        platform: 'tiktok',
        endpoint: TIKTOK_ENDPOINTS.authorizedShops,
        shopId: granted[0]?.shopId ?? null,
        ids: [],
        handle: () => authorizedShops(request, granted),
      };
    }
    const shop = byCipher(request.query.get('shop_cipher'));
    const route = (endpoint: string, ids: string[], handle: () => FakeReply): RouteMatch => ({
      platform: 'tiktok',
      endpoint,
      shopId: shop?.shopId ?? null,
      ids,
      handle,
    });
    const { method, path } = request;
    const body = (request.json ?? {}) as Json;

    if (method === 'GET' && path === TIKTOK_ENDPOINTS.orderDetail) {
      const ids = (request.query.get('ids') ?? '').split(',').filter(Boolean);
      return route(
        TIKTOK_ENDPOINTS.orderDetail,
        ids,
        withShop(request, (s) => {
          if (ids.length === 0 || ids.length > MAX_DETAIL_IDS) {
            return invalid(`${MESSAGES.param}: ids must hold 1..${MAX_DETAIL_IDS} order ids`);
          }
          return ok({ orders: ids.map((id) => s.orders.get(id)).filter(Boolean) });
        }),
      );
    }

    if (method === 'POST' && path === TIKTOK_ENDPOINTS.orderSearch) {
      return route(
        TIKTOK_ENDPOINTS.orderSearch,
        [],
        withShop(request, (s, filters) => {
          const orders = [...s.orders.values()]
            .filter((o) =>
              inRange(o, 'update_time', { ge: filters.update_time_ge, lt: filters.update_time_lt }),
            )
            .filter((o) =>
              inRange(o, 'create_time', { ge: filters.create_time_ge, lt: filters.create_time_lt }),
            )
            .filter((o) => typeof filters.order_status !== 'string' || o.status === filters.order_status)
            .sort((a, b) => byUpdateTime(a, b, 'id'));
          const result = paged(request, orders, PAGE_SIZES.orders);
          if ('status' in result) return result;
          return ok({ orders: result.page, next_page_token: result.next, total_count: result.total });
        }),
      );
    }

    if (method === 'POST' && path === TIKTOK_ENDPOINTS.returnSearch) {
      const returnIds = Array.isArray(body.return_ids) ? body.return_ids.map(String) : [];
      return route(
        TIKTOK_ENDPOINTS.returnSearch,
        returnIds,
        withShop(request, (s, filters) => {
          const wanted = Array.isArray(filters.return_ids)
            ? new Set(filters.return_ids.map(String))
            : undefined;
          const orderIds = Array.isArray(filters.order_ids)
            ? new Set(filters.order_ids.map(String))
            : undefined;
          const returns = [...s.returns.values()]
            .filter((r) => !wanted || wanted.has(String(r.return_id)))
            .filter((r) => !orderIds || orderIds.has(String(r.order_id)))
            .filter((r) =>
              inRange(r, 'update_time', { ge: filters.update_time_ge, lt: filters.update_time_lt }),
            )
            .filter((r) =>
              inRange(r, 'create_time', { ge: filters.create_time_ge, lt: filters.create_time_lt }),
            )
            .sort((a, b) => byUpdateTime(a, b, 'return_id'));
          const result = paged(request, returns, PAGE_SIZES.returns);
          if ('status' in result) return result;
          return ok({ return_orders: result.page, next_page_token: result.next, total_count: result.total });
        }),
      );
    }

    if (method === 'POST' && path === TIKTOK_ENDPOINTS.productSearch) {
      return route(
        TIKTOK_ENDPOINTS.productSearch,
        [],
        withShop(request, (s, filters) => {
          // Product search filters by update_time_ge / update_time_le (inclusive); it has no
          // update_time_lt, so an update_time_lt in the body is an unknown field and ignored.
          const status = filters.status ?? 'ALL';
          if (typeof status !== 'string' || !PRODUCT_SEARCH_STATUSES.has(status))
            return invalid(
              `${MESSAGES.param}: status must be one of ${[...PRODUCT_SEARCH_STATUSES].join(', ')}`,
            );
          const products = [...s.products.values()]
            .filter((p) => productHasStatus(p, status))
            .filter((p) =>
              inRange(p, 'update_time', { ge: filters.update_time_ge, le: filters.update_time_le }),
            )
            .filter((p) =>
              inRange(p, 'create_time', { ge: filters.create_time_ge, le: filters.create_time_le }),
            )
            .sort((a, b) => byUpdateTime(a, b, 'id'));
          const result = paged(request, products, PAGE_SIZES.products);
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
        }),
      );
    }

    const trackingMatch = /^\/fulfillment\/202309\/orders\/([^/]+)\/tracking$/.exec(path);
    if (method === 'GET' && trackingMatch) {
      const orderId = decodeURIComponent(trackingMatch[1]!);
      return route(
        TIKTOK_ENDPOINTS.tracking,
        [orderId],
        withShop(request, (s) =>
          s.orders.has(orderId)
            ? ok(tiktokTrackingData(s, orderId))
            : tiktokError(TIKTOK_CODES.orderNotFound, 'The order does not exist.'),
        ),
      );
    }

    const productMatch = /^\/product\/202309\/products\/([^/]+)$/.exec(path);
    if (method === 'GET' && productMatch) {
      const productId = decodeURIComponent(productMatch[1]!);
      return route(
        TIKTOK_ENDPOINTS.productDetail,
        [productId],
        withShop(request, (s) => {
          // Get Product does not return products in FREEZE or DELETED status (§4).
          const product = s.products.get(productId);
          return product && !UNREADABLE_PRODUCT_STATUSES.has(String(product.status))
            ? ok(product)
            : tiktokError(TIKTOK_CODES.productNotFound, 'The product ID does not exist.');
        }),
      );
    }
    return matchTikTokFinance(request, { route, withShop, ok, invalid });
  }

  return {
    match,
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
