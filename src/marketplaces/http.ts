/**
 * One request context per marketplace client (in the manner of svix `src/request.ts` and jose
 * `src/jwks/remote.ts`): base URL, per-request timeout, an injectable undici Dispatcher, and a
 * bounded retry schedule.
 *
 * Every attempt first waits for the shared RateLimiter, then is built afresh by the caller's
 * `prepare()` (signatures carry a timestamp). Outcomes become typed AppErrors:
 *
 * | outcome                                        | code                          | retried here |
 * |------------------------------------------------|-------------------------------|--------------|
 * | network error, timeout, HTTP 5xx               | ERR_MARKETPLACE_TRANSIENT     | yes          |
 * | HTTP 429 / a rate-limit code in the body       | ERR_MARKETPLACE_RATE_LIMITED  | yes (Retry-After honoured, limiter penalized) |
 * | token invalid or expired                       | ERR_MARKETPLACE_AUTH          | no: the token layer refreshes once |
 * | any other 4xx / error code in a 200 body       | ERR_MARKETPLACE_REJECTED      | no           |
 * | a 2xx body that is not the platform's envelope | ERR_MARKETPLACE_RESPONSE      | no           |
 *
 * Errors in a 200 body (TikTok `code != 0`, Shopee non-empty `error`) go through the platform's
 * classifier, so they are retried (or not) exactly like their HTTP equivalents.
 * Backoff is exponential with full jitter: sleep = random() * min(max, base * 2^(attempt-1)).
 */
import { Agent, request, type Dispatcher } from 'undici';
import { z } from 'zod';

import { mapSettled } from '../shared/concurrency.js';
import { AppError, isAppError, toAppError, type ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Platform } from '../shared/stream.js';
import { outcomeOfCode, outcomeOfError, type CallOutcome, type MarketplaceMetrics } from './metrics.js';
import type { DetailResult, RateLimiter, RefreshLock, TokenPersistence } from './types.js';

export type MarketplaceErrorCode = Extract<ErrorCode, `ERR_MARKETPLACE_${string}`>;

/** What a platform's classifier found wrong in a response body. */
export interface ApiFailure {
  code: MarketplaceErrorCode;
  /** The platform's own error (TikTok numeric code, Shopee error string), kept for callers and logs. */
  platformCode: string;
  message: string;
}

/**
 * Inspects a parsed response body (and its HTTP status): `undefined` means success.
 * It must report a body that is not the platform's envelope as ERR_MARKETPLACE_RESPONSE.
 */
export type ResponseClassifier = (body: unknown, status: number) => ApiFailure | undefined;

export type QueryValue = string | readonly string[];

/** One attempt's request, built by the caller right before it is sent. */
export interface PreparedRequest {
  query: Readonly<Record<string, QueryValue>>;
  headers?: Readonly<Record<string, string>>;
  /** Serialised JSON body (POST only). */
  body?: string;
}

export interface ApiCall {
  /** A short name for logs and error messages, e.g. "get_order_detail". */
  name: string;
  method: 'GET' | 'POST';
  path: string;
  /** Another host than the context's base URL (TikTok's token refresh lives on its auth host). */
  baseUrl?: string;
  /** Rate-limiter key: the shop, or a partner-level key for calls that concern no shop. */
  budgetKey: string;
  prepare(): PreparedRequest;
}

export interface HttpContextOptions {
  platform: Platform;
  baseUrl: string;
  classify: ResponseClassifier;
  limiter: RateLimiter;
  logger: Logger;
  /** Per attempt, from sending the request to the last byte of the body. */
  timeoutMs: number;
  /** Attempts in total, the first included. */
  maxAttempts: number;
  /** Not owned: the caller closes it. Without one the context creates (and closes) its own Agent. */
  dispatcher?: Dispatcher;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A Retry-After longer than this is not slept through here: the error goes up (retryable) instead. */
  maxRetryAfterMs?: number;
  /** Penalty passed to the limiter on a 429 without a usable Retry-After. */
  defaultPenaltyMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** ms since the epoch; used to read a Retry-After given as an HTTP date. */
  now?: () => number;
  /** [0, 1) */
  random?: () => number;
  /** Counts and times every attempt and call (optional: tests and tools go without). */
  metrics?: MarketplaceMetrics;
}

