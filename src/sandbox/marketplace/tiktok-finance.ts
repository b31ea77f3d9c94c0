/**
 * The fake TikTok Shop finance API (MARKETPLACES-MORE.md §2): Get Statements (202309) and Get
 * Statement Transactions in both versions. 202309 transactions are "only for UK and US local
 * sellers": the fake refuses them for a shop of any other region, as the shape question is
 * exactly what a client must get right. Money is decimal strings, times unix seconds (202501's
 * estimated_release_time a string). Page sizes [1, 100], default 20; required sort fields checked.
 */
import {
  decodeOffset,
  encodeOffset,
  numberParam,
  type FakeReply,
  type FakeRequest,
  type FakeShopState,
  type Json,
  type RouteMatch,
} from './state.js';

export const TIKTOK_FINANCE_ENDPOINTS = {
  statements: '/finance/202309/statements',
  transactions202309: '/finance/202309/statements/{statement_id}/statement_transactions',
  transactions202501: '/finance/202501/statements/{statement_id}/statement_transactions',
} as const;

/** Regions whose local sellers get 202309 statement transactions. */
export const TIKTOK_202309_REGIONS = new Set(['US', 'GB']);

const PAGE = { min: 1, max: 100, default: 20 };

export interface TikTokFinanceHelpers {
  route: (endpoint: string, ids: string[], handle: () => FakeReply) => RouteMatch;
  withShop: (request: FakeRequest, handler: (shop: FakeShopState) => FakeReply) => () => FakeReply;
  ok: (data: unknown) => FakeReply;
  invalid: (message: string) => FakeReply;
}

function page<T>(request: FakeRequest, items: T[], invalid: (m: string) => FakeReply) {
  const size = numberParam(request.query.get('page_size')) ?? PAGE.default;
  if (size < PAGE.min || size > PAGE.max)
    return invalid(`invalid param error: page_size must be within [${PAGE.min}, ${PAGE.max}]`);
  const offset = decodeOffset(request.query.get('page_token'));
  if (offset === undefined) return invalid('invalid param error: page_token');
  const next = offset + size < items.length ? encodeOffset(offset + size) : '';
  return { items: items.slice(offset, offset + size), next, total: items.length };
}

const seconds = (value: unknown) => Number(value);

/** A finance route of the TikTok API, or undefined for any other request. */
export function matchTikTokFinance(request: FakeRequest, h: TikTokFinanceHelpers): RouteMatch | undefined {
  if (request.method !== 'GET') return undefined;
  const { query } = request;
  if (request.path === TIKTOK_FINANCE_ENDPOINTS.statements) {
    return h.route(
      TIKTOK_FINANCE_ENDPOINTS.statements,
      [],
      h.withShop(request, (shop) => {
        if (query.get('sort_field') !== 'statement_time')
          return h.invalid('invalid param error: sort_field must be statement_time');
        const ge = numberParam(query.get('statement_time_ge'));
        const lt = numberParam(query.get('statement_time_lt'));
        const statements = [...shop.statements.values()]
          .map((s) => s.statement)
          .filter(
            (s) =>
              (ge === undefined || seconds(s.statement_time) >= ge) &&
              (lt === undefined || seconds(s.statement_time) < lt),
          )
          .sort(
            (a, b) =>
              seconds(a.statement_time) - seconds(b.statement_time) ||
              String(a.id).localeCompare(String(b.id)),
          );
        if (query.get('sort_order') === 'DESC') statements.reverse();
        const result = page(request, statements, h.invalid);
        if ('status' in result) return result;
        return h.ok({ statements: result.items, next_page_token: result.next });
      }),
    );
  }
  const match = /^\/finance\/(202309|202501)\/statements\/([^/]+)\/statement_transactions$/.exec(
    request.path,
  );
  if (!match) return undefined;
  const version = match[1] as '202309' | '202501';
  const statementId = decodeURIComponent(match[2]!);
  return h.route(
    version === '202309'
      ? TIKTOK_FINANCE_ENDPOINTS.transactions202309
      : TIKTOK_FINANCE_ENDPOINTS.transactions202501,
    [statementId],
    h.withShop(request, (shop) => transactions(request, shop, version, statementId, h)),
  );
}

function transactions(
  request: FakeRequest,
  shop: FakeShopState,
  version: '202309' | '202501',
  statementId: string,
  h: TikTokFinanceHelpers,
): FakeReply {
  if (request.query.get('sort_field') !== 'order_create_time')
    return h.invalid('invalid param error: sort_field must be order_create_time');
  // The fake's own refusal: what TikTok answers non-US/UK shops on 202309 is unconfirmed.
  if (version === '202309' && !TIKTOK_202309_REGIONS.has(shop.region))
    return h.invalid('invalid param error: this API version is only for UK and US local sellers');
  const held = shop.statements.get(statementId);
  if (!held) return h.invalid(`invalid param error: statement ${statementId} not found`);
  const result = page(request, held.transactions, h.invalid);
  if ('status' in result) return result;
  const s = held.statement;
  if (version === '202309') {
    return h.ok({
      statement_id: s.id,
      statement_time: s.statement_time,
      currency: s.currency,
      settlement_amount: s.settlement_amount,
      revenue_amount: s.revenue_amount,
      fee_amount: s.fee_amount,
      shipping_cost_amount: s.shipping_cost_amount,
      adjustment_amount: s.adjustment_amount,
      total_count: result.total,
      next_page_token: result.next,
      statement_transactions: result.items,
    });
  }
  return h.ok({
    id: s.id,
    create_time: s.statement_time,
    currency: s.currency,
    status: 'SETTLED',
    total_settlement_amount: s.settlement_amount,
    total_reserve_amount: '0',
    payable_amount: s.settlement_amount,
    total_count: result.total,
    next_page_token: result.next,
    transactions: result.items,
  });
}

