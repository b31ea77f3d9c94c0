/**
 * Shopee Open Platform v2 client: signed calls, detail fetches chunked to the detail batch size
 * (each call, auxiliary ones included, settled on its own: a failed call fails only its ids),
 * listings as async iterators (orders by `cursor`, returns by `page_no`, items by `offset`) over
 * time windows of at most 15 days, lost pushes, and token refresh.
 *
 * Shop calls go through the TokenManager (refresh before expiry, once on an auth error) and the
 * HttpContext (rate limiter, timeout, retries). Responses are checked against the envelope
 * `{error, message, request_id, response}`; the objects inside are returned as received, for the
 * mappers in dto.ts to validate.
 */
import { z } from 'zod';

import { AppError } from '../../shared/errors.js';
import { toUnixSeconds } from '../../shared/time.js';
import { chunk, mapConcurrent } from '../../shared/concurrency.js';
import {
  createHttpContext,
  enrichDetails,
  httpStatusOf,
  parseResponse,
  platformCodeOf,
  settleDetails,
  unique,
  type ApiFailure,
  type MarketplaceClientOptions,
  type QueryValue,
  listOrEmpty,
} from '../http.js';
import { createTokenManager, type TokenManager } from '../tokens.js';
import type { DetailResult, ListedEntity, Shop, ShopTokens, WebhookKind } from '../types.js';
import { lostPushSchema, shopeeListedEntity, type LostPush } from './dto.js';
import {
  SHOPEE_SHOP_INFO_PATH,
  SHOPEE_TOKEN_GET_PATH,
  shopeeExpiry,
  shopeeGrantOf,
  shopeeShopInfoOf,
  shopeeShopInfoSchema,
  shopeeTokenGetSchema,
  type ShopeeGrant,
  type ShopeeShopInfo,
} from './oauth.js';
import { shopeeSignedQuery } from './signing.js';

export const SHOPEE_PATHS = {
  orderDetail: '/api/v2/order/get_order_detail',
  orderList: '/api/v2/order/get_order_list',
  returnList: '/api/v2/returns/get_return_list',
  returnDetail: '/api/v2/returns/get_return_detail',
  itemBaseInfo: '/api/v2/product/get_item_base_info',
  // Likely: not in MARKETPLACES.md.
  itemList: '/api/v2/product/get_item_list',
  modelList: '/api/v2/product/get_model_list',
  trackingNumber: '/api/v2/logistics/get_tracking_number',
  lostPush: '/api/v2/push/get_lost_push_message',
  confirmLostPush: '/api/v2/push/confirm_consumed_lost_push_message',
  tokenRefresh: '/api/v2/auth/access_token/get',
} as const;

/**
 * Shopee `error` values with a retry meaning; any other non-empty one is ERR_MARKETPLACE_REJECTED.
 * Documented ones (common_error_list / error_list of congminh1254/shopee-sdk schemas/v2.*.json,
 * see ../shared/MARKETPLACES.md; excerpt in test/fixtures/marketplaces/shopee-errors.json):
 * error_auth ("Invalid access_token."), the misspelt invalid_acceess_token ("Invalid
 * access_token, please have a check."), error_rate_limit, error_server, error_network,
 * error_inner, error_not_found, error_item_not_found. The others are likely and kept to extend.
 */
export const SHOPEE_ERRORS = {
  auth: ['error_auth', 'invalid_acceess_token', 'invalid_access_token', 'error_invalid_access_token'],
  rateLimited: ['error_too_many_request', 'too_many_request', 'error_rate_limit'],
  transient: [
    'error_server',
    'error_inner',
    'error_busy',
    'error_system_busy',
    'error_network',
    'error_timeout',
  ],
  /** Answers to a single-object fetch meaning the object does not exist. */
  notFound: ['error_not_found', 'error_item_not_found', 'error_return_not_found'],
} as const;

/** Ids per detail call (get_order_detail's documented maximum; get_item_base_info's in practice). */
export const SHOPEE_MAX_DETAIL_IDS = 50;
/** get_order_list refuses ranges longer than this. */
export const SHOPEE_MAX_WINDOW_SECONDS = 15 * 24 * 60 * 60;
const PAGE_SIZE = 100;
/** Budget key for partner-level calls (lost pushes), which concern no single shop. */
export const SHOPEE_PARTNER_BUDGET = 'partner';

