/**
 * The consumer-group loop: read a batch on a dedicated blocking connection, process it, then
 * apply the verdicts — change notifications, XACK of what was written, dead letters. Entries
 * whose processing failed in a retryable way stay pending; every `reclaimIntervalMs` the loop
 * takes over entries idle longer than CLAIM_IDLE_MS (XAUTOCLAIM), its own included, and
 * dead-letters those delivered more than MAX_DELIVERIES times.
 *
 * Reading and reclaiming share one loop, so one batch is in flight at a time per worker;
 * scale out with more workers in the group.
 */
import type { Config } from '../shared/config.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Redis } from '../shared/redis.js';
import { encodeChangeNotification } from '../shared/stream.js';
import type { DeadLetter, DeadLetterWriter } from './dead-letter.js';
import type { ConsumerMetrics } from './metrics.js';
import type { BatchEntry, BatchProcessor } from './process-batch.js';

export type WorkerConfig = Pick<
  Config,
  | 'streamKey'
  | 'consumerGroup'
  | 'consumerName'
  | 'batchSize'
  | 'maxDeliveries'
  | 'claimIdleMs'
  | 'changesStreamKey'
  | 'streamMaxLen'
>;

export interface WorkerDeps {
  config: WorkerConfig;
  /** Commands (XACK, XADD, XAUTOCLAIM, …). */
  redis: Redis;
  /** Used for XREADGROUP BLOCK only: a blocked connection must never be shared. */
  blockingRedis: Redis;
  processBatch: BatchProcessor;
  deadLetter: DeadLetterWriter;
  logger: Logger;
  metrics?: ConsumerMetrics;
  /** Longest XREADGROUP block; also bounds how late a reclaim or a stop is noticed. */
  blockMs?: number;
  reclaimIntervalMs?: number;
  /** How often the consumer-group gauges are refreshed (XINFO GROUPS). */
  gaugeIntervalMs?: number;
}

/** Creates the group reading the whole stream; an existing group (BUSYGROUP) is fine. */
export async function ensureConsumerGroup(redis: Redis, streamKey: string, group: string): Promise<void> {
  try {
    // From the start of the stream, not `$`: events accepted before the first worker ever ran
    // must be processed too. Re-reading is safe: the version guard makes writes idempotent.
    await redis.xgroup('CREATE', streamKey, group, '0', 'MKSTREAM');
  } catch (error) {
    if (!(error instanceof Error && error.message.includes('BUSYGROUP'))) throw error;
  }
}

const GAUGE_INTERVAL_MS = 5_000;

export interface Worker {
  /** Runs until close(); resolves when the loop has stopped. */
  run(): Promise<void>;
  /** Stops reading, lets the batch in flight finish (bounded by timeoutMs), then returns. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
}

export function createWorker(deps: WorkerDeps): Worker {
  const { config, redis, blockingRedis } = deps;
  const log = deps.logger.child({ component: 'worker', consumer: config.consumerName });
  const blockMs = deps.blockMs ?? 2_000;
  const reclaimIntervalMs = deps.reclaimIntervalMs ?? Math.max(500, Math.floor(config.claimIdleMs / 2));
  let stopping = false;
  let running: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  let gaugeTimer: NodeJS.Timeout | undefined;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  async function readNew(): Promise<BatchEntry[]> {
    const reply = await blockingRedis.xreadgroup(
      'GROUP',
      config.consumerGroup,
      config.consumerName,
      'COUNT',
      config.batchSize,
      'BLOCK',
      blockMs,
      'STREAMS',
      config.streamKey,
      '>',
    );
    const entries = reply?.[0]?.[1] ?? [];
    return entries.flatMap(([id, fields]) => (fields ? [{ id, fields, deliveries: 1 }] : []));
  }

  /** Delivery counts of the given entries, now owned by this consumer. */
  async function deliveryCounts(ids: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (ids.length === 0) return counts;
    const sorted = [...ids].sort(compareStreamIds);
    const rows = (await redis.xpending(
      config.streamKey,
      config.consumerGroup,
      sorted[0]!,
      sorted[sorted.length - 1]!,
      Math.max(ids.length, config.batchSize),
      config.consumerName,
    )) as [string, string, number, number][];
    for (const [id, , , delivered] of rows) counts.set(id, delivered);
    return counts;
  }

  async function reclaim(): Promise<void> {
    let cursor = '0-0';
    // Bounded per round so new entries are not starved by a large pending list.
    for (let round = 0; round < 10 && !stopping; round++) {
      const [next, claimed] = (await redis.xautoclaim(
        config.streamKey,
        config.consumerGroup,
        config.consumerName,
        config.claimIdleMs,
        cursor,
        'COUNT',
        config.batchSize,
      )) as [string, [string, string[] | null][]];
      const live = claimed.filter((c): c is [string, string[]] => c[1] !== null);
      if (live.length > 0) {
        const counts = await deliveryCounts(live.map(([id]) => id));
        log.info({ count: live.length }, 'reclaimed idle pending entries');
        await handleBatch(live.map(([id, fields]) => ({ id, fields, deliveries: counts.get(id) ?? 1 })));
      }
      cursor = next;
      if (cursor === '0-0') break;
    }
  }

