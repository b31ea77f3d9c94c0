/**
 * How the simulated shops' orders, returns and products change over time, per platform: the
 * status flows, and the marketplace object after a change (status-dependent fields kept
 * consistent: paid time, tracking number, package status, cancellation). Pure functions over
 * the platforms' object shapes (generators.ts); the scenario decides what changes when.
 */
import type { Generator } from './marketplace/generators.js';
import type { FakePlatform, Json } from './marketplace/state.js';

export interface EntityRules {
  /** An order's statuses in order; the last is final. */
  orderFlow: readonly string[];
  /** Statuses an order may still be cancelled from. */
  cancellableFrom: ReadonlySet<string>;
  /** Statuses a buyer may ask for a return from. */
  returnableFrom: ReadonlySet<string>;
  returnFlow: readonly string[];
  orderId(order: Json): string;
  orderStatus(order: Json): string;
  returnId(ret: Json): string;
  returnStatus(ret: Json): string;
  newOrder(generate: Generator, at: number): Json;
  withOrderStatus(order: Json, status: string, at: number, generate: Generator): Json;
  newReturn(generate: Generator, order: Json, at: number): Json;
  withReturnStatus(ret: Json, status: string, at: number): Json;
  newProduct(generate: Generator, at: number): Json;
  /** Products change status (listed / delisted) and stock; absent where no push announces it (Shopee). */
  withProductChange?(product: Json, at: number, random: () => number): Json;
  productId(product: Json): string;
}

export const CANCELLED = 'CANCELLED';

