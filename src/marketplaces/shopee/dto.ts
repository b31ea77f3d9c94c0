/**
 * Shopee Open Platform v2 objects and pure mappers to the canonical documents of CONTRACT §5.
 *
 * Each schema is tolerant of fields we do not read and strict on the ones we do. A record that
 * fails it but has its id is still mapped, field by field, with `is_valid: false` and one
 * readable line per problem in `validation_errors`; a record without an id throws ERR_MAPPING.
 * Money: Shopee sends JSON numbers (35.97); they become Decimal128 through their shortest decimal
 * string, never through float arithmetic (see money.ts).
 *
 * Two fields are not in the objects Shopee returns but added by the client from a second call,
 * under Shopee's own names: an order's `tracking_no` (logistics/get_tracking_number, the name the
 * code-4 push uses) and an item's `model` list (product/get_model_list).
 */
import { z } from 'zod';

import type {
  OrderDocument,
  OrderLineItem,
  ProductDocument,
  ProductSku,
  ReturnDocument,
} from '../../shared/documents.js';
import { AppError, toAppError } from '../../shared/errors.js';
import { decimalNumberSchema } from '../../shared/money.js';
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
import { JsonNumber, parseLosslessJson, type JsonValue } from '../lossless-json.js';
import type { ListedEntity, WebhookKind } from '../types.js';

export { describeValidation, type MapInput } from '../mapping.js';

const PLATFORM = 'shopee';

/** Order and return serial numbers are strings ("2511210ABCDEF1"). */
const snSchema = z.string({ error: 'expected an id string' }).trim().min(1, 'expected a non-empty id');
/** Item and model ids are JSON numbers (well below 2^53); stored as strings. Digit strings are accepted too. */
const numericIdSchema = z.union(
  [
    z
      .number()
      .int()
      .nonnegative()
      .max(Number.MAX_SAFE_INTEGER)
      .transform((n) => String(n)),
    z.string().regex(/^\d{1,19}$/),
  ],
  { error: 'expected a numeric id' },
);
const text = z.string({ error: 'expected a string' });
const optionalText = text.optional();
const priceInfo = z.looseObject({
  currency: text.min(1).optional(),
  current_price: decimalNumberSchema,
  original_price: decimalNumberSchema.optional(),
});

export const shopeeOrderSchema = z.looseObject({
  order_sn: snSchema,
  order_status: text,
  currency: text.min(1),
  total_amount: decimalNumberSchema,
  create_time: unixSecondsSchema,
  update_time: unixSecondsSchema,
  /** Absent (or 0) until the order is paid. */
  pay_time: unixSecondsSchema.optional(),
  item_list: z.array(
    z.looseObject({
      item_id: numericIdSchema,
      item_name: text,
      model_id: numericIdSchema,
      model_sku: optionalText,
      model_quantity_purchased: z.number({ error: 'expected a quantity' }).int().nonnegative(),
      model_discounted_price: decimalNumberSchema,
    }),
  ),
  recipient_address: z
    .looseObject({
      name: optionalText,
      phone: optionalText,
      full_address: optionalText,
      zipcode: optionalText,
      region: optionalText,
    })
    .optional(),
  tracking_no: optionalText,
});

/**
 * returns/get_return_detail. Likely (MARKETPLACES.md names the endpoint, not the fields):
 * return_sn, order_sn, status, refund_amount (number), currency, create_time, update_time, and
 * return_solution (0 = return and refund, 1 = refund only).
 */
export const shopeeReturnSchema = z.looseObject({
  return_sn: snSchema,
  order_sn: snSchema,
  status: text,
  refund_amount: decimalNumberSchema,
  currency: text.min(1),
  create_time: unixSecondsSchema,
  update_time: unixSecondsSchema,
  return_solution: z.number().int().optional(),
});

/** stock_info_v2: the summary is what we store (seller_stock / shopee_stock stay in `raw`). */
const stockInfo = z.looseObject({
  summary_info: z.looseObject({
    total_available_stock: z.number().int().nonnegative(),
    total_reserved_stock: z.number().int().nonnegative().optional(),
  }),
});

/** product/get_item_base_info, with `model` added from get_model_list for items that have models. */
export const shopeeProductSchema = z
  .looseObject({
    item_id: numericIdSchema,
    item_name: text,
    item_status: text,
    create_time: unixSecondsSchema,
    update_time: unixSecondsSchema,
    item_sku: optionalText,
    has_model: z.boolean({ error: 'expected a boolean' }),
    price_info: z.array(priceInfo).optional(),
    stock_info_v2: stockInfo.optional(),
    model: z
      .array(
        z.looseObject({
          model_id: numericIdSchema,
          model_sku: optionalText,
          model_status: optionalText,
          price_info: z.array(priceInfo).min(1, 'expected at least one price'),
          stock_info_v2: stockInfo.optional(),
        }),
      )
      .optional(),
  })
  .superRefine((item, ctx) => {
    if (!item.has_model && !item.price_info?.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['price_info'],
        message: 'expected prices for an item without models',
      });
    }
    if (item.has_model && item.model === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['model'],
        message: 'expected the models of an item with models',
      });
    }
  });

