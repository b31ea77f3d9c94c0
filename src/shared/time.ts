/**
 * Timestamps as stored (CONTRACT §5): ISO-8601 at second precision with the configured UTC
 * offset, e.g. `2026-11-21T10:30:00+07:00`. Marketplaces send unix seconds; we never depend on
 * the host's time zone.
 */
import { z } from 'zod';

const OFFSET = /^([+-])(\d{2}):(\d{2})$/;

/** "+07:00" -> 420, "-03:30" -> -210. Throws RangeError for anything else (config validates it first). */
export function offsetMinutes(offset: string): number {
  const match = OFFSET.exec(offset);
  if (!match) throw new RangeError(`not a UTC offset: ${JSON.stringify(offset)}`);
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** A point in time written as local time at `offset`: toIsoWithOffset(1795231800, '+07:00') = 2026-11-21T10:30:00+07:00. */
export function toIsoWithOffset(unixSeconds: number, offset: string): string {
  if (!Number.isFinite(unixSeconds)) throw new RangeError(`not a unix time: ${unixSeconds}`);
  // Shift the instant by the offset and read the UTC fields: that is the wall clock at `offset`.
  const local = new Date((Math.floor(unixSeconds) + offsetMinutes(offset) * 60) * 1000);
  if (Number.isNaN(local.getTime())) throw new RangeError(`unix time out of range: ${unixSeconds}`);
  return (
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}${offset}`
  );
}

export function dateToIsoWithOffset(date: Date, offset: string): string {
  return toIsoWithOffset(toUnixSeconds(date), offset);
}

/** Whole seconds, rounded down. */
export function toUnixSeconds(date: Date | number): number {
  return Math.floor((typeof date === 'number' ? date : date.getTime()) / 1000);
}

/**
 * A marketplace unix time in seconds. Both platforms send integers; a digit string is accepted
 * too, since some payloads quote their numbers. Millisecond values (13 digits) are refused: they
 * would silently land in the year 50000.
 */
export const unixSecondsSchema = z.union(
  [
    z.number().int().nonnegative().max(99_999_999_999),
    z
      .string()
      .regex(/^\d{1,11}$/)
      .transform(Number),
  ],
  { error: 'expected unix seconds' },
);

/** A date, or a date-time with a required offset (no local times: the zone would be guessed). */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** Parses an ISO-8601 date or date-time with offset; undefined when it is not one. */
export function parseIsoDate(value: string): Date | undefined {
  if (!ISO_DATE_TIME.test(value)) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return undefined;
  // Reject dates the parser rolls over (2026-02-30 would become March 2).
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) return undefined;
  return date;
}
