/**
 * TikTok Shop settlements (kind `settlement`): statement transactions, one document each, keyed
 * by the transaction `id` (MARKETPLACES-MORE.md §2).
 *
 * - Listing: Get Statements by statement_time (the day's statement is generated at 00:00 UTC for
 *   the previous day), then each statement's transactions. Transactions have no by-id call, so
 *   each listed transaction travels in its stream entry's payload, with its statement's id, time
 *   and currency, and getDetails answers from those payloads without calling TikTok.
 * - Shape: Get Statement Transactions 202309 is "only for UK and US local sellers"; 202501 serves
 *   every region. The shop's region is read once per process from Get Authorized Shops (the
 *   platform's own record of the shop; nothing to configure); a shop it does not list gets 202501.
 * - Version: the statement_time (unix seconds). A statement is generated once and its
 *   transactions are settled; a second listing of the same statement announces nothing new and
 *   is not refetched (the version guard then keeps the stored document).
 */
import { z } from 'zod';

import type { Decimal128 } from 'mongodb';

import type { SettlementDocument } from '../../shared/documents.js';
import { AppError } from '../../shared/errors.js';
import { decimalStringSchema } from '../../shared/money.js';
import { toIsoWithOffset, toUnixSeconds, unixSecondsSchema } from '../../shared/time.js';
import { parseResponse, listOrEmpty, tokenOrEmpty } from '../http.js';
import { baseDocument, isRecord, read, record, requireId, type MapInput } from '../mapping.js';
import { amountOf, moneyTree, type MoneyTree } from '../money-tree.js';
import type { DetailResult, KindAdapter, ListedEntity, MappingContext, Shop } from '../types.js';
import { tiktokPages, type TikTokClient } from './client.js';

const PLATFORM = 'tiktok';

export type TikTokFinanceVersion = '202309' | '202501';

export const TIKTOK_FINANCE_PATHS = {
  statements: '/finance/202309/statements',
  transactions: (version: TikTokFinanceVersion, statementId: string) =>
    `/finance/${version}/statements/${encodeURIComponent(statementId)}/statement_transactions`,
} as const;

/** page_size of both calls: [1, 100] (official SDK, api/financeV202309Api.ts, financeV202501Api.ts). */
export const TIKTOK_FINANCE_PAGE_SIZE = 100;

/** Regions whose local sellers get 202309 statement transactions (TikTok writes the UK as GB). */
const REGIONS_202309 = new Set(['US', 'GB', 'UK']);

/** The transactions API version for a shop's region (undefined: unknown, the all-regions one). */
export function financeVersionOf(region: string | undefined): TikTokFinanceVersion {
  return region !== undefined && REGIONS_202309.has(region.toUpperCase()) ? '202309' : '202501';
}

/**
 * One listed transaction as it travels in a stream entry and reaches the mapper: the transaction
 * exactly as received, with what only its statement says.
 */
export interface TikTokSettlementRecord {
  api_version: TikTokFinanceVersion;
  statement_id: string;
  /** unix seconds */
  statement_time: number;
  currency: string | null;
  transaction: unknown;
}

const idSchema = z.string({ error: 'expected an id string' }).trim().min(1, 'expected a non-empty id');
const text = z.string({ error: 'expected a string' });

const statementsPage = z.looseObject({
  data: z.looseObject({ statements: listOrEmpty, next_page_token: tokenOrEmpty }),
});
const statementSchema = z.looseObject({
  id: idSchema,
  statement_time: unixSecondsSchema,
  currency: text.optional(),
});
const transactionsPage = {
  '202309': z.looseObject({
    data: z.looseObject({ statement_transactions: listOrEmpty, next_page_token: tokenOrEmpty }),
  }),
  '202501': z.looseObject({
    data: z.looseObject({ transactions: listOrEmpty, next_page_token: tokenOrEmpty }),
  }),
};

