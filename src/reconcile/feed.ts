/**
 * Feeding the event stream from reconcile: list a shop's entities over a window and XADD one
 * `source=reconcile` entry each, pausing while the consumer group lags above RECONCILE_MAX_LAG
 * and while the stream has no room under STREAM_MAXLEN (it is never trimmed here).
 */
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { DetailKind, ListedEntity, MarketplaceAdapter, Shop } from '../marketplaces/types.js';
import type { Redis } from '../shared/redis.js';
import { DETAIL_KINDS, encodeStreamEntry, type StreamEvent } from '../shared/stream.js';
import type { TimeWindow } from './window.js';

/**
 * What a reconcile or backfill lists per shop unless told otherwise (`reconcile run --kind`):
 * every kind (issue 14), orders first so that their tracking follow-ups come after them.
 */
export const DEFAULT_RECONCILED_KINDS: readonly DetailKind[] = DETAIL_KINDS;

/**
 * Where the entities of a kind that the marketplace cannot list come from (e.g. the tracking of
 * orders stored as on their way). Kinds without one are listed by their adapter.
 */
export type KindLister = (shop: Shop, window: TimeWindow) => AsyncIterable<ListedEntity[]>;

/** Thrown between pages when the run was asked to stop. */
export class StopRequested extends Error {}

export interface ListingCounts {
  pages: number;
  listed: number;
  enqueued: number;
}

/** A shop's listing over one window: the totals, and the same per kind. */
export interface WindowCounts extends ListingCounts {
  kinds: Partial<Record<DetailKind, ListingCounts>>;
}

export interface StreamFeederDeps {
  config: Pick<Config, 'streamKey' | 'consumerGroup' | 'streamMaxLen' | 'reconcileMaxLag'>;
  redis: Redis;
  listers?: Partial<Record<DetailKind, KindLister>>;
  log: Logger;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
}

export function createStreamFeeder({ config, redis, log, now, sleep, listers = {} }: StreamFeederDeps) {
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

  /** The kind's listing for the shop: its own lister, or the adapter's; undefined when neither. */
  function listingOf(adapter: MarketplaceAdapter, kind: DetailKind) {
    const lister = listers[kind];
    if (lister) return lister;
    if (!adapter.kinds[kind]?.listUpdated) return undefined;
    return (shop: Shop, window: TimeWindow) => adapter.listUpdated(shop, kind, window.from, window.to);
  }

  /** One page of listed entities as `source=reconcile` entries. */
  function entriesOf(shop: Shop, kind: DetailKind, page: ListedEntity[]): StreamEvent[] {
    const receivedAt = now().getTime();
    return page.map((entity) => ({
      platform: shop.platform,
      shop_id: shop.shop_id,
      kind,
      entity_id: entity.id,
      version: entity.version,
      event_id: `reconcile:${kind}:${entity.id}:${entity.version}`,
      event_type: 'reconcile',
      source: 'reconcile',
      received_at: receivedAt,
      payload: entity.payload ?? '{}',
    }));
  }

  /**
   * Lists one shop over one window, kind after kind, and enqueues every entity; returns the
   * counts. A kind the shop's platform cannot list is skipped (with a debug line).
   */
  async function listWindow(
    adapter: MarketplaceAdapter,
    shop: Shop,
    window: TimeWindow,
    kinds: readonly DetailKind[],
    shouldStop: () => boolean,
  ): Promise<WindowCounts> {
    const totals: WindowCounts = { pages: 0, listed: 0, enqueued: 0, kinds: {} };
    for (const kind of kinds) {
      const list = listingOf(adapter, kind);
      if (!list) {
        log.debug({ platform: shop.platform, kind }, 'kind not listable on this platform; skipped');
        continue;
      }
      const counts = { pages: 0, listed: 0, enqueued: 0 };
      for await (const page of list(shop, window)) {
        if (shouldStop()) throw new StopRequested();
        counts.pages++;
        counts.listed += page.length;
        await waitForLag(shouldStop);
        counts.enqueued += await enqueue(entriesOf(shop, kind, page), shouldStop);
      }
      totals.kinds[kind] = counts;
      totals.pages += counts.pages;
      totals.listed += counts.listed;
      totals.enqueued += counts.enqueued;
    }
    return totals;
  }

  return { enqueue, listWindow };
}

export type StreamFeeder = ReturnType<typeof createStreamFeeder>;
