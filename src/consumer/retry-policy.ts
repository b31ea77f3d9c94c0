/**
 * What happens to an entry after a batch, decided by the CAUSE of its failure (pure; the worker
 * applies the decision). The accounting follows bullmq's worker, which keeps "stalled" and
 * "failed" apart:
 *
 * | verdict                                                     | decision | what it spends |
 * |-------------------------------------------------------------|----------|----------------|
 * | written, or nothing to write                                | ack      | —              |
 * | non-retryable error of the entry itself                     | dead     | —              |
 * | MongoDB / Redis unavailable (`storage`)                     | hold     | nothing: the worker keeps the entry claimed, backs off and tries the same batch again |
 * | its marketplace or its shop's record unavailable (`dependency`: 429, 5xx/timeouts with no call to that shop succeeding, an unreadable shop) | defer | nothing: scheduled again with a growing delay |
 * | a retryable error of its own (`entry`: e.g. 500 for this id while the shop answers others, not found yet, stale details) | retry | one attempt; dead-lettered with its last error once it has failed for RETRY_WINDOW_MS |
 *
 * Deliveries that end without any verdict (the worker died or hung) are counted by the stream
 * itself and bounded by MAX_DELIVERIES in the worker; nothing here touches that count.
 */
import { AppError } from '../shared/errors.js';
import type { RetryState } from '../shared/stream.js';
import type { Verdict } from './process-batch.js';

export type Decision =
  | { action: 'ack' }
  | { action: 'dead'; error: AppError }
  | { action: 'hold'; error: AppError }
  /** Scheduled again at `dueAt` with the new retry state (`retry` spent an attempt, `defer` did not). */
  | { action: 'retry' | 'defer'; error: AppError; dueAt: number; state: RetryState };

export interface RetryPolicy {
  retryWindowMs: number;
  /** Delay before the next try after the entry's `attempts`-th own failure. */
  retryDelayMs(attempts: number): number;
  /** Delay before the next try after `deferrals` consecutive waits for a dependency. */
  deferDelayMs(deferrals: number): number;
}

export const RETRY_BASE_MS = 1_000;
export const RETRY_MAX_DELAY_MS = 10 * 60_000;
export const DEFER_MAX_DELAY_MS = 5 * 60_000;

/** Exponential from 1 s with "equal jitter": somewhere in [d/2, d), so retries never bunch at 0. */
export function backoffDelay(step: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, RETRY_BASE_MS * 2 ** Math.min(Math.max(step - 1, 0), 30));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

export function createRetryPolicy(options: { retryWindowMs: number; random?: () => number }): RetryPolicy {
  const random = options.random ?? Math.random;
  return {
    retryWindowMs: options.retryWindowMs,
    retryDelayMs: (attempts) => backoffDelay(attempts, RETRY_MAX_DELAY_MS, random),
    deferDelayMs: (deferrals) => backoffDelay(deferrals, DEFER_MAX_DELAY_MS, random),
  };
}

export function decide(verdict: Verdict, state: RetryState, nowMs: number, policy: RetryPolicy): Decision {
  if (verdict.action === 'ack') return { action: 'ack' };
  const { error, cause } = verdict;
  if (!error.retryable) return { action: 'dead', error };
  if (cause === 'storage') return { action: 'hold', error };
  const last = { last_error_code: error.code, last_error_message: error.message };

  if (cause === 'dependency') {
    const deferrals = state.deferrals + 1;
    return {
      action: 'defer',
      error,
      dueAt: nowMs + policy.deferDelayMs(deferrals),
      state: { ...state, ...last, deferrals },
    };
  }

  const attempts = state.attempts + 1;
  const firstFailedAt = state.first_failed_at || nowMs;
  const failingFor = nowMs - firstFailedAt;
  if (failingFor >= policy.retryWindowMs) {
    return {
      action: 'dead',
      error: new AppError(
        error.code,
        `gave up after ${attempts} attempts over ${formatDuration(failingFor)} (RETRY_WINDOW_MS ${policy.retryWindowMs}): ${error.message}`,
        { retryable: false, cause: error },
      ),
    };
  }
  return {
    action: 'retry',
    error,
    dueAt: nowMs + policy.retryDelayMs(attempts),
    state: { ...state, ...last, attempts, first_failed_at: firstFailedAt, deferrals: 0 },
  };
}

function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.round(ms / 1000)} s`;
  return minutes < 120 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
