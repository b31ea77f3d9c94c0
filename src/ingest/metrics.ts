/** The ingest role's metrics, added to the registry it is given. */
import { Counter, Histogram, type Registry } from 'prom-client';

import type { Platform } from '../shared/stream.js';

/** What happened to one webhook; rejections name their reason (CONTRACT §3 error codes). */
export type WebhookOutcomeLabel =
  | 'accepted'
  | 'duplicate'
  | 'ignored'
  | 'rejected_signature'
  | 'rejected_payload'
  | 'rejected_too_large'
  | 'rejected_media_type'
  | 'rejected_rate_limited'
  | 'rejected_unavailable'
  | 'rejected_backlog_full'
  | 'rejected_not_found'
  | 'rejected_internal';

export interface IngestMetrics {
  countWebhook(platform: Platform, outcome: WebhookOutcomeLabel): void;
  countAppendFailure(platform: Platform): void;
  countBacklogFull(platform: Platform): void;
  observeRequest(route: string, method: string, statusCode: number, seconds: number): void;
}

export function createIngestMetrics(registry: Registry): IngestMetrics {
  const webhooks = new Counter({
    name: 'market_ingest_webhooks_total',
    help: 'Webhooks received, by platform and outcome',
    labelNames: ['platform', 'outcome'] as const,
    registers: [registry],
  });
  const appendFailures = new Counter({
    name: 'market_ingest_xadd_failures_total',
    help: 'Dedupe+XADD steps that failed (Redis unreachable or erroring); the webhook was answered 503',
    labelNames: ['platform'] as const,
    registers: [registry],
  });
  const backlogFull = new Counter({
    name: 'market_ingest_ingest_backlog_full_total',
    help: 'Webhooks refused with 503 because the event stream held STREAM_MAXLEN entries (workers behind or stopped)',
    labelNames: ['platform'] as const,
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: 'market_ingest_http_request_duration_seconds',
    help: 'HTTP request duration, by route, method and status code',
    labelNames: ['route', 'method', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  return {
    countWebhook: (platform, outcome) => webhooks.inc({ platform, outcome }),
    countAppendFailure: (platform) => appendFailures.inc({ platform }),
    countBacklogFull: (platform) => backlogFull.inc({ platform }),
    observeRequest: (route, method, statusCode, seconds) =>
      requestDuration.observe({ route, method, status_code: statusCode }, seconds),
  };
}