/** Fields get_order_detail leaves out unless asked: everything the order mapper reads, and more for `raw`. */
export const ORDER_OPTIONAL_FIELDS = [
  'buyer_user_id',
  'buyer_username',
  'recipient_address',
  'item_list',
  'pay_time',
  'total_amount',
  'shipping_carrier',
  'payment_method',
  'package_list',
  'note',
  'cancel_by',
  'cancel_reason',
].join(',');

/** Statuses in which an order has a tracking number worth fetching. */
const TRACKED_STATUSES = new Set(['PROCESSED', 'SHIPPED', 'TO_CONFIRM_RECEIVE', 'COMPLETED']);
/** get_item_list filters by status and requires at least one: ask for all of them. */
const ITEM_STATUSES = ['NORMAL', 'BANNED', 'UNLIST', 'REVIEWING', 'SELLER_DELETE', 'SHOPEE_DELETE'];

/**
 * `error` values that mean success: empty, and "-", which Shopee's published response samples
 * (get_item_base_info, get_return_detail, get_lost_push_message) put in `error`, `message` and
 * `warning` of successful answers as a placeholder. A real error always has a name.
 */
const NO_ERROR = new Set<unknown>(['', '-']);

export function classifyShopeeResponse(body: unknown): ApiFailure | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return {
      code: 'ERR_MARKETPLACE_RESPONSE',
      platformCode: 'envelope',
      message: 'not a Shopee response envelope',
    };
  }
  const { error, message, request_id: requestId } = body as Record<string, unknown>;
  if (error === undefined || error === null || NO_ERROR.has(error)) return undefined;
  const errorCode = typeof error === 'string' ? error : JSON.stringify(error);
  const described = `${errorCode}: ${typeof message === 'string' && message ? message : 'no message'}${
    typeof requestId === 'string' && requestId ? ` (request_id ${requestId})` : ''
  }`;
  const is = (list: readonly string[]) => list.includes(errorCode);
  const code = is(SHOPEE_ERRORS.auth)
    ? 'ERR_MARKETPLACE_AUTH'
    : is(SHOPEE_ERRORS.rateLimited)
      ? 'ERR_MARKETPLACE_RATE_LIMITED'
      : is(SHOPEE_ERRORS.transient)
        ? 'ERR_MARKETPLACE_TRANSIENT'
        : 'ERR_MARKETPLACE_REJECTED';
  return { code, platformCode: errorCode, message: described };
}

/**
 * [from, to) in unix seconds as inclusive Shopee windows [time_from, time_to], none longer than
 * `maxSeconds`: 40 days become three windows of 15, 15 and 10 days.
 */
export function timeWindows(
  from: Date,
  to: Date,
  maxSeconds = SHOPEE_MAX_WINDOW_SECONDS,
): [number, number][] {
  const start = toUnixSeconds(from);
  const end = Math.ceil(to.getTime() / 1000); // exclusive
  const windows: [number, number][] = [];
  for (let windowStart = start; windowStart < end; windowStart += maxSeconds) {
    windows.push([windowStart, Math.min(windowStart + maxSeconds, end) - 1]);
  }
  return windows;
}

/**
 * The order_sns get_order_list names for orders updated in [from, to), a page at a time, over
 * windows of at most 15 days; `filter` narrows it (e.g. `order_status`). Shared by the order
 * listing and tracking's listing of shipped orders.
 */
export async function* orderSnPages(
  client: Pick<ShopeeClient, 'request'>,
  shop: Shop,
  from: Date,
  to: Date,
  filter: Record<string, string> = {},
): AsyncGenerator<string[], void, undefined> {
  for (const [timeFrom, timeTo] of timeWindows(from, to)) {
    let cursor = '';
    for (;;) {
      const response = await client.request(shop, 'get_order_list', SHOPEE_PATHS.orderList, {
        time_range_field: 'update_time',
        time_from: String(timeFrom),
        time_to: String(timeTo),
        page_size: String(PAGE_SIZE),
        cursor,
        ...filter,
      });
      const page = parse(orderListSchema, response, 'get_order_list').response;
      yield page.order_list
        .map((item) => (item as Record<string, unknown> | null)?.order_sn)
        .filter((sn): sn is string => typeof sn === 'string' && sn !== '');
      if (!page.more) break;
      const next = page.next_cursor ?? '';
      if (!next || next === cursor) {
        throw new AppError(
          'ERR_MARKETPLACE_RESPONSE',
          `shopee get_order_list: more=true without a new cursor`,
        );
      }
      cursor = next;
    }
  }
}

const responseOf = <T extends z.ZodType>(response: T) =>
  z.looseObject({ response: z.preprocess((value) => value ?? {}, response) });

