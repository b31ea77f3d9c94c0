/**
 * TikTok Shop API objects (API version 202309) and pure mappers to the canonical documents of
 * CONTRACT §5.
 *
 * Each schema is tolerant of fields we do not read and strict on the ones we do. A record that
 * fails it but has its id is still mapped, field by field, with `is_valid: false` and one
 * readable line per problem in `validation_errors`; a record without an id throws ERR_MAPPING.
 * Money: TikTok sends decimal strings ("35.97"), stored digit for digit as Decimal128.
 */
import { z } from 'zod';

import type {
  OrderDocument,
  OrderLineItem,
  ProductDocument,
  ProductSku,
  ReturnDocument,
} from '../../shared/documents.js';
import { decimalStringSchema } from '../../shared/money.js';
import { toIsoWithOffset, unixSecondsSchema } from '../../shared/time.js';
import {
  baseDocument,
  isRecord,
  logicalDelete,
  read,
  readArray,
  readCount,
  record,
  requireId,
  type Json,
  type MapInput,
} from '../mapping.js';
import type { ListedEntity, WebhookKind } from '../types.js';

export { describeValidation, type MapInput } from '../mapping.js';

const PLATFORM = 'tiktok';

/** TikTok ids are digit strings too long for a double; a number would already have lost digits. */
const idSchema = z.string({ error: 'expected an id string' }).trim().min(1, 'expected a non-empty id');
const text = z.string({ error: 'expected a string' });
const optionalText = text.optional();

export const tiktokOrderSchema = z.looseObject({
  id: idSchema,
  status: text,
  create_time: unixSecondsSchema,
  update_time: unixSecondsSchema,
  /** Absent until the order is paid. */
  paid_time: unixSecondsSchema.optional(),
  payment: z.looseObject({
    currency: text.min(1),
    total_amount: decimalStringSchema,
    sub_total: decimalStringSchema.optional(),
    shipping_fee: decimalStringSchema.optional(),
  }),
  line_items: z.array(
    z.looseObject({
      id: idSchema,
      product_id: idSchema,
      sku_id: idSchema,
      product_name: text,
      sku_name: optionalText,
      seller_sku: optionalText,
      sale_price: decimalStringSchema,
      original_price: decimalStringSchema.optional(),
      // 202309 line items are one unit each; tolerate a quantity if a later version adds one.
      quantity: z.number().int().positive().optional(),
    }),
  ),
  recipient_address: z
    .looseObject({
      name: optionalText,
      phone_number: optionalText,
      full_address: optionalText,
      postal_code: optionalText,
      region_code: optionalText,
    })
    .optional(),
  tracking_number: optionalText,
});

export const tiktokReturnSchema = z.looseObject({
  return_id: idSchema,
  order_id: idSchema,
  return_status: text,
  /** REFUND | RETURN_AND_REFUND | REPLACEMENT */
  return_type: text,
  create_time: unixSecondsSchema,
  update_time: unixSecondsSchema,
  // A replacement carries no refund.
  refund_amount: z
    .looseObject({
      currency: text.min(1),
      refund_total: decimalStringSchema,
    })
    .optional(),
});

export const tiktokProductSchema = z.looseObject({
  id: idSchema,
  title: text,
  status: text,
  create_time: unixSecondsSchema,
  update_time: unixSecondsSchema,
  skus: z.array(
    z.looseObject({
      id: idSchema,
      seller_sku: optionalText,
      // Likely (MARKETPLACES.md does not list product fields): 202309 prices carry
      // tax_exclusive_price and, in some regions, sale_price; at least one must be present.
      price: z
        .looseObject({
          currency: text.min(1),
          tax_exclusive_price: decimalStringSchema.optional(),
          sale_price: decimalStringSchema.optional(),
        })
        .refine((p) => p.tax_exclusive_price !== undefined || p.sale_price !== undefined, {
          message: 'expected tax_exclusive_price or sale_price',
        }),
      list_price: z.looseObject({ amount: decimalStringSchema, currency: optionalText }).optional(),
      // Search and Get Product both carry it (MARKETPLACES-MORE.md §4); quantity is a number.
      inventory: z
        .array(z.looseObject({ warehouse_id: optionalText, quantity: z.number().int().nonnegative() }))
        .optional(),
    }),
  ),
});

/**
 * Statuses in which a product counts as deleted (is_deleted): DELETED can be recovered (to
 * SELLER_DEACTIVATED), FREEZE lifted; Get Product answers neither, so they come from the search
 * (see client.ts productById).
 */
export const TIKTOK_DELETED_PRODUCT_STATUSES: ReadonlySet<string> = new Set(['DELETED', 'FREEZE']);

/** The BaseDocument fields of a TikTok record (its times as sent). */
const base = (input: MapInput, entityId: string, raw: Json, error: z.ZodError | undefined) =>
  baseDocument(PLATFORM, input, entityId, raw, error, {
    created: read(unixSecondsSchema, raw.create_time),
    updated: read(unixSecondsSchema, raw.update_time),
  });

