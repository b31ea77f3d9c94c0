/**
 * The fake Shopee payment API (MARKETPLACES-MORE.md §2): get_escrow_list by release time
 * (both bounds required and inclusive, at most 15 days — Shopee documents no maximum; the fake
 * holds clients to the 15 days they use), page_size ≤ 100 (default 40), page_no ≥ 1; and
 * get_escrow_detail_batch (POST, JSON body `{order_sn_list}`, 1..50 entries, `exceed_max_limit`
 * above), answering an array of `{escrow_detail}`. Money is JSON numbers, times unix seconds.
 */
import {
  numberParam,
  type FakeReply,
  type FakeRequest,
  type FakeShopState,
  type Json,
  type RouteMatch,
} from './state.js';

export const SHOPEE_FINANCE_ENDPOINTS = {
  escrowList: '/api/v2/payment/get_escrow_list',
  escrowDetailBatch: '/api/v2/payment/get_escrow_detail_batch',
} as const;

const MAX_RANGE_SECONDS = 15 * 86_400;
const MAX_DETAILS = 50;

export interface ShopeeFinanceHelpers {
  route: (endpoint: string, ids: string[], handle: () => FakeReply) => RouteMatch;
  withShop: (request: FakeRequest, handler: (shop: FakeShopState) => FakeReply) => () => FakeReply;
  ok: (response: unknown) => FakeReply;
  error: (status: number, error: string, message: string) => FakeReply;
}

/** A payment route of the Shopee API, or undefined for any other request. */
export function matchShopeeFinance(request: FakeRequest, h: ShopeeFinanceHelpers): RouteMatch | undefined {
  const call = `${request.method} ${request.path}`;
  if (call === `GET ${SHOPEE_FINANCE_ENDPOINTS.escrowList}`) {
    return h.route(
      SHOPEE_FINANCE_ENDPOINTS.escrowList,
      [],
      h.withShop(request, (shop) => escrowList(request, shop, h)),
    );
  }
  if (call === `POST ${SHOPEE_FINANCE_ENDPOINTS.escrowDetailBatch}`) {
    const body = (request.json ?? {}) as Json;
    const orderSns = Array.isArray(body.order_sn_list) ? body.order_sn_list.map(String) : [];
    return h.route(
      SHOPEE_FINANCE_ENDPOINTS.escrowDetailBatch,
      orderSns,
      h.withShop(request, (shop) => {
        if (!Array.isArray(body.order_sn_list) || orderSns.length === 0)
          return h.error(400, 'error_param', 'order_sn_list is required, format should be string[]');
        if (orderSns.length > MAX_DETAILS)
          return h.error(400, 'exceed_max_limit', 'Your request exceeds the max limit of 50 orders.');
        const details = orderSns
          .map((sn) => shop.escrowDetails.get(sn))
          .filter((detail): detail is Json => detail !== undefined)
          .map((detail) => ({ escrow_detail: detail }));
        return h.ok(details);
      }),
    );
  }
  return undefined;
}

function escrowList(request: FakeRequest, shop: FakeShopState, h: ShopeeFinanceHelpers): FakeReply {
  const { query } = request;
  const from = numberParam(query.get('release_time_from'));
  const to = numberParam(query.get('release_time_to'));
  if (from === undefined || to === undefined)
    return h.error(400, 'error_param', 'release_time_from and release_time_to are required');
  if (to < from) return h.error(400, 'error_param', 'release_time_to must not be before release_time_from');
  if (to - from > MAX_RANGE_SECONDS)
    return h.error(400, 'error_param', 'The time range should not exceed 15 days');
  const size = numberParam(query.get('page_size')) ?? 40;
  const pageNo = numberParam(query.get('page_no')) ?? 1;
  if (size < 1 || size > 100) return h.error(400, 'error_param', 'page_size must be 1..100');
  if (pageNo < 1) return h.error(400, 'error_param', 'page_no must be at least 1');
  const rows = [...shop.escrows.values()]
    .filter((row) => Number(row.escrow_release_time) >= from && Number(row.escrow_release_time) <= to)
    .sort(
      (a, b) =>
        Number(a.escrow_release_time) - Number(b.escrow_release_time) ||
        String(a.order_sn).localeCompare(String(b.order_sn)),
    );
  const start = (pageNo - 1) * size;
  return h.ok({ escrow_list: rows.slice(start, start + size), more: start + size < rows.length });
}

