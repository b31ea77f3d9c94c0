/**
 * Settlement mappers against fixtures in the documented shapes (test/fixtures/marketplaces):
 * every money field Decimal128 with the digits sent, the fee breakdown kept, times ISO with the
 * configured offset, the version a stable statement/release time.
 */
import { Decimal128 } from 'mongodb';
import { describe, expect, it } from 'vitest';

import { isAppError } from '../../src/shared/errors.js';
import {
  mapShopeeSettlement,
  parseShopeeSettlementId,
  shopeeSettlementKind,
} from '../../src/marketplaces/shopee/settlements.js';
import {
  financeVersionOf,
  mapTikTokSettlement,
  tiktokSettlementKind,
} from '../../src/marketplaces/tiktok/settlements.js';
import type { Shop } from '../../src/marketplaces/types.js';
import { marketplaceFixture, mappingInput, type Json } from '../support/mapping.js';

const fixture = (name: string) => marketplaceFixture(name);

const input = mappingInput('reconcile', '2026-11-21T04:00:00.000Z', '2026-11-21T04:00:01.500Z');
const { context } = input;

/** Every Decimal128 in a value as its exact text (the rest as is), to compare whole trees. */
function digits(value: unknown): unknown {
  if (value instanceof Decimal128) return `D:${value.toString()}`;
  if (Array.isArray(value)) return value.map(digits);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, digits(v)]));
  return value;
}

describe('TikTok settlement 202309 (US/UK)', () => {
  it('maps the transaction with every amount exact and the flat fee fields as its breakdown', () => {
    const document = mapTikTokSettlement(fixture('tiktok-statement-transaction-202309'), input);
    expect(document.validation_errors).toEqual([]);
    expect(digits(document)).toMatchObject({
      platform: 'tiktok',
      shop_id: '7495001',
      settlement_id: '7335070290434542381',
      transaction_id: '7335070290434542381',
      idempotency_key: 'tiktok:7495001:7335070290434542381',
      statement_id: '7335025768913062700',
      order_id: '576461413038785752',
      type: 'ORDER',
      api_version: '202309',
      version: 1_795_219_200,
      release_time: '2026-11-21T07:00:00+07:00',
      update_time: '2026-11-21T07:00:00+07:00',
      create_time: '2026-11-15T06:46:40+07:00',
      currency: 'USD',
      settlement_amount: 'D:1234567890.05',
      is_valid: true,
    });
    expect(digits(document.amounts)).toEqual({
      revenue_amount: 'D:1234567999.90',
      fee_amount: 'D:-109.35',
      shipping_cost_amount: 'D:-0.50',
      adjustment_amount: 'D:0',
    });
    expect(digits(document.fee_breakdown)).toEqual({
      platform_commission_amount: 'D:-74.07',
      affiliate_commission_amount: 'D:-35.00',
      transaction_fee_amount: 'D:-0.28',
      referral_fee_amount: 'D:0.00',
      sales_tax_amount: 'D:0',
      subtotal_before_discount_amount: 'D:1234567999.90',
      customer_payment_amount: 'D:1234567999.90',
      shipping_fee_amount: 'D:-0.50',
    });
    expect(document.associated_order_id).toBeNull();
  });

  it('a money field that is not a decimal string makes the document invalid, naming it', () => {
    const raw = fixture('tiktok-statement-transaction-202309');
    (raw.transaction as Json).platform_commission_amount = 74.07;
    const document = mapTikTokSettlement(raw, input);
    expect(document.is_valid).toBe(false);
    expect(document.validation_errors).toContain('platform_commission_amount: expected a decimal amount');
    expect(document.fee_breakdown.platform_commission_amount).toBeNull();
  });
});

describe('TikTok settlement 202501 (other regions)', () => {
  it('maps a reserve transaction with its nested breakdowns exact and a string release time', () => {
    const document = mapTikTokSettlement(fixture('tiktok-statement-transaction-202501'), input);
    expect(document.validation_errors).toEqual([]);
    expect(digits(document)).toMatchObject({
      settlement_id: '7335070290434542399',
      statement_id: '7335025768913062701',
      type: 'RESERVE',
      api_version: '202501',
      order_id: null,
      reserve_id: '7335070290434500001',
      associated_order_id: '576461413038785799',
      currency: 'SGD', // the statement's: 202501 transactions carry none
      settlement_amount: 'D:-12.30',
      reserve_status: 'RESERVED',
      estimated_release_time: '2026-11-28T07:00:00+07:00',
      version: 1_795_219_200,
    });
    expect(digits(document.amounts)).toEqual({
      revenue_amount: 'D:0',
      fee_tax_amount: 'D:0',
      shipping_cost_amount: 'D:0',
      adjustment_amount: 'D:0',
      reserve_amount: 'D:-12.30',
    });
    expect(digits(document.fee_breakdown)).toEqual({
      revenue_breakdown: { subtotal_before_discount_amount: 'D:0.10', seller_discount_amount: 'D:-0.01' },
      fee_tax_breakdown: {
        fee: { platform_commission_amount: 'D:-0.007', transaction_fee_amount: 'D:-1.20' },
        tax: { vat_amount: 'D:-0.09' },
      },
      shipping_cost_breakdown: {
        actual_shipping_fee_amount: 'D:-3.45',
        supplementary_component: { customer_shipping_fee_offset_amount: 'D:1.00' },
      },
    });
  });

  it('a transaction without an id cannot be matched: ERR_MAPPING', () => {
    const raw = fixture('tiktok-statement-transaction-202501');
    delete (raw.transaction as Json).id;
    expect(() => mapTikTokSettlement(raw, input)).toThrow(
      expect.objectContaining({ code: 'ERR_MAPPING' }) as Error,
    );
  });

  it('US and UK (GB) shops get 202309, every other or unknown region 202501', () => {
    expect(['US', 'GB', 'uk', 'SG', 'VN', undefined].map(financeVersionOf)).toEqual([
      '202309',
      '202309',
      '202309',
      '202501',
      '202501',
      '202501',
    ]);
  });
});