  async function handleBatch(entries: BatchEntry[]): Promise<void> {
    const started = process.hrtime.bigint();
    deps.metrics?.entries.inc({ outcome: 'read' }, entries.length);
    const deadLetters: DeadLetter[] = [];
    const fresh: BatchEntry[] = [];
    for (const entry of entries) {
      if (entry.deliveries > config.maxDeliveries) {
        deadLetters.push({
          entry,
          error: new AppError(
            'ERR_DELIVERY_LIMIT',
            `delivered ${entry.deliveries} times (MAX_DELIVERIES ${config.maxDeliveries}) without completing`,
          ),
        });
      } else {
        fresh.push(entry);
      }
    }

    const result = await deps.processBatch(fresh);
    const ackIds: string[] = [];
    let pending = 0;
    for (const entry of fresh) {
      const verdict = result.verdicts.get(entry.id);
      if (!verdict) {
        pending++;
      } else if (verdict.action === 'ack') {
        ackIds.push(entry.id);
      } else if (verdict.action === 'dead' || entry.deliveries >= config.maxDeliveries) {
        deadLetters.push({ entry, error: verdict.error });
      } else {
        pending++;
        log.warn(
          { stream_id: entry.id, deliveries: entry.deliveries, err: verdict.error.toJSON() },
          'entry left pending',
        );
      }
    }

    // Notify downstream after the write and before the ack. A notification lost to a crash
    // right here is sent again when the entry is redelivered (see process-batch).
    if (result.changes.length > 0) {
      const pipeline = redis.pipeline();
      for (const change of result.changes) {
        pipeline.xadd(
          config.changesStreamKey,
          'MAXLEN',
          '~',
          config.streamMaxLen,
          '*',
          ...encodeChangeNotification(change),
        );
      }
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error);
      if (failed) throw failed[0]!;
    }
    if (ackIds.length > 0) await redis.xack(config.streamKey, config.consumerGroup, ...ackIds);
    if (deadLetters.length > 0) {
      for (const { entry, error } of deadLetters) {
        log.error(
          { stream_id: entry.id, deliveries: entry.deliveries, err: error.toJSON() },
          'entry dead-lettered',
        );
      }
      await deps.deadLetter(deadLetters);
    }

    const metrics = deps.metrics;
    if (metrics) {
      metrics.entries.inc({ outcome: 'acked' }, ackIds.length);
      metrics.entries.inc({ outcome: 'pending' }, pending);
      metrics.entries.inc({ outcome: 'dead_lettered' }, deadLetters.length);
      metrics.apiIds.inc({ decision: 'fetched' }, result.stats.fetched);
      metrics.apiIds.inc({ decision: 'up_to_date' }, result.stats.upToDate);
      metrics.detailCalls.inc(result.stats.detailCalls);
      metrics.documentsWritten.inc(result.stats.written);
      metrics.batchDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /** Consumer-group lag and pending count for the gauges (XINFO GROUPS). */
  async function refreshGroupGauges(): Promise<void> {
    const metrics = deps.metrics;
    if (!metrics) return;
    const groups = (await redis.xinfo('GROUPS', config.streamKey)) as unknown[][];
    for (const group of groups) {
      const record: Record<string, unknown> = {};
      for (let i = 0; i + 1 < group.length; i += 2) record[String(group[i])] = group[i + 1];
      if (record.name !== config.consumerGroup) continue;
      metrics.groupPending.set(Number(record.pending) || 0);
      // lag is nil when Redis cannot compute it (e.g. after deletions): leave the last value.
      if (record.lag !== null && record.lag !== undefined) metrics.groupLag.set(Number(record.lag) || 0);
    }
  }

  async function loop(): Promise<void> {
    await ensureConsumerGroup(redis, config.streamKey, config.consumerGroup);
    log.info({ stream: config.streamKey, group: config.consumerGroup }, 'worker started');
    let nextReclaimAt = 0;
    let failures = 0;
    while (!stopping) {
      try {
        if (Date.now() >= nextReclaimAt) {
          await reclaim();
          nextReclaimAt = Date.now() + reclaimIntervalMs;
        }
        if (stopping) break;
        const entries = await readNew();
        if (entries.length > 0) await handleBatch(entries);
        failures = 0;
      } catch (error) {
        if (stopping) break;
        failures++;
        const message = error instanceof Error ? error.message : String(error);
        if (message.includes('NOGROUP')) {
          // Redis lost the group (restart without persistence): recreate it and carry on.
          log.warn('consumer group missing; recreating it');
          await ensureConsumerGroup(redis, config.streamKey, config.consumerGroup).catch(() => undefined);
        } else {
          log.error({ err: toAppError(error).toJSON(), failures }, 'batch failed; entries stay pending');
        }
        await pause(Math.min(100 * 2 ** Math.min(failures, 6), 5_000));
      }
    }
    log.info('worker stopped');
  }

  return {
    run() {
      if (!running && deps.metrics) {
        // On a timer, not in the loop: a long batch must not freeze what ops see.
        gaugeTimer = setInterval(() => {
          refreshGroupGauges().catch(() => undefined);
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
  };
}

function compareStreamIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bMs, bSeq] = b.split('-').map(BigInt) as [bigint, bigint];
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}
