/**
 * The last step of a batch: apply each entry's decision. In this order, so that nothing is acked
 * before what it owes is done:
 *
 * 1. change notifications for what was written (XADD to CHANGES_STREAM_KEY), and the entries
 *    those writes call for (e.g. the tracking of an order now on its way) to the event stream;
 * 2. dead letters recorded in `sync_failures` (MongoDB) — when that fails, those entries are
 *    held instead and tried again with the batch, never acked without their record;
 * 3. one script (group.ts `settle`): XACK, schedule retries, copy dead letters — only for entries
 *    this consumer still owns.
 *
 * Redis steps wait through a Redis outage (`whileRedisDown`, from the worker). What is held comes
 * back to the worker, which tries it again once the outage is over.
 */
import type { Config } from '../shared/config.js';
import { AppError, messageOf } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Redis } from '../shared/redis.js';
import {
  decodeRetryState,
  encodeChangeNotification,
  encodeStreamEntry,
  withRetryState,
  type ChangeNotification,
  type StreamEvent,
} from '../shared/stream.js';
import { deadLetterFields, type DeadLetter, type FailureRecorder } from './dead-letter.js';
import type { BatchEntry, ConsumerGroup, Settlement } from './group.js';
import type { ConsumerMetrics } from './metrics.js';
import type { Decision } from './retry-policy.js';

export interface Decided {
  entry: BatchEntry;
  decision: Decision;
}

export interface DecisionApplierDeps {
  config: Pick<Config, 'changesStreamKey' | 'streamKey' | 'streamMaxLen'>;
  redis: Redis;
  group: Pick<ConsumerGroup, 'settle'>;
  failures: FailureRecorder;
  logger: Logger;
  metrics?: ConsumerMetrics;
  now: () => number;
  /** Runs a Redis step, waiting while Redis is unreachable (`holding` entries meanwhile). */
  whileRedisDown<T>(step: () => Promise<T>, holding: number): Promise<T>;
}

export interface DecisionApplier {
  /** Notifies, records dead letters, settles; answers the entries held for another try. */
  apply(
    decided: Decided[],
    changes: readonly ChangeNotification[],
    followUps?: readonly StreamEvent[],
  ): Promise<Decided[]>;
  /** On shutdown, held entries go back to the schedule at once, so no delivery is counted for them. */
  release(held: Decided[]): Promise<void>;
}

export function createDecisionApplier(deps: DecisionApplierDeps): DecisionApplier {
  const { config, group, now, metrics } = deps;
  const whileRedisDown = <T>(step: () => Promise<T>, holding: number) => deps.whileRedisDown(step, holding);
  const log = deps.logger;

  /**
   * Notifications (capped, downstream's stream) and follow-up entries (owed work: never trimmed
   * nor refused at the cap, like retries) in one pipeline.
   */
  async function publish(
    changes: readonly ChangeNotification[],
    followUps: readonly StreamEvent[],
  ): Promise<void> {
    if (changes.length === 0 && followUps.length === 0) return;
    const pipeline = deps.redis.pipeline();
    for (const change of changes) {
      pipeline.xadd(
        config.changesStreamKey,
        'MAXLEN',
        '~',
        config.streamMaxLen,
        '*',
        ...encodeChangeNotification(change),
      );
    }
    for (const event of followUps) pipeline.xadd(config.streamKey, '*', ...encodeStreamEntry(event));
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0]!;
  }

  /**
   * Dead letters go to `sync_failures` first: when MongoDB refuses, those entries are held
   * instead (retried with the batch once it is back), never acked without their record.
   */
  async function recordDeadLetters(decided: Decided[]): Promise<Decided[]> {
    const dead = decided.filter((d) => d.decision.action === 'dead');
    if (dead.length === 0) return decided;
    try {
      await deps.failures.record(dead.map(toDeadLetter));
      return decided;
    } catch (error) {
      const hold: Decision = {
        action: 'hold',
        error: new AppError('ERR_MONGO_UNAVAILABLE', `recording dead letters failed: ${messageOf(error)}`),
      };
      return decided.map((d) => (d.decision.action === 'dead' ? { entry: d.entry, decision: hold } : d));
    }
  }

  async function apply(
    decided: Decided[],
    changes: readonly ChangeNotification[],
    followUps: readonly StreamEvent[] = [],
  ): Promise<Decided[]> {
    // Notify after the write and before the ack: a notification lost to a crash right here is
    // sent again when the entry is redelivered (process-batch). Follow-ups lost that way are
    // made up by reconcile.
    await whileRedisDown(() => publish(changes, followUps), decided.length);
    const final = await recordDeadLetters(decided);
    const held = final.filter((d) => d.decision.action === 'hold');
    const settling = final.filter((d) => d.decision.action !== 'hold');
    const deadAt = now();
    const settlements = settling.map((d) => toSettlement(d, deadAt));
    const applied = await whileRedisDown(() => group.settle(settlements), decided.length);
    reportSettled(settling, applied);
    return held;
  }

  function reportSettled(settled: Decided[], applied: boolean[]): void {
    const counts: Record<string, number> = {};
    settled.forEach(({ entry, decision }, i) => {
      const outcome = applied[i] ? OUTCOME_OF[decision.action] : 'lost';
      counts[outcome] = (counts[outcome] ?? 0) + 1;
      if (!applied[i] || decision.action === 'ack') return;
      const context = {
        stream_id: entry.id,
        deliveries: entry.deliveries,
        err: (decision as { error: AppError }).error,
      };
      if (decision.action === 'dead') log.error(context, 'entry dead-lettered');
      else
        log.debug(
          { ...context, due_at: (decision as { dueAt: number }).dueAt },
          `entry scheduled (${decision.action})`,
        );
    });
    if (counts.lost)
      log.warn({ count: counts.lost }, 'verdicts dropped: another worker owns those entries now');
    for (const [outcome, count] of Object.entries(counts)) metrics?.entries.inc({ outcome }, count);
  }

  async function release(held: Decided[]): Promise<void> {
    const at = now();
    const settlements: Settlement[] = held.map(({ entry }) => ({
      id: entry.id,
      type: 'retry',
      dueAt: at,
      fields: withRetryState(entry.fields, decodeRetryState(entry.fields, entry.id)),
    }));
    await group.settle(settlements).catch((error: unknown) => {
      log.warn({ err: error, count: held.length }, 'could not release held entries; they stay pending');
    });
  }

  return { apply, release };
}

const OUTCOME_OF: Record<Decision['action'], string> = {
  ack: 'acked',
  retry: 'retried',
  defer: 'deferred',
  dead: 'dead_lettered',
  hold: 'held',
};

function toDeadLetter({ entry, decision }: Decided): DeadLetter {
  return { entry, error: (decision as { error: AppError }).error };
}

function toSettlement(decided: Decided, deadAt: number): Settlement {
  const { entry, decision } = decided;
  switch (decision.action) {
    case 'ack':
      return { id: entry.id, type: 'ack' };
    case 'retry':
    case 'defer':
      return {
        id: entry.id,
        type: 'retry',
        dueAt: decision.dueAt,
        fields: withRetryState(entry.fields, decision.state),
      };
    case 'dead':
      return { id: entry.id, type: 'dead', fields: deadLetterFields(toDeadLetter(decided), deadAt) };
    case 'hold':
      throw new Error('a held entry is not settled');
  }
}
