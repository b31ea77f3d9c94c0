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
  return {
    ...optional('order_status', read(text, hint.order_status)),
    ...optional('tracking_number', read(text, hint.tracking_number)),
    ...(packages.length > 0 ? { packages } : {}),
  };
}

const optional = <K extends string>(name: K, value: string | null) =>
  (value === null ? {} : { [name]: value }) as Partial<Record<K, string>>;

/**
 * The tracking entry an order on its way calls for: version 0 (unknown, so the worker fetches it
 * unless the stored tracking is final), with the hint as payload.
 */
export function trackingFollowUp(order: OrderDocument, hint: TrackingHint): FollowUp {
  return { kind: 'tracking', entity_id: order.order_id, version: 0, payload: JSON.stringify(hint) };
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
