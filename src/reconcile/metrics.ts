/**
 * Reconcile metrics, registered on the registry the process passes in. Counters are by job,
 * status and platform; only the last-success gauge names the shop (one series per active shop,
 * bounded by the shops an operator added).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { Platform } from '../shared/stream.js';

export type RunJob = 'reconcile' | 'backfill';

export interface ReconcileMetrics {
  /** One finished run: its final status (a run that threw is `failed`) and how long it took. */
  observeRun(job: RunJob, status: 'succeeded' | 'partial' | 'failed', seconds: number): void;
  /** One shop of a run, with what it listed and enqueued. */
  countShop(platform: Platform, status: 'succeeded' | 'failed', listed: number, enqueued: number): void;
  /** Entries enqueued that belong to no shop's listing (Shopee lost pushes). */
  countEnqueued(platform: Platform, enqueued: number): void;
  /** The end of the shop's last successfully reconciled window (changes up to then were listed); never moves back. */
  setLastSuccess(platform: Platform, shopId: string, at: Date): void;
}

export function createReconcileMetrics(registry: Registry): ReconcileMetrics {
  const registers = [registry];
  const runs = new Counter({
    name: 'market_ingest_reconcile_runs_total',
    help: 'Reconcile and backfill runs, by job and final status (succeeded, partial, failed)',
    labelNames: ['job', 'status'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'market_ingest_reconcile_run_duration_seconds',
    help: 'Reconcile and backfill run duration, by job',
    labelNames: ['job'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
    registers,
  });
  const shops = new Counter({
    name: 'market_ingest_reconcile_shops_total',
    help: 'Shops reconciled, by platform and status (succeeded, failed)',
    labelNames: ['platform', 'status'] as const,
    registers,
  });
  const listed = new Counter({
    name: 'market_ingest_reconcile_listed_total',
    help: 'Entities the marketplace listed as changed, by platform',
    labelNames: ['platform'] as const,
    registers,
  });
  const enqueued = new Counter({
    name: 'market_ingest_reconcile_enqueued_total',
    help: 'Entries reconcile added to the event stream (listed entities and recovered lost webhooks), by platform',
    labelNames: ['platform'] as const,
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'market_ingest_reconcile_last_success_timestamp_seconds',
    help: "End (unix seconds) of each shop's last successfully reconciled window of a scheduled run: its changes up to then were listed",
    labelNames: ['platform', 'shop_id'] as const,
    registers,
  });

  const lastSeconds = new Map<string, number>();

  return {
    observeRun(job, status, seconds) {
      runs.inc({ job, status });
      duration.observe({ job }, seconds);
    },
    countShop(platform, status, listedCount, enqueuedCount) {
      shops.inc({ platform, status });
      listed.inc({ platform }, listedCount);
      enqueued.inc({ platform }, enqueuedCount);
    },
    countEnqueued: (platform, count) => enqueued.inc({ platform }, count),
    setLastSuccess(platform, shopId, at) {
      // A value loaded from sync_runs at start may arrive after a run's newer one.
      const key = `${platform}:${shopId}`;
      const seconds = Math.max(Math.floor(at.getTime() / 1000), lastSeconds.get(key) ?? 0);
      lastSeconds.set(key, seconds);
      lastSuccess.set({ platform, shop_id: shopId }, seconds);
    },
  };
}
