/**
 * Shopee settlements (kind `settlement`): escrow releases, one document per
 * `(order_sn, escrow_release_time)`, stored under `settlement_id` = `<order_sn>:<release time>`
 * (MARKETPLACES-MORE.md §2).
 *
 * - Listing: payment/get_escrow_list by release time, in windows of at most 15 days (its maximum
 *   is undocumented; get_order_list's is 15 days) and pages of 100. Each listed row travels in
 *   its stream entry's payload: the payout amount is in the list only.
 * - Details: payment/get_escrow_detail_batch (POST, at most 50 order_sn per call), each call
 *   settled on its own: a failed call fails only its own ids.
 * - Version: the escrow_release_time (unix seconds). A release happens once; a later one of the
 *   same order is another document.
 */
import { z } from 'zod';

import type { Decimal128 } from 'mongodb';

import type { SettlementDocument } from '../../shared/documents.js';
import { chunk } from '../../shared/concurrency.js';
import { AppError } from '../../shared/errors.js';
import { decimalNumberSchema } from '../../shared/money.js';
import { toIsoWithOffset, unixSecondsSchema } from '../../shared/time.js';
import { parseResponse, settleDetails, unique, listOrEmpty } from '../http.js';
import { baseDocument, isRecord, read, readArray, record, type MapInput } from '../mapping.js';
import { amountOf, moneyTree, type MoneyTree } from '../money-tree.js';
import type { DetailResult, KindAdapter, ListedEntity, Shop } from '../types.js';
import { timeWindows, type ShopeeClient } from './client.js';

const PLATFORM = 'shopee';

export const SHOPEE_FINANCE_PATHS = {
  escrowList: '/api/v2/payment/get_escrow_list',
  escrowDetailBatch: '/api/v2/payment/get_escrow_detail_batch',
} as const;

/** get_escrow_list page_size maximum. */
export const SHOPEE_ESCROW_PAGE_SIZE = 100;
/** order_sn per get_escrow_detail_batch call (`exceed_max_limit` above). */
export const SHOPEE_MAX_ESCROW_DETAILS = 50;

const snSchema = z.string({ error: 'expected an id string' }).trim().min(1, 'expected a non-empty id');
const text = z.string({ error: 'expected a string' });

/** A get_escrow_list row. */
export const shopeeEscrowSchema = z.looseObject({
  order_sn: snSchema,
  payout_amount: decimalNumberSchema,
  escrow_release_time: unixSecondsSchema,
});

/** What the mapper requires of an escrow detail (everything else is kept as sent). */
export const shopeeEscrowDetailSchema = z.looseObject({
  order_sn: snSchema,
  order_income: z.looseObject({
    escrow_amount: decimalNumberSchema,
    order_adjustment: z
      .array(z.looseObject({ amount: decimalNumberSchema, date: unixSecondsSchema.optional() }))
      .optional(),
  }),
});

/** A listed release with its detail: what getDetails answers and the mapper reads. */
export interface ShopeeSettlementRecord {
  escrow: unknown;
  escrow_detail: unknown;
}

export interface ShopeeSettlementDocument extends SettlementDocument {
  type: 'ESCROW';
  buyer_user_name: string | null;
  return_order_sn_list: string[];
  /** The order's totals as Shopee computed them. */
  amounts: {
    escrow_amount: Decimal128 | null;
    buyer_total_amount: Decimal128 | null;
    escrow_amount_after_adjustment: Decimal128 | null;
    total_adjustment_amount: Decimal128 | null;
  };
  /** order_income as sent (fees, rebates, vouchers, items, adjustments), its amounts as Decimal128. */
  fee_breakdown: MoneyTree;
}

/** `<order_sn>:<escrow_release_time>` */
export function shopeeSettlementId(orderSn: string, releaseTime: number): string {
  return `${orderSn}:${releaseTime}`;
}

/** The order_sn and release time of a settlement id; undefined when it is not one. */
export function parseShopeeSettlementId(id: string): { orderSn: string; releaseTime: number } | undefined {
  const match = /^(.+):(\d{1,11})$/.exec(id);
  return match ? { orderSn: match[1]!, releaseTime: Number(match[2]) } : undefined;
}

/**
 * Numbers in order_income are amounts, except ids, counts and times (item_id, model_id,
 * activity_id, quantity_purchased, an adjustment's date).
 */
