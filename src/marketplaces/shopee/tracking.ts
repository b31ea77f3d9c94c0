/**
 * Shopee tracking (kind `tracking`): `GET /api/v2/logistics/get_tracking_info?order_sn=…[&package_number=…]`
 * (MARKETPLACES-MORE.md §3, congminh1254/shopee-sdk schemas/v2.logistics.get_tracking_info.json),
 * one call per package, its pure mapper and the kind-table entry.
 *
 * A split order has several packages, each its own call and document (key order_sn +
 * package_number); the order's `package_list` (in the follow-up's hint) names them. Without a
 * hint the order is asked for as a whole, package_number omitted (Shopee refuses it empty).
 * Events are `tracking_info[] {update_time (unix s), description, logistics_status}`, listed
 * oldest first; the document's status is the newest event's.
 */
import { z } from 'zod';

import type { EntityDocument, OrderDocument, TrackingDocument } from '../../shared/documents.js';
import { toIsoWithOffset, unixSecondsSchema } from '../../shared/time.js';
import {
  parseResponse,
  platformCodeOf,
  settleDetails,
  unique,
  type QueryValue,
  listOrEmpty,
} from '../http.js';
import { baseDocument, read, readArray, record, requireId, type MapInput } from '../mapping.js';
import {
  newestFirst,
  packageNumbers,
  readTrackingHint,
  trackingEntry,
  trackingFollowUp,
  trackingVersion,
  type TrackingHint,
} from '../tracking.js';
import type { FollowUp, KindAdapter, ListedEntity, Shop } from '../types.js';
import { SHOPEE_MAX_DETAIL_IDS, SHOPEE_PATHS, orderSnPages, type ShopeeClient } from './client.js';

const PLATFORM = 'shopee';

export const SHOPEE_TRACKING_PATH = '/api/v2/logistics/get_tracking_info';

/** Order statuses whose writes announce a tracking fetch: shipped, delivered, completed. */
export const SHOPEE_TRACKED_STATUSES: ReadonlySet<string> = new Set([
  'SHIPPED',
  'TO_CONFIRM_RECEIVE',
  'COMPLETED',
]);
/** What reconcile lists: orders shipped and not delivered yet. */
export const SHOPEE_RECONCILED_STATUS = 'SHIPPED';
/** Event statuses (TrackingLogisticsStatus) after which the carrier has nothing more to say. */
export const SHOPEE_FINAL_EVENT_STATUSES: ReadonlySet<string> = new Set([
  'DELIVERED',
  'RETURNED',
  'LOST',
  'CANCELED',
]);
/** Package-level logistics_status (LogisticsStatus) values that are final. */
export const SHOPEE_FINAL_LOGISTICS_STATUSES: ReadonlySet<string> = new Set([
  'LOGISTICS_DELIVERY_DONE',
  'LOGISTICS_LOST',
  'LOGISTICS_REQUEST_CANCELED',
]);
/**
 * get_tracking_info errors meaning "no such order or package" (the object is absent), and "not
 * shipped yet" (no events yet: an empty tracking, not a failure), from its published error list.
 */
const NOT_FOUND_ERRORS = new Set([
  'logistics.invalid_error',
  'logistics.package_not_exist',
  'error_not_found',
]);
const NOT_SHIPPED_ERROR = 'logistics.error_status_limit';

const snSchema = z.string({ error: 'expected an id string' }).trim().min(1, 'expected a non-empty id');
const text = z.string({ error: 'expected a string' });

/**
 * The raw object of a tracking document: get_tracking_info's `response` plus, added by
 * getDetails, the order's `order_status` and `tracking_number` from the hint (Shopee's names).
 */
export const shopeeTrackingSchema = z.looseObject({
  order_sn: snSchema,
  package_number: text.optional(),
  logistics_status: text.optional(),
  tracking_info: z.array(
    z.looseObject({ update_time: unixSecondsSchema, description: text, logistics_status: text.optional() }),
  ),
});

const envelopeSchema = z.looseObject({
  response: z.preprocess((value) => value ?? {}, z.looseObject({})),
});
const orderDetailSchema = z.looseObject({
  response: z.looseObject({
    order_list: listOrEmpty,
  }),
});

// ---------------------------------------------------------------------------------------------
// Pure: mapper and follow-ups

export function mapShopeeTracking(raw: unknown, input: MapInput): TrackingDocument {
  const orderSn = requireId(PLATFORM, 'tracking', 'order_sn', snSchema, raw);
  const object = record(raw);
  const packageId = read(text, object.package_number) ?? '';
  const offset = input.context.timezoneOffset;
  const events = newestFirst(
    readArray(object.tracking_info).map((value) => {
      const event = record(value);
      return {
        time: read(unixSecondsSchema, event.update_time),
        description: read(text, event.description),
        status: read(text.min(1), event.logistics_status),
      };
    }),
    (event) => event.time,
  );
  const times = events.map((e) => e.time).filter((t): t is number => t !== null);
  const logisticsStatus = read(text.min(1), object.logistics_status);
  const status = events[0]?.status ?? logisticsStatus;
  return {
    // The idempotency key names the package too: an order's packages are separate documents.
    ...baseDocument(
      PLATFORM,
      input,
      packageId ? `${orderSn}:${packageId}` : orderSn,
      object,
      shopeeTrackingSchema.safeParse(object).error,
      {
        created: times.length > 0 ? Math.min(...times) : null,
        updated: trackingVersion(times[0] ?? null, object),
      },
    ),
    order_id: orderSn,
    package_id: packageId,
    tracking_number: read(text.min(1), object.tracking_number),
    status,
    events: events.map((event) => ({
      time: event.time === null ? null : toIsoWithOffset(event.time, offset),
      description: event.description,
      status: event.status,
    })),
    is_final:
      (events[0]?.status != null && SHOPEE_FINAL_EVENT_STATUSES.has(events[0].status)) ||
      (logisticsStatus !== null && SHOPEE_FINAL_LOGISTICS_STATUSES.has(logisticsStatus)),
  };
}