/** The published transaction shapes: what the mapper requires of each (the rest is kept as sent). */
export const tiktokTransactionSchemas = {
  '202309': z.looseObject({
    id: idSchema,
    type: text,
    order_create_time: unixSecondsSchema.optional(),
    currency: text.min(1).optional(),
    settlement_amount: decimalStringSchema,
    revenue_amount: decimalStringSchema.optional(),
    fee_amount: decimalStringSchema.optional(),
    shipping_cost_amount: decimalStringSchema.optional(),
    adjustment_amount: decimalStringSchema.optional(),
  }),
  '202501': z.looseObject({
    id: idSchema,
    type: text,
    order_create_time: unixSecondsSchema.optional(),
    settlement_amount: decimalStringSchema,
    revenue_amount: decimalStringSchema.optional(),
    fee_tax_amount: decimalStringSchema.optional(),
    shipping_cost_amount: decimalStringSchema.optional(),
    adjustment_amount: decimalStringSchema.optional(),
    reserve_amount: decimalStringSchema.optional(),
    // A string unix time in 202501 (an integer elsewhere).
    estimated_release_time: unixSecondsSchema.optional(),
  }),
} as const;

/** The totals kept under `amounts`; every other money field of a transaction is its fee breakdown. */
const TOTALS = [
  'revenue_amount',
  'fee_amount',
  'fee_tax_amount',
  'shipping_cost_amount',
  'adjustment_amount',
  'reserve_amount',
] as const;

/** Fields kept under `amounts` or at the top, not in the fee breakdown. */
const TOTAL_FIELDS: ReadonlySet<string> = new Set([...TOTALS, 'settlement_amount']);

/** 202501's nested breakdowns: revenue_breakdown, fee_tax_breakdown, shipping_cost_breakdown, supplementary_component. */
const BREAKDOWNS = /_breakdown$|^supplementary_component$/;

export interface TikTokSettlementDocument extends SettlementDocument {
  api_version: TikTokFinanceVersion;
  /** ORDER, RESERVE, or an adjustment type (SHIPPING_FEE_ADJUSTMENT, CHARGE_BACK…). */
  type: string | null;
  adjustment_id: string | null;
  reserve_id: string | null;
  /** The order an adjustment concerns (202309 adjustment_order_id, 202501 associated_order_id). */
  associated_order_id: string | null;
  /** The transaction's totals (those it has). */
  amounts: Partial<Record<(typeof TOTALS)[number], Decimal128 | null>>;
  /** Every other money field: 202309's flat fee fields, 202501's breakdown objects. */
  fee_breakdown: MoneyTree;
  reserve_status: string | null;
  estimated_release_time: string | null;
}

/** Pure: a listed transaction (with its statement) to its document. Throws ERR_MAPPING without an id. */
export function mapTikTokSettlement(raw: unknown, input: MapInput): TikTokSettlementDocument {
  const settlement = record(raw) as Partial<TikTokSettlementRecord>;
  const version = settlement.api_version === '202309' ? '202309' : '202501';
  const transactionId = requireId(PLATFORM, 'settlement', 'id', idSchema, settlement.transaction);
  const transaction = record(settlement.transaction);
  const statementTime = read(unixSecondsSchema, settlement.statement_time);
  const offset = input.context.timezoneOffset;
  const issues: string[] = [];
  const document = baseDocument(
    PLATFORM,
    input,
    transactionId,
    record(raw),
    tiktokTransactionSchemas[version].safeParse(transaction).error,
    { created: read(unixSecondsSchema, transaction.order_create_time), updated: statementTime },
  );
  const amounts: TikTokSettlementDocument['amounts'] = {};
  for (const field of TOTALS) {
    if (field in transaction) amounts[field] = amountOf(transaction[field], field, issues, false);
  }
  const released = read(unixSecondsSchema, transaction.estimated_release_time);
  const mapped: TikTokSettlementDocument = {
    ...document,
    settlement_id: transactionId,
    transaction_id: transactionId,
    statement_id: read(idSchema, settlement.statement_id),
    order_id: read(idSchema, transaction.order_id),
    release_time: statementTime === null ? null : toIsoWithOffset(statementTime, offset),
    currency: read(text.min(1), transaction.currency) ?? read(text.min(1), settlement.currency),
    settlement_amount: read(decimalStringSchema, transaction.settlement_amount),
    api_version: version,
    type: read(text, transaction.type),
    adjustment_id: read(idSchema, transaction.adjustment_id),
    reserve_id: read(idSchema, transaction.reserve_id),
    associated_order_id:
      read(idSchema, transaction.associated_order_id) ?? read(idSchema, transaction.adjustment_order_id),
    amounts,
    fee_breakdown: feeBreakdown(transaction, issues),
    reserve_status: read(text, transaction.reserve_status),
    estimated_release_time: released === null ? null : toIsoWithOffset(released, offset),
  };
  if (statementTime === null) issues.push('statement_time: expected unix seconds');
  return withIssues(mapped, issues);
}