const orderDetailSchema = responseOf(z.looseObject({ order_list: listOrEmpty }));
const orderListSchema = responseOf(
  z.looseObject({
    more: z.boolean().default(false),
    next_cursor: z.string().nullish(),
    order_list: listOrEmpty,
  }),
);
const returnListSchema = responseOf(z.looseObject({ more: z.boolean().default(false), return: listOrEmpty }));
const returnDetailSchema = responseOf(z.looseObject({}));
const itemBaseInfoSchema = responseOf(z.looseObject({ item_list: listOrEmpty }));
const itemListSchema = responseOf(
  z.looseObject({
    item: listOrEmpty,
    has_next_page: z.boolean().default(false),
    next_offset: z.number().int().nonnegative().optional(),
  }),
);
const modelListSchema = responseOf(z.looseObject({ model: listOrEmpty }));
const trackingSchema = responseOf(z.looseObject({ tracking_number: z.string().nullish() }));
const lostPushListSchema = responseOf(
  z.looseObject({
    push_message_list: listOrEmpty,
    has_next_page: z.boolean().default(false),
    last_message_id: z.number().int().nullish(),
  }),
);
const refreshSchema = z.looseObject({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expire_in: z.number().int().positive(),
});

export interface LostPushBatch {
  pushes: LostPush[];
  /** Confirm with this id once the pushes are consumed; null when there were none. */
  lastMessageId: number | null;
  hasNextPage: boolean;
}

export interface ShopeeClientOptions extends MarketplaceClientOptions {
  partnerId: number;
  partnerKey: string;
  apiBaseUrl: string;
  /**
   * get_order_detail has no tracking number: fetch it (one call per shipped order) so documents
   * carry it. Default true; turn off to save calls when tracking numbers are not needed.
   */
  fetchTrackingNumbers?: boolean;
}

/** Who authorized: a shop account (`shop_id` in the redirect) or a main account (`main_account_id`). */
export type ShopeeAccount = { shopId: string } | { mainAccountId: string };

export interface ShopeeClient {
  readonly tokens: TokenManager;
  /**
   * Details by id; a failed call (or auxiliary call: tracking number, models) fails only the ids
   * it concerned (see DetailResult). Never rejects.
   */
  getOrders(shop: Shop, orderSns: readonly string[]): Promise<DetailResult>;
  getReturns(shop: Shop, returnSns: readonly string[]): Promise<DetailResult>;
  getProducts(shop: Shop, itemIds: readonly string[]): Promise<DetailResult>;
  /** Pages of entities with update_time in [from, to), split into windows of at most 15 days. */
  listUpdated(shop: Shop, kind: WebhookKind, from: Date, to: Date): AsyncIterable<ListedEntity[]>;
  /** The earliest (up to 100) pushes Shopee could not deliver in the last 3 days. */
  getLostPushes(): Promise<LostPushBatch>;
  confirmLostPushes(lastMessageId: number): Promise<void>;
  refreshTokens(shop: Shop, refreshToken: string): Promise<ShopTokens>;
  /** Exchanges an authorization code (single-use, 10 min) for a shop's or a main account's grant. */
  exchangeAuthCode(code: string, account: ShopeeAccount): Promise<ShopeeGrant>;
  /**
   * get_shop_info with a token not stored yet (the shop is being connected): name and when the
   * authorization ends. No refresh is attempted.
   */
  getShopInfo(shopId: string, accessToken: string): Promise<ShopeeShopInfo>;
  /**
   * One signed shop call with the shop's current token (refreshed once on an auth error),
   * answering the response body: GET with `params` in the query, or POST with `jsonBody`.
   * What the per-kind files (settlements, tracking) build on.
   */
  request(
    shop: Shop,
    name: string,
    path: string,
    params: Record<string, QueryValue>,
    jsonBody?: unknown,
  ): Promise<unknown>;
  close(): Promise<void>;
}