/** A JSON string or number as text; '' for anything else. */
export function textOf(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

/** Next update_time (unix s) of an object: now, but always after its previous one. */
export function nextUpdateTime(previous: unknown, at: number): number {
  const before = typeof previous === 'number' ? previous : Number(previous ?? 0);
  return Math.max(at, Number.isFinite(before) ? before + 1 : at);
}

const TIKTOK_SHIPPED = new Set(['AWAITING_COLLECTION', 'IN_TRANSIT', 'DELIVERED', 'COMPLETED']);

function tiktokOrderStatus(order: Json, status: string, at: number, generate: Generator): Json {
  const shipped = TIKTOK_SHIPPED.has(status);
  const tracking = shipped ? textOf(order.tracking_number) || `9400${generate.digits(18)}` : '';
  const { paid_time: paidTime, ...rest } = order;
  const paid = status === 'UNPAID' ? undefined : (paidTime ?? at);
  const items = (order.line_items as Json[] | undefined) ?? [];
  return {
    ...rest,
    ...(paid === undefined ? {} : { paid_time: paid }),
    status,
    is_on_hold_order: false,
    tracking_number: tracking,
    shipping_provider: shipped ? 'USPS' : '',
    cancellation_initiator: status === CANCELLED ? 'BUYER' : '',
    line_items: items.map((item) => ({
      ...item,
      display_status: status,
      tracking_number: tracking,
      package_status: status === 'DELIVERED' || status === 'COMPLETED' ? 'COMPLETED' : 'TO_FULFILL',
    })),
    update_time: nextUpdateTime(order.update_time, at),
  };
}

const tiktok: EntityRules = {
  orderFlow: ['UNPAID', 'AWAITING_SHIPMENT', 'AWAITING_COLLECTION', 'IN_TRANSIT', 'DELIVERED', 'COMPLETED'],
  cancellableFrom: new Set(['UNPAID', 'AWAITING_SHIPMENT']),
  returnableFrom: new Set(['DELIVERED', 'COMPLETED']),
  returnFlow: [
    'RETURN_OR_REFUND_REQUEST_PENDING',
    'AWAITING_BUYER_SHIP',
    'BUYER_SHIPPED_ITEM',
    'RETURN_OR_REFUND_REQUEST_COMPLETE',
  ],
  orderId: (order) => String(order.id),
  orderStatus: (order) => String(order.status),
  returnId: (ret) => String(ret.return_id),
  returnStatus: (ret) => String(ret.return_status),
  newOrder: (generate, at) =>
    tiktokOrderStatus(generate.tiktokOrder({ create_time: at, update_time: at }), 'UNPAID', at, generate),
  withOrderStatus: tiktokOrderStatus,
  newReturn: (generate, order, at) =>
    generate.tiktokReturn({
      order_id: order.id,
      return_status: 'RETURN_OR_REFUND_REQUEST_PENDING',
      return_type: 'RETURN_AND_REFUND',
      create_time: at,
      update_time: at,
    }),
  withReturnStatus: (ret, status, at) => ({
    ...ret,
    return_status: status,
    update_time: nextUpdateTime(ret.update_time, at),
  }),
  newProduct: (generate, at) =>
    generate.tiktokProduct({ status: 'ACTIVATE', create_time: at - 86_400, update_time: at }),
  withProductChange(product, at, random) {
    const skus = (product.skus as Json[] | undefined) ?? [];
    return {
      ...product,
      status: product.status === 'ACTIVATE' ? 'SELLER_DEACTIVATED' : 'ACTIVATE',
      skus: skus.map((sku) => ({
        ...sku,
        inventory: ((sku.inventory as Json[] | undefined) ?? []).map((stock) => ({
          ...stock,
          quantity: Math.floor(random() * 100),
        })),
      })),
      update_time: nextUpdateTime(product.update_time, at),
    };
  },
  productId: (product) => String(product.id),
};

const SHOPEE_LOGISTICS: Record<string, string> = {
  UNPAID: 'LOGISTICS_NOT_START',
  READY_TO_SHIP: 'LOGISTICS_READY',
  PROCESSED: 'LOGISTICS_READY',
  SHIPPED: 'LOGISTICS_PICKUP_DONE',
  TO_CONFIRM_RECEIVE: 'LOGISTICS_DELIVERY_DONE',
  COMPLETED: 'LOGISTICS_DELIVERY_DONE',
  CANCELLED: 'LOGISTICS_INVALID',
};

function shopeeOrderStatus(order: Json, status: string, at: number): Json {
  const packages = (order.package_list as Json[] | undefined) ?? [];
  return {
    ...order,
    order_status: status,
    pay_time: status === 'UNPAID' ? 0 : Number(order.pay_time) || at,
    cancel_by: status === CANCELLED ? 'buyer' : '',
    cancel_reason: status === CANCELLED ? 'Change of mind' : '',
    package_list: packages.map((pkg) => ({ ...pkg, logistics_status: SHOPEE_LOGISTICS[status] })),
    update_time: nextUpdateTime(order.update_time, at),
  };
}

const shopee: EntityRules = {
  orderFlow: ['UNPAID', 'READY_TO_SHIP', 'PROCESSED', 'SHIPPED', 'TO_CONFIRM_RECEIVE', 'COMPLETED'],
  cancellableFrom: new Set(['UNPAID', 'READY_TO_SHIP']),
  returnableFrom: new Set(['TO_CONFIRM_RECEIVE', 'COMPLETED']),
  returnFlow: ['REQUESTED', 'ACCEPTED', 'PROCESSING', 'REFUND_PAID'],
  orderId: (order) => String(order.order_sn),
  orderStatus: (order) => String(order.order_status),
  returnId: (ret) => String(ret.return_sn),
  returnStatus: (ret) => String(ret.status),
  newOrder(generate, at) {
    // No tracking number until the parcel is arranged (see the scenario's tracking step).
    const { tracking_no: _tracking, ...order } = generate.shopeeOrder({ create_time: at, update_time: at });
    return shopeeOrderStatus({ ...order, ship_by_date: at + 3 * 86_400 }, 'UNPAID', at);
  },
  withOrderStatus: (order, status, at) => shopeeOrderStatus(order, status, at),
  newReturn: (generate, order, at) =>
    generate.shopeeReturn({
      order_sn: order.order_sn,
      status: 'REQUESTED',
      create_time: at,
      update_time: at,
      due_date: at + 3 * 86_400,
    }),
  withReturnStatus: (ret, status, at) => ({
    ...ret,
    status,
    update_time: nextUpdateTime(ret.update_time, at),
  }),
  newProduct: (generate, at) =>
    generate.shopeeItem({ item_status: 'NORMAL', create_time: at - 86_400, update_time: at }),
  productId: (product) => String(product.item_id),
};

export const ENTITY_RULES: Record<FakePlatform, EntityRules> = { tiktok, shopee };