// ---------------------------------------------------------------------------------------------
// Objects, in the published shapes (amounts computed in integer cents, sent as JSON numbers).

export interface ShopeeFinanceIds {
  letters: (count: number) => string;
  int: (min: number, max: number) => number;
}

const num = (cents: number) => cents / 100; // the nearest double prints as the cents' decimal

/** One escrow release: the get_escrow_list row and the order's escrow detail. */
export function shopeeEscrow(ids: ShopeeFinanceIds, releaseTime: number): { row: Json; detail: Json } {
  const orderSn = `${new Date(releaseTime * 1000).toISOString().slice(2, 10).replace(/-/g, '')}${ids.letters(8)}`;
  const price = ids.int(5_000, 90_000);
  const commission = Math.round(price * 0.04);
  const service = Math.round(price * 0.02);
  const transaction = Math.round(price * 0.0291);
  const shipping = ids.int(1_000, 3_000);
  const escrow = price - commission - service - transaction;
  const detail = {
    order_sn: orderSn,
    buyer_user_name: `buyer_${ids.letters(5).toLowerCase()}`,
    return_order_sn_list: [],
    order_income: {
      escrow_amount: num(escrow),
      buyer_total_amount: num(price + shipping),
      order_original_price: num(price),
      original_price: num(price),
      order_selling_price: num(price),
      order_discounted_price: num(price),
      cost_of_goods_sold: num(price),
      original_cost_of_goods_sold: num(price),
      commission_fee: num(commission),
      service_fee: num(service),
      seller_transaction_fee: num(transaction),
      actual_shipping_fee: num(shipping),
      buyer_paid_shipping_fee: num(shipping),
      shopee_shipping_rebate: 0,
      final_shipping_fee: 0,
      voucher_from_seller: 0,
      voucher_from_shopee: 0,
      seller_discount: 0,
      shopee_discount: 0,
      coins: 0,
      escrow_tax: 0,
      order_ams_commission_fee: 0,
      total_adjustment_amount: 0,
      escrow_amount_after_adjustment: num(escrow),
      order_adjustment: [],
      items: [
        {
          item_id: ids.int(100_000_000, 999_999_999),
          item_name: 'Ceramic Mug',
          item_sku: `SKU-${ids.letters(6)}`,
          model_id: ids.int(100_000_000, 999_999_999),
          model_name: 'Blue',
          model_sku: `SKU-${ids.letters(6)}`,
          original_price: num(price),
          selling_price: num(price),
          discounted_price: num(price),
          seller_discount: 0,
          shopee_discount: 0,
          discount_from_coin: 0,
          discount_from_voucher_shopee: 0,
          discount_from_voucher_seller: 0,
          activity_type: '',
          activity_id: 0,
          is_main_item: false,
          quantity_purchased: 1,
        },
      ],
    },
  };
  return {
    row: { order_sn: orderSn, payout_amount: num(escrow), escrow_release_time: releaseTime },
    detail,
  };
}

/** Stores one escrow release per time in `releaseTimes`; answers them. */
export function seedShopeeEscrows(
  shop: FakeShopState,
  ids: ShopeeFinanceIds,
  releaseTimes: readonly number[],
): { row: Json; detail: Json }[] {
  return releaseTimes.map((time) => {
    const escrow = shopeeEscrow(ids, time);
    shop.escrows.set(`${String(escrow.row.order_sn)}:${time}`, escrow.row);
    shop.escrowDetails.set(String(escrow.row.order_sn), escrow.detail);
    return escrow;
  });
}
