/**
 * The consumer-group loop, as named steps (group.ts does each step's Redis side):
 *
 *   housekeeping  promote due retries into the stream, trim what every group has acked, and
 *                 reclaim entries of stalled workers (each on its own interval);
 *   read          XREADGROUP a batch on the dedicated blocking connection;
 *   keep claimed  claims.ts: while the batch is in hand, renew its entries every CLAIM_IDLE_MS/3,
 *                 so no other worker takes them from a live worker (bullmq's lock renewal);
 *   process       process-batch.ts, within BATCH_TIMEOUT_MS — a verdict per entry;
 *   decide        retry-policy.ts turns each verdict into ack / retry / defer / dead / hold;
 *   apply         apply.ts: change notifications, dead letters recorded in MongoDB, then one
 *                 script that acks, schedules retries and dead-letters (only entries still ours).
 *
 * When MongoDB or Redis is down the worker keeps its batch claimed and in hand, waits with a
 * growing delay, and processes the same batch again: an outage spends no delivery and no retry
 * attempt, and nothing is dead-lettered until a real attempt fails after it. MAX_DELIVERIES
 * counts only deliveries that ended without any verdict — the worker died or hung on the entry.
 *
 * One batch is in flight at a time per worker; scale out with more workers in the group.
 */
import type { Config } from '../shared/config.js';
import { AppError, messageOf } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ReadinessReport } from '../shared/readiness.js';
import { isRedisConnectionError, type Redis } from '../shared/redis.js';
import {
  decodeRetryState,
  fieldsToRecord,
  type ChangeNotification,
  type StreamEvent,
} from '../shared/stream.js';
import { createDecisionApplier, type Decided } from './apply.js';
import { keepClaimed } from './claims.js';
import { deliveryLimitError, type FailureRecorder } from './dead-letter.js';
import type { BatchEntry, ConsumerGroup } from './group.js';
import { createWorkerHealth, type WorkerHealth } from './health.js';
import type { ConsumerMetrics } from './metrics.js';
import type { BatchProcessor, BatchResult, Verdict } from './process-batch.js';
import type { StreamMetrics, StreamTrimmer } from './trim.js';
import { createRetryPolicy, decide, type RetryPolicy } from './retry-policy.js';

export { ensureConsumerGroup } from './group.js';

export type WorkerConfig = Pick<
  Config,
  | 'consumerName'
  | 'batchSize'
  | 'maxDeliveries'
  | 'claimIdleMs'
  | 'retryWindowMs'
  | 'batchTimeoutMs'
  | 'changesStreamKey'
  | 'streamKey'
  | 'streamMaxLen'
  | 'deadLetterStreamKey'
>;

export interface WorkerDeps {
  config: WorkerConfig;
  /** Commands: change notifications. */
  redis: Redis;
  group: ConsumerGroup;
  processBatch: BatchProcessor;
  failures: FailureRecorder;
  /** Trims the event stream below what every consumer group has acknowledged. */
  trimmer?: StreamTrimmer;
  logger: Logger;
  metrics?: ConsumerMetrics;
  streamMetrics?: StreamMetrics;
  health?: WorkerHealth;
  policy?: RetryPolicy;
  /** Longest XREADGROUP block; also bounds how late housekeeping or a stop is noticed. */
  blockMs?: number;
  reclaimIntervalMs?: number;
  /** How often due retries are moved back into the stream. */
  promoteIntervalMs?: number;
  trimIntervalMs?: number;
  /** How often the gauges are refreshed (XINFO GROUPS, the retry schedule). */
  gaugeIntervalMs?: number;
  now?: () => number;
}

export interface Worker {
  /** Runs until close(); resolves when the loop has stopped. */
  run(): Promise<void>;
  /** Stops reading, lets the batch in flight finish (bounded by timeoutMs), then returns. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
  /** For `/readyz`: unavailable dependencies and unreadable shops. */
  health(): ReadinessReport;
}

const GAUGE_INTERVAL_MS = 5_000;
const PROMOTE_INTERVAL_MS = 1_000;
const TRIM_INTERVAL_MS = 5_000;
/** Reclaim rounds per housekeeping, so new entries are not starved by a large pending list. */
const MAX_RECLAIM_ROUNDS = 10;

