/**
 * A fake TikTok Shop + Shopee marketplace: three real HTTP servers on 127.0.0.1 (TikTok API,
 * TikTok auth, Shopee API) that check request signatures, timestamps and access tokens the way
 * the platforms do, serve seeded shops, orders, returns and products with the platforms' paging,
 * refresh tokens, keep Shopee lost pushes (served in the published envelope shape), and send
 * correctly signed webhooks (Shopee pushes with a push key that may differ from the partner key).
 *
 * Knobs make it misbehave on purpose (latency, N× 429 with Retry-After, N× 5xx, hangs, expired
 * tokens, per-shop failure modes); counters record every call (endpoint, shop, ids requested,
 * status). `market-ingest sandbox`, tests, benchmarks and the demo use it over real HTTP; it is
 * not a mock.
 *
 * Its signature checks are written independently of src/marketplaces on purpose: it is our
 * clients' peer, so one bug cannot pass both sides. It imports shared types only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Shop } from '../../shared/shop.js';
import { randomToken, shopeeWebhookSignature, tiktokWebhookSignature } from './crypto.js';
import { createGenerator, seededRandom, type Generator } from './generators.js';
import { createOAuthState, matchOAuth, type FakeGrant } from './oauth.js';
import { seedShopeeEscrows } from './shopee-finance.js';
import { seedTikTokStatements } from './tiktok-finance.js';
import { createShopeeRouter, SHOPEE_ENDPOINTS } from './shopee.js';
import type {
  FakePlatform,
  FakeReply,
  FakeRequest,
  FakeShopState,
  FakeStore,
  Json,
  Router,
} from './state.js';
import { createTikTokAuthRouter, createTikTokRouter, TIKTOK_ENDPOINTS } from './tiktok.js';
import { addTrackingEvents, type FakeTrackingEvent, type TrackingEventsInit } from './tracking.js';

export { createGenerator, centsToDecimal, type Generator } from './generators.js';
export { SHOPEE_ENDPOINTS } from './shopee.js';
export { OAUTH_CODES, OAUTH_ENDPOINTS, type FakeGrant } from './oauth.js';
export { TIKTOK_CODES, TIKTOK_ENDPOINTS } from './tiktok.js';
export { SHOPEE_FINANCE_ENDPOINTS } from './shopee-finance.js';
export { TIKTOK_FINANCE_ENDPOINTS } from './tiktok-finance.js';
export type { FakePlatform, Json } from './state.js';
export type { FakeTrackingEvent, TrackingEventsInit } from './tracking.js';

export interface FakeMarketplaceOptions {
  /** `serviceId`: the Service ID its authorization page accepts (default `fake-service-id`). */
  tiktok?: { appKey?: string; appSecret?: string; serviceId?: string };
  /** `pushPartnerKey`: the console's "Live Push Partner Key" pushes are signed with; default: partnerKey. */
  shopee?: { partnerId?: number; partnerKey?: string; pushPartnerKey?: string };
  /** ms since the epoch; the fake's clock for timestamp checks and token expiry. */
  now?: () => number;
  /** Largest accepted difference between a request's timestamp and now. Default 300 s. */
  timestampToleranceSeconds?: number;
  /** Lifetime of tokens the refresh endpoints issue. Default 4 h (Shopee's). */
  accessTokenTtlSeconds?: number;
  /** Seed of the object generators. */
  seed?: number;
}

export interface FakeShopInit {
  shopId?: string;
  name?: string;
  /** TikTok only; generated when absent. */
  shopCipher?: string;
  accessToken?: string;
  refreshToken?: string;
  /** Default: in 4 hours. */
  accessTokenExpiresAt?: Date;
  /** When the seller's authorization ends. Default: in 365 days. */
  authorizationExpiresAt?: Date;
  /** TikTok: the region Get Authorized Shops reports (US/GB: 202309 finance shapes). Default US. */
  region?: string;
}

export interface FakeShopInfo {
  platform: FakePlatform;
  shopId: string;
  shopCipher: string | null;
  name: string;
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
}

/** What an injected failure answers: a status (with the platform's error body), or no answer at all. */
export type InjectedFailure = { status: number; retryAfter?: string | number; body?: unknown } | 'hang';

