/** Worker metrics, registered on the registry the process passes in. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export function createConsumerMetrics(registry: Registry) {
  const registers = [registry];
  return {
    entries: new Counter({
      name: 'market_ingest_worker_entries_total',
      help: 'Stream entries handled by the worker, by outcome: read, reclaimed (from a stalled worker), acked, retried (own failure, attempt spent), deferred (marketplace or shop record unavailable, nothing spent), held (MongoDB/Redis down, kept in hand), dead_lettered, lost (another worker owned it by then), abandoned (batch past BATCH_TIMEOUT_MS), trimmed (deleted from the stream unprocessed)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    apiIds: new Counter({
      name: 'market_ingest_worker_entity_ids_total',
      help: 'Entity ids per decision: fetched from the marketplace, or skipped as already up to date in MongoDB',
      labelNames: ['decision'] as const,
      registers,
    }),
    detailCalls: new Counter({
      name: 'market_ingest_worker_detail_calls_total',
      help: 'Marketplace detail calls the worker asked for: per shop and kind, ceil(ids / DETAIL_BATCH_SIZE); retries and auxiliary calls (Shopee tracking numbers, models) not included',
      registers,
    }),
    documentsWritten: new Counter({
      name: 'market_ingest_worker_documents_written_total',
      help: 'Documents inserted or updated in MongoDB',
      registers,
    }),
    batchDuration: new Histogram({
      name: 'market_ingest_worker_batch_duration_seconds',
      help: 'Time to process one batch, from read to ack',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    groupLag: new Gauge({
      name: 'market_ingest_worker_group_lag',
      help: 'Entries in the stream not yet delivered to the consumer group (XINFO GROUPS lag)',
      registers,
    }),
    retryScheduled: new Gauge({
      name: 'market_ingest_worker_retry_scheduled',
      help: 'Entries waiting in the retry schedule (<STREAM_KEY>:retry) for their next try',
      registers,
    }),
    dependencyUp: new Gauge({
      name: 'market_ingest_worker_dependency_up',
      help: 'Whether the worker can reach a dependency (1) or is holding its batch while it is down (0)',
      labelNames: ['dependency'] as const,
      registers,
    }),
    groupPending: new Gauge({
      name: 'market_ingest_worker_group_pending',
      help: 'Entries delivered but not acknowledged (XPENDING count)',
      registers,
    }),
    deadLetterLength: new Gauge({
      name: 'market_ingest_dead_letter_stream_length',
      help: 'Entries in the dead-letter stream (XLEN of DEAD_LETTER_STREAM_KEY): dead letters not yet replayed or purged',
      registers,
    }),
  };
}

export type ConsumerMetrics = ReturnType<typeof createConsumerMetrics>;