const NOT_AMOUNT = /(^|_)(id|quantity|quantity_purchased|date|time)$|^quantity/;
const isAmount = (key: string, value: unknown) => typeof value === 'number' && !NOT_AMOUNT.test(key);

/** Pure: an escrow release with its detail to its document. Throws ERR_MAPPING without an order_sn. */
export function mapShopeeSettlement(raw: unknown, input: MapInput): ShopeeSettlementDocument {
  const settlement = record(raw);
  const escrow = record(settlement.escrow);
  const detail = record(settlement.escrow_detail);
  const orderSn = read(snSchema, escrow.order_sn) ?? read(snSchema, detail.order_sn);
  const released = read(unixSecondsSchema, escrow.escrow_release_time);
  if (orderSn === null || released === null) {
    throw new AppError(
      'ERR_MAPPING',
      'shopee settlement has no order_sn or escrow_release_time: cannot be matched to a document',
    );
  }
  const settlementId = shopeeSettlementId(orderSn, released);
  const issues: string[] = [];
  const escrowError = shopeeEscrowSchema.safeParse(escrow).error;
  const detailError = shopeeEscrowDetailSchema.safeParse(detail).error;
  const document = baseDocument(PLATFORM, input, settlementId, settlement, escrowError, {
    created: null,
    updated: released,
  });
  const income = record(detail.order_income);
  const total = (field: string) => amountOf(income[field], `order_income.${field}`, issues, true);
  const errors = [
    ...document.validation_errors,
    ...(detailError?.issues.map((i) => `escrow_detail.${i.path.join('.')}: ${i.message}`) ?? []),
  ];
  const mapped: ShopeeSettlementDocument = {
    ...document,
    settlement_id: settlementId,
    transaction_id: null,
    statement_id: null,
    order_id: orderSn,
    release_time: toIsoWithOffset(released, input.context.timezoneOffset),
    // Local shops' escrow details carry no currency (only CB SIP ones: pri_currency).
    currency: read(text.min(1), income.pri_currency),
    settlement_amount: read(decimalNumberSchema, escrow.payout_amount),
    type: 'ESCROW',
    buyer_user_name: read(text, detail.buyer_user_name),
    return_order_sn_list: readArray(detail.return_order_sn_list).filter(
      (sn): sn is string => typeof sn === 'string',
    ),
    amounts: {
      escrow_amount: total('escrow_amount'),
      buyer_total_amount: total('buyer_total_amount'),
      escrow_amount_after_adjustment: total('escrow_amount_after_adjustment'),
      total_adjustment_amount: total('total_adjustment_amount'),
    },
    fee_breakdown: moneyTree(income, { isMoney: isAmount, issues, numbers: true }, 'order_income'),
  };
  const all = [...new Set([...errors, ...issues])];
  return { ...mapped, validation_errors: all, is_valid: all.length === 0 };
}

// ---------------------------------------------------------------------------------------------
// Calls

const escrowListSchema = z.looseObject({
  response: z.preprocess(
    (value) => value ?? {},
    z.looseObject({
      escrow_list: listOrEmpty,
      more: z.boolean().default(false),
    }),
  ),
});
const escrowDetailBatchSchema = z.looseObject({
  response: z
    .array(z.looseObject({ escrow_detail: z.unknown() }))
    .nullish()
    .transform((list) => list ?? []),
});

function parse<T>(schema: z.ZodType<T>, body: unknown, endpoint: string): T {
  return parseResponse('shopee', schema, body, endpoint);
}

export interface ShopeeSettlementOptions {
  concurrency?: number;
  /** Ids per get_escrow_detail_batch call (DETAIL_BATCH_SIZE, at most 50). */
  detailBatchSize?: number;
  logger?: { warn: (obj: object, msg: string) => void };
}

type Requester = Pick<ShopeeClient, 'request'>;
type Warn = (shop: Shop, what: string) => void;

/** get_escrow_list over [from, to) in windows of at most 15 days, page by page (page_no from 1). */
async function* listReleases(client: Requester, shop: Shop, from: Date, to: Date, warn: Warn) {
  for (const [timeFrom, timeTo] of timeWindows(from, to)) {
    for (let pageNo = 1; ; pageNo += 1) {
      const body = await client.request(shop, 'get_escrow_list', SHOPEE_FINANCE_PATHS.escrowList, {
        release_time_from: String(timeFrom),
        release_time_to: String(timeTo),
        page_size: String(SHOPEE_ESCROW_PAGE_SIZE),
        page_no: String(pageNo),
      });
      const page = parse(escrowListSchema, body, 'get_escrow_list').response;
      yield listedReleases(shop, page.escrow_list, warn);
      if (!page.more || page.escrow_list.length === 0) break;
    }
  }
}