export function createShopeeClient(options: ShopeeClientOptions): ShopeeClient {
  const now = options.now ?? Date.now;
  const { partnerId, partnerKey } = options;
  const batchSize = Math.max(1, Math.min(options.detailBatchSize, SHOPEE_MAX_DETAIL_IDS));
  const concurrency = options.concurrency ?? 4;
  const fetchTracking = options.fetchTrackingNumbers ?? true;
  const log = options.logger.child({ component: 'shopee-client', platform: 'shopee' });
  const http = createHttpContext({
    platform: 'shopee',
    baseUrl: options.apiBaseUrl,
    classify: classifyShopeeResponse,
    limiter: options.limiter,
    logger: options.logger,
    timeoutMs: options.timeoutMs,
    maxAttempts: options.maxAttempts,
    dispatcher: options.dispatcher,
    metrics: options.metrics,
    now,
    ...options.retry,
  });

  /** A partner-signed call that concerns no shop's token (auth, push). */
  function publicCall(
    name: string,
    method: 'GET' | 'POST',
    path: string,
    budgetKey: string,
    jsonBody?: unknown,
  ) {
    const body = jsonBody === undefined ? undefined : JSON.stringify(jsonBody);
    return http.send({
      name,
      method,
      path,
      budgetKey,
      prepare: () => ({
        query: shopeeSignedQuery({ partnerId, partnerKey, path, timestamp: toUnixSeconds(now()) }),
        headers: body === undefined ? undefined : { 'content-type': 'application/json' },
        body,
      }),
    });
  }

  async function refreshTokens(shop: Shop, refreshToken: string): Promise<ShopTokens> {
    const body = await publicCall('access_token_get', 'POST', SHOPEE_PATHS.tokenRefresh, shop.shop_id, {
      refresh_token: refreshToken,
      partner_id: partnerId,
      shop_id: Number(shop.shop_id),
    });
    const tokens = parse(refreshSchema, body, 'access_token_get');
    return {
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      access_token_expires_at: shopeeExpiry(tokens.expire_in, now()),
    };
  }

  async function exchangeAuthCode(code: string, account: ShopeeAccount): Promise<ShopeeGrant> {
    const asShop = 'shopId' in account;
    const id = asShop ? account.shopId : account.mainAccountId;
    const body = await publicCall('token_get', 'POST', SHOPEE_TOKEN_GET_PATH, SHOPEE_PARTNER_BUDGET, {
      code,
      partner_id: partnerId,
      // int64 in Shopee's API; the connector checked it is at most 15 digits: exact as a JS number.
      [asShop ? 'shop_id' : 'main_account_id']: Number(id),
    });
    return shopeeGrantOf(parse(shopeeTokenGetSchema, body, 'token_get'), now(), asShop ? id : undefined);
  }

  async function getShopInfo(shopId: string, accessToken: string): Promise<ShopeeShopInfo> {
    const path = SHOPEE_SHOP_INFO_PATH;
    const body = await http.send({
      name: 'get_shop_info',
      method: 'GET',
      path,
      budgetKey: shopId,
      prepare: () => ({
        query: shopeeSignedQuery({
          partnerId,
          partnerKey,
          path,
          timestamp: toUnixSeconds(now()),
          accessToken,
          shopId,
        }),
      }),
    });
    return shopeeShopInfoOf(parse(shopeeShopInfoSchema, body, 'get_shop_info'));
  }

  const tokens = createTokenManager({
    platform: 'shopee',
    refresh: refreshTokens,
    persistence: options.tokens,
    lock: options.refreshLock,
    logger: options.logger,
    refreshBeforeMs: options.refreshBeforeMs,
    metrics: options.metrics,
    now,
  });

  /** One signed shop call with the shop's current token (refreshed once on an auth error). */
  function call(
    shop: Shop,
    name: string,
    path: string,
    params: Record<string, QueryValue>,
    jsonBody?: unknown,
  ): Promise<unknown> {
    const body = jsonBody === undefined ? undefined : JSON.stringify(jsonBody);
    return tokens.withAccessToken(shop, (accessToken) =>
      http.send({
        name,
        method: body === undefined ? 'GET' : 'POST',
        path,
        budgetKey: shop.shop_id,
        prepare: () => ({
          query: {
            ...params,
            ...shopeeSignedQuery({
              partnerId,
              partnerKey,
              path,
              timestamp: toUnixSeconds(now()),
              accessToken,
              shopId: shop.shop_id,
            }),
          },
          ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body }),
        }),
      }),
    );
  }

  /** Runs a single-object fetch; "not found" answers become undefined. */
  async function orAbsent<T>(fetch: () => Promise<T>, what: string): Promise<T | undefined> {
    try {
      return await fetch();
    } catch (error) {
      if (!isNotFound(error)) throw error;
      log.debug({ what }, 'not found');
      return undefined;
    }
  }

  const chunksOf = (ids: readonly string[]) => chunk(unique(ids), batchSize);
  const asIds = (batch: string[]) => batch;

  /**
   * The order with its tracking number (get_order_detail has none), for orders shipped without
   * one. A refused lookup (none assigned yet) keeps the order without it; a retryable failure or
   * an auth error throws, failing this order only.
   */
  async function withTrackingNumber(shop: Shop, order: unknown): Promise<unknown> {
    const fields = order as Record<string, unknown>;
    const orderSn = fields.order_sn;
    if (typeof orderSn !== 'string' || typeof fields.order_status !== 'string') return order;
    if (!TRACKED_STATUSES.has(fields.order_status) || typeof fields.tracking_no === 'string') return order;
    try {
      const response = await call(shop, 'get_tracking_number', SHOPEE_PATHS.trackingNumber, {
        order_sn: orderSn,
      });
      const trackingNumber = parse(trackingSchema, response, 'get_tracking_number').response.tracking_number;
      return trackingNumber ? { ...fields, tracking_no: trackingNumber } : order;
    } catch (error) {
      if (error instanceof AppError && !error.retryable && error.code !== 'ERR_MARKETPLACE_AUTH') {
        log.debug({ shop_id: shop.shop_id, order_sn: orderSn, err: error }, 'no tracking number');
        return order;
      }
      throw error;
    }
  }

  /** One get_order_detail call; the listing asks without optional fields (it needs versions only). */
  async function orderDetail(shop: Shop, batch: string[], optionalFields: boolean): Promise<unknown[]> {
    const params: Record<string, string> = { order_sn_list: batch.join(',') };
    if (optionalFields) params.response_optional_fields = ORDER_OPTIONAL_FIELDS;
    const response = await call(shop, 'get_order_detail', SHOPEE_PATHS.orderDetail, params);
    return parse(orderDetailSchema, response, 'get_order_detail').response.order_list;
  }

  /** Orders of a listing page. Throws on any failed call: a listing page never silently skips ids. */
  async function listedOrderDetails(shop: Shop, orderSns: readonly string[]): Promise<unknown[]> {
    const batches = await mapConcurrent(chunksOf(orderSns), concurrency, (batch) =>
      orderDetail(shop, batch, false),
    );
    return batches.flat();
  }

  /** One get_return_detail call (it takes a single return_sn); [] when the return does not exist. */
  async function returnDetail(shop: Shop, returnSn: string): Promise<unknown[]> {
    const found = await orAbsent(async () => {
      const response = await call(shop, 'get_return_detail', SHOPEE_PATHS.returnDetail, {
        return_sn: returnSn,
      });
      return parse(returnDetailSchema, response, 'get_return_detail').response;
    }, `return ${returnSn}`);
    return found === undefined ? [] : [found];
  }

  /** The item with its models (one get_model_list call), for items that have them. */
  async function withModels(shop: Shop, item: unknown): Promise<unknown> {
    const fields = item as Record<string, unknown>;
    if (fields.has_model !== true || typeof fields.item_id !== 'number') return item;
    const itemId = String(fields.item_id);
    const models = await orAbsent(async () => {
      const response = await call(shop, 'get_model_list', SHOPEE_PATHS.modelList, { item_id: itemId });
      return parse(modelListSchema, response, 'get_model_list').response.model;
    }, `models of item ${itemId}`);
    // Without its models (the item vanished meanwhile) the mapper marks the item invalid.
    return models === undefined ? item : { ...fields, model: models };
  }

  async function* listOrders(shop: Shop, from: Date, to: Date): AsyncGenerator<ListedEntity[]> {
    for await (const orderSns of orderSnPages({ request: call }, shop, from, to)) {
      // The list names orders but not their update_time: read it from the details (no
      // optional fields), since a listing without versions could not tell stale from current.
      const details = orderSns.length > 0 ? await listedOrderDetails(shop, orderSns) : [];
      yield listedOf(shop, 'order', details);
    }
  }

  async function* listReturns(shop: Shop, from: Date, to: Date): AsyncGenerator<ListedEntity[]> {
    for (const [timeFrom, timeTo] of timeWindows(from, to)) {
      for (let pageNo = 0; ; pageNo += 1) {
        const response = await call(shop, 'get_return_list', SHOPEE_PATHS.returnList, {
          page_no: String(pageNo),
          page_size: String(PAGE_SIZE),
          update_time_from: String(timeFrom),
          update_time_to: String(timeTo),
        });
        const page = parse(returnListSchema, response, 'get_return_list').response;
        yield listedOf(shop, 'return', page.return);
        if (!page.more || page.return.length === 0) break;
      }
    }
  }

  async function* listProducts(shop: Shop, from: Date, to: Date): AsyncGenerator<ListedEntity[]> {
    for (const [timeFrom, timeTo] of timeWindows(from, to)) {
      let offset = 0;
      for (;;) {
        const response = await call(shop, 'get_item_list', SHOPEE_PATHS.itemList, {
          offset: String(offset),
          page_size: String(PAGE_SIZE),
          update_time_from: String(timeFrom),
          update_time_to: String(timeTo),
          item_status: ITEM_STATUSES,
        });
        const page = parse(itemListSchema, response, 'get_item_list').response;
        yield listedOf(shop, 'product', page.item);
        if (!page.has_next_page) break;
        const next = page.next_offset ?? offset + page.item.length;
        if (next <= offset) {
          throw new AppError(
            'ERR_MARKETPLACE_RESPONSE',
            'shopee get_item_list: has_next_page without a new offset',
          );
        }
        offset = next;
      }
    }
  }

  function listedOf(shop: Shop, kind: WebhookKind, items: unknown[]): ListedEntity[] {
    const listed: ListedEntity[] = [];
    for (const item of items) {
      const entity = shopeeListedEntity(kind, item);
      if (entity) listed.push(entity);
      else log.warn({ shop_id: shop.shop_id, kind }, 'listed object without id or update_time skipped');
    }
    return listed;
  }

  return {
    tokens,
    request: call,

    async getOrders(shop, orderSns) {
      const found = await settleDetails(chunksOf(orderSns), concurrency, asIds, (batch) =>
        orderDetail(shop, batch, true),
      );
      if (!fetchTracking) return found;
      return enrichDetails(found, concurrency, idOf('order_sn'), (order) => withTrackingNumber(shop, order));
    },

    getReturns: (shop, returnSns) =>
      settleDetails(
        unique(returnSns),
        concurrency,
        (returnSn) => [returnSn],
        (returnSn) => returnDetail(shop, returnSn),
      ),

    async getProducts(shop, itemIds) {
      const found = await settleDetails(chunksOf(itemIds), concurrency, asIds, async (batch) => {
        const response = await call(shop, 'get_item_base_info', SHOPEE_PATHS.itemBaseInfo, {
          item_id_list: batch.join(','),
        });
        return parse(itemBaseInfoSchema, response, 'get_item_base_info').response.item_list;
      });
      // Prices of items with variations live on their models, one get_model_list call per item.
      return enrichDetails(found, concurrency, idOf('item_id'), (item) => withModels(shop, item));
    },

    listUpdated(shop, kind, from, to) {
      switch (kind) {
        case 'order':
          return listOrders(shop, from, to);
        case 'return':
          return listReturns(shop, from, to);
        case 'product':
          return listProducts(shop, from, to);
      }
    },

    async getLostPushes() {
      const response = await publicCall(
        'get_lost_push_message',
        'GET',
        SHOPEE_PATHS.lostPush,
        SHOPEE_PARTNER_BUDGET,
      );
      const page = parse(lostPushListSchema, response, 'get_lost_push_message').response;
      const pushes: LostPush[] = [];
      for (const message of page.push_message_list) {
        const parsed = lostPushSchema.safeParse(message);
        if (parsed.success) pushes.push(parsed.data);
        else log.warn({ issues: parsed.error.issues.length }, 'malformed lost push skipped');
      }
      return { pushes, lastMessageId: page.last_message_id ?? null, hasNextPage: page.has_next_page };
    },

    async confirmLostPushes(lastMessageId) {
      await publicCall(
        'confirm_consumed_lost_push_message',
        'POST',
        SHOPEE_PATHS.confirmLostPush,
        SHOPEE_PARTNER_BUDGET,
        {
          last_message_id: lastMessageId,
        },
      );
    },

    refreshTokens,

    exchangeAuthCode,

    getShopInfo,

    close: () => http.close(),
  };
}

/** The id an auxiliary call's failure is reported under: the object's id field, as requested. */
const idOf = (field: string) => (object: unknown) => String((object as Record<string, unknown>)[field]);

function isNotFound(error: unknown): boolean {
  const code = platformCodeOf(error);
  return (
    httpStatusOf(error) === 404 ||
    (code !== undefined && (SHOPEE_ERRORS.notFound as readonly string[]).includes(code))
  );
}

function parse<T>(schema: z.ZodType<T>, body: unknown, endpoint: string): T {
  return parseResponse('shopee', schema, body, endpoint);
}