export interface FailureFilter {
  platform?: FakePlatform;
  /** An endpoint name from TIKTOK_ENDPOINTS / SHOPEE_ENDPOINTS. */
  endpoint?: string;
  shopId?: string;
  /** Only calls that asked for this entity id (detail calls; see CallRecord.ids). */
  id?: string;
}

export interface CallRecord {
  seq: number;
  platform: FakePlatform;
  host: 'tiktok' | 'tiktok-auth' | 'shopee';
  method: string;
  path: string;
  endpoint: string;
  shopId: string | null;
  /** Entity ids the call asked for (detail calls). */
  ids: string[];
  query: Record<string, string | string[]>;
  body: unknown;
  /** HTTP status answered; 'hang' while (or when) no answer was given. */
  status: number | 'hang';
  /** The platform error code answered, if any. */
  errorCode: string | null;
  /** ms since the epoch (wall clock) when the request arrived. */
  at: number;
}

export interface CallFilter extends FailureFilter {
  status?: number | 'hang';
  /** Only calls answered without an error. */
  succeeded?: boolean;
}

export interface FakeCalls {
  readonly log: readonly CallRecord[];
  count(filter?: CallFilter): number;
  /** `${platform} ${endpoint}` -> calls */
  byEndpoint(filter?: CallFilter): Record<string, number>;
  /** `${platform}:${shopId}` -> calls */
  byShop(filter?: CallFilter): Record<string, number>;
  /** The ids requested, one list per matching call. */
  ids(filter?: CallFilter): string[][];
  reset(): void;
}

export interface FakeKnobs {
  /** Delay before every answer. */
  setLatency(ms: number): void;
  /** The next `times` matching calls fail with `failure` (checked before authentication, like a gateway). */
  failNext(failure: InjectedFailure, options?: FailureFilter & { times?: number }): void;
  /** Every call for this shop fails this way until cleared with null. */
  failShop(platform: FakePlatform, shopId: string, failure: InjectedFailure | null): void;
  /** The shop's access token expires now (the refresh token stays valid). */
  expireAccessToken(platform: FakePlatform, shopId: string): void;
  /** The shop's refresh token stops working (the seller must re-authorize). */
  revokeRefreshToken(platform: FakePlatform, shopId: string): void;
  /**
   * Runs `hook` with each matching call before it is answered, and waits for it: lets a test
   * look at the world at the moment the marketplace receives a call (e.g. what is in the stream
   * when a lost push is confirmed). Cleared by reset().
   */
  beforeAnswer(filter: CallFilter, hook: (record: CallRecord) => void | Promise<void>): void;
  /** Clears latency, every injected failure and every hook. */
  reset(): void;
}

/** How a lost push's `data` is served. */
export type LostPushShape =
  /** JSON text of the whole push envelope: Shopee's published response sample. */
  | 'envelope'
  /** JSON text of the push's inner data only (what this service used to expect). */
  | 'inner-data'
  /** The whole envelope as a JSON object instead of text. */
  | 'envelope-object';

export interface LostPushInit {
  /** Omitted for partner-level pushes. */
  shopId?: string | number;
  code: number;
  /** The push's inner data (`{ordersn, status, update_time}` for code 3). */
  data: Json;
  timestamp?: number;
  /** Default 'envelope'. */
  shape?: LostPushShape;
  /** Serves exactly this text as `data` (overrides `data` and `shape`): raw bodies, malformed ones. */
  dataText?: string;
}

export interface WebhookAnswer {
  status: number;
  body: string;
}

/** The authorization flow's settings and knobs (oauth.ts). */
export interface FakeOAuth {
  serviceId: string;
  /** TikTok's authorization page (TIKTOK_AUTHORIZE_URL) on the fake auth host. */
  tiktokAuthorizeUrl: string;
  /** Shopee's newer authorization page (SHOPEE_AUTHORIZE_URL). */
  shopeeAuthorizeUrl: string;
  /** The redirect URL registered in Partner Center (TikTok sends no redirect_uri). */
  setTikTokRedirectUrl(url: string): void;
  /** Who approves the next authorizations: shops, or (Shopee) a main account with its shops. */
  approveAs(platform: FakePlatform, grant: FakeGrant): void;
  /** Codes issued so far, and how many were exchanged. */
  codes(): { issued: number; used: number };
}

