/**
 * The ingest HTTP app as a function of its dependencies (no listening, no process handling):
 * webhook routes, health and readiness, metrics, and one error mapping to CONTRACT §3 bodies.
 * Every answer carries `x-request-id` (CONTRACT §3 v2), and log lines about a request carry it
 * as `reqId`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type onResponseHookHandler,
} from 'fastify';

import type { Config } from '../shared/config.js';
import type { ShopConnector } from '../marketplaces/connect.js';
import { isAppError, type ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Registry } from '../shared/metrics.js';
import type { ReadinessCheck } from '../shared/readiness.js';
import { pingRedis, type Redis } from '../shared/redis.js';
import { createEventAppender } from './append.js';
import { oauthRoutes } from './oauth-routes.js';
import { createIngestMetrics, type IngestMetrics, type WebhookOutcomeLabel } from './metrics.js';
import { webhookRoutes, type Clock, type WebhookHandlerRegistry } from './routes.js';

export type { Clock, WebhookHandlerRegistry } from './routes.js';

export const systemClock: Clock = { now: () => Date.now() };

export type IngestConfig = Pick<
  Config,
  | 'streamKey'
  | 'streamMaxLen'
  | 'dedupeTtlSeconds'
  | 'bodyLimitBytes'
  | 'webhookRateLimitPerMinute'
  | 'trustProxy'
>;

export interface IngestDeps {
  config: IngestConfig;
  /** A `fail-fast` client: requests must fail within ~2 s when Redis is down, not queue. */
  redis: Redis;
  /** Enabled platforms only; a platform without a handler answers 404. */
  handlers: WebhookHandlerRegistry;
  logger: Logger;
  metrics: Registry;
  clock?: Clock;
  /** Other roles in the same process (`start`): `/readyz` also reports their problems. */
  readiness?: ReadinessCheck;
  /** Serves the OAuth callbacks (issue 13); without it they answer 404. */
  oauth?: Pick<ShopConnector, 'callback'>;
}

interface ErrorAnswer {
  status: number;
  code: ErrorCode;
  message: string;
}

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  ERR_SIGNATURE: 401,
  ERR_PAYLOAD: 400,
  ERR_NOT_FOUND: 404,
  ERR_TOO_LARGE: 413,
  ERR_MEDIA_TYPE: 415,
  ERR_RATE_LIMITED: 429,
  ERR_UNAVAILABLE: 503,
  ERR_BACKLOG_FULL: 503,
};

const OUTCOME_BY_CODE: Partial<Record<ErrorCode, WebhookOutcomeLabel>> = {
  ERR_SIGNATURE: 'rejected_signature',
  ERR_PAYLOAD: 'rejected_payload',
  ERR_NOT_FOUND: 'rejected_not_found',
  ERR_TOO_LARGE: 'rejected_too_large',
  ERR_MEDIA_TYPE: 'rejected_media_type',
  ERR_RATE_LIMITED: 'rejected_rate_limited',
  ERR_UNAVAILABLE: 'rejected_unavailable',
  ERR_BACKLOG_FULL: 'rejected_backlog_full',
};

/** 5xx bodies carry a fixed text per code, never the error's own message. */
const MESSAGE_5XX: Partial<Record<ErrorCode, string>> = {
  ERR_BACKLOG_FULL: 'event backlog full, retry later',
};
const DEFAULT_MESSAGE_5XX = 'service unavailable, retry later';

const REQUEST_TIMEOUT_MS = 30_000;

