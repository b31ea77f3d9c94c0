/**
 * A reconcile or backfill run: for every active shop of every enabled platform, list what the
 * marketplace says changed in the window and XADD one `source=reconcile` entry per entity, so
 * the consumer — the one write path — fetches whatever MongoDB is missing or has stale.
 * Reconcile never writes orders itself.
 *
 * - One shop failing never stops the others, nor does a shop document that cannot be read (it is
 *   reported as a failed shop). The run is recorded in `sync_runs` and always finalised there:
 *   a run that throws is recorded `failed` with its error.
 * - Enqueuing pauses while the consumer group's lag is above RECONCILE_MAX_LAG, and while the
 *   stream has no room for the next page under STREAM_MAXLEN (it is never trimmed here).
 * - Backfills go day by day with a checkpoint per shop and day, so an interrupted backfill
 *   resumes where it stopped; a completed one clears its checkpoints.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';

import type { Config } from '../shared/config.js';
import { toAppError, type AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AdapterRegistry, DetailKind, MarketplaceAdapter, Shop } from '../shared/marketplaces/types.js';
import { COLLECTIONS } from '../shared/mongo.js';
import type { Redis } from '../shared/redis.js';
import type { ShopListing } from '../shared/store/shops.js';
import { encodeStreamEntry, PLATFORMS, type Platform, type StreamEvent } from '../shared/stream.js';
import { dayWindows, todayWindow, type DayWindow, type TimeWindow } from './window.js';

/** What reconcile lists per shop. Products change rarely and have no reliable listing by update time. */
/** Lost-push batches (100 each at Shopee) fetched per run at most. */
const MAX_LOST_WEBHOOK_BATCHES = 50;

export const RECONCILED_KINDS: readonly DetailKind[] = ['order', 'return'];

export type ReconcileConfig = Pick<
  Config,
  'streamKey' | 'consumerGroup' | 'streamMaxLen' | 'timezone' | 'reconcileOverlapMinutes' | 'reconcileMaxLag'
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

export interface ReconcileDeps {
  config: ReconcileConfig;
  redis: Redis;
  db: Db;
  shops: ShopSource;
  adapters: AdapterRegistry;
  logger: Logger;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export type RunMode = { type: 'today' } | { type: 'days'; firstDay: string; lastDay: string };

export interface RunRequest {
  trigger: 'cron' | 'cli';
  mode: RunMode;
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

export interface ShopReport {
  platform: Platform;
  shop_id: string;
  status: 'succeeded' | 'failed';
  pages: number;
  listed: number;
  enqueued: number;
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

class StopRequested extends Error {}

export function createReconciler(deps: ReconcileDeps) {
  const { config, redis, db } = deps;
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const log = deps.logger.child({ component: 'reconcile' });

  async function consumerLag(): Promise<number> {
    const groups = (await redis.xinfo('GROUPS', config.streamKey).catch(() => [])) as unknown[][];
    for (const group of groups) {
      const record: Record<string, unknown> = {};
      for (let i = 0; i + 1 < group.length; i += 2) record[String(group[i])] = group[i + 1];
      if (record.name === config.consumerGroup) return Number(record.lag ?? 0) || 0;
    }
    return 0; // no group yet: nothing to measure against; the stream keeps the entries
  }

  async function waitForLag(shouldStop: () => boolean): Promise<void> {
    let warned = false;
    for (;;) {
      const lag = await consumerLag();
      if (lag <= config.reconcileMaxLag) return;
      if (!warned)
        log.warn({ lag, max: config.reconcileMaxLag }, 'consumer lag above bound; pausing enqueue');
      warned = true;
      if (shouldStop()) throw new StopRequested();
      await sleep(1_000);
    }
  }

  /** Waits, like waitForLag, until `count` more entries fit in the stream under STREAM_MAXLEN. */
  async function waitForRoom(count: number, shouldStop: () => boolean): Promise<void> {
    let warned = false;
    for (;;) {
      const length = await redis.xlen(config.streamKey);
      if (length + count <= config.streamMaxLen) return;
      if (!warned)
        log.warn(
          { length, adding: count, max: config.streamMaxLen },
          'event stream at STREAM_MAXLEN; pausing enqueue until the workers catch up',
        );
      warned = true;
      if (shouldStop()) throw new StopRequested();
      await sleep(1_000);
    }
  }

  /**
   * Adds the entries without trimming (trimming would drop entries not yet processed), in chunks
   * that fit under STREAM_MAXLEN, each once there is room. Webhooks can take that room between the
   * check and the XADD: the stream then exceeds the cap by at most one chunk, and ingest answers
   * 503 until the workers have caught up.
   */
  async function enqueue(events: StreamEvent[], shouldStop: () => boolean): Promise<number> {
    for (let start = 0; start < events.length; start += config.streamMaxLen) {
      const chunk = events.slice(start, start + config.streamMaxLen);
      await waitForRoom(chunk.length, shouldStop);
      const pipeline = redis.pipeline();
      for (const event of chunk) pipeline.xadd(config.streamKey, '*', ...encodeStreamEntry(event));
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error);
      if (failed) throw failed[0]!;
    }
    return events.length;
  }

