/**
 * Keeping a batch claimed while its worker lives (bullmq's lock renewal): every CLAIM_IDLE_MS/3
 * the in-flight entries this consumer still owns get XCLAIM … JUSTID (group.ts `keepClaimed`),
 * which resets their idle time without counting a delivery. So other workers reclaim entries
 * only from a worker that died or hung, never from a slow one.
 */
import type { Logger } from '../shared/logger.js';
import type { ConsumerGroup } from './group.js';

export interface ClaimRenewal {
  /** Stops renewing these ids (settled, or given up). */
  release(ids: readonly string[]): void;
  /** Stops renewing altogether. */
  stop(): void;
}

export function keepClaimed(
  group: Pick<ConsumerGroup, 'keepClaimed'>,
  ids: readonly string[],
  intervalMs: number,
  log: Logger,
): ClaimRenewal {
  const renewing = new Set(ids);
  let busy = false;
  const timer = setInterval(() => {
    if (busy || renewing.size === 0) return;
    busy = true;
    group
      .keepClaimed([...renewing])
      .then((kept) => {
        const lost = [...renewing].filter((id) => !kept.has(id));
        if (lost.length === 0) return;
        for (const id of lost) renewing.delete(id);
        log.warn({ count: lost.length }, 'in-flight entries were claimed by another worker');
      })
      .catch((error: unknown) => log.debug({ err: error }, 'claim renewal failed'))
      .finally(() => (busy = false));
  }, intervalMs);
  timer.unref();
  return {
    release: (released) => released.forEach((id) => renewing.delete(id)),
    stop: () => clearInterval(timer),
  };
}
