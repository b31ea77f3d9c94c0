/**
 * Runs reconcile on RECONCILE_CRON in TIMEZONE. A run never overlaps another: not in this
 * process (a tick while one runs is skipped), and not across replicas (a Redis lease; the
 * replicas that do not get it log that they skipped).
 */
import { schedule, type ScheduledTask } from 'node-cron';

import type { Config } from '../shared/config.js';
import { tryAcquireLease } from '../shared/lock.js';
import type { Logger } from '../shared/logger.js';
import type { Redis } from '../shared/redis.js';
import type { Reconciler, RunRequest, RunSummary } from './job.js';

export const LEASE_TTL_MS = 60_000;

export interface SchedulerDeps {
  config: Pick<Config, 'reconcileCron' | 'timezone' | 'streamKey'>;
  redis: Redis;
  reconciler: Reconciler;
  logger: Logger;
  leaseTtlMs?: number;
}

export type ExclusiveRunResult = { ran: true; summary: RunSummary } | { ran: false; reason: string };

export function lockKey(streamKey: string): string {
  return `${streamKey}:reconcile:lock`;
}

export function createReconcileScheduler(deps: SchedulerDeps) {
  const log = deps.logger.child({ component: 'reconcile-scheduler' });
  let task: ScheduledTask | undefined;
  let current: Promise<ExclusiveRunResult> | undefined;
  let loading: Promise<void> | undefined;
  let closing = false;
  let closed: Promise<void> | undefined;

  /** One run, only if no other run holds the cluster-wide lease. */
  async function runExclusive(request: Omit<RunRequest, 'shouldStop'>): Promise<ExclusiveRunResult> {
    if (current) {
      log.warn('previous reconcile run still in progress; skipped');
      return { ran: false, reason: 'a run is already in progress in this process' };
    }
    const attempt = (async (): Promise<ExclusiveRunResult> => {
      const lease = await tryAcquireLease({
        redis: deps.redis,
        key: lockKey(deps.config.streamKey),
        ttlMs: deps.leaseTtlMs ?? LEASE_TTL_MS,
        logger: log,
      });
      if (!lease) {
        log.info('another replica holds the reconcile lease; skipped');
        return { ran: false, reason: 'another replica is running reconcile' };
      }
      try {
        const summary = await deps.reconciler.run({ ...request, shouldStop: () => closing || !lease.held });
        return { ran: true, summary };
      } finally {
        await lease.release();
      }
    })();
    current = attempt;
    try {
      return await attempt;
    } finally {
      current = undefined;
    }
  }

  return {
    runExclusive,
    start(): void {
      if (task || closing) return;
      task = schedule(
        deps.config.reconcileCron,
        async () => {
          try {
            await runExclusive({ trigger: 'cron', mode: { type: 'today' } });
          } catch (error) {
            log.error({ err: error }, 'scheduled reconcile failed');
          }
        },
        { timezone: deps.config.timezone, name: 'reconcile', noOverlap: true },
      );
      log.info({ cron: deps.config.reconcileCron, timezone: deps.config.timezone }, 'reconcile scheduled');
      // The last-success gauges from sync_runs: a restarted process reports them before its first run.
      loading = deps.reconciler.loadLastSuccess().catch((error: unknown) => {
        log.warn({ err: error }, 'could not load the last successful runs for metrics');
      });
    },
    /** Stops the schedule; a run in progress stops between pages and records itself. Idempotent. */
    close(): Promise<void> {
      closed ??= (async () => {
        closing = true;
        await task?.destroy();
        await current?.catch(() => undefined);
        await loading;
      })();
      return closed;
    },
  };
}

export type ReconcileScheduler = ReturnType<typeof createReconcileScheduler>;