/** An order written shipped (or delivered, completed) calls for the tracking of its packages. */
export function shopeeOrderFollowUps(document: EntityDocument): FollowUp[] {
  const order = document as OrderDocument;
  if (order.status === null || !SHOPEE_TRACKED_STATUSES.has(order.status)) return [];
  return [trackingFollowUp(order, orderHint(order.raw, order.tracking_number))];
}

/** The hint of a Shopee order object (get_order_detail with package_list). */
function orderHint(raw: unknown, trackingNumber: string | null): TrackingHint {
  const status = read(text.min(1), record(raw).order_status);
  const packages = packageNumbers(raw, 'package_list', 'package_number');
  return {
    ...(status ? { order_status: status } : {}),
    ...(trackingNumber ? { tracking_number: trackingNumber } : {}),
    ...(packages.length > 0 ? { packages } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Calls and the kind-table entry

export interface ShopeeTrackingOptions {
  /** Tracking calls at once per getDetails. Default 4. */
  concurrency?: number;
}

interface PackageCall {
  orderSn: string;
  /** undefined: the order as a whole (package_number omitted). */
  packageNumber: string | undefined;
  hint: TrackingHint;
}

export function createShopeeTrackingKind(
  client: Pick<ShopeeClient, 'request'>,
  options: ShopeeTrackingOptions = {},
): KindAdapter {
  const concurrency = options.concurrency ?? 4;

  /** One package's tracking; [] when Shopee says the order or package does not exist. */
  async function trackingInfo(shop: Shop, { orderSn, packageNumber, hint }: PackageCall): Promise<unknown[]> {
    const params: Record<string, QueryValue> = { order_sn: orderSn };
    if (packageNumber !== undefined) params.package_number = packageNumber;
    let response: Record<string, unknown>;
    try {
      const body = await client.request(shop, 'get_tracking_info', SHOPEE_TRACKING_PATH, params);
      response = parseResponse(PLATFORM, envelopeSchema, body, 'get_tracking_info').response;
    } catch (error) {
      const code = platformCodeOf(error);
      if (code !== undefined && NOT_FOUND_ERRORS.has(code)) return [];
      // Not shipped yet: no events so far, which is an answer, not a failure.
      if (code !== NOT_SHIPPED_ERROR) throw error;
      response = { tracking_info: [] };
    }
    return [
      {
        ...response,
        order_sn: orderSn,
        package_number: packageNumber ?? read(text, response.package_number) ?? '',
        ...(hint.order_status ? { order_status: hint.order_status } : {}),
        ...(hint.tracking_number ? { tracking_number: hint.tracking_number } : {}),
        ...(hint.order_version ? { order_version: hint.order_version } : {}),
      },
    ];
  }

  return {
    getDetails(shop, ids, hints) {
      const calls: PackageCall[] = unique(ids).flatMap((orderSn) => {
        const hint = readTrackingHint(hints.get(orderSn));
        const packages: (string | undefined)[] = hint.packages ?? [undefined];
        return packages.map((packageNumber) => ({ orderSn, packageNumber, hint }));
      });
      // A failed package call fails its order's entry; its other packages are still written.
      return settleDetails(
        calls,
        concurrency,
        (call) => [call.orderSn],
        (call) => trackingInfo(shop, call),
      );
    },
    listUpdated: (shop, from, to) => listShipped(client, shop, from, to),
    toDocument: (shop, raw, context) => mapShopeeTracking(raw, { shopId: shop.shop_id, context }),
  };
}

/**
 * Orders SHIPPED (not delivered yet) updated in [from, to): get_order_list filtered by status in
 * windows of at most 15 days, then get_order_detail (≤50 per call) for their packages, which the
 * listed entities carry as hints. Version 0: tracking has no version until it is fetched.
 */
async function* listShipped(
  client: Pick<ShopeeClient, 'request'>,
  shop: Shop,
  from: Date,
  to: Date,
): AsyncGenerator<ListedEntity[]> {
  const filter = { order_status: SHOPEE_RECONCILED_STATUS };
  for await (const orderSns of orderSnPages(client, shop, from, to, filter)) {
    yield await listedWithPackages(client, shop, orderSns);
  }
}

async function listedWithPackages(
  client: Pick<ShopeeClient, 'request'>,
  shop: Shop,
  orderSns: string[],
): Promise<ListedEntity[]> {
  const listed: ListedEntity[] = [];
  for (let i = 0; i < orderSns.length; i += SHOPEE_MAX_DETAIL_IDS) {
    const batch = orderSns.slice(i, i + SHOPEE_MAX_DETAIL_IDS);
    const body = await client.request(shop, 'get_order_detail', SHOPEE_PATHS.orderDetail, {
      order_sn_list: batch.join(','),
      response_optional_fields: 'package_list',
    });
    for (const order of parseResponse(PLATFORM, orderDetailSchema, body, 'get_order_detail').response
      .order_list) {
      const orderSn = read(snSchema, record(order).order_sn);
      if (orderSn === null) continue;
      const orderVersion = read(unixSecondsSchema, record(order).update_time) ?? 0;
      const { version, payload } = trackingEntry(orderSn, orderVersion, orderHint(order, null));
      listed.push({ id: orderSn, version, payload });
    }
  }
  return listed;
}