/**
 * The fee breakdown: every `*_amount` field besides the totals (202309 sends them flat) and the
 * breakdown objects (202501 nests them: fee.*, tax.*, supplementary…), whatever the version, so
 * a field either version adds later is kept too.
 */
function feeBreakdown(transaction: Record<string, unknown>, issues: string[]): MoneyTree {
  const fees: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(transaction)) {
    const nested = isRecord(value) && BREAKDOWNS.test(field);
    if (nested || (field.endsWith('_amount') && !TOTAL_FIELDS.has(field))) fees[field] = value;
  }
  return moneyTree(fees, { isMoney: (key) => key.endsWith('_amount'), issues, numbers: false });
}

/** The document with the mapper's own findings added to the schema's. */
function withIssues<T extends SettlementDocument>(document: T, issues: string[]): T {
  const errors = [...new Set([...document.validation_errors, ...issues])];
  return { ...document, validation_errors: errors, is_valid: errors.length === 0 };
}

// ---------------------------------------------------------------------------------------------
// Calls

function parse<T>(schema: z.ZodType<T>, body: unknown, endpoint: string): T {
  return parseResponse('tiktok', schema, body, endpoint);
}

type Requester = Pick<TikTokClient, 'request'>;
/** What the region lookup needs: the grant's own call, with the shop's current token. */
type ShopsLookup = Pick<TikTokClient, 'getAuthorizedShops' | 'tokens'>;

/**
 * A shop's finance version from its region in Get Authorized Shops (the client's call: signed
 * for the grant, no shop_cipher), asked once per process and shop (a failed lookup is asked again
 * next time).
 */
export function createFinanceVersions(client: ShopsLookup): (shop: Shop) => Promise<TikTokFinanceVersion> {
  const versions = new Map<string, Promise<TikTokFinanceVersion>>();
  return (shop) => {
    let known = versions.get(shop.shop_id);
    if (!known) {
      known = client.tokens
        .withAccessToken(shop, (accessToken) => client.getAuthorizedShops(accessToken))
        .then((shops) => financeVersionOf(shops.find((s) => s.id === shop.shop_id)?.region));
      known.catch(() => versions.delete(shop.shop_id));
      versions.set(shop.shop_id, known);
    }
    return known;
  };
}

const paging = (token: string): Record<string, string> => ({
  page_size: String(TIKTOK_FINANCE_PAGE_SIZE),
  ...(token ? { page_token: token } : {}),
});

/** Get Statements with statement_time in [from, to), oldest first. */
function statementPages(client: Requester, shop: Shop, from: Date, to: Date) {
  const window = {
    sort_field: 'statement_time',
    sort_order: 'ASC',
    statement_time_ge: String(toUnixSeconds(from)),
    statement_time_lt: String(Math.ceil(to.getTime() / 1000)),
  };
  return tiktokPages(async (token) => {
    const body = await client.request(shop, 'get_statements', 'GET', TIKTOK_FINANCE_PATHS.statements, {
      ...window,
      ...paging(token),
    });
    const { data } = parse(statementsPage, body, 'get_statements');
    return { items: data.statements, next: data.next_page_token };
  });
}

