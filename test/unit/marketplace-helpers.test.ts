/**
 * Pure helpers the adapters rest on: time and money formatting, Shopee's 15-day windows,
 * batching, and the registry of enabled platforms.
 */
import { Decimal128 } from 'mongodb';
import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/shared/config.js';
import { chunk, mapConcurrent } from '../../src/shared/concurrency.js';
import {
  closeAdapterRegistry,
  createAdapterRegistry,
  enabledPlatforms,
} from '../../src/marketplaces/registry.js';
import { timeWindows } from '../../src/marketplaces/shopee/client.js';
import { decimalFromNumber, decimalFromString, decimalStringFromNumber } from '../../src/shared/money.js';
import { dateToIsoWithOffset, offsetMinutes, toIsoWithOffset } from '../../src/shared/time.js';
import { silentLogger } from '../support/context.js';
import { memoryTokenStore, unlimitedLimiter } from '../support/fake-marketplace/deps.js';

describe('toIsoWithOffset', () => {
  it('writes unix seconds as wall-clock time at the offset', () => {
    expect(toIsoWithOffset(1_795_231_800, '+07:00')).toBe('2026-11-21T10:30:00+07:00');
    expect(toIsoWithOffset(1_795_231_800, '+00:00')).toBe('2026-11-21T03:30:00+00:00');
    expect(toIsoWithOffset(1_795_231_800, '-09:30')).toBe('2026-11-20T18:00:00-09:30');
    expect(toIsoWithOffset(0, '+07:00')).toBe('1970-01-01T07:00:00+07:00');
  });

  it('crosses day and year boundaries with the offset', () => {
    expect(toIsoWithOffset(Date.UTC(2026, 11, 31, 18, 0, 0) / 1000, '+07:00')).toBe(
      '2027-01-01T01:00:00+07:00',
    );
  });

  it('round-trips through Date.parse to the same instant', () => {
    const iso = toIsoWithOffset(1_795_235_400, '+07:00');
    expect(Date.parse(iso) / 1000).toBe(1_795_235_400);
  });

  it('writes Dates at second precision', () => {
    expect(dateToIsoWithOffset(new Date('2026-11-21T03:30:59.999Z'), '+07:00')).toBe(
      '2026-11-21T10:30:59+07:00',
    );
  });

  it('refuses a malformed offset', () => {
    expect(offsetMinutes('+05:45')).toBe(345);
    expect(() => toIsoWithOffset(0, '7')).toThrow(RangeError);
  });
});

describe('money', () => {
  it('keeps the digits of a decimal string', () => {
    expect(decimalFromString('35.97').toString()).toBe('35.97');
    expect(decimalFromString('0.1').toString()).toBe('0.1');
    expect(decimalFromString('-12.50').toString()).toBe('-12.50');
    expect(decimalFromString('150000').toString()).toBe('150000');
  });

  it('refuses what is not a plain decimal', () => {
    for (const bad of ['', '1e5', '12,50', ' 1', '.5', '1.', 'NaN'])
      expect(() => decimalFromString(bad)).toThrow(RangeError);
    expect(() => decimalFromString('1'.repeat(35))).toThrow();
  });

  it('writes numbers through their shortest decimal string, never float arithmetic', () => {
    expect(decimalStringFromNumber(35.97)).toBe('35.97');
    expect(decimalStringFromNumber(0.1)).toBe('0.1');
    expect(decimalStringFromNumber(150_000)).toBe('150000');
    expect(decimalStringFromNumber(1e-7)).toBe('0.0000001');
    expect(decimalStringFromNumber(1.5e-7)).toBe('0.00000015');
    expect(decimalStringFromNumber(-2.5e-8)).toBe('-0.000000025');
    expect(decimalStringFromNumber(1e21)).toBe('1000000000000000000000');
    expect(decimalStringFromNumber(1.25e22)).toBe('12500000000000000000000');
    expect(() => decimalStringFromNumber(Number.NaN)).toThrow(RangeError);
    expect(decimalFromNumber(35.97)).toEqual(Decimal128.fromString('35.97'));
  });
});

describe('Shopee time windows', () => {
  const DAY = 86_400;
  const from = new Date('2026-10-01T00:00:00Z');
  const start = from.getTime() / 1000;

  it('splits 40 days into 15 + 15 + 10, inclusive ends, no overlap, no gap', () => {
    const windows = timeWindows(from, new Date(from.getTime() + 40 * DAY * 1000));
    expect(windows).toEqual([
      [start, start + 15 * DAY - 1],
      [start + 15 * DAY, start + 30 * DAY - 1],
      [start + 30 * DAY, start + 40 * DAY - 1],
    ]);
  });

  it('keeps a short range whole and an empty range empty', () => {
    expect(timeWindows(from, new Date(from.getTime() + 3_600_000))).toEqual([[start, start + 3_599]]);
    expect(timeWindows(from, from)).toEqual([]);
  });

  it('covers sub-second bounds: from rounds down, to rounds up', () => {
    expect(timeWindows(new Date(from.getTime() + 500), new Date(from.getTime() + 1_500))).toEqual([
      [start, start + 1],
    ]);
  });
});

describe('batching', () => {
  it('chunks ids', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 50)).toEqual([]);
  });

  it('runs at most `limit` at once and keeps input order', async () => {
    let running = 0;
    let peak = 0;
    const results = await mapConcurrent([30, 10, 20, 5, 15], 2, async (ms, index) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, ms));
      running -= 1;
      return index;
    });
    expect(results).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
  });

  it('rejects with the first failure and starts nothing more', async () => {
    const started: number[] = [];
    await expect(
      mapConcurrent([1, 2, 3, 4], 1, (n) => {
        started.push(n);
        return n === 2 ? Promise.reject(new Error('boom')) : Promise.resolve(n);
      }),
    ).rejects.toThrow('boom');
    expect(started).toEqual([1, 2]);
  });
});

describe('adapter registry', () => {
  const deps = { limiter: unlimitedLimiter(), tokens: memoryTokenStore(), logger: silentLogger };

  it('has an adapter for each enabled platform only', async () => {
    const tiktokOnly = createAdapterRegistry({
      ...deps,
      config: loadConfig({ TIKTOK_APP_KEY: 'k', TIKTOK_APP_SECRET: 's' }),
    });
    expect(enabledPlatforms(tiktokOnly)).toEqual(['tiktok']);
    expect(tiktokOnly.shopee).toBeUndefined();
    expect(tiktokOnly.tiktok?.webhook.platform).toBe('tiktok');

    const both = createAdapterRegistry({
      ...deps,
      config: loadConfig({
        TIKTOK_APP_KEY: 'k',
        TIKTOK_APP_SECRET: 's',
        SHOPEE_PARTNER_ID: '2001234',
        SHOPEE_PARTNER_KEY: 'pk',
      }),
    });
    expect(enabledPlatforms(both).sort()).toEqual(['shopee', 'tiktok']);
    expect(both.shopee && 'fetchLostWebhooks' in both.shopee).toBe(true);

    const none = createAdapterRegistry({ ...deps, config: loadConfig({}) });
    expect(enabledPlatforms(none)).toEqual([]);

    await closeAdapterRegistry(tiktokOnly);
    await closeAdapterRegistry(both);
    await closeAdapterRegistry(both); // idempotent
  });
});