/** What every platform's API client takes besides its credentials (the registry passes the same to each). */
export interface MarketplaceClientOptions {
  limiter: RateLimiter;
  tokens: TokenPersistence;
  /** Token refreshes single-flight across processes; without it, within this process only. */
  refreshLock?: RefreshLock;
  logger: Logger;
  /** Not owned: closed by whoever created it. */
  dispatcher?: Dispatcher;
  timeoutMs: number;
  maxAttempts: number;
  /** Ids per detail call, capped at the platform's maximum. */
  detailBatchSize: number;
  /** Detail calls of one getDetails in flight at once (the rate limiter still paces them). */
  concurrency?: number;
  /** ms since the epoch: request timestamps and token expiry. */
  now?: () => number;
  /** Retry tuning and test seams (sleep, random). */
  retry?: Pick<
    HttpContextOptions,
    'backoffBaseMs' | 'backoffMaxMs' | 'maxRetryAfterMs' | 'defaultPenaltyMs' | 'sleep' | 'random'
  >;
  refreshBeforeMs?: number;
  /** Outbound call and token refresh metrics, for the client's HTTP context and token manager. */
  metrics?: MarketplaceMetrics;
}

export interface HttpContext {
  readonly platform: Platform;
  /** The parsed JSON body of a successful answer. Throws AppError ERR_MARKETPLACE_*. */
  send(call: ApiCall): Promise<unknown>;
  /** Idempotent; closes the Agent it created, waiting at most a few seconds for requests in flight. */
  close(): Promise<void>;
}

export const DEFAULT_BACKOFF_BASE_MS = 250;
export const DEFAULT_BACKOFF_MAX_MS = 8_000;
export const DEFAULT_MAX_RETRY_AFTER_MS = 30_000;
export const DEFAULT_PENALTY_MS = 1_000;
const CLOSE_GRACE_MS = 2_000;

/** Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): uniform in [0, cap). */
export function fullJitterDelay(
  attempt: number,
  random: () => number,
  baseMs = DEFAULT_BACKOFF_BASE_MS,
  maxMs = DEFAULT_BACKOFF_MAX_MS,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * cap);
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `nowMs`; undefined if unusable. */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  nowMs: number,
): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value) as string | undefined;
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** The platform error code an AppError from this module carries, if any. */
export function platformCodeOf(error: unknown): string | undefined {
  if (!isAppError(error)) return undefined;
  const code = error.details?.platformCode;
  return typeof code === 'string' ? code : undefined;
}

export function httpStatusOf(error: unknown): number | undefined {
  if (!isAppError(error)) return undefined;
  const status = error.details?.status;
  return typeof status === 'number' ? status : undefined;
}

export function buildUrl(baseUrl: string, path: string, query: Readonly<Record<string, QueryValue>>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (typeof value === 'string') params.append(name, value);
    else for (const item of value) params.append(name, item);
  }
  const search = params.toString();
  return `${baseUrl.replace(/\/+$/, '')}${path}${search ? `?${search}` : ''}`;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface AttemptFailure {
  error: AppError;
  /** From Retry-After, when the marketplace said how long to wait. */
  retryAfterMs: number | undefined;
}

