/**
 * What the fake marketplace holds: shops with their tokens and entities, Shopee's lost pushes,
 * and the types its platform routers share.
 */
import type { IncomingHttpHeaders } from 'node:http';

import type { FakeShipments } from './tracking.js';
import type { FakeOAuthState } from './oauth.js';

export type FakePlatform = 'tiktok' | 'shopee';
export type Json = Record<string, unknown>;

export interface FakeShopState {
  platform: FakePlatform;
  shopId: string;
  /** TikTok only: the shop_cipher its API calls must carry. */
  shopCipher: string | null;
  name: string;
  accessToken: string;
  refreshToken: string;
  /** unix ms */
  accessTokenExpiresAt: number;
  /** unix ms: when the seller's authorization ends (Shopee get_shop_info.expire_time). */
  authorizationExpiresAt: number;
  orders: Map<string, Json>;
  returns: Map<string, Json>;
  products: Map<string, Json>;
  /** Shopee: served by logistics/get_tracking_number, never in the order detail. */
  tracking: Map<string, string>;
  /** Shopee: served by product/get_model_list, never in get_item_base_info. */
  models: Map<string, Json[]>;
  /** TikTok: the shop's region (Get Authorized Shops); US/GB shops get 202309 finance shapes. */
  region: string;
  /** TikTok: statements by id, each with its transactions (finance, tiktok-finance.ts). */
  statements: Map<string, { statement: Json; transactions: Json[] }>;
  /** Shopee: get_escrow_list rows by `<order_sn>:<escrow_release_time>` (shopee-finance.ts). */
  escrows: Map<string, Json>;
  /** Shopee: get_escrow_detail_batch's escrow_detail by order_sn. */
  escrowDetails: Map<string, Json>;
  /** Carrier events per order and package (tracking.ts). */
  shipments: FakeShipments;
}

export interface LostPush {
  messageId: number;
  /** Absent for partner-level pushes (codes 1, 2, 12). */
  shopId: number | undefined;
  code: number;
  timestamp: number;
  /** The item's `data`: JSON text of the whole push envelope, as Shopee's published sample sends it. */
  data: string | Json;
}

export interface FakeSettings {
  appKey: string;
  appSecret: string;
  partnerId: number;
  partnerKey: string;
  /** Signs pushes (the console's "Live Push Partner Key"); the partner key unless configured. */
  pushPartnerKey: string;
  timestampToleranceSeconds: number;
  accessTokenTtlSeconds: number;
}

export interface FakeStore {
  settings: FakeSettings;
  /** ms since the epoch */
  now(): number;
  shops: Record<FakePlatform, Map<string, FakeShopState>>;
  lostPushes: LostPush[];
  /** Highest message id Shopee was told was consumed. */
  confirmedUpTo: number;
  /** Authorization codes and who approves (oauth.ts). */
  oauth: FakeOAuthState;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** undefined when the body is empty or not JSON. */
  json: unknown;
}

export interface FakeReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** The platform error code answered (TikTok code, Shopee error), for the call log. */
  errorCode: string | null;
}

/** A request a router recognised, before any checks ran. */
export interface RouteMatch {
  platform: FakePlatform;
  endpoint: string;
  shopId: string | null;
  ids: string[];
  handle(): FakeReply;
}

export interface Router {
  match(request: FakeRequest): RouteMatch | undefined;
  /** The platform's error body for an unknown route or an injected failure. */
  error(
    status: number,
    kind: 'rate_limited' | 'server' | 'rejected' | 'not_found',
    message: string,
  ): FakeReply;
}

export function tokensExpired(shop: FakeShopState, store: FakeStore): boolean {
  return shop.accessTokenExpiresAt <= store.now();
}

/** Opaque-looking page tokens that are just offsets. */
export function encodeOffset(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

export function decodeOffset(token: string | null | undefined): number | undefined {
  if (!token) return 0;
  const match = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
  return match ? Number(match[1]) : undefined;
}

export function numberParam(value: string | null): number | undefined {
  if (value === null || !/^-?\d+$/.test(value)) return undefined;
  return Number(value);
}

export function unixSeconds(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}