describe('Shopee settlement (escrow release)', () => {
  it('maps the release and its escrow detail, every JSON-number amount exact', () => {
    const document = mapShopeeSettlement(fixture('shopee-escrow'), { shopId: '600001', context });
    expect(document.validation_errors).toEqual([]);
    expect(digits(document)).toMatchObject({
      platform: 'shopee',
      settlement_id: '2511210ABCDEF1:1795219200',
      idempotency_key: 'shopee:600001:2511210ABCDEF1:1795219200',
      order_id: '2511210ABCDEF1',
      transaction_id: null,
      statement_id: null,
      type: 'ESCROW',
      version: 1_795_219_200,
      release_time: '2026-11-21T07:00:00+07:00',
      settlement_amount: 'D:57334',
      currency: null,
      buyer_user_name: 'buyer_hoa',
    });
    expect(digits(document.amounts)).toEqual({
      escrow_amount: 'D:57334',
      buyer_total_amount: 'D:61000',
      escrow_amount_after_adjustment: 'D:57333.7',
      total_adjustment_amount: 'D:-0.3',
    });
    expect(digits(document.fee_breakdown)).toMatchObject({
      commission_fee: 'D:2400.1',
      service_fee: 'D:0.1',
      seller_transaction_fee: 'D:265.8',
      actual_shipping_fee: 'D:1000',
      order_adjustment: [
        {
          amount: 'D:-0.3',
          date: 1_795_132_800,
          currency: 'VND',
          adjustment_reason: 'shipping fee correction',
        },
      ],
      // ids, counts and flags stay as sent
      items: [
        {
          item_id: 2_300_000_014,
          model_id: 9_000_000_221,
          item_name: 'Ceramic Mug',
          original_price: 'D:60000',
          discounted_price: 'D:60000',
          quantity_purchased: 2,
          activity_id: 0,
          is_main_item: false,
        },
      ],
    });
  });

  it('settlement ids are <order_sn>:<release time>', () => {
    expect(parseShopeeSettlementId('2511210ABCDEF1:1795219200')).toEqual({
      orderSn: '2511210ABCDEF1',
      releaseTime: 1_795_219_200,
    });
    expect(parseShopeeSettlementId('2511210ABCDEF1')).toBeUndefined();
  });
});

describe('settlement details', () => {
  const shop = { platform: 'tiktok', shop_id: '7495001' } as Shop;

  it('TikTok answers from the listing the entry carries, without a call; an entry without one fails alone', async () => {
    const noCall = () => Promise.reject(new Error('no call expected'));
    const client = { request: noCall, getAuthorizedShops: noCall, tokens: { withAccessToken: noCall } };
    const kind = tiktokSettlementKind(client as unknown as Parameters<typeof tiktokSettlementKind>[0]);
    const listed = fixture('tiktok-statement-transaction-202309');
    const result = await kind.getDetails(
      shop,
      ['7335070290434542381', 'unknown'],
      new Map([['7335070290434542381', JSON.stringify(listed)]]),
    );
    expect(result.objects).toEqual([listed]);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]!.ids).toEqual(['unknown']);
    expect(isAppError(result.failures[0]!.error) && result.failures[0]!.error.code).toBe('ERR_STREAM_ENTRY');
  });

  it('Shopee asks get_escrow_detail_batch for at most 50 orders a call; a failed call fails only its ids', async () => {
    const calls: string[][] = [];
    const request = (_shop: Shop, _name: string, _path: string, _params: unknown, body?: unknown) => {
      const orderSns = (body as { order_sn_list: string[] }).order_sn_list;
      calls.push(orderSns);
      if (orderSns.includes('SN60')) return Promise.reject(new Error('boom'));
      return Promise.resolve({
        response: orderSns.map((sn) => ({ escrow_detail: { order_sn: sn, order_income: {} } })),
      });
    };
    const kind = shopeeSettlementKind({ request }, { concurrency: 2 });
    const ids = Array.from({ length: 70 }, (_, i) => `SN${i}:1795219200`);
    const result = await kind.getDetails({ ...shop, platform: 'shopee' }, [...ids, 'bad'], new Map());
    expect(calls.map((c) => c.length)).toEqual([50, 20]);
    expect(result.objects).toHaveLength(50);
    expect(result.failures.map((f) => f.ids.length)).toEqual([20, 1]);
    expect(result.failures[1]!.ids).toEqual(['bad']);
  });
});
