/**
 * The worker role: wire the consumer group, the batch processor, the failure recorder and the
 * loop to a runtime (clients, shop store, adapters), run until a signal, close in order.
 */
import { installGracefulShutdown, type Closable } from '../shared/lifecycle.js';
import { standaloneRoleTail, type Runtime } from '../runtime.js';
import { createEntityStore } from '../shared/store/entities.js';
import { createFailureRecorder } from './dead-letter.js';
import { createConsumerGroup } from './group.js';
import { createConsumerMetrics } from './metrics.js';
import { createBatchProcessor } from './process-batch.js';
import { createStreamMetrics, createStreamTrimmer } from './trim.js';
import { createWorker, type Worker, type WorkerDeps } from './worker.js';

export type WorkerTuning = Pick<
  WorkerDeps,
  'blockMs' | 'reclaimIntervalMs' | 'gaugeIntervalMs' | 'promoteIntervalMs' | 'trimIntervalMs' | 'policy'
>;

/** Builds a worker on the runtime; the caller runs it (`worker.run()`) and closes it. */
export function buildWorker(runtime: Runtime, tuning: WorkerTuning = {}): Worker {
  const { config, logger, mongo } = runtime;
  const processBatch = createBatchProcessor({
    adapters: runtime.adapters,
    shops: runtime.shops,
    entities: createEntityStore({ db: mongo.db }),
    logger,
    timezoneOffset: config.timezoneOffset,
    shopConcurrency: config.shopConcurrency,
    detailBatchSize: config.detailBatchSize,
  });
  const group = createConsumerGroup({
    redis: runtime.redis,
    blockingRedis: runtime.extraRedis('blocking', 'blocking'),
    streamKey: config.streamKey,
    deadLetterStreamKey: config.deadLetterStreamKey,
    group: config.consumerGroup,
    consumer: config.consumerName,
  });
  return createWorker({
    config,
    redis: runtime.redis,
    group,
    processBatch,
    failures: createFailureRecorder({ db: mongo.db }),
    trimmer: createStreamTrimmer({ redis: runtime.redis, streamKey: config.streamKey }),
    logger,
    metrics: createConsumerMetrics(runtime.metrics),
    streamMetrics: createStreamMetrics(runtime.metrics, { streamMaxLen: config.streamMaxLen }),
    ...tuning,
  });
}

/** `market-ingest worker`: runs until SIGTERM/SIGINT; resolves with the exit code. */
export async function runWorkerRole(runtime: Runtime): Promise<number> {
  const { config, logger } = runtime;
  const worker = buildWorker(runtime);
  const components: Closable[] = [{ name: 'worker', close: () => worker.close(config.shutdownTimeoutMs) }];
  components.push(...(await standaloneRoleTail(runtime, () => worker.health())));
  const lifecycle = installGracefulShutdown({
    components,
    timeoutMs: config.shutdownTimeoutMs + 2_000,
    logger,
  });
  worker.run().catch((error: unknown) => {
    logger.fatal({ err: error }, 'worker stopped unexpectedly');
    void lifecycle.shutdown('worker failure', { failed: true });
  });
  return lifecycle.finished;
}
