/**
 * TikTok Shop API client (version 202309): signed calls, detail fetches chunked to the detail
 * batch size (each call settled on its own: a failed call fails only its ids), listings as async
 * iterators over `page_token` pages, and token refresh.
 *
 * Every shop-scoped call goes through the TokenManager (refresh before expiry, once on an auth
 * error) and the HttpContext (rate limiter, timeout, retries). Responses are checked against the
 * envelope `{code, message, request_id, data}`; the objects inside are returned as received, for
 * the mappers in dto.ts to validate.
 */
import { z } from 'zod';

import { AppError } from '../../shared/errors.js';
import { toUnixSeconds } from '../../shared/time.js';
import { chunk } from '../../shared/concurrency.js';
import {
  createHttpContext,
  httpStatusOf,
  parseResponse,
  platformCodeOf,
  settleDetails,
  unique,
  type ApiFailure,
  type MarketplaceClientOptions,
  type MarketplaceErrorCode,
  listOrEmpty,
  tokenOrEmpty,
} from '../http.js';
import { createTokenManager, type TokenManager } from '../tokens.js';
import type { DetailResult, ListedEntity, Shop, ShopTokens, WebhookKind } from '../types.js';
import { TIKTOK_DELETED_PRODUCT_STATUSES, tiktokListedEntity, TIKTOK_ID_FIELD } from './dto.js';
import {
  TIKTOK_GRANT_TYPE,
  TIKTOK_TOKEN_GET_PATH,
  tiktokGrantOf,
  tiktokTokenGetSchema,
  type TikTokGrant,
} from './oauth.js';
import { TIKTOK_ACCESS_TOKEN_HEADER, tiktokSignedQuery } from './signing.js';

export const TIKTOK_PATHS = {
  orderDetail: '/order/202309/orders',
  orderSearch: '/order/202309/orders/search',
  returnSearch: '/return_refund/202309/returns/search',
  productDetail: (productId: string) => `/product/202309/products/${encodeURIComponent(productId)}`,
  productSearch: '/product/202309/products/search',
  tokenRefresh: '/api/v2/token/refresh',
  authorizedShops: '/authorization/202309/shops',
} as const;

/** Rate-limiter key of calls that concern an authorization grant, not one shop. */
export const TIKTOK_GRANT_BUDGET = 'authorization';

/**
 * TikTok error codes with a retry meaning; any other non-zero code is ERR_MARKETPLACE_REJECTED.
 * Source: TikTok's common-errors and endpoint error tables as copied in rymndcs/tiktok_shop_rb_api
 * `test/fixtures/error_list.json` (../shared/MARKETPLACES.md); excerpt in
 * test/fixtures/marketplaces/tiktok-errors.json.
 */
export const TIKTOK_ERROR_CODES = {
  rateLimited: [36009002],
  /** The access token was refused: the TokenManager refreshes it once and retries. */
  auth: [105001, 105002, 105003],
  /**
   * Codes TikTok uses for many refusals at once: 36009004 means an invalid access token, but also
   * an invalid app_key, timestamp, shop_id, API version, signature or parameter; 101000 an invalid
   * token or category_asset_cipher. Only when the message names the access token is a new token
   * the fix; otherwise refreshing would rotate the shop's tokens on every refused call.
   */
  authIfTokenNamed: [36009004, 101000],
  /** 36009003 internal error, 36009007 request timeout. */
  transient: [36009003, 36009007],
  /**
   * "Does not exist" answers to a detail fetch: the object is absent, not an error. 12019150 is
   * Get Product's (get-product-202309); 12052048 ("isn't listed in your shop") is also seen.
   */
  notFound: [12019150, 12052048],
} as const;

/** How a refusal names the access token (`access_token`, `x-tts-access-token` header). */
const NAMES_ACCESS_TOKEN = /access[\s_-]?token/i;

