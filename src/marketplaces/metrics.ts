/**
 * Metrics of outbound marketplace calls, registered on the registry the process passes in and
 * handed to every client (registry.ts). Labels stay bounded: platform, the call's fixed name
 * (`ApiCall.name`, e.g. get_order_detail) and an outcome; never a shop id.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

import { isAppError, type ErrorCode } from '../shared/errors.js';
import type { Platform } from '../shared/stream.js';

/**
 * One HTTP attempt's outcome: `ok`, one per ERR_MARKETPLACE_* code (`transient` is an HTTP 5xx
 * here), or `timeout` / `network` when no answer came. A whole call (all its attempts) ends in
 * `ok`, a code's outcome (`transient` then includes timeouts), or `error` (not the marketplace:
 * e.g. the shared rate limiter's Redis).
 */
export type CallOutcome =
  'ok' | 'rate_limited' | 'transient' | 'auth' | 'rejected' | 'response' | 'timeout' | 'network' | 'error';

/**
 * How a token refresh ended: `refreshed` at the marketplace; `shared`: another process had just
 * refreshed, its tokens are used; `refused`: the marketplace refused (or there is no refresh
 * token): the shop must be re-authorized; `failed`: anything else, tried again on the next use.
 */
export type TokenRefreshOutcome = 'refreshed' | 'shared' | 'refused' | 'failed';

export interface MarketplaceMetrics {
  /** One HTTP attempt: its outcome and its time from sending to the last byte of the answer. */
  observeRequest(platform: Platform, endpoint: string, outcome: CallOutcome, seconds: number): void;
  /** One call as its caller saw it, after the client's own retries. */
  countCall(platform: Platform, endpoint: string, outcome: CallOutcome): void;
  countTokenRefresh(platform: Platform, outcome: TokenRefreshOutcome): void;
}

const OUTCOME_BY_CODE: Partial<Record<ErrorCode, CallOutcome>> = {
  ERR_MARKETPLACE_RATE_LIMITED: 'rate_limited',
  ERR_MARKETPLACE_TRANSIENT: 'transient',
  ERR_MARKETPLACE_AUTH: 'auth',
  ERR_MARKETPLACE_REJECTED: 'rejected',
  ERR_MARKETPLACE_RESPONSE: 'response',
};

export function outcomeOfCode(code: ErrorCode): CallOutcome {
  return OUTCOME_BY_CODE[code] ?? 'error';
}

/** A failed call's outcome label. */
export function outcomeOfError(error: unknown): CallOutcome {
  return isAppError(error) ? outcomeOfCode(error.code) : 'error';
}

export function createMarketplaceMetrics(registry: Registry): MarketplaceMetrics {
  const registers = [registry];
  const duration = new Histogram({
    name: 'market_ingest_marketplace_request_duration_seconds',
    help: 'Marketplace HTTP requests (each attempt), from sending to the last byte of the answer, by platform and endpoint',
    labelNames: ['platform', 'endpoint'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers,
  });
  const requests = new Counter({
    name: 'market_ingest_marketplace_requests_total',
    help: 'Marketplace HTTP requests (each attempt), by platform, endpoint and outcome: ok, rate_limited (HTTP 429 or a rate-limit code), transient (5xx), timeout, network, auth, rejected, response',
    labelNames: ['platform', 'endpoint', 'outcome'] as const,
    registers,
  });
  const calls = new Counter({
    name: 'market_ingest_marketplace_calls_total',
    help: 'Marketplace calls after the client retried what it could, by platform, endpoint and final outcome',
    labelNames: ['platform', 'endpoint', 'outcome'] as const,
    registers,
  });
  const refreshes = new Counter({
    name: 'market_ingest_marketplace_token_refreshes_total',
    help: 'Access token refreshes, by platform and outcome: refreshed, shared (another process had refreshed), refused (re-authorize the shop), failed',
    labelNames: ['platform', 'outcome'] as const,
    registers,
  });

  return {
    observeRequest(platform, endpoint, outcome, seconds) {
      duration.observe({ platform, endpoint }, seconds);
      requests.inc({ platform, endpoint, outcome });
    },
    countCall: (platform, endpoint, outcome) => calls.inc({ platform, endpoint, outcome }),
    countTokenRefresh: (platform, outcome) => refreshes.inc({ platform, outcome }),
  };
}
