/**
 * Where each shop's scheduled reconcile last ended successfully, read from `sync_runs`: the
 * start of its next window. A shop report carries its own `window`; runs recorded before shop
 * reports had one are read through the run's `window`, which then held for every shop.
 */
import type { Db, Document } from 'mongodb';

import { COLLECTIONS } from '../shared/mongo.js';
import type { Platform } from '../shared/stream.js';

export interface ShopKey {
  platform: Platform;
  shop_id: string;
}

export function shopKey({ platform, shop_id }: ShopKey): string {
  return `${platform}:${shop_id}`;
}

interface RecordedRun {
  window?: { to?: unknown };
  /** `kinds` set: a run limited to some kinds, which does not count for the schedule. */
  filter?: { kinds?: unknown };
  shops?: { platform?: unknown; shop_id?: unknown; status?: unknown; window?: { to?: unknown } }[];
}

/** The end of each shop's successful window in one recorded run. */
function successfulEnds(run: RecordedRun): Map<string, Date> {
  const ends = new Map<string, Date>();
  if (Array.isArray(run.filter?.kinds)) return ends;
  for (const report of run.shops ?? []) {
    if (report.status !== 'succeeded') continue;
    const to = report.window?.to ?? run.window?.to;
    if (!(to instanceof Date)) continue;
    ends.set(`${String(report.platform)}:${String(report.shop_id)}`, to);
  }
  return ends;
}

/** Scheduled runs (`job: reconcile`, whatever their trigger) that started by `now` (and since `since`). */
function scheduledRuns(now: Date, since?: Date): Document {
  return { job: 'reconcile', started_at: since ? { $gte: since, $lte: now } : { $lte: now } };
}

/**
 * The last successful end per shop. Runs of the last `recentMs` are read at once (the usual
 * case: a few runs); a shop not found there costs one more query, which also finds a success
 * older than that, so an advised backfill can name where the shop's coverage stopped.
 */
export async function lastSuccessfulEnds(
  db: Db,
  shops: readonly ShopKey[],
  { now, recentMs }: { now: Date; recentMs: number },
): Promise<Map<string, Date>> {
  const runs = db.collection(COLLECTIONS.syncRuns);
  const found = new Map<string, Date>();
  const recent = runs.find(scheduledRuns(now, new Date(now.getTime() - recentMs)), {
    projection: { _id: 0, window: 1, shops: 1, filter: 1 },
  });
  for await (const run of recent) {
    for (const [key, end] of successfulEnds(run as RecordedRun)) {
      const known = found.get(key);
      if (!known || end > known) found.set(key, end);
    }
  }
  for (const shop of shops) {
    if (found.has(shopKey(shop))) continue;
    const older = await runs.findOne(
      {
        ...scheduledRuns(now),
        'filter.kinds': null,
        shops: { $elemMatch: { platform: shop.platform, shop_id: shop.shop_id, status: 'succeeded' } },
      },
      { sort: { started_at: -1 }, projection: { _id: 0, window: 1, shops: 1, filter: 1 } },
    );
    const end = older ? successfulEnds(older as RecordedRun).get(shopKey(shop)) : undefined;
    if (end) found.set(shopKey(shop), end);
  }
  return found;
}
