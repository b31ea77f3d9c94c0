import { describe, expect, it } from 'vitest';

import {
  backoffDelay,
  createRetryPolicy,
  decide,
  RETRY_MAX_DELAY_MS,
} from '../../src/consumer/retry-policy.js';
import { AppError } from '../../src/shared/errors.js';
import { decodeRetryState, withRetryState, type RetryState } from '../../src/shared/stream.js';

const HOUR = 3_600_000;
const policy = createRetryPolicy({ retryWindowMs: 24 * HOUR, random: () => 0.5 });
const fresh: RetryState = decodeRetryState(['v', '1'], '1-0');
const NOW = 1_800_000_000_000;

describe('retry policy', () => {
  it('acks what was written', () => {
    expect(decide({ action: 'ack' }, fresh, NOW, policy)).toEqual({ action: 'ack' });
  });

  it('dead-letters a non-retryable error at once, whatever its cause', () => {
    const error = new AppError('ERR_SHOP_UNKNOWN', 'no such shop');
    for (const cause of ['entry', 'dependency', 'storage'] as const) {
      expect(decide({ action: 'fail', error, cause }, fresh, NOW, policy)).toEqual({ action: 'dead', error });
    }
  });

  it('holds on a storage outage and spends nothing', () => {
    const error = new AppError('ERR_MONGO_UNAVAILABLE', 'down');
    const state = { ...fresh, attempts: 3, first_failed_at: NOW - 30 * HOUR };
    expect(decide({ action: 'fail', error, cause: 'storage' }, state, NOW, policy)).toEqual({
      action: 'hold',
      error,
    });
  });

  it('defers on an unavailable dependency: deferrals grow, attempts and the window clock do not', () => {
    const error = new AppError('ERR_MARKETPLACE_RATE_LIMITED', '429');
    const state = { ...fresh, attempts: 2, first_failed_at: NOW - 30 * HOUR, deferrals: 4 };
    const decision = decide({ action: 'fail', error, cause: 'dependency' }, state, NOW, policy);
    expect(decision).toMatchObject({
      action: 'defer',
      state: {
        attempts: 2,
        first_failed_at: NOW - 30 * HOUR,
        deferrals: 5,
        last_error_code: 'ERR_MARKETPLACE_RATE_LIMITED',
      },
    });
    expect((decision as { dueAt: number }).dueAt).toBe(NOW + policy.deferDelayMs(5));
  });

  it("retries the entry's own failure with a growing delay, starting its window clock once", () => {
    const error = new AppError('ERR_ENTITY_NOT_FOUND', 'not yet');
    const first = decide({ action: 'fail', error, cause: 'entry' }, fresh, NOW, policy);
    expect(first).toMatchObject({
      action: 'retry',
      state: { attempts: 1, first_failed_at: NOW, deferrals: 0 },
    });
    const second = decide(
      { action: 'fail', error, cause: 'entry' },
      (first as { state: RetryState }).state,
      NOW + 5_000,
      policy,
    );
    expect(second).toMatchObject({ action: 'retry', state: { attempts: 2, first_failed_at: NOW } });
    expect((second as { dueAt: number }).dueAt - (NOW + 5_000)).toBeGreaterThan(
      (first as { dueAt: number }).dueAt - NOW,
    );
  });

  it('dead-letters with the last error once the entry has failed for RETRY_WINDOW_MS', () => {
    const error = new AppError('ERR_MARKETPLACE_TRANSIENT', 'HTTP 500 for this id');
    const state = { ...fresh, attempts: 40, first_failed_at: NOW - 24 * HOUR };
    const decision = decide({ action: 'fail', error, cause: 'entry' }, state, NOW, policy);
    expect(decision).toMatchObject({
      action: 'dead',
      error: { code: 'ERR_MARKETPLACE_TRANSIENT', retryable: false },
    });
    expect((decision as { error: AppError }).error.message).toMatch(
      /gave up after 41 attempts over 24 h 0 min/,
    );
    const justBefore = decide({ action: 'fail', error, cause: 'entry' }, state, NOW - 1, policy);
    expect(justBefore.action).toBe('retry');
  });

  it('backs off exponentially with jitter inside [d/2, d), capped', () => {
    expect(backoffDelay(1, RETRY_MAX_DELAY_MS, () => 0)).toBe(500);
    expect(backoffDelay(1, RETRY_MAX_DELAY_MS, () => 0.999)).toBe(999);
    expect(backoffDelay(4, RETRY_MAX_DELAY_MS, () => 0)).toBe(4_000);
    expect(backoffDelay(60, RETRY_MAX_DELAY_MS, () => 0.999)).toBeLessThan(RETRY_MAX_DELAY_MS);
    expect(backoffDelay(60, RETRY_MAX_DELAY_MS, () => 0)).toBe(RETRY_MAX_DELAY_MS / 2);
  });
});

describe('retry state on stream entries', () => {
  it('round-trips through the fields and replaces an older state', () => {
    const fields = ['v', '1', 'platform', 'tiktok', 'payload', '{}'];
    const state: RetryState = {
      retry_of: '5-0',
      attempts: 2,
      first_failed_at: NOW,
      deferrals: 1,
      last_error_code: 'ERR_X',
      last_error_message: 'x',
    };
    const once = withRetryState(fields, state);
    const twice = withRetryState(once, { ...state, attempts: 3 });
    expect(decodeRetryState(twice, '9-0')).toEqual({ ...state, attempts: 3 });
    expect(twice.filter((f) => f === 'attempts')).toHaveLength(1);
    expect(twice.slice(0, 6)).toEqual(fields);
  });

  it('starts a first copy from scratch, naming itself as the first', () => {
    expect(decodeRetryState(['v', '1'], '7-1')).toMatchObject({
      retry_of: '7-1',
      attempts: 0,
      first_failed_at: 0,
    });
  });
});