export const REQUEST_ID_HEADER = 'x-request-id';
/** What an incoming id may look like to be kept: short, and nothing that could split a header or a log line. */
const SANE_REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * The sender's (or its proxy's) `x-request-id` when it looks sane, so one id follows the request
 * across systems; otherwise a new UUID, unique across replicas (Fastify's default is a counter).
 */
export function requestIdOf(request: IncomingMessage): string {
  const incoming = request.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

const INTERNAL: ErrorAnswer = { status: 500, code: 'ERR_INTERNAL', message: 'internal error' };

/** Our codes keep their message; Fastify's own 4xx get a fixed one; 5xx never carry detail. */
function toErrorAnswer(error: unknown, bodyLimitBytes: number): ErrorAnswer {
  if (isAppError(error)) {
    const status = STATUS_BY_CODE[error.code];
    if (status === undefined) return INTERNAL;
    const message = status >= 500 ? (MESSAGE_5XX[error.code] ?? DEFAULT_MESSAGE_5XX) : error.message;
    return { status, code: error.code, message };
  }
  const statusCode = (error as Partial<FastifyError> | undefined)?.statusCode;
  if (typeof statusCode !== 'number' || statusCode < 400 || statusCode >= 500) return INTERNAL;
  switch (statusCode) {
    case 413:
      return { status: 413, code: 'ERR_TOO_LARGE', message: `body exceeds ${bodyLimitBytes} bytes` };
    case 415:
      return { status: 415, code: 'ERR_MEDIA_TYPE', message: 'content type must be application/json' };
    case 404:
      return { status: 404, code: 'ERR_NOT_FOUND', message: 'not found' };
    default:
      // Content-Length mismatch, aborted body, bad URL: the request itself is malformed.
      return { status: 400, code: 'ERR_PAYLOAD', message: 'malformed request' };
  }
}

function sendError(reply: FastifyReply, answer: ErrorAnswer) {
  return reply.code(answer.status).send({ error: { code: answer.code, message: answer.message } });
}

export function buildIngestApp(deps: IngestDeps): FastifyInstance {
  const { config, redis, handlers } = deps;
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger.child({ component: 'ingest' });
  // Typed as Fastify's logger interface so the instance keeps Fastify's default generics.
  const fastifyLogger: FastifyBaseLogger = logger;
  const metrics: IngestMetrics = createIngestMetrics(deps.metrics);

  const app = Fastify({
    loggerInstance: fastifyLogger,
    // Webhooks arrive in bursts: two info lines per request would cost more than the work itself.
    // Rejections and failures are logged where they happen; the histogram covers the rest.
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger (a pino child with its redaction per request, ~1% of CPU in
    // the profile): nothing logs through request.log on the hot path; failures log request.id.
    childLoggerFactory: (parent) => parent,
    // genReqId reads and checks the header itself; Fastify's requestIdHeader would take any value.
    requestIdHeader: false,
    genReqId: requestIdOf,
    trustProxy: config.trustProxy,
    // While closing, a request that still arrives on an open keep-alive connection is served
    // (Redis closes after HTTP) and answered with Connection: close, rather than getting
    // Fastify's own 503 body, which is not the contract's error shape.
    return503OnClosing: false,
    // A webhook is small; a client that takes longer than this to send one is not a marketplace.
    requestTimeout: REQUEST_TIMEOUT_MS,
    bodyLimit: config.bodyLimitBytes,
    frameworkErrors: (error, request, reply) => {
      // Raised before any hook ran (a malformed URL): the header is set here instead.
      void sendError(
        reply.header(REQUEST_ID_HEADER, request.id),
        toErrorAnswer(error, config.bodyLimitBytes),
      );
    },
  });

  // The first hook of every route (and of 404s), so rejections by later hooks carry it too.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorAnswer(error, config.bodyLimitBytes);
    const platform = request.routeOptions.config?.platform;
    if (platform) metrics.countWebhook(platform, OUTCOME_BY_CODE[answer.code] ?? 'rejected_internal');
    if (answer.status >= 500 && answer.code === 'ERR_INTERNAL')
      request.log.error({ err: error, reqId: request.id, url: request.url }, 'request failed');
    return sendError(reply, answer);
  });

  app.setNotFoundHandler((_request, reply) =>
    sendError(reply, { status: 404, code: 'ERR_NOT_FOUND', message: 'not found' }),
  );

  // Each route gets its own duration hook with its URL captured: request.routeOptions builds a
  // new object on every access, too much for every request. Unmatched requests (404) are not timed.
  app.addHook('onRoute', (route) => {
    const url = route.url;
    const observe: onResponseHookHandler = (request, reply, done) => {
      metrics.observeRequest(url, request.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    };
    route.onResponse = route.onResponse === undefined ? [observe] : [route.onResponse, observe].flat();
  });

  app.get('/healthz', () => ({ ok: true }));

  app.get('/readyz', async (_request, reply) => {
    if (!(await pingRedis(redis))) {
      return sendError(reply, { status: 503, code: 'ERR_UNAVAILABLE', message: 'redis unreachable' });
    }
    const report = deps.readiness?.();
    if (!report || report.ready) return { ok: true };
    return sendError(reply, {
      status: 503,
      code: 'ERR_UNAVAILABLE',
      message: `not ready: ${report.problems.join('; ')}`,
    });
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await deps.metrics.metrics();
    return reply.type(deps.metrics.contentType).send(text);
  });

  if (deps.oauth) void app.register(oauthRoutes, { connector: deps.oauth, logger });

  void app.register(webhookRoutes, {
    handlers,
    appender: createEventAppender({
      redis,
      streamKey: config.streamKey,
      streamMaxLen: config.streamMaxLen,
      dedupeTtlSeconds: config.dedupeTtlSeconds,
    }),
    metrics,
    clock,
    logger,
    redis,
    bodyLimitBytes: config.bodyLimitBytes,
    rateLimitPerMinute: config.webhookRateLimitPerMinute,
    rateLimitKeyPrefix: `${config.streamKey}:ratelimit:`,
  });

  return app;
}