export interface FakeMarketplace {
  oauth: FakeOAuth;
  tiktokBaseUrl: string;
  shopeeBaseUrl: string;
  authBaseUrl: string;
  credentials: {
    tiktok: { appKey: string; appSecret: string };
    shopee: { partnerId: number; partnerKey: string; pushPartnerKey: string };
  };
  generate: Generator;
  addShop(platform: FakePlatform, init?: FakeShopInit): FakeShopInfo;
  shop(platform: FakePlatform, shopId: string): FakeShopInfo;
  /** The shop as the service stores it (src `Shop`), with the fake's current tokens. */
  toShop(platform: FakePlatform, shopId: string): Shop;
  /** Stores objects as the marketplace's own (Shopee `tracking_no` and item `model` are served by their own calls). */
  putOrders(platform: FakePlatform, shopId: string, orders: readonly Json[]): string[];
  putReturns(platform: FakePlatform, shopId: string, returns: readonly Json[]): string[];
  putProducts(platform: FakePlatform, shopId: string, products: readonly Json[]): string[];
  /** Generates and stores `count` objects; `overrides(i)` adjusts each. */
  seedOrders(
    platform: FakePlatform,
    shopId: string,
    count: number,
    overrides?: (index: number) => Json,
  ): Json[];
  seedReturns(
    platform: FakePlatform,
    shopId: string,
    count: number,
    overrides?: (index: number) => Json,
  ): Json[];
  seedProducts(
    platform: FakePlatform,
    shopId: string,
    count: number,
    overrides?: (index: number) => Json,
  ): Json[];
  order(platform: FakePlatform, shopId: string, id: string): Json | undefined;
  /** The product (TikTok) or item (Shopee, without its models) as the fake holds it. */
  product(platform: FakePlatform, shopId: string, id: string): Json | undefined;
  /**
   * Moves a product to `status` as the seller or the platform would, bumping its update_time to
   * `updateTime` (default: now, and always later than before): delete (TikTok DELETED, Shopee
   * SELLER_DELETE), freeze or ban, and recover (TikTok DELETED -> SELLER_DEACTIVATED).
   */
  setProductStatus(
    platform: FakePlatform,
    shopId: string,
    id: string,
    status: string,
    updateTime?: number,
  ): Json;
  /**
   * TikTok settlements: one statement per time (unix s), each with `perStatement` transactions in
   * the shape of the shop's region; answers the transactions with their statement.
   */
  seedStatements(
    shopId: string,
    statementTimes: readonly number[],
    perStatement: number,
  ): { statementId: string; statementTime: number; transaction: Json }[];
  /** Shopee settlements: one escrow release per time (unix s): its list row and escrow detail. */
  seedEscrows(shopId: string, releaseTimes: readonly number[]): { row: Json; detail: Json }[];
  /** Carrier scans of an order (or one Shopee package), oldest first; call again to advance it. */
  addTrackingEvents(
    platform: FakePlatform,
    shopId: string,
    orderId: string,
    events: readonly FakeTrackingEvent[],
    init?: TrackingEventsInit,
  ): void;
  /** A Shopee push that "could not be delivered"; returns its message id. */
  addLostPush(push: LostPushInit): number;
  lostPushState(): { pending: number; confirmedUpTo: number };
  knobs: FakeKnobs;
  calls: FakeCalls;
  /** POSTs `body` to an ingest URL with TikTok's webhook signature. */
  sendTikTokWebhook(url: string, body: string | Json): Promise<WebhookAnswer>;
  /** POSTs `body` with Shopee's push signature (push key) over `callbackUrl` (default: `url`). */
  sendShopeeWebhook(
    url: string,
    body: string | Json,
    options?: { callbackUrl?: string },
  ): Promise<WebhookAnswer>;
  /** Idempotent: stops the servers and drops every open (or hanging) connection. */
  close(): Promise<void>;
}

