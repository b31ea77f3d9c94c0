/**
 * Time windows in the configured zone, pure and DST-safe: a shop's scheduled window (from where
 * its last successful run ended, or today) and one window per calendar day for backfills. All
 * windows are half-open: [from, to).
 */

export interface TimeWindow {
  from: Date;
  to: Date;
}

export interface DayWindow extends TimeWindow {
  /** The calendar day in the zone, YYYY-MM-DD. */
  day: string;
  /** The window reaches the day's end; false for today's part up to now, which must not be checkpointed. */
  complete: boolean;
}

const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Offset of `timeZone` from UTC at `instant`, in minutes (e.g. +420 for Asia/Ho_Chi_Minh). */
export function zoneOffsetMinutes(instant: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(
    instant,
  );
  const name = parts.find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  if (!match) return 0; // "GMT" alone means UTC
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}

/** The calendar day (YYYY-MM-DD) of `instant` in `timeZone`. */
export function dayOf(instant: Date, timeZone: string): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(instant);
}

/** The instant a calendar day starts in `timeZone`. */
export function startOfDay(day: string, timeZone: string): Date {
  const match = DAY_PATTERN.exec(day);
  if (!match) throw new RangeError(`not a YYYY-MM-DD day: ${day}`);
  const utcMidnight = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  // Two passes settle the offset even when midnight is near a DST change.
  let guess = utcMidnight - zoneOffsetMinutes(new Date(utcMidnight), timeZone) * 60_000;
  guess = utcMidnight - zoneOffsetMinutes(new Date(guess), timeZone) * 60_000;
  return new Date(guess);
}

export function isValidDay(day: string): boolean {
  const match = DAY_PATTERN.exec(day);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toISOString().slice(0, 10) === day;
}

export function nextDay(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** Today's window: from the start of today minus `overlapMinutes`, up to `now`. */
export function todayWindow(now: Date, timeZone: string, overlapMinutes: number): TimeWindow {
  const start = startOfDay(dayOf(now, timeZone), timeZone);
  return { from: new Date(start.getTime() - overlapMinutes * 60_000), to: now };
}

/** One window per calendar day from `firstDay` to `lastDay` inclusive; the last ends at `now` at the latest. */
export function dayWindows(firstDay: string, lastDay: string, timeZone: string, now: Date): DayWindow[] {
  const windows: DayWindow[] = [];
  for (let day = firstDay; day <= lastDay; day = nextDay(day)) {
    const from = startOfDay(day, timeZone);
    if (from >= now) break;
    const end = startOfDay(nextDay(day), timeZone);
    windows.push(
      end > now ? { day, from, to: now, complete: false } : { day, from, to: end, complete: true },
    );
  }
  return windows;
}

export interface ScheduledWindowInput {
  now: Date;
  timeZone: string;
  overlapMinutes: number;
  maxGapHours: number;
  /** Where the shop's last successful scheduled window ended; undefined if it never had one. */
  lastEnd: Date | undefined;
}

/**
 * A shop's scheduled window. `uncovered` is what no run listed and this one will not either (a
 * backfill is advised); `from: null` means "everything before", for a shop never reconciled.
 */
export interface ScheduledWindow {
  window: TimeWindow;
  uncovered: { from: Date | null; to: Date } | null;
}

/**
 * From where the shop's last successful run ended, minus the overlap (changes the marketplace
 * indexes late), up to now: consecutive runs leave no gap whatever the schedule. Without a last
 * success, or after a gap longer than `maxGapHours` (one listing must stay a bounded amount of
 * work), the window is today and the range before it is reported as uncovered.
 */
export function scheduledWindow(input: ScheduledWindowInput): ScheduledWindow {
  const { now, lastEnd } = input;
  const today = todayWindow(now, input.timeZone, input.overlapMinutes);
  if (!lastEnd) return { window: today, uncovered: { from: null, to: today.from } };
  if (now.getTime() - lastEnd.getTime() > input.maxGapHours * 3_600_000) {
    return { window: today, uncovered: lastEnd < today.from ? { from: lastEnd, to: today.from } : null };
  }
  // A last end after now (the clock went back) still yields a window ending now.
  const from = Math.min(lastEnd.getTime(), now.getTime()) - input.overlapMinutes * 60_000;
  return { window: { from: new Date(from), to: now }, uncovered: null };
}
