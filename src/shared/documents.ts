/**
 * The canonical MongoDB documents of CONTRACT §5, written only through src/shared/store.
 * Mappers in src/marketplaces/<platform>/dto.ts produce them from marketplace objects.
 */
import type { Decimal128 } from 'mongodb';

import type { EventSource, Platform } from './stream.js';

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

export interface ProductSku {
  sku_id: string;
  seller_sku: string | null;
  price: Decimal128 | null;
  currency: string | null;
}

export interface ProductDocument extends BaseDocument {
  product_id: string;
  status: string | null;
  title: string | null;
  skus: ProductSku[];
}

export type EntityDocument = OrderDocument | ReturnDocument | ProductDocument;

/** The id field of each entity kind's collection. */
export const ENTITY_ID_FIELD = {
  order: 'order_id',
  return: 'return_id',
  product: 'product_id',
} as const;

export function idempotencyKey(platform: Platform, shopId: string, entityId: string): string {
  return `${platform}:${shopId}:${entityId}`;
}
