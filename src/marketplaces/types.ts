/**
 * What the roles see of a marketplace. One adapter per platform behind one interface, from a
 * registry keyed by platform: adding a marketplace means one new folder beside tiktok/ and shopee/.
 */
import type { EntityDocument } from '../shared/documents.js';
import type { AppError } from '../shared/errors.js';
import type { Shop } from '../shared/shop.js';
import type { DetailKind, EventSource, Platform, StreamEvent } from '../shared/stream.js';

// Shops, and what the clients are given to reach them (implemented in src/shared), used all over
// the adapters: re-exported here so a platform folder needs one import.
export type {
  HeldRefreshLock,
  RateLimiter,
  RefreshLock,
  Shop,
  ShopStatus,
  ShopTokens,
  TokenPersistence,
} from '../shared/shop.js';
export type { DetailKind } from '../shared/stream.js';

// ---------------------------------------------------------------------------------------------
// Webhooks (ingest side): pure, no I/O.

export interface WebhookRequest {
  /** The body bytes exactly as received: signatures are computed over these, never a re-serialisation. */
  rawBody: Buffer;
  /** The `Authorization` header, if present. */
  signature: string | undefined;
  /** The full URL the request arrived at (Shopee signs it); SHOPEE_WEBHOOK_URL overrides it. */
  url: string;
}

/** A handled webhook, ready for the stream except the fields ingest adds (source, received_at). */
export type WebhookEvent = Omit<StreamEvent, 'source' | 'received_at'>;

export type WebhookOutcome =
  | { handled: true; event: WebhookEvent }
  /** Verified, well-formed, but a type we do not process: answered 200 `ignored`, not enqueued. */
  | { handled: false; eventType: string; shopId: string | undefined };

export interface WebhookHandler {
  readonly platform: Platform;
  /** Throws AppError ERR_SIGNATURE when the signature is missing or wrong. */
  verify(request: WebhookRequest): void;
  /** Validates a verified body and maps it (CONTRACT §3). Throws AppError ERR_PAYLOAD. */
  toStreamEntry(rawBody: Buffer): WebhookOutcome;
}

// ---------------------------------------------------------------------------------------------
// Shops and API access (consumer and reconcile side).

/** Ids whose detail call failed, with the error of that call (one call's failure is only its own ids'). */
export interface DetailFailure {
  ids: string[];
  error: AppError;
}

/**
 * What a detail fetch found. An id in neither `objects` nor `failures` was answered by the
 * marketplace without it: the object does not exist (yet).
 */
export interface DetailResult {
  objects: unknown[];
  failures: DetailFailure[];
}

/** The kinds both platforms announce by webhook and fetch by id (orders, returns, products). */
export type WebhookKind = Extract<DetailKind, 'order' | 'return' | 'product'>;

/** An entity a listing call returned: its id and its update_time (unix seconds). */
export interface ListedEntity {
  id: string;
  version: number;
  /**
   * The listed object as JSON, for kinds whose listing is the only source of their details (a
   * TikTok statement transaction has no by-id call): it travels in the stream entry's `payload`
   * and comes back to the kind's getDetails as a hint.
   */
  payload?: string;
}

/** An entity to announce in the event stream after a document was written (see KindAdapter.followUps). */
export interface FollowUp {
  kind: DetailKind;
  entity_id: string;
  /** 0: unknown (the worker then always fetches it). */
  version: number;
  /** What the written document knows that the fetch needs (e.g. an order's packages), as JSON: it
   * travels as the entry's `payload` and comes back to the kind's getDetails as a hint. */
  payload?: string;
}

/**
 * What one platform does for one kind of entity: one file per platform and kind, collected in the
 * platform's kind table (its adapter). The worker and reconcile are the same for every kind.
 */
export interface KindAdapter {
  /**
   * Full objects for `ids`, fetched in calls of at most DETAIL_BATCH_SIZE ids. A failed call (or
   * auxiliary call) fails only the ids it concerned, reported in `failures`; ids the marketplace
   * answered without are in neither list. `hints` holds the stream entries' payloads by id (a
   * webhook body, or what a listing carried).
   */
  getDetails: (
    shop: Shop,
    ids: readonly string[],
    hints: ReadonlyMap<string, string>,
  ) => Promise<DetailResult>;
  /** Pages of entities updated in [from, to), to the end; absent when the marketplace cannot list them. */
  listUpdated?: (shop: Shop, from: Date, to: Date) => AsyncIterable<ListedEntity[]>;
  /** Pure: a raw object to its canonical document. Throws ERR_MAPPING without an id. */
  toDocument: (shop: Shop, raw: unknown, context: MappingContext) => EntityDocument;
  /** What writing `document` calls for next (e.g. an order on its way: fetch its tracking). */
  followUps?: (document: EntityDocument) => FollowUp[];
}

/** A platform's kind table: the kinds it syncs. */
export type KindTable = Partial<Record<DetailKind, KindAdapter>>;

export interface MappingContext {
  /** Offset written into ISO timestamps, e.g. "+07:00". */
  timezoneOffset: string;
  source: EventSource;
  fetchedAt: Date;
  syncedAt: Date;
}

/** A lost webhook that cannot be read: recorded for an operator, never dropped in silence. */
export interface UnreadableWebhook {
  /** As far as the item says; null when it does not. */
  shop_id: string | null;
  /** The platform's type/code, when the item has one. */
  event_type: string | null;
  /** SHA-256 hex of `payload`: the same item fetched twice is the same failure. */
  event_id: string;
  /** The item as the marketplace returned it, as JSON text. */
  payload: string;
  error: AppError;
}

/** A webhook the marketplace failed to deliver and let us fetch later (Shopee lost pushes). */
export interface LostWebhooks {
  events: WebhookEvent[];
  /** Items that could not be mapped: record them before confirming, or they are lost. */
  unreadable: UnreadableWebhook[];
  /** More undelivered webhooks wait after these (fetch again after confirming). */
  hasMore: boolean;
  /** Tells the marketplace these were consumed; call only after they are all in the stream and
   * the unreadable ones recorded: a confirmed batch is gone from the marketplace. */
  confirm(): Promise<void>;
}

export interface MarketplaceAdapter {
  readonly platform: Platform;
  readonly webhook: WebhookHandler;
  /** The kinds this platform syncs, and how (see kinds.ts for the dispatch over them). */
  readonly kinds: KindTable;
  /** getDetails of `kind` (ERR_PLATFORM_DISABLED for a kind the platform does not sync). */
  getDetails(
    shop: Shop,
    kind: DetailKind,
    ids: readonly string[],
    hints?: ReadonlyMap<string, string>,
  ): Promise<DetailResult>;
  /** listUpdated of `kind`; throws for a kind the platform cannot list. */
  listUpdated(shop: Shop, kind: DetailKind, from: Date, to: Date): AsyncIterable<ListedEntity[]>;
  /** toDocument of `kind`. */
  toDocument(shop: Shop, kind: DetailKind, raw: unknown, context: MappingContext): EntityDocument;
  /** Optional: webhooks the platform could not deliver (Shopee). */
  fetchLostWebhooks?(): Promise<LostWebhooks>;
  /** Idempotent. */
  close(): Promise<void>;
}

export type AdapterRegistry = Partial<Record<Platform, MarketplaceAdapter>>;