export function createHttpContext(options: HttpContextOptions): HttpContext {
  const { platform, classify, limiter } = options;
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const backoffBaseMs = options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const backoffMaxMs = options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
  const defaultPenaltyMs = options.defaultPenaltyMs ?? DEFAULT_PENALTY_MS;
  const maxAttempts = Math.max(1, options.maxAttempts);
  const log = options.logger.child({ component: 'marketplace-http', platform });
  const ownedAgent = options.dispatcher ? undefined : new Agent({ keepAliveTimeout: 10_000 });
  const dispatcher: Dispatcher = options.dispatcher ?? ownedAgent!;
  const inFlight = new Set<AbortController>();
  let closing: Promise<void> | undefined;

  const fail = (
    code: MarketplaceErrorCode,
    call: ApiCall,
    message: string,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ) =>
    new AppError(code, `${platform} ${call.name}: ${message}`, {
      cause,
      details: { platform, endpoint: call.path, ...details },
    });

  async function attempt(call: ApiCall): Promise<{ body: unknown } | AttemptFailure> {
    await limiter.acquire(platform, call.budgetKey);
    if (closing) throw fail('ERR_MARKETPLACE_TRANSIENT', call, 'client closed');
    const prepared = call.prepare();
    const url = buildUrl(call.baseUrl ?? options.baseUrl, call.path, prepared.query);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, options.timeoutMs);
    inFlight.add(controller);
    const startedAt = performance.now();
    const observe = (outcome: CallOutcome) =>
      options.metrics?.observeRequest(platform, call.name, outcome, (performance.now() - startedAt) / 1000);

    let status: number;
    let headers: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const response = await request(url, {
        method: call.method,
        headers: { accept: 'application/json', ...prepared.headers },
        body: prepared.body,
        dispatcher,
        signal: controller.signal,
      });
      status = response.statusCode;
      headers = response.headers;
      text = await response.body.text();
    } catch (error) {
      observe(timedOut ? 'timeout' : 'network');
      const reason = timedOut
        ? `timed out after ${options.timeoutMs} ms`
        : closing
          ? 'client closed'
          : `network error: ${(error as Error).message}`;
      return { error: fail('ERR_MARKETPLACE_TRANSIENT', call, reason, {}, error), retryAfterMs: undefined };
    } finally {
      clearTimeout(timer);
      inFlight.delete(controller);
    }

    const outcome = classifyOutcome(status, headers['retry-after'], text, classify, now());
    observe('body' in outcome ? 'ok' : outcomeOfCode(outcome.code));
    if ('body' in outcome) return outcome;
    return {
      error: fail(outcome.code, call, outcome.message, { status, platformCode: outcome.platformCode }),
      retryAfterMs: outcome.retryAfterMs,
    };
  }

  /** Attempts until one succeeds, one fails for good, or the attempts are spent. */
  async function sendWithRetries(call: ApiCall): Promise<unknown> {
    for (let attemptNo = 1; ; attemptNo += 1) {
      const outcome = await attempt(call);
      if ('body' in outcome) return outcome.body;
      const { error, retryAfterMs } = outcome;
      if (error.code === 'ERR_MARKETPLACE_RATE_LIMITED') {
        // Every process shares the budget: slow them all down, not just this retry loop.
        await limiter
          .penalize(platform, call.budgetKey, retryAfterMs ?? defaultPenaltyMs)
          .catch((cause: unknown) =>
            log.warn({ err: cause, endpoint: call.path }, 'rate limiter penalty failed'),
          );
      }
      error.details!.attempts = attemptNo;
      if (!error.retryable || attemptNo >= maxAttempts || closing) throw error;
      // Honour the marketplace's own wait; beyond our patience, hand the retry to the caller
      // (the error is retryable: the stream entry stays pending and is tried again later).
      if (retryAfterMs !== undefined && retryAfterMs > maxRetryAfterMs) throw error;
      const delay = retryAfterMs ?? fullJitterDelay(attemptNo, random, backoffBaseMs, backoffMaxMs);
      log.debug(
        {
          endpoint: call.path,
          shop_id: call.budgetKey,
          attempt: attemptNo,
          delay_ms: delay,
          code: error.code,
        },
        'retrying marketplace call',
      );
      await sleep(delay);
    }
  }

  return {
    platform,

    async send(call) {
      try {
        const body = await sendWithRetries(call);
        options.metrics?.countCall(platform, call.name, 'ok');
        return body;
      } catch (error) {
        options.metrics?.countCall(platform, call.name, outcomeOfError(error));
        throw error;
      }
    },

    close() {
      closing ??= (async () => {
        if (!ownedAgent) return;
        const grace = new Promise<'timeout'>((resolve) =>
          setTimeout(resolve, CLOSE_GRACE_MS, 'timeout').unref(),
        );
        if ((await Promise.race([ownedAgent.close(), grace])) === 'timeout') {
          for (const controller of inFlight) controller.abort();
          await ownedAgent.destroy();
        }
      })();
      return closing;
    },
  };
}

/** Ids without repeats, in first-seen order: each object is asked for once. */
export function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

/**
 * Detail fetches settled per call: `fetch` runs once per group (a chunk of ids, one id, or one
 * object that needs an auxiliary call), at most `limit` at once. A group whose fetch fails is
 * reported in `failures` under `idsOf(group)` with its AppError; the other groups' objects are
 * returned. A fetch answers [] for what the marketplace says does not exist.
 */
