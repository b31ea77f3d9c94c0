/**
 * What the tracking kind shares across platforms: how an order announces its tracking (the
 * follow-up and the hint it carries), and the order of events (newest first).
 *
 * Tracking is fetched per order, one call each (neither platform has a batch form,
 * MARKETPLACES-MORE.md §3). The order knows what the call needs — TikTok's tracking answer has
 * neither the order's status nor a package; Shopee needs the package numbers of a split order —
 * so the order's follow-up carries it as a hint (the stream entry's payload).
 */
import { z } from 'zod';

import { unixSecondsSchema } from '../shared/time.js';

import type { OrderDocument } from '../shared/documents.js';
import { isRecord, read, readArray, record } from './mapping.js';
import type { FollowUp } from './types.js';

/** What an order tells its tracking fetch (all optional: an entry may carry none). */
export interface TrackingHint {
  /** The order's status when it was written (TikTok: the tracking status and its finality). */
  order_status?: string;
  tracking_number?: string;
  /** Shopee: the order's package numbers (one tracking call and document each). */
  packages?: string[];
  /**
   * The order's version (update_time, unix s) that announced the fetch: a tracking document is at
   * least that version (trackingVersion), so the next entry for the same order version — the
   * follow-up of a reconciled order beside reconcile's own tracking entry — costs no call.
   */
  order_version?: number;
}

const text = z.string().min(1);

/** The hint of an entry's payload; `{}` when it has none or it cannot be read. */
export function readTrackingHint(payload: string | undefined): TrackingHint {
  if (payload === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return {};
  }
  const hint = record(parsed);
  const packages = readArray(hint.packages)
    .map((value) => read(text, value))
    .filter((value): value is string => value !== null);
  const orderVersion = read(unixSecondsSchema, hint.order_version);
  return {
    ...optional('order_status', read(text, hint.order_status)),
    ...optional('tracking_number', read(text, hint.tracking_number)),
    ...(packages.length > 0 ? { packages } : {}),
    ...(orderVersion === null ? {} : { order_version: orderVersion }),
  };
}

const optional = <K extends string>(name: K, value: string | null) =>
  (value === null ? {} : { [name]: value }) as Partial<Record<K, string>>;

/**
 * The tracking entry an order on its way calls for, at the order's version (see trackingVersion),
 * with the hint as payload.
 */
export function trackingFollowUp(order: OrderDocument, hint: TrackingHint): FollowUp {
  return trackingEntry(order.order_id, order.version, hint);
}

/**
 * A tracking entry announced by an order at `orderVersion` (0: unknown, always fetched unless
 * final). Used for follow-ups and for reconcile's listing of orders on their way alike.
 */
export function trackingEntry(
  orderId: string,
  orderVersion: number,
  hint: TrackingHint,
): FollowUp & { kind: 'tracking'; payload: string } {
  const withVersion = orderVersion > 0 ? { ...hint, order_version: orderVersion } : hint;
  return {
    kind: 'tracking',
    entity_id: orderId,
    version: orderVersion,
    payload: JSON.stringify(withVersion),
  };
}

/**
 * A tracking document's version: its newest event's time, and at least the version of the order
 * that announced the fetch. The fetch happened after that order update, so a later entry at that
 * order version announces nothing the document lacks; an order update after it does.
 */
export function trackingVersion(newestEvent: number | null, raw: Record<string, unknown>): number | null {
  const orderVersion = read(unixSecondsSchema, raw.order_version);
  if (orderVersion === null) return newestEvent;
  return Math.max(newestEvent ?? 0, orderVersion);
}

/** The order's package numbers from its raw object: `field` of each item of `list`. */
export function packageNumbers(raw: unknown, list: string, field: string): string[] {
  const object = isRecord(raw) ? raw : {};
  return [
    ...new Set(
      readArray(object[list])
        .map((item) => read(text, record(item)[field]))
        .filter((id): id is string => id !== null),
    ),
  ];
}

/**
 * Events newest first. Events of the same time keep the marketplace's order reversed: both list
 * oldest first, so of two scans in the same second the later listed is the newer.
 */
export function newestFirst<T>(events: readonly T[], timeOf: (event: T) => number | null): T[] {
  return [...events].reverse().sort((a, b) => (timeOf(b) ?? -1) - (timeOf(a) ?? -1));
}
