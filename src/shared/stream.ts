/**
 * The event stream entry of CONTRACT §4: what ingest and reconcile XADD and the consumer reads.
 * Every field is a string on the wire; `decodeStreamEntry` validates and types it.
 */
import { z } from 'zod';

import { AppError } from './errors.js';

export const PLATFORMS = ['tiktok', 'shopee'] as const;
export type Platform = (typeof PLATFORMS)[number];

export const ENTITY_KINDS = ['order', 'return', 'product', 'shop'] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

export const EVENT_SOURCES = ['webhook', 'reconcile', 'replay'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

export const STREAM_ENTRY_VERSION = '1';

/** A stream entry, typed. `version` is the marketplace update_time in unix seconds (0 if unknown). */
export interface StreamEvent {
  platform: Platform;
  shop_id: string;
  kind: EntityKind;
  entity_id: string;
  version: number;
  event_id: string;
  event_type: string;
  source: EventSource;
  /** unix ms */
  received_at: number;
  /** The raw webhook body; "{}" for reconcile. */
  payload: string;
}

const unsignedInteger = z
  .string()
  .regex(/^\d{1,16}$/, 'must be a non-negative integer')
  .transform(Number);

const streamEntrySchema = z.object({
  v: z.literal(STREAM_ENTRY_VERSION),
  platform: z.enum(PLATFORMS),
  shop_id: z.string().min(1),
  kind: z.enum(ENTITY_KINDS),
  // A shop-level event (deauthorization) names the shop itself.
  entity_id: z.string().min(1),
  version: unsignedInteger,
  event_id: z.string().min(1),
  event_type: z.string(),
  source: z.enum(EVENT_SOURCES),
  received_at: unsignedInteger,
  payload: z.string(),
});

/** Field/value pairs for XADD, in CONTRACT §4 order. */
export function encodeStreamEntry(event: StreamEvent): string[] {
  return [
    'v',
    STREAM_ENTRY_VERSION,
    'platform',
    event.platform,
    'shop_id',
    event.shop_id,
    'kind',
    event.kind,
    'entity_id',
    event.entity_id,
    'version',
    String(event.version),
    'event_id',
    event.event_id,
    'event_type',
    event.event_type,
    'source',
    event.source,
    'received_at',
    String(event.received_at),
    'payload',
    event.payload,
  ];
}

/** Turns XRANGE/XREADGROUP's flat [field, value, …] list into an object (last value wins). */
export function fieldsToRecord(fields: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
  return record;
}

/** Validates an entry read from the stream. Throws ERR_STREAM_ENTRY (not retryable) when malformed. */
export function decodeStreamEntry(fields: readonly string[] | Record<string, string>): StreamEvent {
  const record = Array.isArray(fields) ? fieldsToRecord(fields) : (fields as Record<string, string>);
  const parsed = streamEntrySchema.safeParse(record);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'entry'} ${i.message}`).join('; ');
    throw new AppError('ERR_STREAM_ENTRY', `malformed stream entry: ${problems}`);
  }
  const { v: _v, ...event } = parsed.data;
  return event;
}

/** Extra fields of a dead-letter entry (CONTRACT §4), added to the original entry's fields. */
export interface DeadLetterInfo {
  original_id: string;
  deliveries: number;
  error_code: string;
  error_message: string;
  /** unix ms */
  dead_at: number;
}

export function encodeDeadLetterInfo(info: DeadLetterInfo): string[] {
  return [
    'original_id',
    info.original_id,
    'deliveries',
    String(info.deliveries),
    'error_code',
    info.error_code,
    'error_message',
    info.error_message,
    'dead_at',
    String(info.dead_at),
  ];
}

/** A change notification on CHANGES_STREAM_KEY (CONTRACT §4). */
export interface ChangeNotification {
  platform: Platform;
  shop_id: string;
  kind: Exclude<EntityKind, 'shop'>;
  entity_id: string;
  version: number;
  change: 'inserted' | 'updated';
  /** unix ms */
  at: number;
}

export function encodeChangeNotification(change: ChangeNotification): string[] {
  return [
    'platform',
    change.platform,
    'shop_id',
    change.shop_id,
    'kind',
    change.kind,
    'entity_id',
    change.entity_id,
    'version',
    String(change.version),
    'change',
    change.change,
    'at',
    String(change.at),
  ];
}
