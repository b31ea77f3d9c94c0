/**
 * Shopee Open Platform v2 request signing (MARKETPLACES.md, confident; congminh1254/shopee-sdk `src/fetch.ts`).
 *
 * sign = lowercase hex HMAC-SHA256(key = partner key, message =
 *   partner_id + path + timestamp + access_token + shop_id)   shop-level calls
 *   partner_id + path + timestamp                             public calls (auth, push)
 *
 * Nothing else (other query parameters, the body) is signed.
 */
import { createHmac } from 'node:crypto';

export interface ShopeeSignInput {
  partnerId: number;
  partnerKey: string;
  /** The request path only, e.g. "/api/v2/order/get_order_detail". */
  path: string;
  /** Unix seconds. */
  timestamp: number;
  /** Both present for shop-level calls, both absent for public ones. */
  accessToken?: string | undefined;
  shopId?: string | undefined;
}

export function shopeeStringToSign(input: ShopeeSignInput): string {
  const base = `${input.partnerId}${input.path}${input.timestamp}`;
  if (input.accessToken === undefined && input.shopId === undefined) return base;
  if (input.accessToken === undefined || input.shopId === undefined) {
    throw new TypeError('a shop-level Shopee signature needs both accessToken and shopId');
  }
  return `${base}${input.accessToken}${input.shopId}`;
}

export function shopeeSign(input: ShopeeSignInput): string {
  return createHmac('sha256', input.partnerKey).update(shopeeStringToSign(input), 'utf8').digest('hex');
}

/** The common query of a signed call: partner_id, timestamp, sign, and for shop calls access_token and shop_id. */
export function shopeeSignedQuery(input: ShopeeSignInput): Record<string, string> {
  const query: Record<string, string> = {
    partner_id: String(input.partnerId),
    timestamp: String(input.timestamp),
  };
  if (input.accessToken !== undefined && input.shopId !== undefined) {
    query.access_token = input.accessToken;
    query.shop_id = input.shopId;
  }
  query.sign = shopeeSign(input);
  return query;
}
