/**
 * A reconcile or backfill run: for every active shop of every enabled platform, list what the
 * marketplace says changed in the window and XADD one `source=reconcile` entry per entity, so
 * the consumer — the one write path — fetches whatever MongoDB is missing or has stale.
 * Reconcile never writes orders itself.
 *
 * - A scheduled run (also `reconcile run` without dates) lists each shop from where its last
 *   successful run ended, minus RECONCILE_OVERLAP_MINUTES, up to now (window.ts
 *   `scheduledWindow`): no hour is left out whatever the schedule, and a failed shop keeps its
 *   old end, so the next run covers its gap. Each shop report records its own window.
 * - One shop failing never stops the others, nor does a shop document that cannot be read (it is
 *   reported as a failed shop). The run is recorded in `sync_runs` and always finalised there:
 *   a run that throws is recorded `failed` with its error.
 * - Backfills go day by day with a checkpoint per shop and whole day (backfill.ts), so an
 *   interrupted backfill resumes where it stopped; a completed one clears its checkpoints.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';

import type { Config } from '../shared/config.js';
import { AppError, isAppError, toAppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AdapterRegistry, MarketplaceAdapter, Shop } from '../marketplaces/types.js';
import { COLLECTIONS } from '../shared/mongo.js';
import type { Redis } from '../shared/redis.js';
import type { ShopListing } from '../shared/store/shops.js';
import { PLATFORMS, type DetailKind, type Platform } from '../shared/stream.js';
import { checkpointJob, createCheckpoints, type Checkpoints } from './backfill.js';
import {
  createStreamFeeder,
  DEFAULT_RECONCILED_KINDS,
  StopRequested,
  type KindLister,
  type ListingCounts,
  type WindowCounts,
} from './feed.js';
import { lastSuccessfulEnds, shopKey, type ShopKey } from './history.js';
import type { ReconcileMetrics } from './metrics.js';
import {
  dayOf,
  dayWindows,
  scheduledWindow,
  todayWindow,
  type DayWindow,
  type ScheduledWindow,
  type TimeWindow,
} from './window.js';

/** Lost-push batches (100 each at Shopee) fetched per run at most. */
const MAX_LOST_WEBHOOK_BATCHES = 50;

export { DEFAULT_RECONCILED_KINDS } from './feed.js';

export type ReconcileConfig = Pick<
  Config,
  | 'streamKey'
  | 'consumerGroup'
  | 'streamMaxLen'
  | 'timezone'
  | 'reconcileOverlapMinutes'
  | 'reconcileMaxGapHours'
  | 'reconcileMaxLag'
>;

export interface ShopSource {
  /** The readable active shops, and those whose documents cannot be read (ERR_SHOP_UNREADABLE). */
  listActiveIsolated(platform?: Platform): Promise<ShopListing<Shop>>;
}

/** A shop selected for the run whose document could not be read. */
interface UnreadableTarget {
  platform: Platform;
  shop_id: string;
  error: AppError;
}

interface Target {
  adapter: MarketplaceAdapter;
  shop: Shop;
}

/** What a run will do, decided before it is recorded: its shops and their windows. */
interface Plan {
  targets: Target[];
  unreadable: UnreadableTarget[];
  /** A scheduled run: each shop's window, by shopKey. */
  scheduled: Map<string, ScheduledWindow>;
  /** A backfill: its days. */
  days: DayWindow[];
  /** The union of the shops' windows. */
  window: TimeWindow;
}

