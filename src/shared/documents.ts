/**
 * The canonical MongoDB documents of CONTRACT §5, written only through src/shared/store.
 * Mappers in src/marketplaces/<platform>/dto.ts produce them from marketplace objects.
 */
import type { Decimal128 } from 'mongodb';

import { COLLECTIONS, type CollectionName } from './mongo.js';
import type { DetailKind, EventSource, Platform } from './stream.js';

/** ISO-8601 with the configured offset, e.g. 2026-11-21T10:30:00+07:00. */
export type IsoTimestamp = string;

export interface BaseDocument {
  platform: Platform;
  shop_id: string;
  /**
   * Marketplace update_time in unix seconds. A write never replaces a stored higher version; at an
   * equal version it replaces only different content fetched later (see store/entities.ts).
   */
  version: number;
  /** `platform:shop_id:entity_id` */
  idempotency_key: string;
  create_time: IsoTimestamp | null;
  update_time: IsoTimestamp | null;
  details_fetched_at: IsoTimestamp;
  /** The same instant as `details_fetched_at`, in unix ms: orders two fetches of one version. */
  details_fetched_ms: number;
  synced_at: IsoTimestamp;
  sync_source: EventSource;
  is_valid: boolean;
  validation_errors: string[];
  /** The marketplace's object as received. */
  raw: unknown;
}

export interface OrderLineItem {
  product_id: string | null;
  sku_id: string | null;
  name: string | null;
  quantity: number;
  sale_price: Decimal128 | null;
}

export interface OrderDocument extends BaseDocument {
  order_id: string;
  status: string | null;
  currency: string | null;
  total_amount: Decimal128 | null;
  line_items: OrderLineItem[];
  recipient_address: Record<string, unknown> | null;
  paid_time: IsoTimestamp | null;
  tracking_number: string | null;
}

export interface ReturnDocument extends BaseDocument {
  return_id: string;
  order_id: string | null;
  status: string | null;
  return_type: string | null;
  refund_amount: Decimal128 | null;
  currency: string | null;
}

/** A TikTok SKU or a Shopee model (an item without models is its own sku, `sku_id` "0"). */
export interface ProductSku {
  sku_id: string;
  seller_sku: string | null;
  /** What a buyer pays now: TikTok tax_exclusive_price (else sale_price), Shopee current_price. */
  price: Decimal128 | null;
  /** The price before discounts: TikTok list_price.amount, Shopee original_price; null when not sent. */
  original_price: Decimal128 | null;
  currency: string | null;
  /** Units available to sell: TikTok the sum of inventory[].quantity, Shopee total_available_stock. */
  stock: number | null;
  /** Units held for placed orders (Shopee total_reserved_stock); null when the platform does not say. */
  reserved_stock: number | null;
  /** The sku's own status (TikTok status_info.status, Shopee model_status); null when not sent. */
  status: string | null;
}

export interface ProductDocument extends BaseDocument {
  product_id: string;
  status: string | null;
  title: string | null;
  skus: ProductSku[];
  /**
   * A reversible logical delete (CONTRACT §5 v2): true while the marketplace holds the product as
   * deleted or banned (TikTok DELETED/FREEZE, Shopee SELLER_DELETE/SHOPEE_DELETE/BANNED). The
   * document is never removed; a recovered product is written with false again.
   */
  is_deleted: boolean;
  /** update_time of the deleted version (when the marketplace last changed it); null when not deleted. */
  deleted_at: IsoTimestamp | null;
}

/**
 * Money released to the seller for one order or adjustment (CONTRACT §5 v2). One document per
 * TikTok statement transaction (`settlement_id` = its `id`) or Shopee escrow release
 * (`settlement_id` = `<order_sn>:<escrow_release_time>`).
 */
export interface SettlementDocument extends BaseDocument {
  settlement_id: string;
  /** TikTok: the transaction id; null on Shopee. */
  transaction_id: string | null;
  /** TikTok: the statement it belongs to; null on Shopee. */
  statement_id: string | null;
  order_id: string | null;
  /** Shopee: the escrow release time; TikTok: the statement time (ISO with offset). */
  release_time: IsoTimestamp | null;
  currency: string | null;
  /** What the seller receives for it. */
  settlement_amount: Decimal128 | null;
}

/** One order's (or package's) carrier events, newest first (CONTRACT §5 v2). */
export interface TrackingDocument extends BaseDocument {
  order_id: string;
  /** '' when the marketplace tracks the order as a whole. */
  package_id: string;
  tracking_number: string | null;
  status: string | null;
  events: { time: IsoTimestamp | null; description: string | null; status: string | null }[];
  /** The carrier is done with it (delivered, returned, lost): no entry refetches it (KindStorage.finalField). */
  is_final: boolean;
}

export type EntityDocument =
  OrderDocument | ReturnDocument | ProductDocument | SettlementDocument | TrackingDocument;

/** Where each kind is stored and what identifies a document (with platform and shop_id). */
export interface KindStorage {
  collection: CollectionName;
  /** The field holding the stream entry's entity_id. */
  idField: string;
  /** The unique key's fields after platform and shop_id, the id field first. */
  keyFields: readonly string[];
  /**
   * A boolean field that marks a stored document as final. An entity whose every stored document
   * is final is not fetched again unless an entry announces a newer version than stored (e.g.
   * tracking that reached delivery: a later order event does not call the marketplace again).
   */
  finalField?: string;
}

export const KIND_STORAGE: Readonly<Record<DetailKind, KindStorage>> = {
  order: { collection: COLLECTIONS.orders, idField: 'order_id', keyFields: ['order_id'] },
  return: { collection: COLLECTIONS.returns, idField: 'return_id', keyFields: ['return_id'] },
  product: { collection: COLLECTIONS.products, idField: 'product_id', keyFields: ['product_id'] },
  settlement: {
    collection: COLLECTIONS.settlements,
    idField: 'settlement_id',
    keyFields: ['settlement_id'],
  },
  tracking: {
    collection: COLLECTIONS.tracking,
    idField: 'order_id',
    keyFields: ['order_id', 'package_id'],
    finalField: 'is_final',
  },
};

/** The id field of each entity kind's collection. */
export const ENTITY_ID_FIELD: Readonly<Record<DetailKind, string>> = Object.fromEntries(
  Object.entries(KIND_STORAGE).map(([kind, storage]) => [kind, storage.idField]),
) as Record<DetailKind, string>;

export function idempotencyKey(platform: Platform, shopId: string, entityId: string): string {
  return `${platform}:${shopId}:${entityId}`;
}
