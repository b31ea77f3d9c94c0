/**
 * The fake marketplace's carrier tracking: per order and package, the events a test adds (and
 * advances: in transit, then delivered), served in each platform's published shape —
 * TikTok Get Tracking (`data.tracking[] {description, update_time_millis}`, one call per order,
 * every package's events together) and Shopee get_tracking_info (`response {order_sn,
 * package_number, logistics_status, tracking_info[] {update_time, description,
 * logistics_status}}`, one call per package), both listed oldest first as the samples are.
 *
 * The routers call these after their own signature and token checks (tiktok.ts, shopee.ts).
 */
import type { FakeShopState, Json } from './state.js';

/** One carrier scan. */
export interface FakeTrackingEvent {
  /** unix seconds */
  time: number;
  description: string;
  /** Shopee's TrackingLogisticsStatus (PICKED_UP, DELIVERED…); TikTok serves none. */
  status?: string;
}

/** One package's carrier state. */
export interface FakePackageTracking {
  /** Shopee's package-level LogisticsStatus (LOGISTICS_PICKUP_DONE, LOGISTICS_DELIVERY_DONE…). */
  logisticsStatus: string;
  /** Oldest first. */
  events: FakeTrackingEvent[];
}

/** order id -> package number ('' for an order tracked as a whole) -> tracking. */
export type FakeShipments = Map<string, Map<string, FakePackageTracking>>;

export interface TrackingEventsInit {
  /** Default ''. */
  packageNumber?: string;
  /** Sets the package's logistics_status (Shopee). */
  logisticsStatus?: string;
}

/** Appends `events` to an order's (package's) tracking. */
export function addTrackingEvents(
  shop: FakeShopState,
  orderId: string,
  events: readonly FakeTrackingEvent[],
  init: TrackingEventsInit = {},
): void {
  const packages = shop.shipments.get(orderId) ?? new Map<string, FakePackageTracking>();
  shop.shipments.set(orderId, packages);
  const packageNumber = init.packageNumber ?? '';
  const tracking = packages.get(packageNumber) ?? { logisticsStatus: 'LOGISTICS_PICKUP_DONE', events: [] };
  tracking.events.push(...events.map((event) => ({ ...event })));
  if (init.logisticsStatus) tracking.logisticsStatus = init.logisticsStatus;
  packages.set(packageNumber, tracking);
}

/** The data of TikTok's Get Tracking: every package's events of the order, oldest first. */
export function tiktokTrackingData(shop: FakeShopState, orderId: string): Json {
  const events = [...(shop.shipments.get(orderId)?.values() ?? [])]
    .flatMap((tracking) => tracking.events)
    .sort((a, b) => a.time - b.time);
  return {
    tracking: events.map((event) => ({
      description: event.description,
      update_time_millis: event.time * 1000,
    })),
  };
}

export type ShopeeTrackingAnswer = { ok: Json } | { error: string; message: string };

/**
 * get_tracking_info's answer for an order (and package): Shopee's errors for an unknown order or
 * package, an empty package_number, or a split order asked for without one.
 */
export function shopeeTrackingInfo(
  shop: FakeShopState,
  orderSn: string,
  packageNumber: string | null,
): ShopeeTrackingAnswer {
  const order = shop.orders.get(orderSn);
  if (!order) return { error: 'logistics.invalid_error', message: 'The order is not exist.' };
  if (packageNumber === '')
    return { error: 'error_param', message: 'Wrong parameters, detail: package_number is empty.' };
  const numbers = orderPackages(shop, orderSn, order);
  if (packageNumber === null && numbers.length > 1) {
    return {
      error: 'logistics.package_number_not_exist',
      message: 'Please request with package_number for this split order.',
    };
  }
  const number = packageNumber ?? numbers[0] ?? '';
  if (packageNumber !== null && !numbers.includes(packageNumber))
    return { error: 'logistics.package_not_exist', message: 'The package is not exist.' };
  const packages = shop.shipments.get(orderSn);
  const tracking = packages?.get(number) ?? packages?.get('');
  return {
    ok: {
      order_sn: orderSn,
      package_number: number,
      logistics_status: tracking?.logisticsStatus ?? listedStatus(order, number) ?? 'LOGISTICS_NOT_START',
      tracking_info: (tracking?.events ?? []).map((event) => ({
        description: event.description,
        logistics_status: event.status ?? '',
        update_time: event.time,
      })),
    },
  };
}

/** The order's package numbers: its package_list, and those tests gave events to. */
function orderPackages(shop: FakeShopState, orderSn: string, order: Json): string[] {
  const listed = Array.isArray(order.package_list)
    ? order.package_list.map((p) => (p as Json).package_number).filter((n) => typeof n === 'string')
    : [];
  const tracked = [...(shop.shipments.get(orderSn)?.keys() ?? [])];
  return [...new Set([...listed, ...tracked])].filter((number) => number !== '');
}

function listedStatus(order: Json, packageNumber: string): string | undefined {
  if (!Array.isArray(order.package_list)) return undefined;
  const found = order.package_list.find((p) => (p as Json).package_number === packageNumber) as
    Json | undefined;
  return typeof found?.logistics_status === 'string' ? found.logistics_status : undefined;
}