// ---------------------------------------------------------------------------------------------
// Objects, in the published shapes (amounts in integer cents, written as decimal strings).

export interface TikTokFinanceIds {
  digits: (count: number) => string;
  int: (min: number, max: number) => number;
}

const dec = (cents: number) => {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
};

/** One ORDER transaction in the shop's shape: 202309 (flat fee fields) or 202501 (breakdowns). */
export function tiktokTransaction(
  ids: TikTokFinanceIds,
  version: '202309' | '202501',
  statementTime: number,
  currency: string,
): { transaction: Json; settlementCents: number } {
  const revenue = ids.int(1_000, 20_000);
  const commission = Math.round(revenue * 0.06);
  const transactionFee = ids.int(10, 90);
  const shipping = ids.int(0, 800);
  const settlement = revenue - commission - transactionFee - shipping;
  const orderCreateTime = statementTime - ids.int(86_400, 10 * 86_400);
  const common = {
    id: ids.digits(19),
    type: 'ORDER',
    order_id: ids.digits(18),
    order_create_time: orderCreateTime,
    settlement_amount: dec(settlement),
    revenue_amount: dec(revenue),
    shipping_cost_amount: dec(-shipping),
    adjustment_amount: '0',
  };
  if (version === '202309') {
    const transaction = {
      ...common,
      adjustment_id: '',
      adjustment_order_id: '',
      currency,
      fee_amount: dec(-commission - transactionFee),
      platform_commission_amount: dec(-commission),
      transaction_fee_amount: dec(-transactionFee),
      affiliate_commission_amount: '0',
      referral_fee_amount: '0',
      sales_tax_amount: '0',
      subtotal_before_discount_amount: dec(revenue),
      shipping_fee_amount: dec(-shipping),
      customer_payment_amount: dec(revenue),
    };
    return { transaction, settlementCents: settlement };
  }
  const transaction = {
    ...common,
    associated_order_id: '',
    fee_tax_amount: dec(-commission - transactionFee),
    reserve_amount: '0',
    revenue_breakdown: { subtotal_before_discount_amount: dec(revenue), seller_discount_amount: '0' },
    fee_tax_breakdown: {
      fee: { platform_commission_amount: dec(-commission), transaction_fee_amount: dec(-transactionFee) },
      tax: { vat_amount: '0' },
    },
    shipping_cost_breakdown: { actual_shipping_fee_amount: dec(-shipping), shipping_fee_subsidy_amount: '0' },
  };
  return { transaction, settlementCents: settlement };
}

/** A statement as Get Statements lists it; its settlement_amount is its transactions' sum. */
export function tiktokStatement(
  ids: TikTokFinanceIds,
  statementTime: number,
  currency: string,
  settlementCents: number[],
): Json {
  const total = settlementCents.reduce((sum, cents) => sum + cents, 0);
  return {
    id: ids.digits(19),
    statement_time: statementTime,
    currency,
    settlement_amount: dec(total),
    revenue_amount: dec(total),
    fee_amount: '0',
    adjustment_amount: '0',
    shipping_cost_amount: '0',
    net_sales_amount: dec(total),
    payment_status: 'PAID',
    payment_id: ids.digits(19),
  };
}

/**
 * Stores one statement per time in `statementTimes`, each of `perStatement` transactions in the
 * shape of the shop's region; answers the transactions with their statement's id and time.
 */
export function seedTikTokStatements(
  shop: FakeShopState,
  ids: TikTokFinanceIds,
  statementTimes: readonly number[],
  perStatement: number,
): { statementId: string; statementTime: number; transaction: Json }[] {
  const version = TIKTOK_202309_REGIONS.has(shop.region) ? '202309' : '202501';
  const currency = version === '202309' ? 'USD' : 'SGD';
  const seeded: { statementId: string; statementTime: number; transaction: Json }[] = [];
  for (const time of statementTimes) {
    const made = Array.from({ length: perStatement }, () => tiktokTransaction(ids, version, time, currency));
    const statement = tiktokStatement(
      ids,
      time,
      currency,
      made.map((m) => m.settlementCents),
    );
    const transactions = made.map((m) => m.transaction);
    shop.statements.set(String(statement.id), { statement, transactions });
    for (const transaction of transactions)
      seeded.push({ statementId: String(statement.id), statementTime: time, transaction });
  }
  return seeded;
}