/** Shopee writes 0 for times that have not happened (an unpaid order's pay_time). */
const positiveTime = (value: unknown) => {
  const seconds = read(unixSecondsSchema, value);
  return seconds === null || seconds === 0 ? null : seconds;
};

/** The BaseDocument fields of a Shopee record (a create_time of 0 reads as unset). */
const base = (input: MapInput, entityId: string, raw: Json, error: z.ZodError | undefined) =>
  baseDocument(PLATFORM, input, entityId, raw, error, {
    created: positiveTime(raw.create_time),
    updated: read(unixSecondsSchema, raw.update_time),
  });

// ---------------------------------------------------------------------------------------------

export function mapShopeeOrder(raw: unknown, input: MapInput): OrderDocument {
  const orderSn = requireId(PLATFORM, 'order', 'order_sn', snSchema, raw);
  const order = record(raw);
  const address = isRecord(order.recipient_address) ? order.recipient_address : null;
  const lineItems: OrderLineItem[] = readArray(order.item_list).map((value) => {
    const item = record(value);
    return {
      product_id: read(numericIdSchema, item.item_id),
      sku_id: read(numericIdSchema, item.model_id),
      name: read(text, item.item_name),
      quantity: read(z.number().int().nonnegative(), item.model_quantity_purchased) ?? 0,
      sale_price: read(decimalNumberSchema, item.model_discounted_price),
    };
  });
  const paid = positiveTime(order.pay_time);
  return {
    ...base(input, orderSn, order, shopeeOrderSchema.safeParse(order).error),
    order_id: orderSn,
    status: read(text, order.order_status),
    currency: read(text.min(1), order.currency),
    total_amount: read(decimalNumberSchema, order.total_amount),
    line_items: lineItems,
    recipient_address: address && {
      name: read(text, address.name),
      phone: read(text, address.phone),
      full_address: read(text, address.full_address),
      postal_code: read(text, address.zipcode),
      region: read(text, address.region),
    },
    paid_time: paid === null ? null : toIsoWithOffset(paid, input.context.timezoneOffset),
    tracking_number: read(text.min(1), order.tracking_no),
  };
}

/** Shopee's return_solution as TikTok-style return types, so both platforms read alike. */
const RETURN_SOLUTIONS: Record<number, string> = { 0: 'RETURN_AND_REFUND', 1: 'REFUND' };

export function mapShopeeReturn(raw: unknown, input: MapInput): ReturnDocument {
  const returnSn = requireId(PLATFORM, 'return', 'return_sn', snSchema, raw);
  const item = record(raw);
  const solution = read(z.number().int(), item.return_solution);
  return {
    ...base(input, returnSn, item, shopeeReturnSchema.safeParse(item).error),
    return_id: returnSn,
    order_id: read(snSchema, item.order_sn),
    status: read(text, item.status),
    return_type: solution === null ? null : (RETURN_SOLUTIONS[solution] ?? String(solution)),
    refund_amount: read(decimalNumberSchema, item.refund_amount),
    currency: read(text.min(1), item.currency),
  };
}

/**
 * item_status values that count as deleted (is_deleted). There is no "DELETED" on Shopee; a
 * ban can be lifted, so the flag is reversible like TikTok's. UNLIST is the seller hiding the
 * item, not a delete.
 */
export const SHOPEE_DELETED_ITEM_STATUSES: ReadonlySet<string> = new Set([
  'SELLER_DELETE',
  'SHOPEE_DELETE',
  'BANNED',
]);

const firstPrice = (prices: unknown) => record(readArray(prices)[0]);

/** One sku's price and stock fields from a `price_info[]` and a `stock_info_v2`. */
function skuFields(prices: unknown, stock: unknown, fallbackCurrency: string | null) {
  const price = firstPrice(prices);
  const summary = record(record(stock).summary_info);
  return {
    price: read(decimalNumberSchema, price.current_price),
    original_price: read(decimalNumberSchema, price.original_price),
    currency: read(text.min(1), price.currency) ?? fallbackCurrency,
    stock: readCount(summary.total_available_stock),
    reserved_stock: readCount(summary.total_reserved_stock),
  };
}

function shopeeSkus(item: Json): ProductSku[] {
  const itemCurrency = read(text.min(1), firstPrice(item.price_info).currency);
  if (item.has_model !== true) {
    if (readArray(item.price_info).length === 0) return [];
    // An item without models is its own single sku; Shopee orders name it model_id 0.
    return [
      {
        sku_id: '0',
        seller_sku: read(text, item.item_sku),
        ...skuFields(item.price_info, item.stock_info_v2, itemCurrency),
        status: null,
      },
    ];
  }
  const skus: ProductSku[] = [];
  for (const value of readArray(item.model)) {
    const model = record(value);
    const modelId = read(numericIdSchema, model.model_id);
    if (modelId === null) continue; // reported by the schema; a sku without an id cannot be keyed
    skus.push({
      sku_id: modelId,
      seller_sku: read(text, model.model_sku),
      ...skuFields(model.price_info, model.stock_info_v2, itemCurrency),
      status: read(text, model.model_status),
    });
  }
  return skus;
}