/** Ids per detail call: the API's maximum. */
export const TIKTOK_MAX_DETAIL_IDS = 50;
/**
 * `page_size` each search accepts (official SDK, api/{order,returnRefund,product}V202309Api.ts):
 * the returns search only [10, 50] (default 10), orders and products [1, 100].
 */
export const TIKTOK_PAGE_SIZES: Record<WebhookKind, { min: number; max: number }> = {
  order: { min: 1, max: 100 },
  return: { min: 10, max: 50 },
  product: { min: 1, max: 100 },
};

/** The page size to ask for `wanted` objects: the nearest size the search accepts. */
export function tiktokPageSize(kind: WebhookKind, wanted: number): number {
  const { min, max } = TIKTOK_PAGE_SIZES[kind];
  return Math.max(min, Math.min(max, wanted));
}
/**
 * The product searches of one listing: the default status (ALL) and, on their own, the statuses
 * of deleted products (MARKETPLACES-MORE.md §4: `status` DELETED works as a filter; whether ALL
 * includes DELETED or FREEZE is not documented, so both are asked for, and an id listed twice is
 * enqueued once). Get Product does not answer DELETED or FREEZE products: their listed object
 * travels in the stream entry's payload for getProducts to fall back on.
 */
export const TIKTOK_PRODUCT_SEARCH_STATUSES: readonly (string | undefined)[] = [
  undefined,
  ...TIKTOK_DELETED_PRODUCT_STATUSES,
];

/** A by-id returns search fits one page; a second is read only in case the marketplace splits it. */
const MAX_RETURN_FILTER_PAGES = 2;

const envelopeSchema = z.looseObject({
  code: z.number().int(),
  message: z.string().optional(),
  request_id: z.string().optional(),
});

export function classifyTikTokResponse(body: unknown): ApiFailure | undefined {
  const parsed = envelopeSchema.safeParse(body);
  if (!parsed.success) {
    return {
      code: 'ERR_MARKETPLACE_RESPONSE',
      platformCode: 'envelope',
      message: 'not a TikTok response envelope',
    };
  }
  const { code, message, request_id: requestId } = parsed.data;
  if (code === 0) return undefined;
  const described = `code ${code}: ${message ?? 'no message'}${requestId ? ` (request_id ${requestId})` : ''}`;
  return { code: tiktokErrorKind(code, message ?? ''), platformCode: String(code), message: described };
}

function tiktokErrorKind(code: number, message: string): MarketplaceErrorCode {
  const is = (list: readonly number[]) => list.includes(code);
  if (is(TIKTOK_ERROR_CODES.rateLimited)) return 'ERR_MARKETPLACE_RATE_LIMITED';
  if (is(TIKTOK_ERROR_CODES.auth)) return 'ERR_MARKETPLACE_AUTH';
  if (is(TIKTOK_ERROR_CODES.authIfTokenNamed) && NAMES_ACCESS_TOKEN.test(message))
    return 'ERR_MARKETPLACE_AUTH';
  if (is(TIKTOK_ERROR_CODES.transient)) return 'ERR_MARKETPLACE_TRANSIENT';
  return 'ERR_MARKETPLACE_REJECTED';
}

const dataSchema = <T extends z.ZodType>(data: T) => z.looseObject({ data });

const orderListSchema = dataSchema(z.looseObject({ orders: listOrEmpty }));
const orderPageSchema = dataSchema(z.looseObject({ orders: listOrEmpty, next_page_token: tokenOrEmpty }));
const returnPageSchema = dataSchema(
  z.looseObject({ return_orders: listOrEmpty, next_page_token: tokenOrEmpty }),
);
const productPageSchema = dataSchema(z.looseObject({ products: listOrEmpty, next_page_token: tokenOrEmpty }));

interface SearchPage {
  items: unknown[];
  next: string;
}

/**
 * Follows TikTok's `next_page_token` until it is empty: every paged search and listing (orders,
 * returns, products, statements, tracking's orders). A token seen twice would loop forever.
 */
