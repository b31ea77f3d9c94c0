/**
 * `POST /webhooks/:platform` (CONTRACT §3), as an encapsulated plugin so its raw-body parser and
 * rate limit apply to the webhook routes only.
 *
 * Per request: rate limit (before the body is read) -> body as a Buffer (application/json only,
 * at most BODY_LIMIT_BYTES) -> signature over those exact bytes -> envelope validation -> atomic
 * dedupe + XADD -> 200 (503 when the stream is at its STREAM_MAXLEN cap). Nothing but Redis is
 * touched on this path.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { WebhookEvent, WebhookHandler, WebhookRequest } from '../marketplaces/types.js';
import type { Redis } from '../shared/redis.js';
import { PLATFORMS, type Platform, type StreamEvent } from '../shared/stream.js';
import type { EventAppender } from './append.js';
import type { IngestMetrics } from './metrics.js';
import { createRateLimitStore } from './rate-limit.js';

/**
 * The marketplace must get its 503 within 2 s when Redis is unreachable. A closed connection
 * fails at once (fail-fast client, no offline queue); a stalled one would wait for the client's
 * 2 s command timeout per command, so the limiter gets a small slice and the append the rest.
 */
export const RATE_LIMIT_TIMEOUT_MS = 250;
export const REDIS_DEADLINE_MS = 1_800;

export type WebhookHandlerRegistry = Partial<Record<Platform, WebhookHandler>>;

export interface Clock {
  /** Unix milliseconds. */
  now(): number;
}

export interface WebhookRoutesOptions {
  handlers: WebhookHandlerRegistry;
  appender: EventAppender;
  metrics: IngestMetrics;
  clock: Clock;
  logger: Logger;
  /** Backs the rate limiter, shared by every replica. */
  redis: Redis;
  bodyLimitBytes: number;
  rateLimitPerMinute: number;
  /** Prefix of the rate limiter's Redis keys. */
  rateLimitKeyPrefix: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set on webhook routes: the error handler counts rejections per platform from it. */
    platform?: Platform;
  }
}

// The success answers, serialised once; a stored event's answer names its stream entry (CONTRACT §3).
// Stream ids are digits and a dash: nothing in one needs escaping.
const accepted = (id: string) => `{"ok":true,"id":"${id}"}`;
const DUPLICATE = JSON.stringify({ ok: true, duplicate: true });
const IGNORED = JSON.stringify({ ok: true, ignored: true });
const JSON_TYPE = 'application/json; charset=utf-8';

/** At most one line per interval for failures that hit every webhook alike (outage, full stream). */
const APPEND_FAILURE_LOG_INTERVAL_MS = 5_000;

/** Calls `emit` at most once per interval, telling it how many calls it skipped since. */
function throttled(
  intervalMs: number,
  emit: (fields: Record<string, unknown>, suppressed: number) => void,
): (fields: Record<string, unknown>) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (fields) => {
    const now = performance.now();
    if (now - last < intervalMs) {
      suppressed += 1;
      return;
    }
    last = now;
    emit(fields, suppressed);
    suppressed = 0;
  };
}

/** Shop ids are logged only when they look like one, so a forged body cannot inject log content. */
const LOGGABLE_SHOP_ID = /^[\w.-]{1,64}$/;