export function mapShopeeProduct(raw: unknown, input: MapInput): ProductDocument {
  const itemId = requireId(PLATFORM, 'product', 'item_id', numericIdSchema, raw);
  const item = record(raw);
  const document = base(input, itemId, item, shopeeProductSchema.safeParse(item).error);
  const status = read(text, item.item_status);
  return {
    ...document,
    product_id: itemId,
    status,
    title: read(text, item.item_name),
    skus: shopeeSkus(item),
    ...logicalDelete(status, SHOPEE_DELETED_ITEM_STATUSES, document.update_time),
  };
}

export function mapShopeeDocument(kind: WebhookKind, raw: unknown, input: MapInput) {
  switch (kind) {
    case 'order':
      return mapShopeeOrder(raw, input);
    case 'return':
      return mapShopeeReturn(raw, input);
    case 'product':
      return mapShopeeProduct(raw, input);
  }
}

/** Id and update_time of a listed object (returns, items); undefined when either is unusable. */
export function shopeeListedEntity(kind: WebhookKind, raw: unknown): ListedEntity | undefined {
  const item = record(raw);
  const id =
    kind === 'order'
      ? read(snSchema, item.order_sn)
      : kind === 'return'
        ? read(snSchema, item.return_sn)
        : read(numericIdSchema, item.item_id);
  const version = read(unixSecondsSchema, item.update_time);
  return id === null || version === null ? undefined : { id, version };
}

// ---------------------------------------------------------------------------------------------
// Lost pushes (push/get_lost_push_message).

/**
 * One item of `push_message_list`, whatever its shape: an item that cannot be read is reported
 * by the adapter (and recorded by reconcile) rather than dropped while parsing the page.
 */
export const lostPushSchema = z.unknown();

export type LostPush = z.output<typeof lostPushSchema>;

/**
 * The push body a lost push stands for, as text, for the webhook handler to map exactly like a
 * delivered push (kind, entity, version; event id = SHA-256 of this text). Per the published
 * response sample, an item's `data` is a JSON string holding the WHOLE push envelope
 * (`{"data":{"ordersn":…},"shop_id":…,"code":3,"timestamp":…}`): that text is the body, as is.
 * Also accepted: `data` as an object, and `data` holding only the push's inner data, which is
 * wrapped with the item's `shop_id`, `code` and `timestamp`. The JSON text is kept verbatim, so
 * ids of any size survive. Throws ERR_PAYLOAD for an item that cannot be read.
 */
export function lostPushBody(push: LostPush): string {
  if (!isRecord(push)) throw lostPushError('is not an object');
  const text = lostPushDataText(push.data);
  let data: JsonValue;
  try {
    data = parseLosslessJson(text);
  } catch (error) {
    throw lostPushError(`data is ${toAppError(error).message}`);
  }
  if (isEnvelope(data)) return text;
  return wrapInnerData(push, text);
}

function lostPushError(problem: string): AppError {
  return new AppError('ERR_PAYLOAD', `shopee lost push ${problem}`);
}

/** `data` as JSON text: the string Shopee sends, or an object serialised. */
function lostPushDataText(data: unknown): string {
  if (typeof data === 'string') return data;
  if (!isRecord(data)) throw lostPushError('without data');
  // An object was parsed with the API response by JSON.parse: an integer beyond 2^53 in it has
  // already lost digits, and an id must never be guessed.
  if (hasUnsafeInteger(data)) throw lostPushError('data holds an integer beyond 2^53 (digits lost)');
  return JSON.stringify(data);
}

function hasUnsafeInteger(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && !Number.isSafeInteger(value);
  if (Array.isArray(value)) return value.some(hasUnsafeInteger);
  return isRecord(value) && Object.values(value).some(hasUnsafeInteger);
}

/** A whole push: it carries its own `code` and `data` (inner data carries neither). */
function isEnvelope(value: JsonValue): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof JsonNumber) &&
    Object.hasOwn(value, 'code') &&
    Object.hasOwn(value, 'data')
  );
}

/** `{"data":<inner>,"shop_id":…,"code":…,"timestamp":…}` from the item, inner text verbatim. */
function wrapInnerData(push: Record<string, unknown>, innerText: string): string {
  const integer = (name: string, value: unknown) => {
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
    if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return value;
    throw lostPushError(`${name} must be an integer`);
  };
  let body = `{"data":${innerText}`;
  // Partner-level pushes (codes 1, 2, 12) carry no shop_id.
  if (push.shop_id !== undefined && push.shop_id !== null)
    body += `,"shop_id":${integer('shop_id', push.shop_id)}`;
  body += `,"code":${integer('code', push.code)}`;
  if (push.timestamp !== undefined && push.timestamp !== null)
    body += `,"timestamp":${integer('timestamp', push.timestamp)}`;
  return `${body}}`;
}
