import { describe, expect, it } from 'vitest';

import {
  dayOf,
  dayWindows,
  isValidDay,
  scheduledWindow,
  startOfDay,
  todayWindow,
  zoneOffsetMinutes,
} from '../../src/reconcile/window.js';

const HCM = 'Asia/Ho_Chi_Minh';

describe('reconcile windows', () => {
  it('knows the zone offset', () => {
    expect(zoneOffsetMinutes(new Date('2026-11-21T00:00:00Z'), HCM)).toBe(420);
    expect(zoneOffsetMinutes(new Date('2026-11-21T00:00:00Z'), 'UTC')).toBe(0);
    expect(zoneOffsetMinutes(new Date('2026-07-01T12:00:00Z'), 'America/New_York')).toBe(-240);
  });

  it('starts a day at local midnight', () => {
    expect(startOfDay('2026-11-21', HCM).toISOString()).toBe('2026-11-20T17:00:00.000Z');
    // New York: DST ends 2026-11-01; both sides of the change start at local midnight.
    expect(startOfDay('2026-11-01', 'America/New_York').toISOString()).toBe('2026-11-01T04:00:00.000Z');
    expect(startOfDay('2026-11-02', 'America/New_York').toISOString()).toBe('2026-11-02T05:00:00.000Z');
  });

  it('puts 23:30 yesterday and 00:30 today (+07:00) on the right side of today and the overlap', () => {
    const now = new Date('2026-11-21T10:00:00+07:00');
    const window = todayWindow(now, HCM, 60);
    expect(window.from.toISOString()).toBe('2026-11-20T16:00:00.000Z'); // 23:00 yesterday local
    expect(window.to).toBe(now);
    const lateYesterday = new Date('2026-11-20T23:30:00+07:00');
    const earlyToday = new Date('2026-11-21T00:30:00+07:00');
    expect(dayOf(lateYesterday, HCM)).toBe('2026-11-20');
    expect(dayOf(earlyToday, HCM)).toBe('2026-11-21');
    expect(lateYesterday >= window.from && lateYesterday < window.to).toBe(true); // caught by the overlap
    expect(earlyToday >= window.from && earlyToday < window.to).toBe(true);
    const noOverlap = todayWindow(now, HCM, 0);
    expect(lateYesterday >= noOverlap.from).toBe(false);
  });

  it('splits a date range into one window per local day, the last ending now', () => {
    const now = new Date('2026-11-21T10:00:00+07:00');
    const windows = dayWindows('2026-11-19', '2026-11-22', HCM, now);
    expect(windows.map((w) => w.day)).toEqual(['2026-11-19', '2026-11-20', '2026-11-21']);
    expect(windows[0]).toMatchObject({
      from: new Date('2026-11-19T00:00:00+07:00'),
      to: new Date('2026-11-20T00:00:00+07:00'),
    });
    expect(windows[2]?.to).toEqual(now);
  });

  it('issue 11 #4: only a day listed to its end is complete (checkpointable); today up to now is not', () => {
    const now = new Date('2026-11-21T10:00:00+07:00');
    const windows = dayWindows('2026-11-20', '2026-11-21', HCM, now);
    expect(windows.map((w) => [w.day, w.complete])).toEqual([
      ['2026-11-20', true],
      ['2026-11-21', false],
    ]);
    // At the very end of the day, the same day is whole.
    const atMidnight = dayWindows('2026-11-21', '2026-11-21', HCM, new Date('2026-11-22T00:00:00+07:00'));
    expect(atMidnight).toEqual([
      {
        day: '2026-11-21',
        from: new Date('2026-11-21T00:00:00+07:00'),
        to: new Date('2026-11-22T00:00:00+07:00'),
        complete: true,
      },
    ]);
  });

  it('validates days', () => {
    expect(isValidDay('2026-02-28')).toBe(true);
    expect(isValidDay('2026-02-30')).toBe(false);
    expect(isValidDay('21-11-2026')).toBe(false);
  });
});

describe('scheduled window of a shop', () => {
  const at = (iso: string) => new Date(iso);
  const base = { timeZone: HCM, overlapMinutes: 60, maxGapHours: 48 };

  it('issue 11 #3: starts where the last successful run ended, minus the overlap, across midnight', () => {
    // The 00:00 run after an 18:00 run lists 17:00-24:00 of the day before.
    const planned = scheduledWindow({
      ...base,
      now: at('2026-11-22T00:00:00+07:00'),
      lastEnd: at('2026-11-21T18:00:00+07:00'),
    });
    expect(planned).toEqual({
      window: { from: at('2026-11-21T17:00:00+07:00'), to: at('2026-11-22T00:00:00+07:00') },
      uncovered: null,
    });
    // A shop that failed twice (last success 36 h ago) is listed from there, still within the limit.
    const afterFailures = scheduledWindow({
      ...base,
      now: at('2026-11-22T06:00:00+07:00'),
      lastEnd: at('2026-11-20T18:00:00+07:00'),
    });
    expect(afterFailures.window.from).toEqual(at('2026-11-20T17:00:00+07:00'));
  });

  it('issue 11 #3: a first run, or a gap over RECONCILE_MAX_GAP_HOURS, lists today and names what was left out', () => {
    const now = at('2026-11-22T06:00:00+07:00');
    const today = { from: at('2026-11-21T23:00:00+07:00'), to: now };
    expect(scheduledWindow({ ...base, now, lastEnd: undefined })).toEqual({
      window: today,
      uncovered: { from: null, to: today.from },
    });
    const lastEnd = at('2026-11-19T12:00:00+07:00');
    expect(scheduledWindow({ ...base, now, lastEnd })).toEqual({
      window: today,
      uncovered: { from: lastEnd, to: today.from },
    });
    // With a small limit the gap can end inside today's window: nothing is left out then.
    expect(
      scheduledWindow({ ...base, maxGapHours: 2, now, lastEnd: at('2026-11-22T00:00:00+07:00') }),
    ).toEqual({ window: today, uncovered: null });
  });

  it('never ends before it starts when the last end is after now (the clock went back)', () => {
    const now = at('2026-11-22T06:00:00+07:00');
    const planned = scheduledWindow({ ...base, now, lastEnd: at('2026-11-22T06:30:00+07:00') });
    expect(planned.window).toEqual({ from: at('2026-11-22T05:00:00+07:00'), to: now });
  });
});

describe('backfill progress line', () => {
  it('shows shop-days done, enqueued, rate and ETA', async () => {
    const { formatProgress } = await import('../../src/reconcile/main.js');
    const line = formatProgress(
      {
        chunksDone: 5,
        chunksTotal: 20,
        enqueued: 1000,
        startedAt: new Date('2026-11-21T10:00:00Z'),
        chunk: 'tiktok:1 2026-11-05',
        chunkEnqueued: 200,
      },
      new Date('2026-11-21T10:00:10Z'),
    );
    expect(line).toBe('[######..................] 5/20 shop-days  1000 enqueued  100/s  ETA 30s');
  });
});
