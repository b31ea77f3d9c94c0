/**
 * One batch of stream entries -> MongoDB, with a verdict per entry.
 *
 * 1. decode every entry (malformed -> a non-retryable failure);
 * 2. group by platform and shop (groups run concurrently up to a bound), then by kind;
 * 3. per shop and kind ONE query for the stored versions; fetch from the marketplace only the
 *    ids that are missing or older than the newest version an entry announced (an entity may be
 *    several documents, e.g. one tracking document per package: see mapDocuments);
 * 4. ONE unordered, version-guarded bulkWrite per collection for the whole batch;
 * 5. verdicts per entry: `ack` when the entity is stored at >= the entry's version (or needed no
 *    write), else `fail` with the error and its CAUSE — the entry's own problem, a dependency
 *    that is unavailable (its marketplace, its shop's record) or storage (MongoDB, Redis) —
 *    from which retry-policy.ts decides what the failure may spend.
 *
 * Every failure is settled per id: one refused call, one unmappable object or one rejected
 * document fails only the entries it concerns. Nothing here talks to the stream: the worker
 * applies the verdicts, so this module is testable against real Mongo and a fake marketplace.
 */
import { mapConcurrent } from '../shared/concurrency.js';
import { KIND_STORAGE, type EntityDocument } from '../shared/documents.js';
import { AppError, toAppError, type ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { toIsoWithOffset } from '../shared/time.js';
import type {
  AdapterRegistry,
  DetailKind,
  DetailResult,
  KindAdapter,
  MarketplaceAdapter,
  Shop,
  ShopStatus,
} from '../marketplaces/types.js';
import {
  entityIdOf,
  type EntityStore,
  type StoredEntity,
  type WriteOutcome,
} from '../shared/store/entities.js';
import {
  decodeStreamEntry,
  isRetriedCopy,
  type ChangeNotification,
  type Platform,
  type StreamEvent,
} from '../shared/stream.js';
import type { BatchEntry } from './group.js';
import { shopEventAction } from './shop-events.js';

export type { BatchEntry } from './group.js';

/** Why an entry failed; decides what the failure may spend (retry-policy.ts). */
export type FailureCause = 'entry' | 'dependency' | 'storage';

export type Verdict = { action: 'ack' } | { action: 'fail'; error: AppError; cause: FailureCause };

export interface BatchResult {
  verdicts: Map<string, Verdict>;
  /** One per document inserted or updated (or re-sent after a redelivery), for CHANGES_STREAM_KEY. */
  changes: ChangeNotification[];
  /** Entries the written documents call for (their kind's followUps), for the event stream. */
  followUps: StreamEvent[];
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
  setAuthorizationExpiry(platform: Platform, shopId: string, expiresAt: Date): Promise<unknown>;
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

export type BatchProcessor = (entries: readonly BatchEntry[]) => Promise<BatchResult>;

/**
 * A transient marketplace failure (5xx, timeout, network) is the entry's own only when its shop
 * answered other calls meanwhile: within this batch, or this recently in an earlier one.
 * Otherwise the marketplace (or the way to it) is down for that shop, which spends nothing.
 */
export const SHOP_ANSWERED_RECENTLY_MS = 60_000;

interface Job {
  entry: BatchEntry;
  event: StreamEvent;
  /** Seen before — reclaimed from a stalled worker, held through an outage, or a retried copy — so
   * an earlier try may have written without notifying. */
  redelivered: boolean;
}

interface PendingWrite {
  kind: DetailKind;
  document: EntityDocument;
  entityId: string;
}

/** A job whose verdict depends on the outcome of its entity's write. */
interface Waiting {
  job: Job;
  writeKey: string;
  /** What MongoDB held before this batch, if anything. */
  storedVersion: number | undefined;
}

type WriteResult = { version: number; outcome: Exclude<WriteOutcome, { failed: AppError }> } | AppError;

/** Everything one batch accumulates; the steps below fill it in. */
class BatchState {
  readonly verdicts = new Map<string, Verdict>();
  readonly changes: ChangeNotification[] = [];
  readonly followUps: StreamEvent[] = [];
  readonly stats: BatchStats = { fetched: 0, upToDate: 0, detailCalls: 0, written: 0 };
  readonly writes: PendingWrite[] = [];
  readonly waiting: Waiting[] = [];
  readonly writeResults = new Map<string, WriteResult>();
  private readonly notified = new Set<string>();

  constructor(readonly now: () => Date) {}

  ack(entry: BatchEntry): void {
    this.verdicts.set(entry.id, { action: 'ack' });
  }

  fail(entry: BatchEntry, error: unknown, cause: FailureCause = causeOf(toAppError(error))): void {
    this.verdicts.set(entry.id, { action: 'fail', error: toAppError(error), cause });
  }

  /** One notification per entity and batch, whatever number of entries asked for it. */
  notify(change: Omit<ChangeNotification, 'at'>): void {
    const key = `${change.platform}:${change.shop_id}:${change.kind}:${change.entity_id}`;
    if (this.notified.has(key)) return;
    this.notified.add(key);
    this.changes.push({ ...change, at: this.now().getTime() });
  }

  /** What writing `document` calls for next, as stream entries from the same source. */
  followUp(document: EntityDocument, kind: KindAdapter | undefined): void {
    for (const next of kind?.followUps?.(document) ?? []) {
      this.followUps.push({
        platform: document.platform,
        shop_id: document.shop_id,
        kind: next.kind,
        entity_id: next.entity_id,
        version: next.version,
        event_id: `follow-up:${next.kind}:${next.entity_id}:${next.version}`,
        event_type: 'follow-up',
        source: document.sync_source,
        received_at: this.now().getTime(),
        payload: next.payload ?? '{}',
      });
    }
  }

  result(): BatchResult {
    return { verdicts: this.verdicts, changes: this.changes, followUps: this.followUps, stats: this.stats };
  }
}

const fail = (code: ErrorCode, message: string) => new AppError(code, message);

/** The cause an error means wherever it arises; marketplace failures are refined per shop. */
export function causeOf(error: AppError): FailureCause {
  switch (error.code) {
    case 'ERR_MONGO_UNAVAILABLE':
    case 'ERR_REDIS_UNAVAILABLE':
      return 'storage';
    case 'ERR_SHOP_UNREADABLE':
    case 'ERR_MARKETPLACE_RATE_LIMITED':
    case 'ERR_MARKETPLACE_TRANSIENT':
      return 'dependency';
    case 'ERR_MARKETPLACE_AUTH':
      // Retryable only when another process had just refreshed the tokens: wait, do not spend.
      return error.retryable ? 'dependency' : 'entry';
    default:
      return 'entry';
  }
}

const writeKeyOf = (kind: DetailKind, platform: Platform, shopId: string, entityId: string) =>
  `${kind}:${platform}:${shopId}:${entityId}`;

export function createBatchProcessor(deps: BatchProcessorDeps): BatchProcessor {
  const now = deps.now ?? (() => new Date());
  const log = deps.logger.child({ component: 'process-batch' });
  /** When each shop's marketplace last answered a detail call (ms), across batches. */
  const lastAnswer = new Map<string, number>();

  // ------------------------------------------------------------------------------------------
  // 1. decode and group

  function groupByShop(entries: readonly BatchEntry[], state: BatchState): Job[][] {
    const shops = new Map<string, Job[]>();
    for (const entry of entries) {
      let event: StreamEvent;
      try {
        event = decodeStreamEntry(entry.fields);
      } catch (error) {
        state.fail(entry, error);
        continue;
      }
      const redelivered = entry.deliveries > 1 || entry.heldBefore === true || isRetriedCopy(entry.fields);
      const job = { entry, event, redelivered };
      const key = `${event.platform}\u0000${event.shop_id}`;
      const group = shops.get(key);
      if (group) group.push(job);
      else shops.set(key, [job]);
    }
    return [...shops.values()];
  }

  // ------------------------------------------------------------------------------------------
  // 2. per shop: the shop itself, its shop-level events, then each kind

  async function processShop(jobs: Job[], state: BatchState): Promise<void> {
    const { platform, shop_id: shopId } = jobs[0]!.event;
    const adapter = deps.adapters[platform];
    if (!adapter) {
      const error = fail('ERR_PLATFORM_DISABLED', `platform ${platform} is disabled`);
      for (const { entry } of jobs) state.fail(entry, error);
      return;
    }
    let shop: Shop | null;
    try {
      shop = await deps.shops.get(platform, shopId);
    } catch (error) {
      for (const { entry } of jobs) state.fail(entry, error);
      return;
    }
    if (!shop) {
      const error = fail(
        'ERR_SHOP_UNKNOWN',
        `shop ${platform}:${shopId} is not registered (market-ingest shops add)`,
      );
      for (const { entry } of jobs) state.fail(entry, error);
      return;
    }
    shop = await applyShopEvents(adapter, shop, jobs, state);
    const entityJobs = jobs.filter((job) => job.event.kind !== 'shop');
    if (shop.status === 'deauthorized') {
      const error = fail('ERR_SHOP_DEAUTHORIZED', `shop ${platform}:${shopId} is deauthorized`);
      for (const { entry } of entityJobs) state.fail(entry, error);
      return;
    }
    const byKind = new Map<DetailKind, Job[]>();
    for (const job of entityJobs) {
      const kind = job.event.kind as DetailKind;
      byKind.set(kind, [...(byKind.get(kind) ?? []), job]);
    }
    const marketplaceFailures: { job: Job; error: AppError }[] = [];
    for (const [kind, kindJobs] of byKind) {
      try {
        marketplaceFailures.push(...(await processKind(adapter, shop, kind, kindJobs, state)));
      } catch (error) {
        for (const { entry } of kindJobs) state.fail(entry, error);
      }
    }
    settleMarketplaceFailures(shop, marketplaceFailures, state);
  }

  /** Shop-level events (shop-events.ts): authorization notices first, then deauthorization. */
  async function applyShopEvents(
    adapter: MarketplaceAdapter,
    shop: Shop,
    jobs: Job[],
    state: BatchState,
  ): Promise<Shop> {
    const shopJobs = jobs.filter((job) => job.event.kind === 'shop');
    const isNotice = (job: Job) =>
      shopEventAction(job.event.platform, job.event.event_type) === 'authorization-ending';
    await recordAuthorizationEnds(adapter, shop, shopJobs.filter(isNotice), state);
    const deauthorizations = shopJobs.filter((job) => !isNotice(job));
    if (deauthorizations.length === 0) return shop;
    try {
      await deps.shops.setStatus(shop.platform, shop.shop_id, 'deauthorized');
      log.warn({ platform: shop.platform, shop_id: shop.shop_id }, 'shop deauthorized by the marketplace');
      for (const { entry } of deauthorizations) state.ack(entry);
      return { ...shop, status: 'deauthorized' };
    } catch (error) {
      for (const { entry } of deauthorizations) state.fail(entry, error);
      return shop;
    }
  }

  /**
   * "Authorization ends soon" notices: the end goes on the shop (the expiry gauge and alert read
   * it there) and is logged. A notice without a readable date is only logged. Never blocks the
   * shop's other entries: it keeps syncing until the authorization actually ends.
   */
  async function recordAuthorizationEnds(
    adapter: MarketplaceAdapter,
    shop: Shop,
    notices: Job[],
    state: BatchState,
  ): Promise<void> {
    const where = { platform: shop.platform, shop_id: shop.shop_id };
    for (const { entry, event } of notices) {
      const endsAt = adapter.webhook.authorizationEnd?.(event.payload);
      if (endsAt === undefined) {
        log.warn(where, 'shop authorization ends soon (no date given): re-authorize it (shops connect)');
        state.ack(entry);
        continue;
      }
      try {
        await deps.shops.setAuthorizationExpiry(shop.platform, shop.shop_id, endsAt);
        const at = toIsoWithOffset(Math.floor(endsAt.getTime() / 1000), deps.timezoneOffset);
        log.warn(
          { ...where, authorization_expires_at: at },
          `shop authorization ends at ${at}: re-authorize it (shops connect)`,
        );
        state.ack(entry);
      } catch (error) {
        state.fail(entry, error);
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // 3. per kind: decide what to fetch, fetch, map; answer the failed calls' jobs to the caller

  async function processKind(
    adapter: MarketplaceAdapter,
    shop: Shop,
    kind: DetailKind,
    jobs: Job[],
    state: BatchState,
  ): Promise<{ job: Job; error: AppError }[]> {
    const stored = await deps.entities.findStored(
      shop.platform,
      shop.shop_id,
      kind,
      unique(jobs.map((j) => j.event.entity_id)),
    );
    const toFetch = idsToFetch(jobs, stored);
    const fetching = new Set(toFetch);
    state.stats.upToDate += new Set(jobs.map((j) => j.event.entity_id)).size - toFetch.length;
    const details = await fetchDetails(adapter, shop, kind, toFetch, hintsOf(jobs), state);
    const failedIds = new Map<string, AppError>();
    for (const failure of details.failures) for (const id of failure.ids) failedIds.set(id, failure.error);
    const documents = mapDocuments(adapter, shop, kind, details.objects, fetching, state);

    const failures: { job: Job; error: AppError }[] = [];
    for (const job of jobs) {
      const { entry, event } = job;
      const storedVersion = stored.get(event.entity_id)?.version;
      if (!fetching.has(event.entity_id) && storedVersion !== undefined) {
        state.ack(entry);
        // A redelivery may follow a write whose change notification was never sent (the worker
        // died in between): notify again, so downstream hears at least once.
        if (job.redelivered) notifyStored(state, event, storedVersion);
        continue;
      }
      const failed = failedIds.get(event.entity_id);
      if (failed) {
        failures.push({ job, error: failed });
        continue;
      }
      const entityDocuments = documents.get(event.entity_id);
      if (!entityDocuments) {
        state.fail(
          entry,
          fail('ERR_ENTITY_NOT_FOUND', `${kind} ${event.entity_id} was not returned by ${shop.platform}`),
        );
        continue;
      }
      for (const document of entityDocuments) document.sync_source = event.source;
      state.waiting.push({
        job,
        writeKey: writeKeyOf(kind, shop.platform, shop.shop_id, event.entity_id),
        storedVersion,
      });
    }
    for (const [entityId, entityDocuments] of documents)
      for (const document of entityDocuments) state.writes.push({ kind, document, entityId });
    return failures;
  }

  async function fetchDetails(
    adapter: MarketplaceAdapter,
    shop: Shop,
    kind: DetailKind,
    ids: string[],
    hints: ReadonlyMap<string, string>,
    state: BatchState,
  ): Promise<DetailResult> {
    if (ids.length === 0) return { objects: [], failures: [] };
    state.stats.fetched += ids.length;
    state.stats.detailCalls += Math.ceil(ids.length / deps.detailBatchSize);
    const details = await adapter.getDetails(shop, kind, ids, hints);
    const failed = new Set(details.failures.flatMap((f) => f.ids));
    if (ids.some((id) => !failed.has(id))) lastAnswer.set(shopKey(shop), now().getTime());
    return details;
  }

  /**
   * The fetched objects as documents, by entity id: several per id when the kind keeps several
   * (tracking: one per package), the newest of each unique key.
   */
  function mapDocuments(
    adapter: MarketplaceAdapter,
    shop: Shop,
    kind: DetailKind,
    objects: unknown[],
    requested: Set<string>,
    state: BatchState,
  ): Map<string, EntityDocument[]> {
    const byKey = new Map<string, EntityDocument>();
    const fetchedAt = state.now();
    for (const raw of objects) {
      let document: EntityDocument;
      try {
        document = adapter.toDocument(shop, kind, raw, {
          timezoneOffset: deps.timezoneOffset,
          source: 'webhook',
          fetchedAt,
          syncedAt: state.now(),
        });
      } catch (error) {
        // No id: it cannot be matched to an entry; the entry retries as "not found" and then dies.
        log.warn({ platform: shop.platform, shop_id: shop.shop_id, kind, err: error }, 'unmappable object');
        continue;
      }
      if (!requested.has(entityIdOf(kind, document))) continue;
      const key = uniqueKeyOf(kind, document);
      const previous = byKey.get(key);
      if (!previous || previous.version < document.version) byKey.set(key, document);
    }
    const documents = new Map<string, EntityDocument[]>();
    for (const document of byKey.values()) {
      const id = entityIdOf(kind, document);
      documents.set(id, [...(documents.get(id) ?? []), document]);
    }
    return documents;
  }

  /** Marketplace failures, judged once every kind of the shop has been fetched. */
  function settleMarketplaceFailures(
    shop: Shop,
    failures: { job: Job; error: AppError }[],
    state: BatchState,
  ) {
    if (failures.length === 0) return;
    const answeredAt = lastAnswer.get(shopKey(shop));
    const answering = answeredAt !== undefined && now().getTime() - answeredAt <= SHOP_ANSWERED_RECENTLY_MS;
    for (const { job, error } of failures) {
      const cause = error.code === 'ERR_MARKETPLACE_TRANSIENT' && answering ? 'entry' : causeOf(error);
      state.fail(job.entry, error, cause);
    }
  }

  // ------------------------------------------------------------------------------------------
  // 4. one bulkWrite per collection; 5. verdicts of the jobs that waited on a write

  async function writeDocuments(state: BatchState): Promise<void> {
    const kinds = [...new Set(state.writes.map((w) => w.kind))];
    await Promise.all(
      kinds.map(async (kind) => {
        const batch = state.writes.filter((w) => w.kind === kind);
        const keyOf = (w: PendingWrite) =>
          writeKeyOf(kind, w.document.platform, w.document.shop_id, w.entityId);
        let outcomes: WriteOutcome[];
        try {
          outcomes = await deps.entities.upsertMany(
            kind,
            batch.map((w) => w.document),
          );
        } catch (error) {
          for (const write of batch) state.writeResults.set(keyOf(write), toAppError(error));
          return;
        }
        batch.forEach((write, i) => {
          const outcome = outcomes[i]!;
          const result =
            typeof outcome === 'object' ? outcome.failed : { version: write.document.version, outcome };
          state.writeResults.set(keyOf(write), combined(state.writeResults.get(keyOf(write)), result));
          if (typeof outcome === 'object' || outcome === 'unchanged') return;
          state.stats.written += 1;
          state.notify({
            platform: write.document.platform,
            shop_id: write.document.shop_id,
            kind,
            entity_id: write.entityId,
            version: write.document.version,
            change: outcome,
          });
          state.followUp(write.document, deps.adapters[write.document.platform]?.kinds[kind]);
        });
      }),
    );
  }

  function settleWaiting(state: BatchState): void {
    for (const { job, writeKey, storedVersion } of state.waiting) {
      const result = state.writeResults.get(writeKey);
      const { entry, event } = job;
      if (result instanceof AppError) {
        state.fail(entry, result);
      } else if (!result) {
        state.fail(entry, fail('ERR_INTERNAL', 'write outcome missing'));
      } else if (result.version < event.version) {
        state.fail(
          entry,
          fail(
            'ERR_STALE_DETAILS',
            `${event.kind} ${event.entity_id}: marketplace returned version ${result.version}, event announced ${event.version}`,
          ),
        );
      } else {
        state.ack(entry);
        // Nothing written because an earlier delivery of this entry already wrote exactly this
        // version, then died before notifying: this redelivery notifies in its place.
        if (job.redelivered && result.outcome === 'unchanged' && storedVersion === result.version) {
          notifyStored(state, event, result.version);
        }
      }
    }
  }

  return async function processBatch(entries) {
    const state = new BatchState(now);
    const groups = groupByShop(entries, state);
    // processShop settles its own entries and never throws.
    await mapConcurrent(groups, deps.shopConcurrency, (jobs) => processShop(jobs, state));
    await writeDocuments(state);
    settleWaiting(state);
    return state.result();
  };
}

/**
 * The outcome of an entity written as several documents: failed if any failed, as old as its
 * oldest document, and written if any was.
 */
function combined(previous: WriteResult | undefined, next: WriteResult): WriteResult {
  if (previous === undefined || previous instanceof AppError) return previous ?? next;
  if (next instanceof AppError) return next;
  return {
    version: Math.min(previous.version, next.version),
    outcome: previous.outcome === 'unchanged' ? next.outcome : previous.outcome,
  };
}

/** The document's unique key within its platform and shop (KIND_STORAGE keyFields). */
function uniqueKeyOf(kind: DetailKind, document: EntityDocument): string {
  const fields = document as unknown as Record<string, unknown>;
  return KIND_STORAGE[kind].keyFields.map((field) => String(fields[field])).join('\u0000');
}

/** A change notification for what is already stored (sent again after a redelivery). */
function notifyStored(state: BatchState, event: StreamEvent, version: number): void {
  state.notify({
    platform: event.platform,
    shop_id: event.shop_id,
    kind: event.kind as DetailKind,
    entity_id: event.entity_id,
    version,
    change: 'updated',
  });
}

/** The payload of each entry that carries one (a webhook body, what a listing carried), by entity id. */
function hintsOf(jobs: Job[]): Map<string, string> {
  const hints = new Map<string, string>();
  for (const { event } of jobs) if (event.payload !== '{}') hints.set(event.entity_id, event.payload);
  return hints;
}

function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}

function shopKey(shop: Pick<Shop, 'platform' | 'shop_id'>): string {
  return `${shop.platform}\u0000${shop.shop_id}`;
}

/**
 * Ids to ask the marketplace for: missing, or stored older than an entry announced. Two cases
 * fetch even when the stored version looks current, because a version (update_time, in seconds)
 * cannot show every change:
 * - version 0: the event did not say (e.g. a Shopee tracking-number push);
 * - a webhook announcing the stored version: a second change within the same second (paid, or
 *   cancelled, right after the last one). Reconcile and replay entries at that version are not
 *   fetched: they announce nothing new. The write guard then stores the refetch only if its
 *   content differs.
 * An entity stored as final (its kind's finalField, e.g. delivered tracking) is never fetched
 * again: that is what final means.
 */
function idsToFetch(jobs: Job[], stored: ReadonlyMap<string, StoredEntity>): string[] {
  const wanted = new Map<string, number>();
  const refetch = new Set<string>();
  for (const { event } of jobs) {
    const id = event.entity_id;
    wanted.set(id, Math.max(wanted.get(id) ?? 0, event.version));
    const storedVersion = stored.get(id)?.version;
    const announcesChange = event.source === 'webhook' && event.version === storedVersion;
    if (event.version === 0 || announcesChange) refetch.add(id);
  }
  return [...wanted]
    .filter(([id, version]) => {
      const entity = stored.get(id);
      if (!entity) return true;
      if (entity.final) return false;
      return refetch.has(id) || entity.version < version;
    })
    .map(([id]) => id);
}