/** Best effort, for the warning about an invalid signature: the body is not trusted. */
function peekShopId(rawBody: Buffer): string | undefined {
  try {
    const shopId = (JSON.parse(rawBody.toString('utf8')) as { shop_id?: unknown } | null)?.shop_id;
    const text = typeof shopId === 'number' || typeof shopId === 'string' ? String(shopId) : '';
    return LOGGABLE_SHOP_ID.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Spelled out rather than spread: object spread was a measurable cost per request. */
function fromWebhook(event: WebhookEvent, receivedAt: number): StreamEvent {
  return {
    platform: event.platform,
    shop_id: event.shop_id,
    kind: event.kind,
    entity_id: event.entity_id,
    version: event.version,
    event_id: event.event_id,
    event_type: event.event_type,
    source: 'webhook',
    received_at: receivedAt,
    payload: event.payload,
  };
}

/** The URL the request arrived at, as the sender addressed it (X-Forwarded-* when trustProxy). */
function requestUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}${request.url}`;
}

interface ReceiveSteps {
  handler: WebhookHandler;
  platform: Platform;
  log: Logger;
}

/** The signature over the exact bytes; a rejection is logged without the header or the secret. */
function verifyOrReject(
  { handler, platform, log }: ReceiveSteps,
  request: FastifyRequest,
  rawBody: Buffer,
): void {
  const webhook: WebhookRequest = {
    rawBody,
    signature: request.headers.authorization,
    get url() {
      return requestUrl(request);
    },
  };
  try {
    handler.verify(webhook);
  } catch (error) {
    // Never the header value or the secret: which platform, which shop (if the body says), why.
    log.warn(
      {
        reqId: request.id,
        platform,
        shop_id: peekShopId(rawBody),
        ip: request.ip,
        reason: error instanceof AppError ? error.message : 'verification failed',
      },
      'webhook signature rejected',
    );
    throw error;
  }
}

/** The verified body as a stream event (or "not a type we handle"); malformed ones are logged. */
function parseOrReject({ handler, platform, log }: ReceiveSteps, request: FastifyRequest, rawBody: Buffer) {
  try {
    return handler.toStreamEntry(rawBody);
  } catch (error) {
    // Signed by the marketplace yet not what we expect: our schema may be behind theirs.
    log.warn(
      {
        reqId: request.id,
        platform,
        shop_id: peekShopId(rawBody),
        reason: error instanceof Error ? error.message : '',
      },
      'verified webhook rejected as malformed',
    );
    throw error;
  }
}

export async function webhookRoutes(app: FastifyInstance, options: WebhookRoutesOptions): Promise<void> {
  const { handlers, appender, metrics, clock } = options;
  const log = options.logger;
  // During an outage every webhook fails the same way: one line per interval, with a count, is
  // enough next to the metric (the Redis client logs the outage itself).
  const warnAppendFailure = throttled(APPEND_FAILURE_LOG_INTERVAL_MS, (fields, suppressed) =>
    log.warn({ ...fields, suppressed }, 'could not store webhook; answered 503'),
  );
  // A full stream refuses every webhook until the workers catch up: same treatment.
  const warnBacklogFull = throttled(APPEND_FAILURE_LOG_INTERVAL_MS, (fields, suppressed) =>
    log.warn({ ...fields, suppressed }, 'event stream full (STREAM_MAXLEN); webhook answered 503'),
  );

  // Signatures are computed over the bytes as sent, so this context never parses JSON itself.
  // Any other media type (or none) is answered 415 by Fastify before the handler runs.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes },
    (_request, body, done) => done(null, body),
  );

  await app.register(rateLimit, {
    store: createRateLimitStore({
      redis: options.redis,
      keyPrefix: options.rateLimitKeyPrefix,
      timeoutMs: RATE_LIMIT_TIMEOUT_MS,
    }),
    max: options.rateLimitPerMinute,
    timeWindow: 60_000,
    // Redis down must surface as 503 from the append below, not as a 500 from the limiter.
    skipOnError: true,
    // Rate headers only on the 429 itself: marketplaces do not read them, and every header costs.
    addHeadersOnExceeding: {
      'x-ratelimit-limit': false,
      'x-ratelimit-remaining': false,
      'x-ratelimit-reset': false,
    },
    errorResponseBuilder: (_request, context) =>
      new AppError('ERR_RATE_LIMITED', `rate limit exceeded, retry in ${context.after}`),
  });

  /** Dedupe + XADD within the deadline; 503 when Redis fails or the stream is at its cap. */
  async function store(request: FastifyRequest, reply: FastifyReply, event: WebhookEvent) {
    const context = {
      reqId: request.id,
      platform: event.platform,
      shop_id: event.shop_id,
      event_id: event.event_id,
    };
    let result;
    try {
      result = await appender.append(fromWebhook(event, clock.now()), REDIS_DEADLINE_MS - reply.elapsedTime);
    } catch (error) {
      metrics.countAppendFailure(event.platform);
      warnAppendFailure({ ...context, err: error });
      throw new AppError('ERR_UNAVAILABLE', 'event store unavailable', { cause: error });
    }
    if (result.status === 'full') {
      metrics.countBacklogFull(event.platform);
      warnBacklogFull(context);
      throw new AppError('ERR_BACKLOG_FULL', 'event backlog full, retry later');
    }
    return result;
  }

  for (const platform of PLATFORMS) {
    const handler = handlers[platform];
    const config = { platform };
    if (!handler) {
      // A disabled platform answers 404 before its body is read or its rate budget is spent.
      app.post(`/webhooks/${platform}`, {
        config,
        onRequest: () => {
          throw new AppError('ERR_NOT_FOUND', `platform ${platform} is not enabled`);
        },
        handler: () => {
          throw new AppError('ERR_NOT_FOUND', `platform ${platform} is not enabled`);
        },
      });
      continue;
    }
    if (handler.platform !== platform) throw new Error(`handler for ${platform} is for ${handler.platform}`);

    const steps = { handler, platform, log };
    const receive = async (request: FastifyRequest, reply: FastifyReply) => {
      const rawBody = request.body;
      // Only reachable without a body and without a Content-Type (no parser ran).
      if (!Buffer.isBuffer(rawBody))
        throw new AppError('ERR_MEDIA_TYPE', 'expected an application/json body');
      verifyOrReject(steps, request, rawBody);
      const outcome = parseOrReject(steps, request, rawBody);
      if (!outcome.handled) {
        metrics.countWebhook(platform, 'ignored');
        if (log.isLevelEnabled('debug'))
          log.debug(
            { reqId: request.id, platform, shop_id: outcome.shopId, event_type: outcome.eventType },
            'webhook ignored',
          );
        return reply.type(JSON_TYPE).send(IGNORED);
      }
      const result = await store(request, reply, outcome.event);
      const duplicate = result.status === 'duplicate';
      metrics.countWebhook(platform, duplicate ? 'duplicate' : 'accepted');
      if (log.isLevelEnabled('debug'))
        log.debug(
          {
            reqId: request.id,
            platform,
            shop_id: outcome.event.shop_id,
            event_id: outcome.event.event_id,
            ...result,
          },
          'webhook stored',
        );
      return reply.type(JSON_TYPE).send(result.status === 'stored' ? accepted(result.id) : DUPLICATE);
    };

    app.post(`/webhooks/${platform}`, { config, bodyLimit: options.bodyLimitBytes, handler: receive });
  }
}