/** Get Statement Transactions of one statement, in `version`'s shape. */
function transactionPages(client: Requester, shop: Shop, version: TikTokFinanceVersion, statementId: string) {
  const path = TIKTOK_FINANCE_PATHS.transactions(version, statementId);
  return tiktokPages(async (token) => {
    const body = await client.request(shop, `get_statement_transactions_${version}`, 'GET', path, {
      sort_field: 'order_create_time',
      ...paging(token),
    });
    if (version === '202309') {
      const { data } = parse(transactionsPage['202309'], body, 'get_statement_transactions');
      return { items: data.statement_transactions, next: data.next_page_token };
    }
    const { data } = parse(transactionsPage['202501'], body, 'get_statement_transactions');
    return { items: data.transactions, next: data.next_page_token };
  });
}

/** The kind-table entry of settlements over a TikTok client. */
export function tiktokSettlementKind(
  client: Requester & ShopsLookup,
  options: { logger?: { warn: (obj: object, msg: string) => void } } = {},
): KindAdapter {
  const versionOf = createFinanceVersions(client);
  const warn = (shop: Shop, what: string) =>
    options.logger?.warn({ platform: PLATFORM, shop_id: shop.shop_id, kind: 'settlement' }, what);

  return {
    async *listUpdated(shop, from, to) {
      const version = await versionOf(shop);
      for await (const page of statementPages(client, shop, from, to)) {
        for (const raw of page) {
          const statement = statementSchema.safeParse(raw);
          if (!statement.success) {
            warn(shop, 'statement without id or statement_time skipped');
            continue;
          }
          const { id, statement_time: time, currency } = statement.data;
          for await (const items of transactionPages(client, shop, version, id)) {
            yield listedTransactions(items, { version, id, time, currency: currency ?? null }, () =>
              warn(shop, 'statement transaction without id skipped'),
            );
          }
        }
      }
    },
    getDetails: (_shop, ids, hints) => Promise.resolve(fromHints(ids, hints)),
    toDocument: (shop: Shop, raw: unknown, context: MappingContext) =>
      mapTikTokSettlement(raw, { shopId: shop.shop_id, context }),
  };
}

function listedTransactions(
  items: unknown[],
  statement: { version: TikTokFinanceVersion; id: string; time: number; currency: string | null },
  skipped: () => void,
): ListedEntity[] {
  const listed: ListedEntity[] = [];
  for (const transaction of items) {
    const id = read(idSchema, record(transaction).id);
    if (id === null) {
      skipped();
      continue;
    }
    const settlement: TikTokSettlementRecord = {
      api_version: statement.version,
      statement_id: statement.id,
      statement_time: statement.time,
      currency: statement.currency,
      transaction,
    };
    listed.push({ id, version: statement.time, payload: JSON.stringify(settlement) });
  }
  return listed;
}

/**
 * Transactions from what their listing carried. An entry without it (e.g. written by hand)
 * cannot be fetched by id: it fails on its own, and the next reconcile lists it again.
 */
function fromHints(ids: readonly string[], hints: ReadonlyMap<string, string>): DetailResult {
  const result: DetailResult = { objects: [], failures: [] };
  const missing: string[] = [];
  for (const id of new Set(ids)) {
    const hint = hints.get(id);
    let settlement: unknown;
    try {
      settlement = hint === undefined ? undefined : JSON.parse(hint);
    } catch {
      settlement = undefined;
    }
    if (isRecord(settlement) && isRecord(settlement.transaction)) result.objects.push(settlement);
    else missing.push(id);
  }
  if (missing.length > 0) {
    result.failures.push({
      ids: missing,
      error: new AppError(
        'ERR_STREAM_ENTRY',
        'tiktok statement transactions have no by-id call: the entry must carry its listing (run reconcile --kind settlement)',
      ),
    });
  }
  return result;
}