// ---------------------------------------------------------------------------------------------

export function mapTikTokOrder(raw: unknown, input: MapInput): OrderDocument {
  const orderId = requireId(PLATFORM, 'order', 'id', idSchema, raw);
  const order = record(raw);
  const payment = record(order.payment);
  const address = isRecord(order.recipient_address) ? order.recipient_address : null;
  const lineItems: OrderLineItem[] = readArray(order.line_items).map((value) => {
    const item = record(value);
    return {
      product_id: read(idSchema, item.product_id),
      sku_id: read(idSchema, item.sku_id),
      name: read(text, item.product_name),
      quantity: read(z.number().int().positive(), item.quantity) ?? 1,
      sale_price: read(decimalStringSchema, item.sale_price),
    };
  });
  const paid = read(unixSecondsSchema, order.paid_time);
  return {
    ...base(input, orderId, order, tiktokOrderSchema.safeParse(order).error),
    order_id: orderId,
    status: read(text, order.status),
    currency: read(text.min(1), payment.currency),
    total_amount: read(decimalStringSchema, payment.total_amount),
    line_items: lineItems,
    recipient_address: address && {
      name: read(text, address.name),
      phone: read(text, address.phone_number),
      full_address: read(text, address.full_address),
      postal_code: read(text, address.postal_code),
      region: read(text, address.region_code),
    },
    paid_time: paid === null ? null : toIsoWithOffset(paid, input.context.timezoneOffset),
    tracking_number: read(text.min(1), order.tracking_number),
  };
}

export function mapTikTokReturn(raw: unknown, input: MapInput): ReturnDocument {
  const returnId = requireId(PLATFORM, 'return', 'return_id', idSchema, raw);
  const item = record(raw);
  const refund = record(item.refund_amount);
  return {
    ...base(input, returnId, item, tiktokReturnSchema.safeParse(item).error),
    return_id: returnId,
    order_id: read(idSchema, item.order_id),
    status: read(text, item.return_status),
    return_type: read(text, item.return_type),
    refund_amount: read(decimalStringSchema, refund.refund_total),
    currency: read(text.min(1), refund.currency),
  };
}

export function mapTikTokProduct(raw: unknown, input: MapInput): ProductDocument {
  const productId = requireId(PLATFORM, 'product', 'id', idSchema, raw);
  const product = record(raw);
  const skus: ProductSku[] = [];
  for (const value of readArray(product.skus)) {
    const sku = record(value);
    const skuId = read(idSchema, sku.id);
    if (skuId === null) continue; // reported by the schema; a sku without an id cannot be keyed
    const price = record(sku.price);
    skus.push({
      sku_id: skuId,
      seller_sku: read(text, sku.seller_sku),
      price:
        read(decimalStringSchema, price.tax_exclusive_price) ?? read(decimalStringSchema, price.sale_price),
      original_price: read(decimalStringSchema, record(sku.list_price).amount),
      currency: read(text.min(1), price.currency),
      stock: inventoryOf(sku.inventory),
      reserved_stock: null,
      status: read(text, record(sku.status_info).status),
    });
  }
  const document = base(input, productId, product, tiktokProductSchema.safeParse(product).error);
  const status = read(text, product.status);
  return {
    ...document,
    product_id: productId,
    status,
    title: read(text, product.title),
    skus,
    ...logicalDelete(status, TIKTOK_DELETED_PRODUCT_STATUSES, document.update_time),
  };
}

/** Units over all warehouses; null without a readable inventory (then the schema says why). */
function inventoryOf(value: unknown): number | null {
  if (!Array.isArray(value)) return null;
  let total = 0;
  for (const entry of value) {
    const quantity = readCount(record(entry).quantity);
    if (quantity === null) return null;
    total += quantity;
  }
  return total;
}

export function mapTikTokDocument(kind: WebhookKind, raw: unknown, input: MapInput) {
  switch (kind) {
    case 'order':
      return mapTikTokOrder(raw, input);
    case 'return':
      return mapTikTokReturn(raw, input);
    case 'product':
      return mapTikTokProduct(raw, input);
  }
}

/** The id field of each kind's API object. */
export const TIKTOK_ID_FIELD = { order: 'id', return: 'return_id', product: 'id' } as const satisfies Record<
  WebhookKind,
  string
>;

/** Id and update_time of a listed object; undefined when either is unusable. */
export function tiktokListedEntity(kind: WebhookKind, raw: unknown): ListedEntity | undefined {
  const item = record(raw);
  const id = read(idSchema, item[TIKTOK_ID_FIELD[kind]]);
  const version = read(unixSecondsSchema, item.update_time);
  return id === null || version === null ? undefined : { id, version };
}