const ID_FIELDS: Record<FakePlatform, Record<'orders' | 'returns' | 'products', string>> = {
  tiktok: { orders: 'id', returns: 'return_id', products: 'id' },
  shopee: { orders: 'order_sn', returns: 'return_sn', products: 'item_id' },
};

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

function matches(filter: CallFilter, record: CallRecord): boolean {
  return (
    (filter.platform === undefined || filter.platform === record.platform) &&
    (filter.endpoint === undefined || filter.endpoint === record.endpoint) &&
    (filter.shopId === undefined || filter.shopId === record.shopId) &&
    (filter.id === undefined || record.ids.includes(filter.id)) &&
    (filter.status === undefined || filter.status === record.status) &&
    (filter.succeeded === undefined ||
      filter.succeeded === (record.status === 200 && record.errorCode === null))
  );
}

export async function startFakeMarketplace(options: FakeMarketplaceOptions = {}): Promise<FakeMarketplace> {
  const store: FakeStore = {
    settings: {
      appKey: options.tiktok?.appKey ?? 'fake-app-key',
      appSecret: options.tiktok?.appSecret ?? 'fake-app-secret',
      partnerId: options.shopee?.partnerId ?? 2_001_234,
      partnerKey: options.shopee?.partnerKey ?? 'fake-partner-key',
      pushPartnerKey: options.shopee?.pushPartnerKey ?? options.shopee?.partnerKey ?? 'fake-partner-key',
      timestampToleranceSeconds: options.timestampToleranceSeconds ?? 300,
      accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 4 * 3600,
    },
    now: options.now ?? Date.now,
    shops: { tiktok: new Map(), shopee: new Map() },
    lostPushes: [],
    confirmedUpTo: 0,
    oauth: createOAuthState(options.tiktok?.serviceId ?? 'fake-service-id'),
  };
  const generate = createGenerator({ seed: options.seed });
  const financeRandom = seededRandom((options.seed ?? 42) + 1);
  const financeInt = (min: number, max: number) => min + Math.floor(financeRandom() * (max - min + 1));
  const financeIds = {
    digits: generate.digits,
    int: financeInt,
    letters: (count: number) =>
      Array.from({ length: count }, () => 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789'[financeInt(0, 33)]).join(''),
  };
  const log: CallRecord[] = [];
  let latencyMs = 0;
  let failures: { filter: FailureFilter; remaining: number; failure: InjectedFailure }[] = [];
  const shopFailures = new Map<string, InjectedFailure>();
  let hooks: { filter: CallFilter; hook: (record: CallRecord) => void | Promise<void> }[] = [];
  const hanging = new Set<ServerResponse>();
  let nextMessageId = 1;
  let seq = 0;

  const routers = {
    tiktok: createTikTokRouter(store),
    'tiktok-auth': createTikTokAuthRouter(store),
    shopee: createShopeeRouter(store),
  } satisfies Record<CallRecord['host'], Router>;

  function takeFailure(record: CallRecord): InjectedFailure | undefined {
    const rule = failures.find((f) => f.remaining > 0 && matches(f.filter, record));
    if (rule) {
      rule.remaining -= 1;
      failures = failures.filter((f) => f.remaining > 0);
      return rule.failure;
    }
    return record.shopId === null ? undefined : shopFailures.get(`${record.platform}:${record.shopId}`);
  }

  function injected(router: Router, failure: Exclude<InjectedFailure, 'hang'>): FakeReply {
    const kind = failure.status === 429 ? 'rate_limited' : failure.status >= 500 ? 'server' : 'rejected';
    const reply = router.error(failure.status, kind, `injected failure (HTTP ${failure.status})`);
    if (failure.body !== undefined) reply.body = failure.body;
    if (failure.retryAfter !== undefined) reply.headers = { 'retry-after': String(failure.retryAfter) };
    return reply;
  }

  async function handle(host: CallRecord['host'], req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://fake');
    let json: unknown;
    try {
      json = rawBody ? (JSON.parse(rawBody) as unknown) : undefined;
    } catch {
      json = undefined;
    }
    const request: FakeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      rawBody,
      json,
    };
    const router = routers[host];
    const oauthRoute = host === 'tiktok' ? undefined : matchOAuth(store, store.oauth, host, request);
    const route = oauthRoute ? { ...oauthRoute, shopId: null, ids: [] } : router.match(request);
    const query: Record<string, string | string[]> = {};
    for (const name of new Set(url.searchParams.keys())) {
      const values = url.searchParams.getAll(name);
      query[name] = values.length === 1 ? values[0]! : values;
    }
    const record: CallRecord = {
      seq: ++seq,
      platform: host === 'shopee' ? 'shopee' : 'tiktok',
      host,
      method: request.method,
      path: request.path,
      endpoint: route?.endpoint ?? request.path,
      shopId: route?.shopId ?? null,
      ids: route?.ids ?? [],
      query,
      body: json,
      status: 'hang',
      errorCode: null,
      at: Date.now(),
    };
    log.push(record);

    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    for (const { filter, hook } of hooks) if (matches(filter, record)) await hook(record);
    const failure = takeFailure(record);
    if (failure === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    const reply = failure
      ? injected(router, failure)
      : route
        ? route.handle()
        : router.error(404, 'not_found', `no such endpoint: ${request.method} ${request.path}`);
    record.status = reply.status;
    record.errorCode = reply.errorCode;
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...reply.headers,
    });
    res.end(text);
  }

  const servers = (Object.keys(routers) as CallRecord['host'][]).map((host) => {
    const server = createServer((req, res) => {
      handle(host, req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ fake_error: String(error) }));
      });
    });
    return { host, server };
  });
  const urls = await Promise.all(servers.map(({ server }) => listen(server)));
  const baseUrl = (host: CallRecord['host']) => urls[servers.findIndex((s) => s.host === host)]!;

  function shopState(platform: FakePlatform, shopId: string): FakeShopState {
    const shop = store.shops[platform].get(shopId);
    if (!shop) throw new Error(`fake marketplace: no ${platform} shop ${shopId}`);
    return shop;
  }

  const info = (shop: FakeShopState): FakeShopInfo => ({
    platform: shop.platform,
    shopId: shop.shopId,
    shopCipher: shop.shopCipher,
    name: shop.name,
    accessToken: shop.accessToken,
    refreshToken: shop.refreshToken,
    accessTokenExpiresAt: new Date(shop.accessTokenExpiresAt),
  });

  function put(
    platform: FakePlatform,
    shopId: string,
    kind: 'orders' | 'returns' | 'products',
    objects: readonly Json[],
  ) {
    const shop = shopState(platform, shopId);
    const idField = ID_FIELDS[platform][kind];
    return objects.map((object) => {
      const { tracking_no: trackingNo, model, ...rest } = object;
      const id = String(object[idField]);
      if (platform === 'shopee' && kind === 'orders' && typeof trackingNo === 'string')
        shop.tracking.set(id, trackingNo);
      if (platform === 'shopee' && kind === 'products' && Array.isArray(model))
        shop.models.set(id, model as Json[]);
      shop[kind].set(id, platform === 'shopee' ? rest : object);
      return id;
    });
  }

  function seed(
    platform: FakePlatform,
    shopId: string,
    kind: 'orders' | 'returns' | 'products',
    count: number,
    overrides?: (index: number) => Json,
  ): Json[] {
    const make = {
      tiktok: {
        orders: generate.tiktokOrder,
        returns: generate.tiktokReturn,
        products: generate.tiktokProduct,
      },
      shopee: { orders: generate.shopeeOrder, returns: generate.shopeeReturn, products: generate.shopeeItem },
    }[platform][kind];
    const objects = Array.from({ length: count }, (_, index) => make(overrides?.(index) ?? {}));
    put(platform, shopId, kind, objects);
    return objects;
  }

  let closing: Promise<void> | undefined;

  const fake: FakeMarketplace = {
    oauth: {
      serviceId: store.oauth.serviceId,
      tiktokAuthorizeUrl: `${baseUrl('tiktok-auth')}/open/authorize`,
      shopeeAuthorizeUrl: `${baseUrl('shopee')}/auth`,
      setTikTokRedirectUrl: (url) => {
        store.oauth.tiktokRedirectUrl = url;
      },
      approveAs: (platform, grant) => {
        store.oauth.approver[platform] = { ...grant, shopIds: [...grant.shopIds] };
      },
      codes: () => {
        const all = [...store.oauth.codes.values()];
        return { issued: all.length, used: all.filter((c) => c.used).length };
      },
    },
    tiktokBaseUrl: baseUrl('tiktok'),
    shopeeBaseUrl: baseUrl('shopee'),
    authBaseUrl: baseUrl('tiktok-auth'),
    credentials: {
      tiktok: { appKey: store.settings.appKey, appSecret: store.settings.appSecret },
      shopee: {
        partnerId: store.settings.partnerId,
        partnerKey: store.settings.partnerKey,
        pushPartnerKey: store.settings.pushPartnerKey,
      },
    },
    generate,

    addShop(platform, init = {}) {
      const shopId = init.shopId ?? (platform === 'tiktok' ? generate.digits(19) : generate.digits(9));
      if (store.shops[platform].has(shopId))
        throw new Error(`fake marketplace: ${platform} shop ${shopId} exists`);
      const shop: FakeShopState = {
        platform,
        shopId,
        shopCipher: platform === 'tiktok' ? (init.shopCipher ?? `ROW_${randomToken('')}`) : null,
        name: init.name ?? `${platform} shop ${shopId}`,
        accessToken: init.accessToken ?? randomToken(platform === 'tiktok' ? 'TTP_' : 'SPA'),
        refreshToken: init.refreshToken ?? randomToken(platform === 'tiktok' ? 'TTR_' : 'SPR'),
        accessTokenExpiresAt: init.accessTokenExpiresAt?.getTime() ?? store.now() + 4 * 3600 * 1000,
        authorizationExpiresAt: init.authorizationExpiresAt?.getTime() ?? store.now() + 365 * 86_400_000,
        orders: new Map(),
        returns: new Map(),
        products: new Map(),
        tracking: new Map(),
        models: new Map(),
        region: init.region ?? 'US',
        statements: new Map(),
        escrows: new Map(),
        escrowDetails: new Map(),
        shipments: new Map(),
      };
      store.shops[platform].set(shopId, shop);
      return info(shop);
    },

    shop: (platform, shopId) => info(shopState(platform, shopId)),

    toShop(platform, shopId) {
      const shop = shopState(platform, shopId);
      const at = new Date(store.now());
      return {
        platform,
        shop_id: shop.shopId,
        status: 'active',
        access_token: shop.accessToken,
        refresh_token: shop.refreshToken,
        access_token_expires_at: new Date(shop.accessTokenExpiresAt),
        shop_cipher: shop.shopCipher,
        name: shop.name,
        created_at: at,
        updated_at: at,
      };
    },

    putOrders: (platform, shopId, orders) => put(platform, shopId, 'orders', orders),
    putReturns: (platform, shopId, returns) => put(platform, shopId, 'returns', returns),
    putProducts: (platform, shopId, products) => put(platform, shopId, 'products', products),
    seedOrders: (platform, shopId, count, overrides) => seed(platform, shopId, 'orders', count, overrides),
    seedReturns: (platform, shopId, count, overrides) => seed(platform, shopId, 'returns', count, overrides),
    seedProducts: (platform, shopId, count, overrides) =>
      seed(platform, shopId, 'products', count, overrides),
    order: (platform, shopId, id) => shopState(platform, shopId).orders.get(id),
    product: (platform, shopId, id) => shopState(platform, shopId).products.get(id),

    setProductStatus(platform, shopId, id, status, updateTime) {
      const products = shopState(platform, shopId).products;
      const product = products.get(id);
      if (!product) throw new Error(`fake marketplace: ${platform} product ${id} not found`);
      const previous = Number(product.update_time);
      const at = Math.max(updateTime ?? Math.floor(store.now() / 1000), previous + 1);
      const statusField = platform === 'tiktok' ? 'status' : 'item_status';
      const changed = { ...product, [statusField]: status, update_time: at };
      products.set(id, changed);
      return changed;
    },
    seedStatements: (shopId, times, perStatement) =>
      seedTikTokStatements(shopState('tiktok', shopId), financeIds, times, perStatement),
    seedEscrows: (shopId, times) => seedShopeeEscrows(shopState('shopee', shopId), financeIds, times),
    addTrackingEvents: (platform, shopId, orderId, events, init) =>
      addTrackingEvents(shopState(platform, shopId), orderId, events, init),

    addLostPush(push) {
      const messageId = nextMessageId++;
      const shopId = push.shopId === undefined ? undefined : Number(push.shopId);
      const timestamp = push.timestamp ?? Math.floor(store.now() / 1000);
      // Key order of the published sample: data, shop_id, code, timestamp.
      const envelope: Json = {
        data: push.data,
        ...(shopId === undefined ? {} : { shop_id: shopId }),
        code: push.code,
        timestamp,
      };
      const shape = push.shape ?? 'envelope';
      const data =
        push.dataText ??
        (shape === 'envelope'
          ? JSON.stringify(envelope)
          : shape === 'inner-data'
            ? JSON.stringify(push.data)
            : envelope);
      store.lostPushes.push({ messageId, shopId, code: push.code, timestamp, data });
      return messageId;
    },

    lostPushState: () => ({
      pending: store.lostPushes.filter((p) => p.messageId > store.confirmedUpTo).length,
      confirmedUpTo: store.confirmedUpTo,
    }),

    knobs: {
      setLatency(ms) {
        latencyMs = ms;
      },
      failNext(failure, { times = 1, ...filter } = {}) {
        failures.push({ filter, remaining: times, failure });
      },
      failShop(platform, shopId, failure) {
        if (failure === null) shopFailures.delete(`${platform}:${shopId}`);
        else shopFailures.set(`${platform}:${shopId}`, failure);
      },
      expireAccessToken(platform, shopId) {
        shopState(platform, shopId).accessTokenExpiresAt = store.now() - 1000;
      },
      revokeRefreshToken(platform, shopId) {
        shopState(platform, shopId).refreshToken = randomToken('revoked_');
      },
      beforeAnswer(filter, hook) {
        hooks.push({ filter, hook });
      },
      reset() {
        latencyMs = 0;
        failures = [];
        hooks = [];
        shopFailures.clear();
      },
    },

    calls: {
      log,
      count: (filter = {}) => log.filter((record) => matches(filter, record)).length,
      byEndpoint(filter = {}) {
        const counts: Record<string, number> = {};
        for (const record of log.filter((r) => matches(filter, r))) {
          const key = `${record.platform} ${record.endpoint}`;
          counts[key] = (counts[key] ?? 0) + 1;
        }
        return counts;
      },
      byShop(filter = {}) {
        const counts: Record<string, number> = {};
        for (const record of log.filter((r) => matches(filter, r))) {
          const key = `${record.platform}:${record.shopId ?? '-'}`;
          counts[key] = (counts[key] ?? 0) + 1;
        }
        return counts;
      },
      ids: (filter = {}) => log.filter((record) => matches(filter, record)).map((record) => record.ids),
      reset() {
        log.length = 0;
      },
    },

    async sendTikTokWebhook(url, body) {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      const signature = tiktokWebhookSignature(store.settings.appKey, store.settings.appSecret, text);
      return post(url, text, signature);
    },

    async sendShopeeWebhook(url, body, sendOptions = {}) {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      const signature = shopeeWebhookSignature(
        store.settings.pushPartnerKey,
        sendOptions.callbackUrl ?? url,
        text,
      );
      return post(url, text, signature);
    },

    close() {
      closing ??= (async () => {
        for (const res of hanging) res.destroy();
        await Promise.all(
          servers.map(
            ({ server }) =>
              new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
              }),
          ),
        );
      })();
      return closing;
    },
  };
  return fake;
}

async function post(url: string, body: string, signature: string): Promise<WebhookAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: signature },
    body,
  });
  return { status: response.status, body: await response.text() };
}

/** Endpoint names as the call log records them. */
export const FAKE_ENDPOINTS = { tiktok: TIKTOK_ENDPOINTS, shopee: SHOPEE_ENDPOINTS } as const;