export async function* tiktokPages<T = unknown>(
  fetchPage: (token: string) => Promise<{ items: T[]; next: string }>,
): AsyncGenerator<T[], void, undefined> {
  let token = '';
  const seen = new Set<string>();
  for (;;) {
    const { items, next } = await fetchPage(token);
    yield items;
    if (!next) return;
    if (seen.has(next)) {
      throw new AppError(
        'ERR_MARKETPLACE_RESPONSE',
        `tiktok returned page token ${next} twice; stopping to avoid a loop`,
      );
    }
    seen.add(next);
    token = next;
  }
}

/** An update-time filter for [ge, lt) in whole seconds; undefined when the window is empty. */
type UpdateWindow = (ge: number, lt: number) => Record<string, number> | undefined;

/** Order and return searches take the half-open bounds as they are. */
const halfOpen: UpdateWindow = (ge, lt) => ({ update_time_ge: ge, update_time_lt: lt });
/**
 * Product search has no `update_time_lt`, only the inclusive `update_time_le` (official SDK model
 * SearchProductsRequestBody). update_time is in whole seconds, so [ge, lt) is [ge, lt - 1].
 */
const inclusive: UpdateWindow = (ge, lt) =>
  lt - 1 >= ge ? { update_time_ge: ge, update_time_le: lt - 1 } : undefined;

interface Search {
  name: string;
  path: string;
  window: UpdateWindow;
  page: (body: unknown) => SearchPage;
}

/** The search endpoint of each kind, its time filter, and where its page keeps the objects. */
const SEARCHES: Record<WebhookKind, Search> = {
  order: {
    name: 'search_orders',
    path: TIKTOK_PATHS.orderSearch,
    window: halfOpen,
    page: (body) => {
      const { data } = parse(orderPageSchema, body, 'search_orders');
      return { items: data.orders, next: data.next_page_token };
    },
  },
  return: {
    name: 'search_returns',
    path: TIKTOK_PATHS.returnSearch,
    window: halfOpen,
    page: (body) => {
      const { data } = parse(returnPageSchema, body, 'search_returns');
      return { items: data.return_orders, next: data.next_page_token };
    },
  },
  product: {
    name: 'search_products',
    path: TIKTOK_PATHS.productSearch,
    window: inclusive,
    page: (body) => {
      const { data } = parse(productPageSchema, body, 'search_products');
      return { items: data.products, next: data.next_page_token };
    },
  },
};
const productSchema = dataSchema(z.looseObject({}));
const refreshSchema = dataSchema(
  z.looseObject({
    access_token: z.string().min(1),
    access_token_expire_in: z.number().int().positive(),
    refresh_token: z.string().min(1),
  }),
);

/** A shop an access token's grant covers (Get Authorized Shops, MARKETPLACES-MORE.md §1). */
export interface TikTokAuthorizedShop {
  id: string;
  /** The `shop_cipher` of the shop's API calls. */
  cipher: string;
  name?: string;
  region?: string;
  seller_type?: string;
  /** The shop code shown in Seller Center. */
  code?: string;
}

const authorizedShopsSchema = dataSchema(
  z.looseObject({
    shops: z
      .array(
        z.looseObject({
          id: z.string().min(1),
          cipher: z.string().min(1),
          name: z.string().optional(),
          region: z.string().optional(),
          seller_type: z.string().optional(),
          code: z.string().optional(),
        }),
      )
      .nullish()
      .transform((list) => list ?? []),
  }),
);

export interface TikTokClientOptions extends MarketplaceClientOptions {
  appKey: string;
  appSecret: string;
  apiBaseUrl: string;
  authBaseUrl: string;
  /**
   * Body field that filters a returns search by return id: `return_ids` (official SDK model
   * SearchReturnsRequestBody); configurable in case a later API version renames it.
   */
  returnIdsFilter?: string;
}

