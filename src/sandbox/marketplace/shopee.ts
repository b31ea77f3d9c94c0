/**
 * The fake Shopee Open Platform v2. Checks requests the way Shopee does: partner_id, a fresh
 * timestamp, the signature (shop calls: partner_id + path + timestamp + access_token + shop_id;
 * public calls: partner_id + path + timestamp), the shop and its access token. Errors answer in
 * Shopee's format `{error, message, request_id}` with the names of Shopee's common error list
 * (error_sign, error_auth and the misspelt invalid_acceess_token with HTTP 403, error_param with
 * HTTP 400).
 */
import { expectedShopeeSign, randomToken, requestId, safeEqualHex } from './crypto.js';
import {
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
import { matchShopeeFinance } from './shopee-finance.js';
import { shopeeTrackingInfo } from './tracking.js';

export const SHOPEE_ENDPOINTS = {
  orderDetail: '/api/v2/order/get_order_detail',
  orderList: '/api/v2/order/get_order_list',
  returnList: '/api/v2/returns/get_return_list',
  returnDetail: '/api/v2/returns/get_return_detail',
  itemBaseInfo: '/api/v2/product/get_item_base_info',
  itemList: '/api/v2/product/get_item_list',
  modelList: '/api/v2/product/get_model_list',
  trackingNumber: '/api/v2/logistics/get_tracking_number',
  trackingInfo: '/api/v2/logistics/get_tracking_info',
  lostPush: '/api/v2/push/get_lost_push_message',
  confirmLostPush: '/api/v2/push/confirm_consumed_lost_push_message',
  tokenRefresh: '/api/v2/auth/access_token/get',
  shopInfo: '/api/v2/shop/get_shop_info',
} as const;

const MAX_DETAIL_IDS = 50;
const MAX_RANGE_SECONDS = 15 * 86_400;
const LOST_PUSH_PAGE = 100;
/** get_item_list's item_status values (MARKETPLACES-MORE.md §4; there is no "DELETED"). */
const ITEM_STATUSES = new Set(['NORMAL', 'BANNED', 'UNLIST', 'REVIEWING', 'SELLER_DELETE', 'SHOPEE_DELETE']);

/** get_order_detail leaves these out unless response_optional_fields names them. */
const ORDER_OPTIONAL_FIELDS = new Set([
  'buyer_user_id',
  'buyer_username',
  'estimated_shipping_fee',
  'recipient_address',
  'actual_shipping_fee',
  'goods_to_declare',
  'note',
  'note_update_time',
  'item_list',
  'pay_time',
  'dropshipper',
  'dropshipper_phone',
  'split_up',
  'buyer_cancel_reason',
  'cancel_by',
  'cancel_reason',
  'actual_shipping_fee_confirmed',
  'buyer_cpf_id',
  'fulfillment_flag',
  'pickup_done_time',
  'package_list',
  'shipping_carrier',
  'payment_method',
  'total_amount',
  'invoice_data',
  'order_chargeable_weight_gram',
  'return_request_due_date',
  'edt',
]);

function ok(response: unknown): FakeReply {
  return {
    status: 200,
    body: { error: '', message: '', request_id: requestId(), response },
    errorCode: null,
  };
}

export function shopeeError(status: number, error: string, message: string): FakeReply {
  return { status, body: { error, message, request_id: requestId() }, errorCode: error };
}

const param = (message: string) => shopeeError(400, 'error_param', message);

/** What an endpoint handler reads: the fake's state, the request, its query and JSON body. */
interface ShopeeContext {
  store: FakeStore;
  request: FakeRequest;
  query: URLSearchParams;
  body: Json;
}

/** A shop call's context, once the shop's credentials held. */
interface ShopContext extends ShopeeContext {
  shop: FakeShopState;
}

/**
 * One endpoint: shop calls authenticate the shop before `handle` runs and log the query's
 * shop_id; partner-level (public) calls check the partner signature only and log `shopId`.
 * `ids` and `shopId` are read when the request is matched, before latency and hooks.
 */
type ShopeeRoute =
  | {
      method: 'GET' | 'POST';
      auth: 'shop';
      ids?: (query: URLSearchParams) => string[];
      handle: (ctx: ShopContext) => FakeReply;
    }
  | {
      method: 'GET' | 'POST';
      auth: 'public';
      shopId?: (body: Json) => string | null;
      handle: (ctx: ShopeeContext) => FakeReply;
    };

function checkPartner(store: FakeStore, request: FakeRequest): FakeReply | undefined {
  const { settings } = store;
  const { query } = request;
  if (query.get('partner_id') !== String(settings.partnerId)) return param('Wrong partner_id');
  const timestamp = numberParam(query.get('timestamp'));
  if (
    timestamp === undefined ||
    Math.abs(store.now() / 1000 - timestamp) > settings.timestampToleranceSeconds
  ) {
    return param('Invalid timestamp');
  }
  return undefined;
}

function authenticateShop(store: FakeStore, request: FakeRequest): FakeShopState | FakeReply {
  const refused = checkPartner(store, request);
  if (refused) return refused;
  const { settings } = store;
  const { query } = request;
  const shopId = query.get('shop_id');
  const accessToken = query.get('access_token');
  if (!shopId || !accessToken) return param('shop_id and access_token are required');
  const expected = expectedShopeeSign(
    settings.partnerKey,
    String(settings.partnerId),
    request.path,
    query.get('timestamp')!,
    {
      accessToken,
      shopId,
    },
  );
  if (!safeEqualHex(expected, query.get('sign') ?? undefined)) {
    return shopeeError(403, 'error_sign', 'Wrong sign.');
  }
  const shop = store.shops.shopee.get(shopId);
  if (!shop) return param(`shop_id ${shopId} not found`);
  // Both are in Shopee's common error list, "invalid_acceess_token" misspelt as published.
  if (accessToken !== shop.accessToken) return shopeeError(403, 'error_auth', 'Invalid access_token.');
  if (tokensExpired(shop, store))
    return shopeeError(403, 'invalid_acceess_token', 'Invalid access_token, please have a check.');
  return shop;
}

function authenticatePublic(store: FakeStore, request: FakeRequest): FakeReply | undefined {
  const refused = checkPartner(store, request);
  if (refused) return refused;
  const { settings } = store;
  const expected = expectedShopeeSign(
    settings.partnerKey,
    String(settings.partnerId),
    request.path,
    request.query.get('timestamp')!,
  );
  if (!safeEqualHex(expected, request.query.get('sign') ?? undefined))
    return shopeeError(403, 'error_sign', 'Wrong sign.');
  return undefined;
}

/** A [from, to] range of at most 15 days, both ends inclusive; undefined bounds when absent. */
function range(query: URLSearchParams, fromName: string, toName: string, required: boolean) {
  const from = numberParam(query.get(fromName));
  const to = numberParam(query.get(toName));
  if (from === undefined && to === undefined && !required) return { from: undefined, to: undefined };
  if (from === undefined || to === undefined) return param(`${fromName} and ${toName} are required`);
  if (to < from) return param(`${toName} must not be before ${fromName}`);
  if (to - from > MAX_RANGE_SECONDS) return param('The time range should not exceed 15 days');
  return { from, to };
}

const within = (value: unknown, from: number | undefined, to: number | undefined) => {
  const seconds = unixSeconds(value);
  return (from === undefined || seconds >= from) && (to === undefined || seconds <= to);
};

const pageSize = (query: URLSearchParams) => {
  const size = numberParam(query.get('page_size'));
  return size === undefined || size < 1 || size > 100 ? undefined : size;
};

const idList = (value: string | null) => (value ?? '').split(',').filter(Boolean);

function orderDetail({ shop, query }: ShopContext): FakeReply {
  const orderSns = idList(query.get('order_sn_list'));
  if (orderSns.length === 0 || orderSns.length > MAX_DETAIL_IDS) {
    return param(`order_sn_list must hold 1..${MAX_DETAIL_IDS} order_sn`);
  }
  const optional = new Set(idList(query.get('response_optional_fields')));
  const orderList = orderSns
    .map((sn) => shop.orders.get(sn))
    .filter((order): order is Json => order !== undefined)
    .map((order) =>
      Object.fromEntries(
        Object.entries(order).filter(([field]) => !ORDER_OPTIONAL_FIELDS.has(field) || optional.has(field)),
      ),
    );
  return ok({ order_list: orderList });
}

function orderList({ shop, query }: ShopContext): FakeReply {
  const field = query.get('time_range_field');
  if (field !== 'create_time' && field !== 'update_time') {
    return param('time_range_field must be create_time or update_time');
  }
  const window = range(query, 'time_from', 'time_to', true);
  if ('status' in window) return window;
  const size = pageSize(query);
  if (size === undefined) return param('page_size must be 1..100');
  const cursor = query.get('cursor') ?? '';
  const offset = cursor === '' ? 0 : Number(cursor);
  if (!Number.isInteger(offset) || offset < 0) return param('Invalid cursor');
  const status = query.get('order_status');
  const orders = [...shop.orders.values()]
    .filter((order) => within(order[field], window.from, window.to))
    .filter((order) => !status || order.order_status === status)
    .sort(
      (a, b) =>
        unixSeconds(a[field]) - unixSeconds(b[field]) || String(a.order_sn).localeCompare(String(b.order_sn)),
    );
  const page = orders.slice(offset, offset + size);
  const more = offset + size < orders.length;
  const withStatus = idList(query.get('response_optional_fields')).includes('order_status');
  return ok({
    more,
    next_cursor: more ? String(offset + size) : '',
    order_list: page.map((order) =>
      withStatus
        ? { order_sn: order.order_sn, order_status: order.order_status }
        : { order_sn: order.order_sn },
    ),
  });
}

const orderSnParam = (query: URLSearchParams) => query.get('order_sn') ?? '';

function trackingNumber({ shop, query }: ShopContext): FakeReply {
  const orderSn = orderSnParam(query);
  if (!shop.orders.has(orderSn)) return shopeeError(400, 'error_not_found', `order_sn ${orderSn} not found`);
  return ok({
    tracking_number: shop.tracking.get(orderSn) ?? '',
    plp_number: '',
    first_mile_tracking_number: '',
    last_mile_tracking_number: '',
  });
}

function trackingInfo({ shop, query }: ShopContext): FakeReply {
  const answer = shopeeTrackingInfo(shop, orderSnParam(query), query.get('package_number'));
  return 'ok' in answer ? ok(answer.ok) : shopeeError(400, answer.error, answer.message);
}

function returnList({ shop, query }: ShopContext): FakeReply {
  const pageNo = numberParam(query.get('page_no'));
  const size = pageSize(query);
  if (pageNo === undefined || pageNo < 0 || size === undefined) {
    return param('page_no (>= 0) and page_size (1..100) are required');
  }
  const updated = range(query, 'update_time_from', 'update_time_to', false);
  if ('status' in updated) return updated;
  const created = range(query, 'create_time_from', 'create_time_to', false);
  if ('status' in created) return created;
  const returns = [...shop.returns.values()]
    .filter((r) => within(r.update_time, updated.from, updated.to))
    .filter((r) => within(r.create_time, created.from, created.to))
    .sort(
      (a, b) =>
        unixSeconds(a.update_time) - unixSeconds(b.update_time) ||
        String(a.return_sn).localeCompare(String(b.return_sn)),
    );
  const page = returns.slice(pageNo * size, (pageNo + 1) * size);
  return ok({ more: (pageNo + 1) * size < returns.length, return: page });
}

const returnSnParam = (query: URLSearchParams) => query.get('return_sn') ?? '';

function returnDetail({ shop, query }: ShopContext): FakeReply {
  const returnSn = returnSnParam(query);
  const found = shop.returns.get(returnSn);
  return found ? ok(found) : shopeeError(400, 'error_not_found', `return_sn ${returnSn} not found`);
}

function itemBaseInfo({ shop, query }: ShopContext): FakeReply {
  const itemIds = idList(query.get('item_id_list'));
  if (itemIds.length === 0 || itemIds.length > MAX_DETAIL_IDS) {
    return param(`item_id_list must hold 1..${MAX_DETAIL_IDS} item ids`);
  }
  return ok({ item_list: itemIds.map((id) => shop.products.get(id)).filter(Boolean) });
}

function itemList({ shop, query }: ShopContext): FakeReply {
  const offset = numberParam(query.get('offset'));
  const size = pageSize(query);
  if (offset === undefined || offset < 0 || size === undefined) {
    return param('offset (>= 0) and page_size (1..100) are required');
  }
  const statuses = new Set(query.getAll('item_status'));
  if (statuses.size === 0) return param('item_status is required');
  const unknown = [...statuses].filter((status) => !ITEM_STATUSES.has(status));
  if (unknown.length > 0) return param(`item_status ${unknown.join(',')} is invalid`);
  const updated = range(query, 'update_time_from', 'update_time_to', false);
  if ('status' in updated) return updated;
  const items = [...shop.products.values()]
    .filter((item) => statuses.has(String(item.item_status)))
    .filter((item) => within(item.update_time, updated.from, updated.to))
    .sort(
      (a, b) =>
        unixSeconds(a.update_time) - unixSeconds(b.update_time) || Number(a.item_id) - Number(b.item_id),
    );
  const page = items.slice(offset, offset + size);
  const hasNext = offset + size < items.length;
  return ok({
    item: page.map((item) => ({
      item_id: item.item_id,
      item_status: item.item_status,
      update_time: item.update_time,
    })),
    total_count: items.length,
    has_next_page: hasNext,
    next_offset: hasNext ? offset + size : items.length,
  });
}

const itemIdParam = (query: URLSearchParams) => query.get('item_id') ?? '';

function modelList({ shop, query }: ShopContext): FakeReply {
  const itemId = itemIdParam(query);
  if (!shop.products.has(itemId))
    return shopeeError(400, 'error_item_not_found', `item_id ${itemId} not found`);
  const models = shop.models.get(itemId) ?? [];
  return ok({
    tier_variation: [
      { name: 'Variation', option_list: models.map((_, i) => ({ option: `Option ${i + 1}` })) },
    ],
    model: models,
  });
}

/** Fields at the top level, no `response` wrapper (v2.shop.get_shop_info sample). */
function shopInfo({ shop, store }: ShopContext): FakeReply {
  return {
    status: 200,
    body: {
      error: '',
      message: '',
      request_id: requestId(),
      shop_name: shop.name,
      region: 'VN',
      status: 'NORMAL',
      is_cb: false,
      is_sip: false,
      merchant_id: null,
      auth_time: Math.floor(store.now() / 1000),
      expire_time: Math.floor(shop.authorizationExpiresAt / 1000),
    },
    errorCode: null,
  };
}

function lostPush({ store }: ShopeeContext): FakeReply {
  const threeDaysAgo = store.now() / 1000 - 3 * 86_400;
  const pending = store.lostPushes.filter(
    (p) => p.messageId > store.confirmedUpTo && p.timestamp >= threeDaysAgo,
  );
  const page = pending.slice(0, LOST_PUSH_PAGE);
  return ok({
    // Partner-level pushes have no shop_id; `data` is the push envelope as JSON text.
    push_message_list: page.map((p) => ({
      ...(p.shopId === undefined ? {} : { shop_id: p.shopId }),
      code: p.code,
      timestamp: p.timestamp,
      data: p.data,
    })),
    has_next_page: pending.length > page.length,
    last_message_id: page.length > 0 ? page[page.length - 1]!.messageId : 0,
  });
}

function confirmLostPush({ store, request }: ShopeeContext): FakeReply {
  const lastMessageId = (request.json as Json | undefined)?.last_message_id;
  if (typeof lastMessageId !== 'number' || !Number.isInteger(lastMessageId)) {
    return param('last_message_id is required');
  }
  store.confirmedUpTo = Math.max(store.confirmedUpTo, lastMessageId);
  return ok({});
}

const bodyShopId = (body: Json) =>
  typeof body.shop_id === 'number' || typeof body.shop_id === 'string' ? String(body.shop_id) : null;

function tokenRefresh({ store, body }: ShopeeContext): FakeReply {
  const { settings } = store;
  if (body.partner_id !== settings.partnerId) return param('partner_id in the body does not match');
  const shopId = bodyShopId(body);
  const shop = shopId === null ? undefined : store.shops.shopee.get(shopId);
  if (!shop) return param('shop_id not found');
  if (body.refresh_token !== shop.refreshToken)
    return shopeeError(403, 'error_auth', 'Invalid refresh_token.');
  // Shopee refresh tokens are single-use: the old pair stops working now.
  shop.accessToken = randomToken('SPA');
  shop.refreshToken = randomToken('SPR');
  shop.accessTokenExpiresAt = store.now() + settings.accessTokenTtlSeconds * 1000;
  return {
    status: 200,
    body: {
      request_id: requestId(),
      error: '',
      message: '',
      partner_id: settings.partnerId,
      shop_id: Number(shop.shopId),
      access_token: shop.accessToken,
      refresh_token: shop.refreshToken,
      expire_in: settings.accessTokenTtlSeconds,
    },
    errorCode: null,
  };
}

/** The endpoint table, by path; the payment API routes through shopee-finance.ts. */
const SHOPEE_ROUTES: Record<string, ShopeeRoute> = {
  [SHOPEE_ENDPOINTS.orderDetail]: {
    method: 'GET',
    auth: 'shop',
    ids: (query) => idList(query.get('order_sn_list')),
    handle: orderDetail,
  },
  [SHOPEE_ENDPOINTS.orderList]: { method: 'GET', auth: 'shop', handle: orderList },
  [SHOPEE_ENDPOINTS.trackingNumber]: {
    method: 'GET',
    auth: 'shop',
    ids: (query) => [orderSnParam(query)],
    handle: trackingNumber,
  },
  [SHOPEE_ENDPOINTS.trackingInfo]: {
    method: 'GET',
    auth: 'shop',
    ids: (query) => [orderSnParam(query)],
    handle: trackingInfo,
  },
  [SHOPEE_ENDPOINTS.returnList]: { method: 'GET', auth: 'shop', handle: returnList },
  [SHOPEE_ENDPOINTS.returnDetail]: {
    method: 'GET',
    auth: 'shop',
    ids: (query) => [returnSnParam(query)],
    handle: returnDetail,
  },
  [SHOPEE_ENDPOINTS.itemBaseInfo]: {
    method: 'GET',
    auth: 'shop',
    ids: (query) => idList(query.get('item_id_list')),
    handle: itemBaseInfo,
  },
  [SHOPEE_ENDPOINTS.itemList]: { method: 'GET', auth: 'shop', handle: itemList },
  [SHOPEE_ENDPOINTS.modelList]: {
    method: 'GET',
    auth: 'shop',
    ids: (query) => [itemIdParam(query)],
    handle: modelList,
  },
  [SHOPEE_ENDPOINTS.shopInfo]: { method: 'GET', auth: 'shop', handle: shopInfo },
  [SHOPEE_ENDPOINTS.lostPush]: { method: 'GET', auth: 'public', handle: lostPush },
  [SHOPEE_ENDPOINTS.confirmLostPush]: { method: 'POST', auth: 'public', handle: confirmLostPush },
  [SHOPEE_ENDPOINTS.tokenRefresh]: {
    method: 'POST',
    auth: 'public',
    shopId: bodyShopId,
    handle: tokenRefresh,
  },
};

function contextOf(store: FakeStore, request: FakeRequest): ShopeeContext {
  return { store, request, query: request.query, body: (request.json ?? {}) as Json };
}

/** Runs `handler` once the shop's credentials hold, else answers their refusal. */
function withShop(store: FakeStore, request: FakeRequest, handler: (ctx: ShopContext) => FakeReply) {
  return () => {
    const shop = authenticateShop(store, request);
    return 'status' in shop ? shop : handler({ ...contextOf(store, request), shop });
  };
}

function routeMatch(
  endpoint: string,
  shopId: string | null,
  ids: string[],
  handle: () => FakeReply,
): RouteMatch {
  return { platform: 'shopee', endpoint, shopId, ids, handle };
}

/** The table's route for the request: its call-log record and its lazily run handler. */
function matchTable(store: FakeStore, request: FakeRequest): RouteMatch | undefined {
  const { path, query } = request;
  const route = Object.hasOwn(SHOPEE_ROUTES, path) ? SHOPEE_ROUTES[path] : undefined;
  if (!route || route.method !== request.method) return undefined;
  if (route.auth === 'shop') {
    const ids = route.ids?.(query) ?? [];
    return routeMatch(path, query.get('shop_id'), ids, withShop(store, request, route.handle));
  }
  const ctx = contextOf(store, request);
  return routeMatch(path, route.shopId?.(ctx.body) ?? null, [], () => {
    const refused = authenticatePublic(store, request);
    return refused ?? route.handle(ctx);
  });
}

export function createShopeeRouter(store: FakeStore): Router {
  return {
    match(request) {
      return (
        matchTable(store, request) ??
        matchShopeeFinance(request, {
          route: (endpoint, ids, handle) => routeMatch(endpoint, request.query.get('shop_id'), ids, handle),
          withShop: (req, handler) => withShop(store, req, (ctx) => handler(ctx.shop)),
          ok,
          error: shopeeError,
        })
      );
    },
    error(status, kind, message) {
      const error =
        kind === 'rate_limited'
          ? 'error_too_many_request'
          : kind === 'server'
            ? 'error_server'
            : kind === 'not_found'
              ? 'error_not_found'
              : 'error_param';
      return shopeeError(status, error, message);
    },
  };
}
