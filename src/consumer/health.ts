/**
 * What the worker knows about its dependencies, for backoff, logs and readiness:
 *
 * - MongoDB or Redis unavailable: the worker holds its batch and waits with a growing delay
 *   (250 ms doubling to 30 s, jittered) — bounded CPU, and one log line every few seconds at most;
 * - a shop whose record cannot be read (ERR_SHOP_UNREADABLE, e.g. a wrong TOKEN_ENCRYPTION_KEY):
 *   its entries wait; an operator must act, so it is logged as an error (at most every 30 s per
 *   shop) and reported by `/readyz` until it has not been seen for a while.
 */
import type { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ReadinessReport } from '../shared/readiness.js';

export type Dependency = 'mongodb' | 'redis';

export interface WorkerHealth {
  /** The delay before the next try while `dependency` is down; logs the outage, throttled. */
  outageDelay(dependency: Dependency, error: AppError, holding: number): number;
  /** The dependency answered again: logs how long it was down. */
  recovered(dependency: Dependency): void;
  /** A shop's record could not be read (its entries were deferred). */
  shopUnreadable(platform: string, shopId: string, error: AppError): void;
  report(): ReadinessReport;
  /** 1 while up, 0 while down: for the dependency gauge. */
  isUp(dependency: Dependency): boolean;
}

const OUTAGE_BASE_MS = 250;
const OUTAGE_MAX_MS = 30_000;
const OUTAGE_LOG_EVERY_MS = 5_000;
const SHOP_LOG_EVERY_MS = 30_000;
/** An unreadable shop keeps the worker unready this long after it was last seen. */
const SHOP_PROBLEM_TTL_MS = 5 * 60_000;

interface Outage {
  since: number;
  tries: number;
  lastLogAt: number;
  message: string;
}

export function createWorkerHealth(options: {
  logger: Logger;
  now?: () => number;
  random?: () => number;
}): WorkerHealth {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const log = options.logger;
  const outages = new Map<Dependency, Outage>();
  const unreadable = new Map<string, { seenAt: number; loggedAt: number; message: string }>();

  return {
    outageDelay(dependency, error, holding) {
      const at = now();
      const outage = outages.get(dependency) ?? { since: at, tries: 0, lastLogAt: 0, message: '' };
      outage.tries += 1;
      outage.message = error.message;
      outages.set(dependency, outage);
      const ceiling = Math.min(OUTAGE_MAX_MS, OUTAGE_BASE_MS * 2 ** Math.min(outage.tries - 1, 16));
      const delay = Math.floor(ceiling / 2 + (random() * ceiling) / 2);
      if (at - outage.lastLogAt >= OUTAGE_LOG_EVERY_MS) {
        outage.lastLogAt = at;
        log.error(
          {
            dependency,
            down_for_ms: at - outage.since,
            holding,
            retry_in_ms: delay,
            err: error,
          },
          `${dependency} unavailable; holding the batch and retrying (nothing is spent meanwhile)`,
        );
      }
      return delay;
    },

    recovered(dependency) {
      const outage = outages.get(dependency);
      if (!outage) return;
      outages.delete(dependency);
      log.info({ dependency, down_for_ms: now() - outage.since }, `${dependency} available again`);
    },

    shopUnreadable(platform, shopId, error) {
      const key = `${platform}:${shopId}`;
      const at = now();
      const known = unreadable.get(key);
      const entry = { seenAt: at, loggedAt: known?.loggedAt ?? 0, message: error.message };
      if (at - entry.loggedAt >= SHOP_LOG_EVERY_MS) {
        entry.loggedAt = at;
        log.error(
          { platform, shop_id: shopId, err: error },
          'shop record unreadable; its events wait until it is fixed (check TOKEN_ENCRYPTION_KEY, or re-add the shop)',
        );
      }
      unreadable.set(key, entry);
    },

    report() {
      const at = now();
      const problems: string[] = [];
      for (const [dependency, outage] of outages) {
        problems.push(
          `${dependency} unavailable for ${Math.round((at - outage.since) / 1000)} s: ${outage.message}`,
        );
      }
      for (const [key, shop] of unreadable) {
        if (at - shop.seenAt > SHOP_PROBLEM_TTL_MS) unreadable.delete(key);
        else problems.push(`shop ${key} unreadable: ${shop.message}`);
      }
      return { ready: problems.length === 0, problems };
    },

    isUp: (dependency) => !outages.has(dependency),
  };
}