export interface TikTokClient {
  readonly tokens: TokenManager;
  /** Details by id; a failed call fails only the ids it asked for (see DetailResult). Never rejects. */
  getOrders(shop: Shop, ids: readonly string[]): Promise<DetailResult>;
  getReturns(shop: Shop, ids: readonly string[]): Promise<DetailResult>;
  /**
   * `hints`: stream payloads by id. A product Get Product does not answer (DELETED, FREEZE) is
   * taken from its listed search object there, when one is.
   */
  getProducts(shop: Shop, ids: readonly string[], hints?: ReadonlyMap<string, string>): Promise<DetailResult>;
  /** Pages of entities with update_time in [from, to). */
  listUpdated(shop: Shop, kind: WebhookKind, from: Date, to: Date): AsyncIterable<ListedEntity[]>;
  /** Calls the refresh endpoint (the TokenManager decides when). */
  refreshTokens(shop: Shop, refreshToken: string): Promise<ShopTokens>;
  /**
   * The shops the grant behind `accessToken` covers, with their ciphers. Takes the token itself:
   * it serves shops not stored yet (`shops add`), so no refresh is attempted on an auth error.
   */
  getAuthorizedShops(accessToken: string): Promise<TikTokAuthorizedShop[]>;
  /** Exchanges an authorization code (single-use) for the grant's token pair (issue 13). */
  exchangeAuthCode(code: string): Promise<TikTokGrant>;
  /**
   * One signed, shop-scoped call with the shop's current token (refreshed once on an auth error),
   * answering the response body: what the per-kind files (settlements, tracking) build on.
   */
  request(
    shop: Shop,
    name: string,
    method: 'GET' | 'POST',
    path: string,
    params?: Record<string, string>,
    jsonBody?: unknown,
  ): Promise<unknown>;
  close(): Promise<void>;
}

