/**
 * Feeding the event stream from reconcile: list a shop's entities over a window and XADD one
 * `source=reconcile` entry each, pausing while the consumer group lags above RECONCILE_MAX_LAG
 * and while the stream has no room under STREAM_MAXLEN (it is never trimmed here).
 */
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { DetailKind, MarketplaceAdapter, Shop } from '../marketplaces/types.js';
import type { Redis } from '../shared/redis.js';
import { encodeStreamEntry, type StreamEvent } from '../shared/stream.js';
import type { TimeWindow } from './window.js';

/** What reconcile lists per shop. Products change rarely and have no reliable listing by update time. */
export const RECONCILED_KINDS: readonly DetailKind[] = ['order', 'return'];

/** Thrown between pages when the run was asked to stop. */
export class StopRequested extends Error {}

export interface ListingCounts {
  pages: number;
  listed: number;
  enqueued: number;
}

export interface StreamFeederDeps {
  config: Pick<Config, 'streamKey' | 'consumerGroup' | 'streamMaxLen' | 'reconcileMaxLag'>;
  redis: Redis;
  log: Logger;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
}

export function createStreamFeeder({ config, redis, log, now, sleep }: StreamFeederDeps) {
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
  async function listWindow(
    adapter: MarketplaceAdapter,
    shop: Shop,
    window: TimeWindow,
    shouldStop: () => boolean,
  ): Promise<ListingCounts> {
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

  return { enqueue, listWindow };
}

export type StreamFeeder = ReturnType<typeof createStreamFeeder>;
