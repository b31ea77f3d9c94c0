/**
 * `content_hash` (CONTRACT §5, v2): what a document says, independent of when and how it was
 * synced. Two fetches of one entity at the same marketplace `version` can differ (a change made
 * in the same second, a tracking number added without a new update_time); comparing hashes
 * tells a real change from a refetch of the same content, which then writes and notifies nothing.
 *
 * SHA-256 (hex) over a canonical JSON of the document: keys sorted at every level, Decimal128 as
 * its exact digits, dates as ISO strings, `undefined` left out — so the same content always gives
 * the same hash, whatever the order the mapper built it in.
 */
import { createHash } from 'node:crypto';
import { Decimal128 } from 'mongodb';

/** Sync metadata: when, how and from where the document was written, not what it says. */
export const SYNC_METADATA_FIELDS: ReadonlySet<string> = new Set([
  '_id',
  'content_hash',
  'details_fetched_at',
  'details_fetched_ms',
  'synced_at',
  'sync_source',
]);

export function contentHash(document: object): string {
  const content: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(document)) {
    if (!SYNC_METADATA_FIELDS.has(field)) content[field] = value;
  }
  return createHash('sha256').update(canonicalJson(content)).digest('hex');
}

/** JSON with sorted keys; BSON values written by their exact value. */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Decimal128) return JSON.stringify({ $numberDecimal: value.toString() });
  if (value instanceof Date) return JSON.stringify({ $date: value.toISOString() });
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  return JSON.stringify(value);
}
