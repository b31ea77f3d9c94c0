/**
 * The reconcile role: the cron scheduler (`market-ingest reconcile`) and one run now
 * (`market-ingest reconcile run …`), both on a runtime's clients, shop store and adapters.
 */
import { installGracefulShutdown, type Closable } from '../shared/lifecycle.js';
import { standaloneRoleTail, type Runtime } from '../runtime.js';
import { createReconciler, type RunProgress } from './job.js';
import { registerAuthorizationExpiry } from './authorization-metrics.js';
import { createReconcileMetrics } from './metrics.js';
import { createReconcileScheduler, type ExclusiveRunResult, type ReconcileScheduler } from './scheduler.js';

export function buildReconcileScheduler(runtime: Runtime): ReconcileScheduler {
  registerAuthorizationExpiry({ registry: runtime.metrics, shops: runtime.shops, logger: runtime.logger });
  const reconciler = createReconciler({
    config: runtime.config,
    redis: runtime.redis,
    db: runtime.mongo.db,
    shops: runtime.shops,
    adapters: runtime.adapters,
    logger: runtime.logger,
    metrics: createReconcileMetrics(runtime.metrics),
  });
  return createReconcileScheduler({
    config: runtime.config,
    redis: runtime.redis,
    reconciler,
    logger: runtime.logger,
  });
}

/** `market-ingest reconcile`: the schedule, until SIGTERM/SIGINT. */
export async function runReconcileRole(runtime: Runtime): Promise<number> {
  const { config, logger } = runtime;
  const scheduler = buildReconcileScheduler(runtime);
  scheduler.start();
  const components: Closable[] = [{ name: 'reconcile', close: () => scheduler.close() }];
  components.push(...(await standaloneRoleTail(runtime)));
  return installGracefulShutdown({ components, timeoutMs: config.shutdownTimeoutMs, logger }).finished;
}

/** A one-line progress display for a terminal: shops × days done, enqueued, rate, ETA. */
export function formatProgress(progress: RunProgress, now: Date): string {
  const elapsedS = Math.max(0.001, (now.getTime() - progress.startedAt.getTime()) / 1000);
  const rate = progress.enqueued / elapsedS;
  const fraction = progress.chunksTotal === 0 ? 1 : progress.chunksDone / progress.chunksTotal;
  const width = 24;
  const filled = Math.round(fraction * width);
  const etaS = fraction > 0 ? (elapsedS / fraction) * (1 - fraction) : 0;
  return (
    `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${progress.chunksDone}/${progress.chunksTotal} shop-days` +
    `  ${progress.enqueued} enqueued  ${rate.toFixed(0)}/s  ETA ${formatSeconds(etaS)}`
  );
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${Math.ceil(seconds % 60)}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}

export type { ExclusiveRunResult };