export async function settleDetails<G>(
  groups: readonly G[],
  limit: number,
  idsOf: (group: G) => string[],
  fetch: (group: G) => Promise<unknown[]>,
): Promise<DetailResult> {
  const outcomes = await mapSettled(groups, limit, fetch);
  const result: DetailResult = { objects: [], failures: [] };
  outcomes.forEach((outcome, index) => {
    if (outcome.ok) result.objects.push(...outcome.value);
    else result.failures.push({ ids: idsOf(groups[index]!), error: toAppError(outcome.error) });
  });
  return result;
}

/**
 * One auxiliary call per object already found (Shopee tracking numbers, item models): an object
 * whose call fails moves to `failures` under `idOf(object)`; earlier failures are kept.
 */
export async function enrichDetails(
  found: DetailResult,
  limit: number,
  idOf: (object: unknown) => string,
  enrich: (object: unknown) => Promise<unknown>,
): Promise<DetailResult> {
  const enriched = await settleDetails(
    found.objects,
    limit,
    (object) => [idOf(object)],
    async (object) => [await enrich(object)],
  );
  return { objects: enriched.objects, failures: [...found.failures, ...enriched.failures] };
}

/** A response's list that may be absent or null: read as empty. */
export const listOrEmpty = z
  .array(z.unknown())
  .nullish()
  .transform((list) => list ?? []);

/** A page token that may be absent or null: read as '' (no next page). */
export const tokenOrEmpty = z
  .string()
  .nullish()
  .transform((token) => token ?? '');

/**
 * A response body checked against what the endpoint should answer; anything else is
 * ERR_MARKETPLACE_RESPONSE naming the platform, the endpoint and the first problem.
 */
export function parseResponse<T>(
  platform: Platform,
  schema: z.ZodType<T>,
  body: unknown,
  endpoint: string,
): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new AppError(
    'ERR_MARKETPLACE_RESPONSE',
    `${platform} ${endpoint}: unexpected response (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})`,
  );
}

type Outcome =
  | { body: unknown }
  | { code: MarketplaceErrorCode; message: string; platformCode?: string; retryAfterMs: number | undefined };

/**
 * One answer, judged: 429 and 5xx by their status (the body only adds detail), everything else
 * by the platform's classifier first (errors in a 200 body), then by the status.
 */
function classifyOutcome(
  status: number,
  retryAfter: string | string[] | undefined,
  text: string,
  classify: ResponseClassifier,
  nowMs: number,
): Outcome {
  let body: unknown;
  let parsed = true;
  try {
    body = JSON.parse(text);
  } catch {
    parsed = false;
  }
  const failure = parsed ? classify(body, status) : undefined;
  const detail = failure ? ` (${failure.message})` : '';
  const retryAfterMs = parseRetryAfter(retryAfter, nowMs);

  if (status === 429) {
    return {
      code: 'ERR_MARKETPLACE_RATE_LIMITED',
      message: `HTTP 429${detail}`,
      platformCode: failure?.platformCode,
      retryAfterMs,
    };
  }
  if (status >= 500) {
    return {
      code: 'ERR_MARKETPLACE_TRANSIENT',
      message: `HTTP ${status}${detail}`,
      platformCode: failure?.platformCode,
      retryAfterMs,
    };
  }
  if (!parsed) {
    return {
      code: status >= 400 ? statusCode(status) : 'ERR_MARKETPLACE_RESPONSE',
      message: `HTTP ${status} with a body that is not JSON`,
      retryAfterMs: undefined,
    };
  }
  // A non-2xx answer whose body is not the platform's envelope is judged by its status alone.
  const enveloped = failure !== undefined && !(failure.code === 'ERR_MARKETPLACE_RESPONSE' && status >= 300);
  if (failure && enveloped) {
    return {
      code: failure.code,
      message: failure.message,
      platformCode: failure.platformCode,
      retryAfterMs: failure.code === 'ERR_MARKETPLACE_RATE_LIMITED' ? retryAfterMs : undefined,
    };
  }
  if (status < 200 || status >= 300)
    return { code: statusCode(status), message: `HTTP ${status}`, retryAfterMs: undefined };
  return { body };
}

function statusCode(status: number): MarketplaceErrorCode {
  return status === 401 ? 'ERR_MARKETPLACE_AUTH' : 'ERR_MARKETPLACE_REJECTED';
}
