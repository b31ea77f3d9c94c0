/**
 * TikTok tracking (kind `tracking`): Get Tracking, `GET /fulfillment/202309/orders/{order_id}/tracking`
 * (MARKETPLACES-MORE.md §3, official SDK fulfillmentV202309Api), one call per order, its pure
 * mapper and the kind-table entry.
 *
 * The answer is `data.tracking[] {description, update_time_millis}`: unix MILLISECONDS, no event
 * status, no package. So a TikTok order has one tracking document (package_id ''), its `status`
 * is the order's status when the order announced the fetch (IN_TRANSIT, DELIVERED…), and it is
 * final once that status is DELIVERED or COMPLETED.
 */
import { z } from 'zod';

import type { EntityDocument, OrderDocument, TrackingDocument } from '../../shared/documents.js';
import { toIsoWithOffset, toUnixSeconds, unixSecondsSchema } from '../../shared/time.js';
import { parseResponse, settleDetails, unique, listOrEmpty, tokenOrEmpty } from '../http.js';
import { baseDocument, read, readArray, record, requireId, type MapInput } from '../mapping.js';
import {
  newestFirst,
  readTrackingHint,
  trackingEntry,
  trackingFollowUp,
  trackingVersion,
  type TrackingHint,
} from '../tracking.js';
import type { FollowUp, KindAdapter, ListedEntity, Shop } from '../types.js';
import { TIKTOK_PATHS, tiktokPages, type TikTokClient } from './client.js';

const PLATFORM = 'tiktok';

export const TIKTOK_TRACKING_PATH = (orderId: string) =>
  `/fulfillment/202309/orders/${encodeURIComponent(orderId)}/tracking`;

/** Order statuses whose writes announce a tracking fetch: on its way, or just arrived. */
export const TIKTOK_TRACKED_STATUSES: ReadonlySet<string> = new Set(['IN_TRANSIT', 'DELIVERED', 'COMPLETED']);
/** Tracking fetched while the order is in one of these is final (KIND_STORAGE finalField). */
export const TIKTOK_FINAL_STATUSES: ReadonlySet<string> = new Set(['DELIVERED', 'COMPLETED']);
/** What reconcile lists: orders not delivered yet (order search takes one status per search). */
export const TIKTOK_RECONCILED_STATUS = 'IN_TRANSIT';
const SEARCH_PAGE_SIZE = 100;

const idSchema = z.string({ error: 'expected an id string' }).trim().min(1, 'expected a non-empty id');
const text = z.string({ error: 'expected a string' });
const unixMillisSchema = z.number({ error: 'expected unix milliseconds' }).int().nonnegative();

/**
 * The raw object of a tracking document: Get Tracking's `data` plus, added by getDetails, the
 * `order_id` it was asked for and the order's `order_status` / `tracking_number` from the hint.
 */
export const tiktokTrackingSchema = z.looseObject({
  order_id: idSchema,
  order_status: text.optional(),
  tracking_number: text.optional(),
  tracking: z.array(z.looseObject({ description: text, update_time_millis: unixMillisSchema })),
});

const trackingDataSchema = z.looseObject({
  data: z.preprocess((value) => value ?? {}, z.looseObject({})),
});
const orderPageSchema = z.looseObject({
  data: z.looseObject({
    orders: listOrEmpty,
    next_page_token: tokenOrEmpty,
  }),
});

// ---------------------------------------------------------------------------------------------
// Pure: mapper and follow-ups