export function createTikTokClient(options: TikTokClientOptions): TikTokClient {
  const now = options.now ?? Date.now;
  const batchSize = Math.max(1, Math.min(options.detailBatchSize, TIKTOK_MAX_DETAIL_IDS));
  const concurrency = options.concurrency ?? 4;
  const returnIdsFilter = options.returnIdsFilter ?? 'return_ids';
  const log = options.logger.child({ component: 'tiktok-client', platform: 'tiktok' });
  const http = createHttpContext({
    platform: 'tiktok',
    baseUrl: options.apiBaseUrl,
    classify: classifyTikTokResponse,
    limiter: options.limiter,
    logger: options.logger,
    timeoutMs: options.timeoutMs,
    maxAttempts: options.maxAttempts,
    dispatcher: options.dispatcher,
    metrics: options.metrics,
    now,
    ...options.retry,
  });

  async function refreshTokens(shop: Shop, refreshToken: string): Promise<ShopTokens> {
    const body = await http.send({
      name: 'token_refresh',
      method: 'GET',
      baseUrl: options.authBaseUrl,
      path: TIKTOK_PATHS.tokenRefresh,
      budgetKey: shop.shop_id,
      prepare: () => ({
        query: {
          app_key: options.appKey,
          app_secret: options.appSecret,
          refresh_token: refreshToken,
          grant_type: 'refresh_token',
        },
      }),
    });
    const { data } = parse(refreshSchema, body, 'token_refresh');
    // Documented as a unix time (likely); a small number would be a lifetime in seconds instead.
    const expiresAt =
      data.access_token_expire_in > 1_000_000_000
        ? data.access_token_expire_in
        : toUnixSeconds(now()) + data.access_token_expire_in;
    return {
      access_token: data.access_token,
      refresh_token: data.refresh_token,
      access_token_expires_at: new Date(expiresAt * 1000),
    };
  }

  /** Signed like every call, but without shop_cipher: the grant, not a shop, is asked about. */
  async function getAuthorizedShops(accessToken: string): Promise<TikTokAuthorizedShop[]> {
    const path = TIKTOK_PATHS.authorizedShops;
    const body = await http.send({
      name: 'get_authorized_shops',
      method: 'GET',
      path,
      budgetKey: TIKTOK_GRANT_BUDGET,
      prepare: () => ({
        query: tiktokSignedQuery({
          appKey: options.appKey,
          appSecret: options.appSecret,
          method: 'GET',
          path,
          timestamp: toUnixSeconds(now()),
        }),
        headers: { [TIKTOK_ACCESS_TOKEN_HEADER]: accessToken },
      }),
    });
    return parse(authorizedShopsSchema, body, 'get_authorized_shops').data.shops;
  }

  /** Unsigned, on the auth host, with the app secret in the query (as TikTok documents it). */
  async function exchangeAuthCode(code: string): Promise<TikTokGrant> {
    const body = await http.send({
      name: 'token_get',
      method: 'GET',
      baseUrl: options.authBaseUrl,
      path: TIKTOK_TOKEN_GET_PATH,
      budgetKey: TIKTOK_GRANT_BUDGET,
      prepare: () => ({
        query: {
          app_key: options.appKey,
          app_secret: options.appSecret,
          auth_code: code,
          grant_type: TIKTOK_GRANT_TYPE,
        },
      }),
    });
    return tiktokGrantOf(parse(tiktokTokenGetSchema, body, 'token_get'), now());
  }

  const tokens = createTokenManager({
    platform: 'tiktok',
    refresh: refreshTokens,
    persistence: options.tokens,
    lock: options.refreshLock,
    logger: options.logger,
    refreshBeforeMs: options.refreshBeforeMs,
    metrics: options.metrics,
    now,
  });

  /** One signed, shop-scoped call with the shop's current token (refreshed once on an auth error). */
  function call(
    shop: Shop,
    name: string,
    method: 'GET' | 'POST',
    path: string,
    params: Record<string, string> = {},
    jsonBody?: unknown,
  ): Promise<unknown> {
    const cipher = shop.shop_cipher;
    if (!cipher) {
      return Promise.reject(
        new AppError(
          'ERR_MARKETPLACE_REJECTED',
          `tiktok shop ${shop.shop_id} has no shop_cipher (set it with: shops add --shop-cipher)`,
        ),
      );
    }
    const body = jsonBody === undefined ? undefined : JSON.stringify(jsonBody);
    return tokens.withAccessToken(shop, (accessToken) =>
      http.send({
        name,
        method,
        path,
        budgetKey: shop.shop_id,
        prepare: () => ({
          query: tiktokSignedQuery({
            appKey: options.appKey,
            appSecret: options.appSecret,
            method,
            path,
            params,
            shopCipher: cipher,
            timestamp: toUnixSeconds(now()),
            body,
          }),
          headers: {
            [TIKTOK_ACCESS_TOKEN_HEADER]: accessToken,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body,
        }),
      }),
    );
  }

  function search(
    shop: Shop,
    kind: WebhookKind,
    body: Record<string, unknown>,
    pageSize: number,
    token: string,
  ) {
    const params: Record<string, string> = { page_size: String(pageSize) };
    if (token) params.page_token = token;
    const { name, path, page } = SEARCHES[kind];
    return call(shop, name, 'POST', path, params, body).then(page);
  }

  /**
   * One get_order_detail call for a chunk of ids. A not-found answer does not say which id is
   * unknown: the chunk is halved until it does, so the others are still fetched and only the
   * unknown ids are absent (in neither objects nor failures).
   */
  async function orderDetail(shop: Shop, batch: string[]): Promise<unknown[]> {
    try {
      const response = await call(shop, 'get_order_detail', 'GET', TIKTOK_PATHS.orderDetail, {
        ids: batch.join(','),
      });
      return parse(orderListSchema, response, 'get_order_detail').data.orders;
    } catch (error) {
      // Only the platform's own code: a bare HTTP 404 (a wrong base URL) must not empty every batch.
      if (!hasNotFoundCode(error)) throw error;
      if (batch.length === 1) {
        log.debug({ shop_id: shop.shop_id, order_id: batch[0] }, 'order not found');
        return [];
      }
      const half = Math.ceil(batch.length / 2);
      const first = await orderDetail(shop, batch.slice(0, half));
      return [...first, ...(await orderDetail(shop, batch.slice(half)))];
    }
  }

  /** No by-id endpoint for returns: a search with a return id filter, one chunk per search. */
  async function returnsByIds(shop: Shop, batch: string[]): Promise<unknown[]> {
    const wanted = new Set(batch);
    const found: unknown[] = [];
    // If the filter were ignored the search would list every return: stop once all are found,
    // and never read more pages than the batch could fill. The page holds the whole batch when
    // the search accepts that size (at most 50: the batch size is capped at 50 too).
    const pageSize = tiktokPageSize('return', batch.length);
    let pagesRead = 0;
    for await (const items of tiktokPages((token) =>
      search(shop, 'return', { [returnIdsFilter]: batch }, pageSize, token),
    )) {
      for (const item of items) {
        const returnId = (item as Record<string, unknown> | null)?.[TIKTOK_ID_FIELD.return];
        if (typeof returnId === 'string' && wanted.delete(returnId)) found.push(item);
      }
      pagesRead += 1;
      if (wanted.size === 0 || pagesRead >= MAX_RETURN_FILTER_PAGES) break;
    }
    return found;
  }

  /**
   * One call per product (202309 has no batch product detail). Not found: the product may be
   * deleted or frozen, which Get Product does not answer — its listed object when the hint is
   * one, else (a webhook) a search of those statuses at the webhook's update_time; else [] (it
   * does not exist).
   */
  async function productById(shop: Shop, id: string, hint: string | undefined): Promise<unknown[]> {
    try {
      const response = await call(shop, 'get_product', 'GET', TIKTOK_PATHS.productDetail(id));
      return [parse(productSchema, response, 'get_product').data];
    } catch (error) {
      if (!isNotFound(error)) throw error;
      const deleted = deletedListedProduct(id, hint) ?? (await deletedAtWebhookTime(shop, id, hint));
      if (deleted) return [deleted];
      log.debug({ shop_id: shop.shop_id, product_id: id }, 'product not found');
      return [];
    }
  }

  /**
   * A product a webhook announced but Get Product does not answer, looked up among DELETED and
   * FREEZE products updated at the webhook's update_time (one search per status, stopping at the
   * first that holds it): the webhook path stores deletions as reconcile does.
   */
  async function deletedAtWebhookTime(shop: Shop, id: string, hint: string | undefined) {
    const version = webhookUpdateTime(hint);
    if (version === undefined) return undefined;
    const pageSize = TIKTOK_PAGE_SIZES.product.max;
    for (const status of TIKTOK_DELETED_PRODUCT_STATUSES) {
      const filters = { update_time_ge: version, update_time_le: version, status };
      const { items } = await search(shop, 'product', filters, pageSize, '');
      const found = items.find((item) => (item as Record<string, unknown> | null)?.id === id);
      if (found) return found;
    }
    return undefined;
  }

  /** The listing's pages of products over every search status, each id once. */
  async function* listProducts(shop: Shop, body: Record<string, number>): AsyncGenerator<ListedEntity[]> {
    const pageSize = TIKTOK_PAGE_SIZES.product.max;
    const seen = new Set<string>();
    for (const status of TIKTOK_PRODUCT_SEARCH_STATUSES) {
      const filters = status === undefined ? body : { ...body, status };
      for await (const items of tiktokPages((token) => search(shop, 'product', filters, pageSize, token))) {
        const listed: ListedEntity[] = [];
        for (const item of items) {
          const entity = listedProduct(item);
          if (!entity) log.warn({ shop_id: shop.shop_id, kind: 'product' }, 'listed product skipped');
          else if (!seen.has(entity.id)) listed.push(entity);
          if (entity) seen.add(entity.id);
        }
        yield listed;
      }
    }
  }

  const chunksOf = (ids: readonly string[]) => chunk(unique(ids), batchSize);
  const asIds = (batch: string[]) => batch;

  return {
    tokens,
    request: call,

    getOrders: (shop, ids) =>
      settleDetails(chunksOf(ids), concurrency, asIds, (batch) => orderDetail(shop, batch)),

    getReturns: (shop, ids) =>
      settleDetails(chunksOf(ids), concurrency, asIds, (batch) => returnsByIds(shop, batch)),

    getProducts: (shop, ids, hints) =>
      settleDetails(
        unique(ids),
        concurrency,
        (id) => [id],
        (id) => productById(shop, id, hints?.get(id)),
      ),

    async *listUpdated(shop, kind, from, to) {
      const body = SEARCHES[kind].window(toUnixSeconds(from), Math.ceil(to.getTime() / 1000));
      if (!body) return;
      if (kind === 'product') {
        yield* listProducts(shop, body);
        return;
      }
      const pageSize = TIKTOK_PAGE_SIZES[kind].max;
      for await (const items of tiktokPages((token) => search(shop, kind, body, pageSize, token))) {
        const listed: ListedEntity[] = [];
        for (const item of items) {
          const entity = tiktokListedEntity(kind, item);
          if (entity) listed.push(entity);
          else log.warn({ shop_id: shop.shop_id, kind }, 'listed object without id or update_time skipped');
        }
        yield listed;
      }
    },

    refreshTokens,

    getAuthorizedShops,

    exchangeAuthCode,

    close: () => http.close(),
  };
}

/** A listed product; a deleted one carries its search object as payload (Get Product has none). */
function listedProduct(item: unknown): ListedEntity | undefined {
  const entity = tiktokListedEntity('product', item);
  if (!entity) return undefined;
  const status = (item as Record<string, unknown>).status;
  if (typeof status !== 'string' || !TIKTOK_DELETED_PRODUCT_STATUSES.has(status)) return entity;
  return { ...entity, payload: JSON.stringify(item) };
}

/**
 * The search object a listing put in the stream payload for product `id`, if the hint is one: a
 * webhook body (`{type, shop_id, data}`) or another product's object is not.
 */
function deletedListedProduct(id: string, hint: string | undefined): unknown {
  if (hint === undefined) return undefined;
  let object: unknown;
  try {
    object = JSON.parse(hint);
  } catch {
    return undefined;
  }
  const fields = object as Record<string, unknown> | null;
  const isListed =
    typeof fields === 'object' &&
    fields !== null &&
    fields.id === id &&
    typeof fields.status === 'string' &&
    TIKTOK_DELETED_PRODUCT_STATUSES.has(fields.status);
  return isListed ? object : undefined;
}

/** `data.update_time` of a webhook body (TikTok type 5), when the hint is one. */
function webhookUpdateTime(hint: string | undefined): number | undefined {
  if (hint === undefined) return undefined;
  try {
    const data = (JSON.parse(hint) as { data?: { update_time?: unknown } } | null)?.data;
    const time = data?.update_time;
    return typeof time === 'number' && Number.isSafeInteger(time) && time > 0 ? time : undefined;
  } catch {
    return undefined;
  }
}

function hasNotFoundCode(error: unknown): boolean {
  const code = platformCodeOf(error);
  return code !== undefined && (TIKTOK_ERROR_CODES.notFound as readonly number[]).includes(Number(code));
}

function isNotFound(error: unknown): boolean {
  return httpStatusOf(error) === 404 || hasNotFoundCode(error);
}

function parse<T>(schema: z.ZodType<T>, body: unknown, endpoint: string): T {
  return parseResponse('tiktok', schema, body, endpoint);
}