function listedReleases(shop: Shop, rows: unknown[], warn: Warn): ListedEntity[] {
  const listed: ListedEntity[] = [];
  for (const row of rows) {
    const fields = record(row);
    const orderSn = read(snSchema, fields.order_sn);
    const released = read(unixSecondsSchema, fields.escrow_release_time);
    if (orderSn === null || released === null) {
      warn(shop, 'escrow row without order_sn or escrow_release_time skipped');
      continue;
    }
    // The row travels with the entry: its payout_amount is in the list only.
    listed.push({
      id: shopeeSettlementId(orderSn, released),
      version: released,
      payload: JSON.stringify(row),
    });
  }
  return listed;
}

/** One get_escrow_detail_batch call; the releases of `group` whose order it answered. */
async function detailsOf(client: Requester, shop: Shop, group: Release[]): Promise<unknown[]> {
  const orderSns = unique(group.map((r) => r.orderSn));
  const body = await client.request(
    shop,
    'get_escrow_detail_batch',
    SHOPEE_FINANCE_PATHS.escrowDetailBatch,
    {},
    { order_sn_list: orderSns },
  );
  const details = new Map<string, unknown>();
  for (const item of parse(escrowDetailBatchSchema, body, 'get_escrow_detail_batch').response) {
    const orderSn = read(snSchema, record(item.escrow_detail).order_sn);
    if (orderSn !== null) details.set(orderSn, item.escrow_detail);
  }
  return group
    .filter((release) => details.has(release.orderSn))
    .map((release) => ({ escrow: release.escrow, escrow_detail: details.get(release.orderSn) }));
}

/** The kind-table entry of settlements over a Shopee client. */
export function shopeeSettlementKind(client: Requester, options: ShopeeSettlementOptions = {}): KindAdapter {
  const concurrency = options.concurrency ?? 4;
  const batchSize = Math.max(1, Math.min(options.detailBatchSize ?? 50, SHOPEE_MAX_ESCROW_DETAILS));
  const warn: Warn = (shop, what) =>
    options.logger?.warn({ platform: PLATFORM, shop_id: shop.shop_id, kind: 'settlement' }, what);

  return {
    listUpdated: (shop, from, to) => listReleases(client, shop, from, to, warn),
    async getDetails(shop, ids, hints): Promise<DetailResult> {
      const releases = releasesOf(ids, hints);
      // Chunks of distinct orders: two releases of one order share its detail call.
      const byOrder = new Map<string, Release[]>();
      for (const release of releases.valid) {
        byOrder.set(release.orderSn, [...(byOrder.get(release.orderSn) ?? []), release]);
      }
      const groups = chunk([...byOrder.values()], batchSize).map((orders) => orders.flat());
      const result = await settleDetails(
        groups,
        concurrency,
        (group) => group.map((r) => r.id),
        (group) => detailsOf(client, shop, group),
      );
      if (releases.invalid.length > 0) {
        result.failures.push({
          ids: releases.invalid,
          error: new AppError('ERR_STREAM_ENTRY', 'not a shopee settlement id (<order_sn>:<release time>)'),
        });
      }
      return result;
    },
    toDocument: (shop, raw, context) => mapShopeeSettlement(raw, { shopId: shop.shop_id, context }),
  };
}

interface Release {
  id: string;
  orderSn: string;
  /** The listed row (payout_amount is only there), or what the id says when no listing came along. */
  escrow: unknown;
}

function releasesOf(ids: readonly string[], hints: ReadonlyMap<string, string>) {
  const valid: Release[] = [];
  const invalid: string[] = [];
  for (const id of unique(ids)) {
    const parsed = parseShopeeSettlementId(id);
    if (!parsed) {
      invalid.push(id);
      continue;
    }
    let escrow: unknown;
    try {
      escrow = JSON.parse(hints.get(id) ?? 'null');
    } catch {
      escrow = null;
    }
    if (!isRecord(escrow)) escrow = { order_sn: parsed.orderSn, escrow_release_time: parsed.releaseTime };
    valid.push({ id, orderSn: parsed.orderSn, escrow });
  }
  return { valid, invalid };
}