  /** Lists one shop over one window and enqueues every entity; returns the counts. */
  async function reconcileWindow(
    adapter: MarketplaceAdapter,
    shop: Shop,
    window: TimeWindow,
    shouldStop: () => boolean,
  ): Promise<{ pages: number; listed: number; enqueued: number }> {
    const counts = { pages: 0, listed: 0, enqueued: 0 };
    for (const kind of RECONCILED_KINDS) {
      for await (const page of adapter.listUpdated(shop, kind, window.from, window.to)) {
        if (shouldStop()) throw new StopRequested();
        counts.pages++;
        counts.listed += page.length;
        await waitForLag(shouldStop);
        const receivedAt = now().getTime();
        counts.enqueued += await enqueue(
          page.map((entity) => ({
            platform: shop.platform,
            shop_id: shop.shop_id,
            kind,
            entity_id: entity.id,
            version: entity.version,
            event_id: `reconcile:${kind}:${entity.id}:${entity.version}`,
            event_type: 'reconcile',
            source: 'reconcile',
            received_at: receivedAt,
            payload: '{}',
          })),
          shouldStop,
        );
      }
    }
    return counts;
  }

  /** The shops the request asks for, on enabled platforms; unreadable ones apart. */
  async function selectShops(request: RunRequest): Promise<{
    targets: { adapter: MarketplaceAdapter; shop: Shop }[];
    unreadable: UnreadableTarget[];
  }> {
    const targets: { adapter: MarketplaceAdapter; shop: Shop }[] = [];
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

  /** A shop whose document cannot be read is a failed shop with its own error; the others go on. */
  function reportUnreadable(summary: RunSummary, { platform, shop_id, error }: UnreadableTarget): void {
    const report: ShopReport = {
      platform,
      shop_id,
      status: 'failed',
      pages: 0,
      listed: 0,
      enqueued: 0,
      days_done: 0,
      days_skipped: 0,
      error: { code: error.code, message: error.message },
    };
    summary.shops.push(report);
    summary.errors.push({ platform, shop_id, ...report.error! });
    log.error({ platform, shop_id, err: error.toJSON() }, 'shop document unreadable; skipped');
  }

  async function run(request: RunRequest): Promise<RunSummary> {
    const startedAt = now();
    const job = request.mode.type === 'today' ? 'reconcile' : 'backfill';
    const days: DayWindow[] =
      request.mode.type === 'days'
        ? dayWindows(request.mode.firstDay, request.mode.lastDay, config.timezone, startedAt)
        : [];
    const window: TimeWindow =
      request.mode.type === 'today'
        ? todayWindow(startedAt, config.timezone, config.reconcileOverlapMinutes)
        : { from: days[0]?.from ?? startedAt, to: days[days.length - 1]?.to ?? startedAt };

    const summary: RunSummary = {
      id: randomUUID(),
      job,
      status: 'running',
      window,
      shops: [],
      pages: 0,
      listed: 0,
      enqueued: 0,
      errors: [],
    };
    const runs = db.collection(COLLECTIONS.syncRuns);
    await runs.insertOne({
      run_id: summary.id,
      job,
      trigger: request.trigger,
      window,
      status: 'running',
      filter: { platform: request.platform ?? null, shop_id: request.shopId ?? null },
      shops: [],
      pages: 0,
      listed: 0,
      enqueued: 0,
      started_at: startedAt,
      finished_at: null,
      errors: [],
    });

    return finalise(summary, () => reconcileAll(request, summary, { startedAt, days, window }));
  }

  /** The run's shops one after another, then lost webhooks; sets the summary's status. */
  async function reconcileAll(
    request: RunRequest,
    summary: RunSummary,
    { startedAt, days, window }: { startedAt: Date; days: DayWindow[]; window: TimeWindow },
  ): Promise<void> {
    const shouldStop = request.shouldStop ?? (() => false);
    const { targets, unreadable } = await selectShops(request);
    for (const shop of unreadable) reportUnreadable(summary, shop);
    // A backfill's checkpoints belong to its exact range and filter.
    const checkpointJob = `backfill:${createHash('sha256')
      .update(JSON.stringify([request.mode, request.platform ?? null, request.shopId ?? null]))
      .digest('hex')
      .slice(0, 16)}`;
    const checkpoints = db.collection(COLLECTIONS.syncCheckpoints);
    const chunksTotal = targets.length * (request.mode.type === 'today' ? 1 : days.length);
    let chunksDone = 0;
    let stopped = false;

    for (const { adapter, shop } of targets) {
      const report: ShopReport = {
        platform: shop.platform,
        shop_id: shop.shop_id,
        status: 'succeeded',
        pages: 0,
        listed: 0,
        enqueued: 0,
        days_done: 0,
        days_skipped: 0,
        error: null,
      };
      summary.shops.push(report);
      const shopLog = log.child({ platform: shop.platform, shop_id: shop.shop_id });
      const add = (counts: { pages: number; listed: number; enqueued: number }) => {
        report.pages += counts.pages;
        report.listed += counts.listed;
        report.enqueued += counts.enqueued;
      };
      const progress = (chunk: string, chunkEnqueued: number) =>
        request.onProgress?.({
          chunksDone: ++chunksDone,
          chunksTotal,
          enqueued: summary.enqueued + report.enqueued,
          startedAt,
          chunk,
          chunkEnqueued,
        });

      try {
        if (request.mode.type === 'today') {
          const counts = await reconcileWindow(adapter, shop, window, shouldStop);
          add(counts);
          progress(`${shop.platform}:${shop.shop_id} today`, counts.enqueued);
        } else {
          const done = new Set(
            (
              await checkpoints
                .find(
                  { job: checkpointJob, platform: shop.platform, shop_id: shop.shop_id },
                  { projection: { _id: 0, day: 1 } },
                )
                .toArray()
            ).map((c) => String(c.day)),
          );
          for (const day of days) {
            if (done.has(day.day)) {
              report.days_skipped++;
              progress(`${shop.platform}:${shop.shop_id} ${day.day} (done earlier)`, 0);
              continue;
            }
            const counts = await reconcileWindow(adapter, shop, day, shouldStop);
            add(counts);
            await checkpoints.updateOne(
              { job: checkpointJob, platform: shop.platform, shop_id: shop.shop_id, day: day.day },
              { $set: { ...counts, done_at: now() } },
              { upsert: true },
            );
            report.days_done++;
            progress(`${shop.platform}:${shop.shop_id} ${day.day}`, counts.enqueued);
          }
        }
        shopLog.info(
          { pages: report.pages, listed: report.listed, enqueued: report.enqueued },
          'shop reconciled',
        );
      } catch (error) {
        report.status = 'failed';
        if (error instanceof StopRequested) {
          stopped = true;
          report.error = { code: 'ERR_INTERRUPTED', message: 'run stopped before this shop finished' };
        } else {
          const appError = toAppError(error);
          report.error = { code: appError.code, message: appError.message };
          shopLog.error({ err: appError.toJSON() }, 'shop reconcile failed; continuing with the others');
        }
        summary.errors.push({ platform: shop.platform, shop_id: shop.shop_id, ...report.error });
      }
      summary.pages += report.pages;
      summary.listed += report.listed;
      summary.enqueued += report.enqueued;
      if (stopped) break;
    }

    if (request.mode.type === 'today' && !stopped) await recoverLostWebhooks(request, summary);

    const failedShops = summary.shops.filter((s) => s.status === 'failed').length;
    summary.status =
      stopped || (failedShops > 0 && failedShops === summary.shops.length)
        ? 'failed'
        : summary.errors.length > 0
          ? 'partial'
          : 'succeeded';
    if (request.mode.type === 'days' && summary.status === 'succeeded') {
      await checkpoints.deleteMany({ job: checkpointJob });
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
      log.error({ run_id: summary.id, err: appError.toJSON() }, 'run failed');
      await recordEnd(summary).catch((recordError: unknown) =>
        log.error(
          { run_id: summary.id, err: toAppError(recordError).toJSON() },
          'could not record the failed run',
        ),
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
          summary.enqueued += await enqueue(events, shouldStop);
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

  return { run };
}

export type Reconciler = ReturnType<typeof createReconciler>;
