/**
 * The event stream entry of CONTRACT §4: what ingest and reconcile XADD and the consumer reads.
 * Every field is a string on the wire; `decodeStreamEntry` validates and types it.
 */
import { z } from 'zod';

import { AppError } from './errors.js';

export const PLATFORMS = ['tiktok', 'shopee'] as const;
export type Platform = (typeof PLATFORMS)[number];

/**
 * What a stream entry is about. `settlement` (money released to the seller) has no webhook: only
 * reconcile announces it. `tracking` (carrier events of an order) is announced by the worker when an
 * order it wrote is on its way, and by reconcile for orders not delivered yet.
 */
export const ENTITY_KINDS = ['order', 'return', 'product', 'settlement', 'tracking', 'shop'] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

/** Kinds that have marketplace details and a collection. */
export type DetailKind = Exclude<EntityKind, 'shop'>;

export const DETAIL_KINDS = ENTITY_KINDS.filter((kind): kind is DetailKind => kind !== 'shop');

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

/**
 * Retry bookkeeping a re-queued entry carries beside CONTRACT §4's fields. A retry is the same
 * event appended again (the worker acks the failed copy and moves it to the retry schedule), so
 * what the entry has been through travels with it; a first delivery has none of these fields.
 */
export interface RetryState {
  /** Stream id of the entry's first copy (for tracing; stays the same across retries). */
  retry_of: string;
  /** Real attempts that failed for this entry's own reasons: they spend RETRY_WINDOW_MS. */
  attempts: number;
  /** unix ms of the first such failure; 0 while there was none. */
  first_failed_at: number;
  /** Consecutive times it waited for an unavailable dependency (its marketplace, its shop's record). */
  deferrals: number;
  last_error_code: string;
  last_error_message: string;
}

const RETRY_FIELDS = [
  'retry_of',
  'attempts',
  'first_failed_at',
  'deferrals',
  'last_error_code',
  'last_error_message',
] as const satisfies readonly (keyof RetryState)[];

/** The retry state of an entry; a first copy (no retry fields) starts from scratch. */
export function decodeRetryState(fields: readonly string[], streamId: string): RetryState {
  const record = fieldsToRecord(fields);
  const count = (value: string | undefined) => (value && /^\d{1,16}$/.test(value) ? Number(value) : 0);
  return {
    retry_of: record.retry_of || streamId,
    attempts: count(record.attempts),
    first_failed_at: count(record.first_failed_at),
    deferrals: count(record.deferrals),
    last_error_code: record.last_error_code ?? '',
    last_error_message: record.last_error_message ?? '',
  };
}

/** True when the entry is a retried copy (it carries retry fields). */
export function isRetriedCopy(fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'retry_of') return true;
  return false;
}

/** The entry's fields with its retry state replaced (other fields kept, in order). */
export function withRetryState(fields: readonly string[], state: RetryState): string[] {
  const retryFields = new Set<string>(RETRY_FIELDS);
  const kept: string[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (!retryFields.has(fields[i]!)) kept.push(fields[i]!, fields[i + 1]!);
  }
  for (const name of RETRY_FIELDS) kept.push(name, String(state[name]));
  return kept;
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
