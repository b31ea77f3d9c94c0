/**
 * What every platform's dto.ts needs to map API objects to the canonical documents of
 * CONTRACT §5: lenient field readers, the validation report, the id check and the BaseDocument
 * fields. Kept here so that all platforms report problems and fill metadata the same way; what
 * differs by platform (id schemas, which times count as unset) stays with the caller.
 */
import type { z } from 'zod';

import { idempotencyKey, type BaseDocument } from '../shared/documents.js';
import { AppError } from '../shared/errors.js';
import type { Platform } from '../shared/stream.js';
import { dateToIsoWithOffset, toIsoWithOffset } from '../shared/time.js';
import type { DetailKind, MappingContext } from './types.js';

// Lenient readers: a field that does not fit its schema reads as null (the schema reports why).

export type Json = Record<string, unknown>;

export const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const record = (value: unknown): Json => (isRecord(value) ? value : {});

export function read<T>(schema: z.ZodType<T>, value: unknown): T | null {
  const result = schema.safeParse(value);
  return result.success ? result.data : null;
}

export const readArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** "payment.total_amount: expected a decimal string" */
export function describeValidation(error: z.ZodError | undefined): string[] {
  if (!error) return [];
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(record)';
    return `${path}: ${issue.message.replace(/^Invalid input: /, '')}`;
  });
}

export interface MapInput {
  shopId: string;
  context: MappingContext;
}

/** The record's id read with `schema`; without one it cannot be matched to a document (ERR_MAPPING). */
export function requireId<T>(
  platform: Platform,
  kind: DetailKind,
  field: string,
  schema: z.ZodType<T>,
  raw: unknown,
): T {
  const value = isRecord(raw) ? read(schema, raw[field]) : null;
  if (value === null) {
    throw new AppError('ERR_MAPPING', `${platform} ${kind} has no ${field}: cannot be matched to a document`);
  }
  return value;
}

/** Unix seconds as read by the platform's mapper; null when absent or unusable. */
export interface RecordTimes {
  created: number | null;
  updated: number | null;
}

/**
 * The BaseDocument fields of a mapped record. `error` is the record's schema failure, if any:
 * it makes the document invalid, one line per problem. The version is update_time (0 without one).
 */
export function baseDocument(
  platform: Platform,
  input: MapInput,
  entityId: string,
  raw: Json,
  error: z.ZodError | undefined,
  { created, updated }: RecordTimes,
): BaseDocument {
  const { context } = input;
  const offset = context.timezoneOffset;
  const validationErrors = describeValidation(error);
  return {
    platform,
    shop_id: input.shopId,
    version: updated ?? 0,
    idempotency_key: idempotencyKey(platform, input.shopId, entityId),
    create_time: created === null ? null : toIsoWithOffset(created, offset),
    update_time: updated === null ? null : toIsoWithOffset(updated, offset),
    details_fetched_at: dateToIsoWithOffset(context.fetchedAt, offset),
    details_fetched_ms: context.fetchedAt.getTime(),
    synced_at: dateToIsoWithOffset(context.syncedAt, offset),
    sync_source: context.source,
    is_valid: validationErrors.length === 0,
    validation_errors: validationErrors,
    raw,
  };
}

/** The logical-delete fields of a product (ProductDocument.is_deleted, deleted_at). */
export interface LogicalDelete {
  is_deleted: boolean;
  deleted_at: string | null;
}

/**
 * A product is deleted while its status is one of `deletedStatuses`; `deleted_at` is the
 * deleted version's update_time (ISO), as the marketplaces send no deletion time of their own.
 * Pure: a later status outside the set maps back to `{is_deleted: false, deleted_at: null}`.
 */
export function logicalDelete(
  status: string | null,
  deletedStatuses: ReadonlySet<string>,
  updateTime: string | null,
): LogicalDelete {
  const deleted = status !== null && deletedStatuses.has(status);
  return { is_deleted: deleted, deleted_at: deleted ? updateTime : null };
}

/** A non-negative integer count (stock); null when absent or not one. */
export function readCount(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}
