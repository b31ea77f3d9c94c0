/**
 * Webhook bodies as TikTok Shop and Shopee send them (the shapes of test/fixtures/webhooks): the
 * envelope, and each handled type's `data` built from the marketplace object it is about. The
 * sandbox's traffic and `market-ingest webhook send` use them. Bodies only: whoever sends a body
 * signs it with its own code.
 */
import { createGenerator, type Generator } from './marketplace/generators.js';
import type { FakePlatform, Json } from './marketplace/state.js';
import { ENTITY_RULES, textOf } from './entities.js';

/** The event types the service handles (CONTRACT §3), by platform: number -> what it announces. */
export const WEBHOOK_TYPES: Record<FakePlatform, ReadonlyMap<number, string>> = {
  tiktok: new Map([
    [1, 'order status change'],
    [5, 'product status change'],
    [6, 'seller deauthorization'],
    [11, 'cancellation status change'],
    [12, 'return status change'],
  ]),
  shopee: new Map([
    [2, 'shop deauthorization'],
    [3, 'order status update'],
    [4, 'tracking number'],
    [29, 'return update'],
  ]),
};

export function tiktokWebhook(type: number, shopId: string, data: Json, at: number, notificationId: string) {
  return JSON.stringify({ type, tts_notification_id: notificationId, shop_id: shopId, timestamp: at, data });
}

/** Shopee's key order (data, shop_id, code, timestamp); shop ids are JSON numbers. */
export function shopeeWebhook(code: number, shopId: string | undefined, data: Json, at: number): string {
  return JSON.stringify({
    data,
    ...(shopId === undefined ? {} : { shop_id: Number(shopId) }),
    code,
    timestamp: at,
  });
}

export const tiktokData = {
  order: (order: Json): Json => ({
    order_id: String(order.id),
    order_status: order.status,
    is_on_hold_order: false,
    update_time: order.update_time,
  }),
  cancellation: (order: Json): Json => ({
    order_id: String(order.id),
    cancellation_status: 'CANCELLATION_REQUEST_SUCCESS',
    update_time: order.update_time,
  }),
  return: (ret: Json): Json => ({
    order_id: String(ret.order_id),
    return_id: String(ret.return_id),
    return_role: 'BUYER',
    return_type: ret.return_type,
    return_status: ret.return_status,
    create_time: ret.create_time,
    update_time: ret.update_time,
  }),
  product: (product: Json): Json => ({
    product_id: String(product.id),
    status: product.status,
    suspended_reason: '',
    update_time: product.update_time,
  }),
  deauthorization: (): Json => ({ message: 'The seller has deauthorized the app' }),
};

export const shopeeData = {
  order: (order: Json): Json => ({
    items: [],
    ordersn: order.order_sn,
    status: order.order_status,
    completed_scenario: '',
    update_time: order.update_time,
  }),
  /** No update_time: Shopee's tracking push has none (the service refetches such events). */
  tracking: (order: Json, trackingNo: string): Json => ({
    ordersn: order.order_sn,
    package_number: textOf((order.package_list as Json[] | undefined)?.[0]?.package_number),
    tracking_no: trackingNo,
  }),
  return: (ret: Json): Json => ({
    return_sn: ret.return_sn,
    order_sn: ret.order_sn,
    status: ret.status,
    update_time: ret.update_time,
  }),
  deauthorization: (partnerId: number, shopId: string, at: number): Json => ({
    partner_id: partnerId,
    shop_id: Number(shopId),
    deauthorize_time: at,
  }),
};

/** Shops `webhook send` names: no deployment knows them, so the worker dead-letters their events. */
export const TEST_SHOP_IDS: Record<FakePlatform, string> = {
  tiktok: '7000000000000000001',
  shopee: '100000001',
};

export interface SampleOptions {
  /** unix seconds */
  at: number;
  /** Varies the ids, so each sample is a new event (not a duplicate). */
  seed: number;
  /** Shopee deauthorization names the partner. */
  partnerId?: number;
}

/** A realistic body of one handled type about a fresh order, return or product of a test shop. */
export function sampleWebhook(platform: FakePlatform, type: number, options: SampleOptions): string {
  if (!WEBHOOK_TYPES[platform].has(type)) throw new RangeError(`no ${platform} webhook type ${type}`);
  const { at } = options;
  const generate = createGenerator({ seed: options.seed, baseTime: at });
  const rules = ENTITY_RULES[platform];
  const shopId = TEST_SHOP_IDS[platform];
  const order = rules.withOrderStatus(rules.newOrder(generate, at), rules.orderFlow[1]!, at, generate);
  if (platform === 'tiktok') {
    const data = tiktokSampleData(type, generate, order, at);
    return tiktokWebhook(type, shopId, data, at, generate.digits(19));
  }
  if (type === 2)
    return shopeeWebhook(2, undefined, shopeeData.deauthorization(options.partnerId ?? 0, shopId, at), at);
  const data =
    type === 3
      ? shopeeData.order(order)
      : type === 4
        ? shopeeData.tracking(order, `SPXSG${generate.digits(12)}`)
        : shopeeData.return(rules.newReturn(generate, order, at));
  return shopeeWebhook(type, shopId, data, at);
}

function tiktokSampleData(type: number, generate: Generator, order: Json, at: number): Json {
  const rules = ENTITY_RULES.tiktok;
  switch (type) {
    case 1:
      return tiktokData.order(order);
    case 5:
      return tiktokData.product(rules.newProduct(generate, at));
    case 6:
      return tiktokData.deauthorization();
    case 11:
      return tiktokData.cancellation(rules.withOrderStatus(order, 'CANCELLED', at, generate));
    default:
      return tiktokData.return(rules.newReturn(generate, order, at));
  }
}