export function mapTikTokTracking(raw: unknown, input: MapInput): TrackingDocument {
  const orderId = requireId(PLATFORM, 'tracking', 'order_id', idSchema, raw);
  const object = record(raw);
  const offset = input.context.timezoneOffset;
  const events = newestFirst(
    readArray(object.tracking).map((value) => {
      const event = record(value);
      return {
        ms: read(unixMillisSchema, event.update_time_millis),
        description: read(text, event.description),
      };
    }),
    (event) => event.ms,
  );
  const times = events.map((e) => e.ms).filter((ms): ms is number => ms !== null);
  const seconds = (ms: number | undefined) => (ms === undefined ? null : toUnixSeconds(ms));
  const orderStatus = read(text.min(1), object.order_status);
  return {
    ...baseDocument(PLATFORM, input, orderId, object, tiktokTrackingSchema.safeParse(object).error, {
      created: seconds(times.length > 0 ? Math.min(...times) : undefined),
      updated: trackingVersion(seconds(times[0]), object),
    }),
    order_id: orderId,
    package_id: '',
    tracking_number: read(text.min(1), object.tracking_number),
    status: orderStatus,
    events: events.map((event) => ({
      time: event.ms === null ? null : toIsoWithOffset(toUnixSeconds(event.ms), offset),
      description: event.description,
      status: null,
    })),
    is_final: orderStatus !== null && TIKTOK_FINAL_STATUSES.has(orderStatus),
  };
}

/** An order written on its way (or delivered) calls for its tracking. */
export function tiktokOrderFollowUps(document: EntityDocument): FollowUp[] {
  const order = document as OrderDocument;
  if (order.status === null || !TIKTOK_TRACKED_STATUSES.has(order.status)) return [];
  return [trackingFollowUp(order, hintOf(order.status, order.tracking_number))];
}

function hintOf(status: string | null, trackingNumber: string | null): TrackingHint {
  return {
    ...(status ? { order_status: status } : {}),
    ...(trackingNumber ? { tracking_number: trackingNumber } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Calls and the kind-table entry

export interface TikTokTrackingOptions {
  /** Tracking calls at once per getDetails. Default 4. */
  concurrency?: number;
}

export function createTikTokTrackingKind(
  client: Pick<TikTokClient, 'request'>,
  options: TikTokTrackingOptions = {},
): KindAdapter {
  const concurrency = options.concurrency ?? 4;

  async function tracking(shop: Shop, orderId: string, hint: TrackingHint): Promise<unknown[]> {
    const body = await client.request(shop, 'get_tracking', 'GET', TIKTOK_TRACKING_PATH(orderId));
    const { data } = parseResponse(PLATFORM, trackingDataSchema, body, 'get_tracking');
    return [{ ...data, order_id: orderId, ...hint }];
  }

  /** Orders in transit updated in [from, to), each with its hint, at the order's version. */
  async function* listUpdated(shop: Shop, from: Date, to: Date): AsyncGenerator<ListedEntity[]> {
    const filter = {
      update_time_ge: toUnixSeconds(from),
      update_time_lt: Math.ceil(to.getTime() / 1000),
      order_status: TIKTOK_RECONCILED_STATUS,
    };
    const fetchPage = async (token: string) => {
      const params: Record<string, string> = { page_size: String(SEARCH_PAGE_SIZE) };
      if (token) params.page_token = token;
      const body = await client.request(
        shop,
        'search_orders',
        'POST',
        TIKTOK_PATHS.orderSearch,
        params,
        filter,
      );
      const { data } = parseResponse(PLATFORM, orderPageSchema, body, 'search_orders');
      return { items: data.orders, next: data.next_page_token };
    };
    for await (const orders of tiktokPages(fetchPage)) yield orders.flatMap((order) => listedOrder(order));
  }

  return {
    getDetails: (shop, ids, hints) =>
      settleDetails(
        unique(ids),
        concurrency,
        (id) => [id],
        (id) => tracking(shop, id, readTrackingHint(hints.get(id))),
      ),
    listUpdated,
    toDocument: (shop, raw, context) => mapTikTokTracking(raw, { shopId: shop.shop_id, context }),
  };
}

function listedOrder(raw: unknown): ListedEntity[] {
  const order = record(raw);
  const id = read(idSchema, order.id);
  if (id === null) return [];
  const hint = hintOf(read(text, order.status), read(text, order.tracking_number));
  const { version, payload } = trackingEntry(id, read(unixSecondsSchema, order.update_time) ?? 0, hint);
  return [{ id, version, payload }];
}