export function createWorker(deps: WorkerDeps): Worker {
  const { config, group } = deps;
  const log = deps.logger.child({ component: 'worker', consumer: config.consumerName });
  const now = deps.now ?? Date.now;
  const health = deps.health ?? createWorkerHealth({ logger: log, now });
  const policy = deps.policy ?? createRetryPolicy({ retryWindowMs: config.retryWindowMs });
  const metrics = deps.metrics;
  const blockMs = deps.blockMs ?? 2_000;
  const reclaimIntervalMs = deps.reclaimIntervalMs ?? Math.max(500, Math.floor(config.claimIdleMs / 2));
  const renewIntervalMs = Math.max(100, Math.floor(config.claimIdleMs / 3));
  let stopping = false;
  let running: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  let gaugeTimer: NodeJS.Timeout | undefined;
  const next = { promote: 0, trim: 0, reclaim: 0 };

  /** Sleeps, or returns early when close() is called. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  // ---------------------------------------------------------------------------------------------
  // process, decide, apply (apply.ts)

  /** The batch's verdicts, or undefined when it ran past BATCH_TIMEOUT_MS (it is given up). */
  async function processWithinBudget(entries: readonly BatchEntry[]): Promise<BatchResult | undefined> {
    const work = deps.processBatch(entries);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), config.batchTimeoutMs);
    });
    try {
      const outcome = await Promise.race([work, timeout]);
      if (outcome !== 'timeout') return outcome;
      work.catch(() => undefined); // still running; its late result is not used
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  function decideAll(entries: readonly BatchEntry[], result: BatchResult): Decided[] {
    const at = now();
    return entries.map((entry) => {
      const verdict: Verdict = result.verdicts.get(entry.id) ?? {
        action: 'fail',
        error: new AppError('ERR_INTERNAL', 'the batch processor gave no verdict'),
        cause: 'entry',
      };
      const decision = decide(verdict, decodeRetryState(entry.fields, entry.id), at, policy);
      if (decision.action === 'defer' && decision.error.code === 'ERR_SHOP_UNREADABLE') {
        const { platform = '?', shop_id: shopId = '?' } = fieldsToRecord(entry.fields);
        health.shopUnreadable(platform, shopId, decision.error);
      }
      return { entry, decision };
    });
  }

  /** Runs a Redis step, waiting through a Redis outage (not through other errors, or a stop). */
  async function whileRedisDown<T>(step: () => Promise<T>, holding: number): Promise<T> {
    for (;;) {
      try {
        const result = await step();
        health.recovered('redis');
        return result;
      } catch (error) {
        if (stopping || !isRedisConnectionError(error)) throw error;
        const appError = new AppError('ERR_REDIS_UNAVAILABLE', messageOf(error), { cause: error });
        await pause(health.outageDelay('redis', appError, holding));
      }
    }
  }

  const applier = createDecisionApplier({
    config,
    redis: deps.redis,
    group,
    failures: deps.failures,
    logger: log,
    metrics,
    now,
    whileRedisDown,
  });

  // ---------------------------------------------------------------------------------------------
  // the batch

  async function runBatch(entries: BatchEntry[]): Promise<void> {
    const started = process.hrtime.bigint();
    metrics?.entries.inc({ outcome: 'read' }, entries.length);
    const renewal = keepClaimed(
      group,
      entries.map((e) => e.id),
      renewIntervalMs,
      log,
    );
    try {
      let decided: Decided[] = entries
        .filter((entry) => entry.deliveries > config.maxDeliveries)
        .map((entry) => ({
          entry,
          decision: { action: 'dead', error: deliveryLimitError(entry, config.maxDeliveries) },
        }));
      let todo = entries.filter((entry) => entry.deliveries <= config.maxDeliveries);
      for (;;) {
        let changes: ChangeNotification[] = [];
        let followUps: StreamEvent[] = [];
        if (todo.length > 0) {
          const result = await processWithinBudget(todo);
          if (result) {
            decided.push(...decideAll(todo, result));
            changes = result.changes;
            followUps = result.followUps;
            recordStats(result);
          } else {
            giveUp(todo, renewal);
          }
        }
        const held = await applier.apply(decided, changes, followUps);
        if (held.length === 0) {
          health.recovered('mongodb');
          return;
        }
        if (stopping) return await applier.release(held);
        metrics?.entries.inc({ outcome: 'held' }, held.length);
        renewal.release(decided.filter((d) => d.decision.action !== 'hold').map((d) => d.entry.id));
        const error = (held[0]!.decision as { error: AppError }).error;
        await pause(
          health.outageDelay(
            error.code === 'ERR_REDIS_UNAVAILABLE' ? 'redis' : 'mongodb',
            error,
            held.length,
          ),
        );
        todo = held.map((d) => ({ ...d.entry, heldBefore: true }));
        decided = [];
      }
    } finally {
      renewal.stop();
      metrics?.batchDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  function giveUp(entries: readonly BatchEntry[], renewal: { release(ids: readonly string[]): void }): void {
    renewal.release(entries.map((e) => e.id));
    metrics?.entries.inc({ outcome: 'abandoned' }, entries.length);
    log.error(
      { count: entries.length, batch_timeout_ms: config.batchTimeoutMs },
      'batch ran past BATCH_TIMEOUT_MS; its entries are left to be reclaimed as stalled',
    );
  }

  function recordStats(result: BatchResult): void {
    if (!metrics) return;
    metrics.apiIds.inc({ decision: 'fetched' }, result.stats.fetched);
    metrics.apiIds.inc({ decision: 'up_to_date' }, result.stats.upToDate);
    metrics.detailCalls.inc(result.stats.detailCalls);
    metrics.documentsWritten.inc(result.stats.written);
  }

  // ---------------------------------------------------------------------------------------------
  // housekeeping: due retries, trimming, stalled entries

  async function reclaim(): Promise<void> {
    let cursor = '0-0';
    for (let round = 0; round < MAX_RECLAIM_ROUNDS && !stopping; round++) {
      const claim = await group.claimStalled(config.claimIdleMs, cursor, config.batchSize);
      if (claim.deleted.length > 0) await recordDeleted(claim.deleted);
      if (claim.entries.length > 0) {
        log.info({ count: claim.entries.length }, 'reclaimed entries of a stalled worker');
        metrics?.entries.inc({ outcome: 'reclaimed' }, claim.entries.length);
        await runBatch(claim.entries);
      }
      cursor = claim.next;
      if (cursor === '0-0') break;
    }
  }

  /** Pending entries deleted from the stream (acked by the claim script) are never silent. */
  async function recordDeleted(ids: string[]): Promise<void> {
    metrics?.entries.inc({ outcome: 'trimmed' }, ids.length);
    log.error(
      { count: ids.length, stream_ids: ids.slice(0, 20) },
      'pending entries were deleted from the stream unprocessed',
    );
    await deps.failures.recordDeleted(ids).catch((error: unknown) => {
      log.error({ err: error, stream_ids: ids }, 'could not record deleted entries in sync_failures');
    });
  }

  async function housekeeping(): Promise<void> {
    const at = now();
    if (at >= next.promote) {
      const promoted = await group.promoteDueRetries(at, config.batchSize);
      if (promoted > 0) log.debug({ count: promoted }, 'due retries back in the stream');
      next.promote =
        promoted === config.batchSize ? at : at + (deps.promoteIntervalMs ?? PROMOTE_INTERVAL_MS);
    }
    if (deps.trimmer && at >= next.trim) {
      const trimmed = await deps.trimmer.trim();
      deps.streamMetrics?.observe(trimmed);
      next.trim = at + (deps.trimIntervalMs ?? TRIM_INTERVAL_MS);
    }
    if (at >= next.reclaim) {
      await reclaim();
      next.reclaim = now() + reclaimIntervalMs;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // gauges and the loop

  async function refreshGauges(): Promise<void> {
    if (!metrics) return;
    const [lagAndPending, schedule, deadLetters] = await Promise.all([
      group.lagAndPending(),
      group.retrySchedule(),
      deps.redis.xlen(config.deadLetterStreamKey),
    ]);
    metrics.deadLetterLength.set(deadLetters);
    metrics.groupPending.set(lagAndPending.pending);
    // lag is nil when Redis cannot compute it (e.g. after deletions): leave the last value.
    if (lagAndPending.lag !== null) metrics.groupLag.set(lagAndPending.lag);
    metrics.retryScheduled.set(schedule.size);
    for (const dependency of ['mongodb', 'redis'] as const) {
      metrics.dependencyUp.set({ dependency }, health.isUp(dependency) ? 1 : 0);
    }
  }

  async function loop(): Promise<void> {
    await group.ensure();
    log.info('worker started');
    let failures = 0;
    while (!stopping) {
      try {
        await housekeeping();
        if (stopping) break;
        const entries = await group.readNew(config.batchSize, blockMs);
        if (entries.length > 0) await runBatch(entries);
        failures = 0;
      } catch (error) {
        if (stopping) break;
        failures++;
        if (messageOf(error).includes('NOGROUP')) {
          // Redis lost the group (restart without persistence): recreate it and carry on.
          log.warn('consumer group missing; recreating it');
          await group.ensure().catch(() => undefined);
        } else {
          log.error({ err: error, failures }, 'worker step failed; entries stay pending');
        }
        await pause(Math.min(100 * 2 ** Math.min(failures, 6), 5_000));
      }
    }
    await leaveGroupIfIdle();
    log.info('worker stopped');
  }

  /**
   * A cleanly stopped worker with nothing pending removes its consumer name, so restarts (new
   * container, new `<hostname>-<pid>`) do not pile up dead names in the group. With entries still
   * pending the name stays: they are reclaimed from it after CLAIM_IDLE_MS.
   */
  async function leaveGroupIfIdle(): Promise<void> {
    try {
      const left = await group.leaveIfIdle();
      log.debug({ left }, left ? 'consumer name removed from the group' : 'consumer keeps pending entries');
    } catch (error) {
      log.warn({ err: error }, 'could not remove the consumer name from the group');
    }
  }

  return {
    run() {
      if (!running && metrics) {
        // On a timer, not in the loop: a long batch must not freeze what ops see.
        gaugeTimer = setInterval(() => {
          refreshGauges().catch(() => undefined);
        }, deps.gaugeIntervalMs ?? GAUGE_INTERVAL_MS);
        gaugeTimer.unref();
      }
      running ??= loop();
      return running;
    },
    close(timeoutMs = 10_000) {
      closing ??= (async () => {
        stopping = true;
        clearInterval(gaugeTimer);
        wakeUp?.();
        if (!running) return;
        // Wait for the batch in flight; a blocked XREADGROUP returns within blockMs.
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        });
        const outcome = await Promise.race([running.then(() => 'done' as const), timedOut]);
        clearTimeout(timer);
        if (outcome === 'timeout') log.warn('batch did not finish in time; its entries stay pending');
      })();
      return closing;
    },
    health: () => health.report(),
  };
}
