/**
 * One batch of stream entries -> MongoDB, with a verdict per entry.
 *
 * 1. decode every entry (malformed -> dead-letter now);
 * 2. group by platform and shop (groups run concurrently up to a bound), then by kind;
 * 3. per group ONE query for the stored versions of its ids; fetch from the marketplace only the
 *    ids that are missing or older than the newest version an entry announced;
 * 4. ONE unordered, version-guarded bulkWrite per collection for the whole batch;
 * 5. verdicts: `ack` when the entity is now stored at >= the entry's version (or needed no
 *    write), `retry` for retryable failures (the entry stays pending), `dead` for the rest.
 *
 * Nothing here talks to the stream: the worker applies the verdicts (XACK, dead-letter,
 * change notifications), so this module is testable against real Mongo and a fake marketplace.
 */
import { mapConcurrent } from '../shared/concurrency.js';
import type { EntityDocument } from '../shared/documents.js';
import { AppError, toAppError, type ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type {
  AdapterRegistry,
  DetailKind,
  MarketplaceAdapter,
  Shop,
  ShopStatus,
} from '../shared/marketplaces/types.js';
import { entityIdOf, type EntityStore } from '../shared/store/entities.js';
import {
  decodeStreamEntry,
  type ChangeNotification,
  type Platform,
  type StreamEvent,
} from '../shared/stream.js';

export interface BatchEntry {
  /** Stream entry id. */
  id: string;
  fields: readonly string[];
  /** How many times this entry has been delivered, this delivery included. */
  deliveries: number;
}

export type Verdict =
  { action: 'ack' } | { action: 'retry'; error: AppError } | { action: 'dead'; error: AppError };

export interface BatchResult {
  verdicts: Map<string, Verdict>;
  /** One per document inserted or updated, for CHANGES_STREAM_KEY. */
  changes: ChangeNotification[];
  stats: BatchStats;
}

export interface BatchStats {
  /** Entity ids the marketplace was asked for. */
  fetched: number;
  /** Entity ids not fetched because MongoDB already had them at that version or newer. */
  upToDate: number;
  detailCalls: number;
  written: number;
}

/** What the processor needs of the shops collection. */
export interface ShopLookup {
  get(platform: Platform, shopId: string): Promise<Shop | null>;
  setStatus(platform: Platform, shopId: string, status: ShopStatus): Promise<unknown>;
}

export interface BatchProcessorDeps {
  adapters: AdapterRegistry;
  shops: ShopLookup;
  entities: EntityStore;
  logger: Logger;
  timezoneOffset: string;
  /** Shop groups processed at once. */
  shopConcurrency: number;
  /** Marketplace ids per detail call; used only to count calls for metrics. */
  detailBatchSize: number;
  now?: () => Date;
}

interface DecodedEntry {
  entry: BatchEntry;
  event: StreamEvent;
}

interface PendingWrite {
  kind: DetailKind;
  document: EntityDocument;
  entityId: string;
}

const fail = (code: ErrorCode, message: string) => new AppError(code, message);

export function createBatchProcessor(deps: BatchProcessorDeps) {
  const now = deps.now ?? (() => new Date());
  const log = deps.logger.child({ component: 'process-batch' });

  return async function processBatch(entries: readonly BatchEntry[]): Promise<BatchResult> {
    const verdicts = new Map<string, Verdict>();
    const stats: BatchStats = { fetched: 0, upToDate: 0, detailCalls: 0, written: 0 };
    const settle = (entry: BatchEntry, verdict: Verdict) => verdicts.set(entry.id, verdict);
    const settleError = (entry: BatchEntry, error: unknown) => {
      const appError = toAppError(error);
      settle(
        entry,
        appError.retryable ? { action: 'retry', error: appError } : { action: 'dead', error: appError },
      );
    };

    // 1. decode, 2. group by shop
    const shops = new Map<string, DecodedEntry[]>();
    for (const entry of entries) {
      let event: StreamEvent;
      try {
        event = decodeStreamEntry(entry.fields);
      } catch (error) {
        settleError(entry, error);
        continue;
      }
      const key = `${event.platform}\u0000${event.shop_id}`;
      const group = shops.get(key);
      if (group) group.push({ entry, event });
      else shops.set(key, [{ entry, event }]);
    }

    // 3. per shop: load the shop, decide what to fetch, fetch, map
    const writes: PendingWrite[] = [];
    /** Entries waiting for the outcome of a write, by `${kind}:${entityId}` within their shop. */
    const waiting: { decoded: DecodedEntry; writeKey: string }[] = [];

    const processShop = async (group: DecodedEntry[]) => {
      const { platform, shop_id: shopId } = group[0]!.event;
      const adapter = deps.adapters[platform];
      if (!adapter) {
        for (const { entry } of group) {
          settle(entry, {
            action: 'dead',
            error: fail('ERR_PLATFORM_DISABLED', `platform ${platform} is disabled`),
          });
        }
        return;
      }
      let shop: Shop | null;
      try {
        shop = await deps.shops.get(platform, shopId);
      } catch (error) {
        for (const { entry } of group) settleError(entry, error);
        return;
      }
      if (!shop) {
        const error = fail(
          'ERR_SHOP_UNKNOWN',
          `shop ${platform}:${shopId} is not registered (market-ingest shops add)`,
        );
        for (const { entry } of group) settle(entry, { action: 'dead', error });
        return;
      }

      const shopEvents = group.filter((d) => d.event.kind === 'shop');
      if (shopEvents.length > 0) {
        // The only shop-level event we handle is deauthorization (TikTok 6, Shopee 2).
        try {
          await deps.shops.setStatus(platform, shopId, 'deauthorized');
          log.warn({ platform, shop_id: shopId }, 'shop deauthorized by the marketplace');
          for (const { entry } of shopEvents) settle(entry, { action: 'ack' });
          shop = { ...shop, status: 'deauthorized' };
        } catch (error) {
          for (const { entry } of shopEvents) settleError(entry, error);
        }
      }

      const entityEvents = group.filter((d) => d.event.kind !== 'shop');
      if (shop.status === 'deauthorized') {
        const error = fail('ERR_SHOP_DEAUTHORIZED', `shop ${platform}:${shopId} is deauthorized`);
        for (const { entry } of entityEvents) settle(entry, { action: 'dead', error });
        return;
      }

      const byKind = new Map<DetailKind, DecodedEntry[]>();
      for (const decoded of entityEvents) {
        const kind = decoded.event.kind as DetailKind;
        byKind.set(kind, [...(byKind.get(kind) ?? []), decoded]);
      }
      for (const [kind, kindEntries] of byKind) {
        try {
          await processKind(adapter, shop, kind, kindEntries);
        } catch (error) {
          for (const { entry } of kindEntries) settleError(entry, error);
        }
      }
    };

    const changes: ChangeNotification[] = [];
    const renotified = new Set<string>();
    const renotify = (shop: Shop, kind: DetailKind, entityId: string, version: number) => {
      const key = `${shop.platform}:${shop.shop_id}:${kind}:${entityId}`;
      if (renotified.has(key)) return;
      renotified.add(key);
      changes.push({
        platform: shop.platform,
        shop_id: shop.shop_id,
        kind,
        entity_id: entityId,
        version,
        change: 'updated',
        at: now().getTime(),
      });
    };

    const processKind = async (
      adapter: MarketplaceAdapter,
      shop: Shop,
      kind: DetailKind,
      kindEntries: DecodedEntry[],
    ) => {
      const wanted = new Map<string, number>();
      // Version 0 means the event did not say (e.g. a Shopee tracking-number push): what is stored
      // may be older than what the event announces, so such an entity is always fetched.
      const versionUnknown = new Set<string>();
      for (const { event } of kindEntries) {
        wanted.set(event.entity_id, Math.max(wanted.get(event.entity_id) ?? 0, event.version));
        if (event.version === 0) versionUnknown.add(event.entity_id);
      }
      const stored = await deps.entities.findVersions(shop.platform, shop.shop_id, kind, [...wanted.keys()]);
      const toFetch = [...wanted]
        .filter(([id, version]) => versionUnknown.has(id) || !stored.has(id) || stored.get(id)! < version)
        .map(([id]) => id);
      stats.upToDate += wanted.size - toFetch.length;

      const documents = new Map<string, EntityDocument>();
      if (toFetch.length > 0) {
        stats.fetched += toFetch.length;
        stats.detailCalls += Math.ceil(toFetch.length / deps.detailBatchSize);
        const fetchedAt = now();
        const details = await adapter.getDetails(shop, kind, toFetch);
        // Interim: the first failed call fails the group, as before per-id settlement.
        if (details.failures.length > 0) throw details.failures[0]!.error;
        const requested = new Set(toFetch);
        for (const raw of details.objects) {
          let document: EntityDocument;
          try {
            document = adapter.toDocument(shop, kind, raw, {
              timezoneOffset: deps.timezoneOffset,
              source: 'webhook',
              fetchedAt,
              syncedAt: now(),
            });
          } catch (error) {
            // No id: it cannot be matched to an entry; the entry will retry and then dead-letter.
            log.warn(
              { platform: shop.platform, shop_id: shop.shop_id, kind, err: toAppError(error).toJSON() },
              'unmappable object',
            );
            continue;
          }
          const id = entityIdOf(kind, document);
          const previous = documents.get(id);
          if (requested.has(id) && (!previous || previous.version < document.version))
            documents.set(id, document);
        }
      }

      for (const decoded of kindEntries) {
        const { entry, event } = decoded;
        const storedVersion = stored.get(event.entity_id);
        if (storedVersion !== undefined && storedVersion >= event.version && event.version > 0) {
          settle(entry, { action: 'ack' });
          // A redelivery may follow a write whose change notification was never sent (the
          // worker died in between): notify again, so downstream hears at least once.
          if (entry.deliveries > 1) renotify(shop, kind, event.entity_id, storedVersion);
          continue;
        }
        const document = documents.get(event.entity_id);
        if (!document) {
          const error = fail(
            'ERR_ENTITY_NOT_FOUND',
            `${kind} ${event.entity_id} was not returned by ${shop.platform}`,
          );
          settle(entry, { action: 'retry', error });
          continue;
        }
        document.sync_source = event.source;
        waiting.push({ decoded, writeKey: `${kind}:${shop.platform}:${shop.shop_id}:${event.entity_id}` });
      }
      for (const [entityId, document] of documents) writes.push({ kind, document, entityId });
    };

    // processShop settles its own entries and never throws.
    await mapConcurrent([...shops.values()], deps.shopConcurrency, processShop);

    // 4. one bulkWrite per collection
    const outcomes = new Map<string, { version: number; stored: boolean } | AppError>();
    const kinds = [...new Set(writes.map((w) => w.kind))];
    await Promise.all(
      kinds.map(async (kind) => {
        const batch = writes.filter((w) => w.kind === kind);
        const key = (w: PendingWrite) => `${kind}:${w.document.platform}:${w.document.shop_id}:${w.entityId}`;
        try {
          const results = await deps.entities.upsertMany(
            kind,
            batch.map((w) => w.document),
          );
          const at = now().getTime();
          batch.forEach((write, i) => {
            const outcome = results[i]!;
            if (typeof outcome === 'object') {
              outcomes.set(key(write), outcome.failed);
              return;
            }
            // 'unchanged' means a version >= this one was already stored: also satisfied.
            outcomes.set(key(write), { version: write.document.version, stored: true });
            if (outcome === 'unchanged') return;
            stats.written += 1;
            changes.push({
              platform: write.document.platform,
              shop_id: write.document.shop_id,
              kind,
              entity_id: write.entityId,
              version: write.document.version,
              change: outcome,
              at,
            });
          });
        } catch (error) {
          for (const write of batch) outcomes.set(key(write), toAppError(error));
        }
      }),
    );

    // 5. verdicts for entries that waited on a write
    for (const { decoded, writeKey } of waiting) {
      const outcome = outcomes.get(writeKey);
      const { entry, event } = decoded;
      if (outcome instanceof AppError) {
        settleError(entry, outcome);
      } else if (!outcome) {
        settle(entry, { action: 'retry', error: fail('ERR_INTERNAL', 'write outcome missing') });
      } else if (outcome.version >= event.version) {
        settle(entry, { action: 'ack' });
      } else {
        const error = fail(
          'ERR_STALE_DETAILS',
          `${event.kind} ${event.entity_id}: marketplace returned version ${outcome.version}, event announced ${event.version}`,
        );
        settle(entry, { action: 'retry', error });
      }
    }

    return { verdicts, changes, stats };
  };
}

export type BatchProcessor = ReturnType<typeof createBatchProcessor>;