export interface ReconcileDeps {
  config: ReconcileConfig;
  redis: Redis;
  db: Db;
  shops: ShopSource;
  adapters: AdapterRegistry;
  logger: Logger;
  metrics?: ReconcileMetrics;
  /** The kinds a run lists unless it names its own (default DEFAULT_RECONCILED_KINDS). */
  kinds?: readonly DetailKind[];
  /** Listings for kinds the marketplaces cannot list themselves (feed.ts KindLister). */
  listers?: Partial<Record<DetailKind, KindLister>>;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/** `today`: what the schedule runs (each shop from its last successful end); `days`: a backfill. */
export type RunMode = { type: 'today' } | { type: 'days'; firstDay: string; lastDay: string };

export interface RunRequest {
  trigger: 'cron' | 'cli';
  mode: RunMode;
  /**
   * Only these kinds (`reconcile run --kind`). A run limited this way does not move a shop's
   * scheduled start: the next scheduled run still lists every kind from where the last full run ended.
   */
  kinds?: DetailKind[];
  platform?: Platform;
  shopId?: string;
  onProgress?: (progress: RunProgress) => void;
  /** Checked between pages; a run asked to stop records itself as failed and keeps its checkpoints. */
  shouldStop?: () => boolean;
}

export interface RunProgress {
  chunksDone: number;
  chunksTotal: number;
  enqueued: number;
  startedAt: Date;
  /** The chunk just finished, e.g. "tiktok:shop-1 2026-11-20". */
  chunk: string;
  chunkEnqueued: number;
}

/** What was never listed for a shop and this run does not list either; `from: null`: everything before. */
export type UncoveredRange = { from: Date | null; to: Date };

export interface ShopReport {
  platform: Platform;
  shop_id: string;
  status: 'succeeded' | 'failed';
  /** What this run lists for the shop; a succeeded shop's next scheduled window starts at its `to`. */
  window: TimeWindow;
  backfill_advised: UncoveredRange | null;
  pages: number;
  listed: number;
  enqueued: number;
  /** The same counts per kind listed. */
  kinds: Partial<Record<DetailKind, ListingCounts>>;
  days_done: number;
  days_skipped: number;
  error: { code: string; message: string } | null;
}

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'partial';

export interface RunSummary {
  id: string;
  job: 'reconcile' | 'backfill';
  status: RunStatus;
  window: TimeWindow;
  shops: ShopReport[];
  pages: number;
  listed: number;
  enqueued: number;
  /** `platform` and `shop_id` are null for what concerns the whole run (e.g. it threw). */
  errors: { platform: Platform | null; shop_id: string | null; code: string; message: string }[];
}

type ProgressFn = (chunk: string, chunkEnqueued: number, report: ShopReport) => void;

function newReport(shop: ShopKey, window: TimeWindow, advised: UncoveredRange | null): ShopReport {
  return {
    platform: shop.platform,
    shop_id: shop.shop_id,
    status: 'succeeded',
    window,
    backfill_advised: advised,
    pages: 0,
    listed: 0,
    enqueued: 0,
    kinds: {},
    days_done: 0,
    days_skipped: 0,
    error: null,
  };
}

function addCounts(report: ShopReport, counts: WindowCounts): void {
  report.pages += counts.pages;
  report.listed += counts.listed;
  report.enqueued += counts.enqueued;
  for (const [kind, add] of Object.entries(counts.kinds) as [DetailKind, ListingCounts][]) {
    const sum = (report.kinds[kind] ??= { pages: 0, listed: 0, enqueued: 0 });
    sum.pages += add.pages;
    sum.listed += add.listed;
    sum.enqueued += add.enqueued;
  }
}

/** The smallest window holding them all. */
function unionWindow(windows: readonly TimeWindow[]): TimeWindow | undefined {
  if (windows.length === 0) return undefined;
  const from = Math.min(...windows.map((w) => w.from.getTime()));
  const to = Math.max(...windows.map((w) => w.to.getTime()));
  return { from: new Date(from), to: new Date(to) };
}

/** Failed when stopped or when every shop failed; partial when anything went wrong. */
function settledStatus(summary: RunSummary, stopped: boolean): RunStatus {
  const failedShops = summary.shops.filter((s) => s.status === 'failed').length;
  if (stopped || (failedShops > 0 && failedShops === summary.shops.length)) return 'failed';
  return summary.errors.length > 0 ? 'partial' : 'succeeded';
}

export function createReconciler(deps: ReconcileDeps) {
  const { config, db } = deps;
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const log = deps.logger.child({ component: 'reconcile' });
  const feeder = createStreamFeeder({ config, redis: deps.redis, log, now, sleep, listers: deps.listers });
  const kindsOf = (request: RunRequest) => request.kinds ?? deps.kinds ?? DEFAULT_RECONCILED_KINDS;
  const { enqueue } = feeder;

  /** The shops the request asks for, on enabled platforms; unreadable ones apart. */
  async function selectShops(request: RunRequest): Promise<Pick<Plan, 'targets' | 'unreadable'>> {
    const targets: Target[] = [];
    const unreadable: UnreadableTarget[] = [];
    const wanted = (shopId: string) => !request.shopId || request.shopId === shopId;
    for (const platform of PLATFORMS) {
      const adapter = deps.adapters[platform];
      if (!adapter || (request.platform && request.platform !== platform)) continue;
      const listing = await deps.shops.listActiveIsolated(platform);
      for (const shop of listing.shops) if (wanted(shop.shop_id)) targets.push({ adapter, shop });
      for (const bad of listing.unreadable) {
        if (wanted(bad.shop_id)) unreadable.push({ platform, shop_id: bad.shop_id, error: bad.error });
      }
    }
    return { targets, unreadable };
  }

  /**
   * A `--shop` or `--platform` that selects nothing is a mistake to report, not a run that
   * succeeded with 0 shops. Without filters, no shops is a run with nothing to do.
   */
  function unknownSelection(request: RunRequest, selected: number): AppError | undefined {
    if (selected > 0 || (!request.shopId && !request.platform)) return undefined;
    const enabled = PLATFORMS.filter((platform) => deps.adapters[platform]);
    if (request.platform && !enabled.includes(request.platform)) {
      return new AppError('ERR_SHOP_UNKNOWN', `platform ${request.platform} is disabled`);
    }
    const where = request.platform ?? (enabled.length > 0 ? enabled.join(' or ') : 'any enabled platform');
    const shop = request.shopId ? `shop ${request.shopId}` : 'shop';
    return new AppError('ERR_SHOP_UNKNOWN', `no active ${shop} on ${where}`);
  }

  /** Says which days a backfill should cover for a shop whose window could not reach back far enough. */
  function adviseBackfill(shop: ShopKey, uncovered: UncoveredRange): void {
    const lastDay = dayOf(new Date(uncovered.to.getTime() - 1), config.timezone);
    const firstDay = uncovered.from ? dayOf(uncovered.from, config.timezone) : 'YYYY-MM-DD';
    const command = `market-ingest reconcile run --from ${firstDay} --to ${lastDay} --platform ${shop.platform} --shop ${shop.shop_id}`;
    log.warn(
      { platform: shop.platform, shop_id: shop.shop_id, uncovered, command },
      uncovered.from
        ? `no successful reconcile of ${shop.platform}:${shop.shop_id} for over RECONCILE_MAX_GAP_HOURS: changes from ${uncovered.from.toISOString()} to ${uncovered.to.toISOString()} were never listed; listing today only; a backfill is advised`
        : `first reconcile of ${shop.platform}:${shop.shop_id}: changes before ${uncovered.to.toISOString()} were never listed; listing today only; a backfill is advised`,
    );
  }

  /** Each shop's scheduled window, from its last successful end in `sync_runs`. */
  async function scheduleShops(shops: readonly ShopKey[], startedAt: Date): Promise<Plan['scheduled']> {
    const maxGapMs = config.reconcileMaxGapHours * 3_600_000;
    const ends = await lastSuccessfulEnds(db, shops, { now: startedAt, recentMs: maxGapMs });
    const scheduled = new Map<string, ScheduledWindow>();
    for (const shop of shops) {
      const planned = scheduledWindow({
        now: startedAt,
        timeZone: config.timezone,
        overlapMinutes: config.reconcileOverlapMinutes,
        maxGapHours: config.reconcileMaxGapHours,
        lastEnd: ends.get(shopKey(shop)),
      });
      if (planned.uncovered) adviseBackfill(shop, planned.uncovered);
      scheduled.set(shopKey(shop), planned);
    }
    return scheduled;
  }

  async function plan(request: RunRequest, startedAt: Date): Promise<Plan> {
    const selection = await selectShops(request);
    const unknown = unknownSelection(request, selection.targets.length + selection.unreadable.length);
    if (unknown) throw unknown;
    if (request.mode.type === 'days') {
      const days = dayWindows(request.mode.firstDay, request.mode.lastDay, config.timezone, startedAt);
      const window = unionWindow(days) ?? { from: startedAt, to: startedAt };
      return { ...selection, scheduled: new Map(), days, window };
    }
    const keys: ShopKey[] = [...selection.targets.map((t) => t.shop), ...selection.unreadable].map(
      ({ platform, shop_id }) => ({ platform, shop_id }),
    );
    const scheduled = await scheduleShops(keys, startedAt);
    const window =
      unionWindow([...scheduled.values()].map((s) => s.window)) ??
      todayWindow(startedAt, config.timezone, config.reconcileOverlapMinutes);
    return { ...selection, scheduled, days: [], window };
  }

  /** What the run lists for one shop, and the range a backfill should add, if any. */
  function shopWindow(plan: Plan, shop: ShopKey): { window: TimeWindow; advised: UncoveredRange | null } {
    const scheduled = plan.scheduled.get(shopKey(shop));
    return scheduled
      ? { window: scheduled.window, advised: scheduled.uncovered }
      : { window: plan.window, advised: null };
  }

  /** A shop whose document cannot be read is a failed shop with its own error; the others go on. */
  function reportUnreadable(summary: RunSummary, plan: Plan, target: UnreadableTarget): void {
    const { platform, shop_id, error } = target;
    const { window, advised } = shopWindow(plan, target);
    const report: ShopReport = {
      ...newReport(target, window, advised),
      status: 'failed',
      error: { code: error.code, message: error.message },
    };
    summary.shops.push(report);
    summary.errors.push({ platform, shop_id, ...report.error! });
    deps.metrics?.countShop(platform, 'failed', 0, 0);
    log.error({ platform, shop_id, err: error }, 'shop document unreadable; skipped');
  }

  async function recordStart(request: RunRequest, summary: RunSummary, startedAt: Date): Promise<void> {
    await db.collection(COLLECTIONS.syncRuns).insertOne({
      run_id: summary.id,
      job: summary.job,
      trigger: request.trigger,
      window: summary.window,
      status: 'running',
      filter: {
        platform: request.platform ?? null,
        shop_id: request.shopId ?? null,
        kinds: request.kinds ?? null,
      },
      shops: [],
      pages: 0,
      listed: 0,
      enqueued: 0,
      started_at: startedAt,
      finished_at: null,
      errors: [],
    });
  }

  /**
   * Plans, records and performs one run. A `--shop`/`--platform` naming nothing known throws
   * ERR_SHOP_UNKNOWN before anything is recorded; any other failure to plan is recorded `failed`.
   */
  async function run(request: RunRequest): Promise<RunSummary> {
    const startedAt = now();
    let planned: Plan | undefined;
    let planError: unknown;
    try {
      planned = await plan(request, startedAt);
    } catch (error) {
      if (isAppError(error, 'ERR_SHOP_UNKNOWN')) throw error;
      planError = error;
    }
    const summary: RunSummary = {
      id: randomUUID(),
      job: request.mode.type === 'today' ? 'reconcile' : 'backfill',
      status: 'running',
      window: planned?.window ?? { from: startedAt, to: startedAt },
      shops: [],
      pages: 0,
      listed: 0,
      enqueued: 0,
      errors: [],
    };
    try {
      await recordStart(request, summary, startedAt);
      await finalise(summary, async () => {
        if (!planned) throw planError;
        await reconcileAll(request, summary, planned, startedAt);
      });
    } catch (error) {
      observeEnd(summary, startedAt, true);
      throw error;
    }
    observeEnd(summary, startedAt, false);
    return summary;
  }

  /**
   * A run's metrics once it ended. A recorded scheduled run moves its succeeded shops' last
   * success to their window's end, as the next run's window (history.ts) reads it.
   */
  function observeEnd(summary: RunSummary, startedAt: Date, threw: boolean): void {
    const metrics = deps.metrics;
    if (!metrics) return;
    const seconds = Math.max(0, (now().getTime() - startedAt.getTime()) / 1000);
    metrics.observeRun(
      summary.job,
      threw || summary.status === 'running' ? 'failed' : summary.status,
      seconds,
    );
    if (threw || summary.job !== 'reconcile') return;
    for (const shop of summary.shops) {
      if (shop.status === 'succeeded') metrics.setLastSuccess(shop.platform, shop.shop_id, shop.window.to);
    }
  }

  /** Sets each active shop's last success from `sync_runs`, so a restarted process reports it too. */
  async function loadLastSuccess(): Promise<void> {
    const metrics = deps.metrics;
    if (!metrics) return;
    const { targets, unreadable } = await selectShops({ trigger: 'cron', mode: { type: 'today' } });
    const keys: ShopKey[] = [...targets.map((t) => t.shop), ...unreadable].map(({ platform, shop_id }) => ({
      platform,
      shop_id,
    }));
    const recentMs = config.reconcileMaxGapHours * 3_600_000;
    const ends = await lastSuccessfulEnds(db, keys, { now: now(), recentMs });
    for (const key of keys) {
      const end = ends.get(shopKey(key));
      if (end) metrics.setLastSuccess(key.platform, key.shop_id, end);
    }
  }

  /** The run's shops one after another, then lost webhooks; sets the summary's status. */
  async function reconcileAll(
    request: RunRequest,
    summary: RunSummary,
    plan: Plan,
    startedAt: Date,
  ): Promise<void> {
    for (const shop of plan.unreadable) reportUnreadable(summary, plan, shop);
    const { mode, platform, shopId } = request;
    const checkpoints =
      mode.type === 'days'
        ? createCheckpoints(
            db,
            checkpointJob({
              firstDay: mode.firstDay,
              lastDay: mode.lastDay,
              platform,
              shopId,
              kinds: request.kinds,
            }),
            now,
          )
        : undefined;
    const chunksTotal = plan.targets.length * (request.mode.type === 'today' ? 1 : plan.days.length);
    let chunksDone = 0;
    const progress: ProgressFn = (chunk, chunkEnqueued, report) =>
      request.onProgress?.({
        chunksDone: ++chunksDone,
        chunksTotal,
        enqueued: summary.enqueued + report.enqueued,
        startedAt,
        chunk,
        chunkEnqueued,
      });

    let stopped = false;
    for (const target of plan.targets) {
      const { window, advised } = shopWindow(plan, target.shop);
      const report = newReport(target.shop, window, advised);
      summary.shops.push(report);
      stopped = await reconcileShop(request, summary, report, { target, plan, checkpoints, progress });
      deps.metrics?.countShop(report.platform, report.status, report.listed, report.enqueued);
      summary.pages += report.pages;
      summary.listed += report.listed;
      summary.enqueued += report.enqueued;
      if (stopped) break;
    }

    if (request.mode.type === 'today' && !stopped) await recoverLostWebhooks(request, summary);
    summary.status = settledStatus(summary, stopped);
    if (checkpoints && summary.status === 'succeeded') await checkpoints.clear();
  }

  /** One shop's listing, its failure recorded in its report; true when the run was asked to stop. */
  async function reconcileShop(
    request: RunRequest,
    summary: RunSummary,
    report: ShopReport,
    step: { target: Target; plan: Plan; checkpoints: Checkpoints | undefined; progress: ProgressFn },
  ): Promise<boolean> {
    const { adapter, shop } = step.target;
    const shouldStop = request.shouldStop ?? (() => false);
    const shopLog = log.child({ platform: shop.platform, shop_id: shop.shop_id });
    try {
      if (step.checkpoints) {
        await backfillShop(step.target, report, {
          ...step,
          checkpoints: step.checkpoints,
          shouldStop,
          kinds: kindsOf(request),
        });
      } else {
        const counts = await feeder.listWindow(adapter, shop, report.window, kindsOf(request), shouldStop);
        addCounts(report, counts);
        const label = `${report.window.from.toISOString()} to ${report.window.to.toISOString()}`;
        step.progress(`${shop.platform}:${shop.shop_id} ${label}`, counts.enqueued, report);
      }
      shopLog.info(
        { pages: report.pages, listed: report.listed, enqueued: report.enqueued },
        'shop reconciled',
      );
      return false;
    } catch (error) {
      report.status = 'failed';
      const stopped = error instanceof StopRequested;
      if (stopped) {
        report.error = { code: 'ERR_INTERRUPTED', message: 'run stopped before this shop finished' };
      } else {
        const appError = toAppError(error);
        report.error = { code: appError.code, message: appError.message };
        shopLog.error({ err: appError }, 'shop reconcile failed; continuing with the others');
      }
      summary.errors.push({ platform: shop.platform, shop_id: shop.shop_id, ...report.error });
      return stopped;
    }
  }

  /**
   * A backfill of one shop, day by day. Only a day listed to its end is checkpointed: today's
   * part up to now is listed but must be listed again by a rerun, whose now is later.
   */
  async function backfillShop(
    { adapter, shop }: Target,
    report: ShopReport,
    step: {
      plan: Plan;
      checkpoints: Checkpoints;
      progress: ProgressFn;
      shouldStop: () => boolean;
      kinds: readonly DetailKind[];
    },
  ): Promise<void> {
    const done = await step.checkpoints.doneDays(shop);
    const name = `${shop.platform}:${shop.shop_id}`;
    for (const day of step.plan.days) {
      if (done.has(day.day)) {
        report.days_skipped++;
        step.progress(`${name} ${day.day} (done earlier)`, 0, report);
        continue;
      }
      const counts = await feeder.listWindow(adapter, shop, day, step.kinds, step.shouldStop);
      addCounts(report, counts);
      if (day.complete) await step.checkpoints.markDone(shop, day.day, counts);
      report.days_done++;
      step.progress(`${name} ${day.day}${day.complete ? '' : ' (until now)'}`, counts.enqueued, report);
    }
  }

  /**
   * Runs the work of a recorded run, then records how it ended. The record never stays
   * `running`: a throw is recorded as `failed` with its error, then rethrown.
   */
  async function finalise(summary: RunSummary, work: () => Promise<void>): Promise<RunSummary> {
    try {
      await work();
    } catch (error) {
      const appError = toAppError(error);
      summary.status = 'failed';
      summary.errors.push({ platform: null, shop_id: null, code: appError.code, message: appError.message });
      log.error({ run_id: summary.id, err: appError }, 'run failed');
      await recordEnd(summary).catch((recordError: unknown) =>
        log.error({ run_id: summary.id, err: recordError }, 'could not record the failed run'),
      );
      throw error;
    }
    await recordEnd(summary);
    log.info(
      {
        run_id: summary.id,
        job: summary.job,
        status: summary.status,
        shops: summary.shops.length,
        enqueued: summary.enqueued,
      },
      'run finished',
    );
    return summary;
  }

  async function recordEnd(summary: RunSummary): Promise<void> {
    await db.collection(COLLECTIONS.syncRuns).updateOne(
      { run_id: summary.id },
      {
        $set: {
          status: summary.status,
          shops: summary.shops,
          pages: summary.pages,
          listed: summary.listed,
          enqueued: summary.enqueued,
          errors: summary.errors,
          finished_at: now(),
        },
      },
    );
  }

  /**
   * Webhooks the platform could not deliver (Shopee lost pushes), one batch at a time: every
   * readable one is enqueued and every unreadable one recorded in `sync_failures` (and reported in
   * the run's errors) before the batch is confirmed. A confirmed batch is gone from the
   * marketplace, so a batch whose enqueue or recording failed is left unconfirmed: the next run
   * fetches it again (re-enqueuing is harmless; the worker's version checks skip what is stored).
   */
  async function recoverLostWebhooks(request: RunRequest, summary: RunSummary): Promise<void> {
    type Lost = Awaited<ReturnType<NonNullable<MarketplaceAdapter['fetchLostWebhooks']>>>;
    const shouldStop = request.shouldStop ?? (() => false);

    /** One sync_failures document per unreadable item, however often it is fetched. */
    async function recordUnreadable(platform: Platform, unreadable: Lost['unreadable']): Promise<void> {
      if (unreadable.length === 0) return;
      const failedAt = now();
      await db.collection(COLLECTIONS.syncFailures).bulkWrite(
        unreadable.map((item) => ({
          updateOne: {
            filter: { platform, event_id: item.event_id, stream_id: null },
            update: {
              $setOnInsert: {
                origin: 'lost_webhook',
                shop_id: item.shop_id,
                kind: null,
                entity_id: null,
                event_type: item.event_type,
                deliveries: 0,
                error: { code: item.error.code, message: item.error.message },
                payload: item.payload,
                failed_at: failedAt,
              },
            },
            upsert: true,
          },
        })),
        { ordered: false },
      );
      for (const item of unreadable) {
        summary.errors.push({
          platform,
          shop_id: item.shop_id,
          code: item.error.code,
          message: `lost webhook unreadable (recorded in sync_failures, event_id ${item.event_id}): ${item.error.message}`,
        });
      }
      log.error(
        { platform, count: unreadable.length, event_ids: unreadable.map((item) => item.event_id) },
        'unreadable lost webhooks recorded in sync_failures, then confirmed',
      );
    }

    for (const platform of PLATFORMS) {
      const adapter = deps.adapters[platform];
      if (!adapter?.fetchLostWebhooks || (request.platform && request.platform !== platform)) continue;
      try {
        // Each batch is enqueued, recorded, then confirmed, before the next is fetched (bounded).
        for (let batch = 0; batch < MAX_LOST_WEBHOOK_BATCHES; batch++) {
          const lost = await adapter.fetchLostWebhooks();
          const receivedAt = now().getTime();
          const events = lost.events
            .filter((event) => !request.shopId || event.shop_id === request.shopId)
            .map((event) => ({ ...event, source: 'reconcile' as const, received_at: receivedAt }));
          const enqueued = await enqueue(events, shouldStop);
          summary.enqueued += enqueued;
          deps.metrics?.countEnqueued(platform, enqueued);
          if (events.length > 0) log.info({ platform, count: events.length }, 'lost webhooks recovered');
          // With a shop filter the other shops' pushes stay unconfirmed, to be fetched by a full run.
          if (request.shopId) break;
          await recordUnreadable(platform, lost.unreadable);
          await lost.confirm(); // also confirms pushes of types we do not handle
          if (!lost.hasMore) break;
        }
      } catch (error) {
        const appError = toAppError(error);
        summary.errors.push({
          platform,
          shop_id: null,
          code: appError.code,
          message: `lost webhooks (batch left unconfirmed): ${appError.message}`,
        });
      }
    }
  }

  return { run, loadLastSuccess };
}

export type Reconciler = ReturnType<typeof createReconciler>;
