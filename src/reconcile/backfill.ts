/**
 * Backfill checkpoints in `sync_checkpoints`: one document per shop and finished day, so an
 * interrupted backfill resumes where it stopped. They belong to the backfill's exact range and
 * filter; a completed backfill clears them.
 */
import { createHash } from 'node:crypto';
import type { Db } from 'mongodb';

import { COLLECTIONS } from '../shared/mongo.js';
import type { DetailKind, Platform } from '../shared/stream.js';
import type { ListingCounts } from './feed.js';
import type { ShopKey } from './history.js';

export interface BackfillScope {
  firstDay: string;
  lastDay: string;
  platform?: Platform;
  shopId?: string;
  /** An explicit `--kind` list; undefined for the default kinds. */
  kinds?: readonly DetailKind[];
}

/** `backfill:<hash of the range and filters>`: the same command resumes, another starts afresh. */
export function checkpointJob({ firstDay, lastDay, platform, shopId, kinds }: BackfillScope): string {
  // Same serialisation as before kinds existed (when none are given), so checkpoints stay valid.
  const mode = { type: 'days', firstDay, lastDay };
  const scope: unknown[] = [mode, platform ?? null, shopId ?? null];
  if (kinds) scope.push([...kinds].sort());
  const hash = createHash('sha256').update(JSON.stringify(scope)).digest('hex');
  return `backfill:${hash.slice(0, 16)}`;
}

export function createCheckpoints(db: Db, job: string, now: () => Date) {
  const checkpoints = db.collection(COLLECTIONS.syncCheckpoints);
  return {
    /** The days of `shop` this backfill already finished. */
    async doneDays({ platform, shop_id }: ShopKey): Promise<Set<string>> {
      const done = await checkpoints
        .find({ job, platform, shop_id }, { projection: { _id: 0, day: 1 } })
        .toArray();
      return new Set(done.map((c) => String(c.day)));
    },
    async markDone({ platform, shop_id }: ShopKey, day: string, counts: ListingCounts): Promise<void> {
      await checkpoints.updateOne(
        { job, platform, shop_id, day },
        { $set: { ...counts, done_at: now() } },
        { upsert: true },
      );
    },
    async clear(): Promise<void> {
      await checkpoints.deleteMany({ job });
    },
  };
}

export type Checkpoints = ReturnType<typeof createCheckpoints>;
