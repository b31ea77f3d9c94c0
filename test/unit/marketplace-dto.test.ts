/**
 * The pure mappers against real-shaped fixtures (test/fixtures/marketplaces): money digits,
 * ISO timestamps with the configured offset, metadata, and records that fail validation.
 */
import { Decimal128 } from 'mongodb';
import { describe, expect, it } from 'vitest';

import { isAppError } from '../../src/shared/errors.js';
import {
  lostPushBody,
  mapShopeeOrder,
  mapShopeeProduct,
  mapShopeeReturn,
} from '../../src/marketplaces/shopee/dto.js';
import { mapTikTokOrder, mapTikTokProduct, mapTikTokReturn } from '../../src/marketplaces/tiktok/dto.js';
import { marketplaceFixture, mappingInput, type Json } from '../support/mapping.js';

const fixture = (name: string) => marketplaceFixture(name);

const input = mappingInput('webhook', '2026-11-21T04:00:00.000Z', '2026-11-21T04:00:01.500Z');
const { context } = input;

/** Decimal128 as its exact decimal text. */
const digits = (value: Decimal128 | null | undefined) =>
  value instanceof Decimal128 ? value.toString() : value;

describe('TikTok order', () => {
  it('maps a real-shaped order', () => {
    const raw = fixture('tiktok-order');
    const document = mapTikTokOrder(raw, input);

    expect(document).toMatchObject({
      platform: 'tiktok',
      shop_id: '7495001',
      order_id: '576461413038785752',
      idempotency_key: 'tiktok:7495001:576461413038785752',
      version: 1_795_235_400,
      status: 'AWAITING_SHIPMENT',
      currency: 'USD',
      create_time: '2026-11-21T10:30:00+07:00',
      update_time: '2026-11-21T11:30:00+07:00',
      paid_time: '2026-11-21T10:31:00+07:00',
      details_fetched_at: '2026-11-21T11:00:00+07:00',
      synced_at: '2026-11-21T11:00:01+07:00',
      sync_source: 'webhook',
      is_valid: true,
      validation_errors: [],
      tracking_number: null,
      recipient_address: {
        name: 'Nguyen Van An',
        phone: '(+1)213*****88',
        full_address: '123 Main St, Apt 4, Los Angeles, California, United States',
        postal_code: '90001',
        region: 'US',
      },
    });
    expect(document.raw).toBe(raw);
    expect(document.total_amount).toBeInstanceOf(Decimal128);
    expect(digits(document.total_amount)).toBe('35.97');
    expect(document.line_items.map((item) => ({ ...item, sale_price: digits(item.sale_price) }))).toEqual([
      {
        product_id: '1729582718312380123',
        sku_id: '1729582718312445659',
        name: 'Linen Shirt',
        quantity: 1,
        sale_price: '35.87',
      },
      {
        product_id: '1729582718312380999',
        sku_id: '1729582718312445000',
        name: 'Sticker',
        quantity: 1,
        sale_price: '0.1',
      },
    ]);
  });

  it('keeps the exact digits sent, trailing zeros included', () => {
    const raw = fixture('tiktok-order');
    (raw.payment as Json).total_amount = '35.970';
    expect(digits(mapTikTokOrder(raw, input).total_amount)).toBe('35.970');
  });

  it('maps an order that fails validation, with readable errors', () => {
    const raw = fixture('tiktok-order');
    (raw.payment as Json).total_amount = 35.97; // a number where TikTok sends a string
    delete raw.status;
    const document = mapTikTokOrder(raw, input);

    expect(document.is_valid).toBe(false);
    expect(document.validation_errors).toEqual(
      expect.arrayContaining([
        'payment.total_amount: expected a decimal string',
        expect.stringMatching(/^status: /),
      ]),
    );
    expect(document.validation_errors).toHaveLength(2);
    expect(document.order_id).toBe('576461413038785752');
    expect(document.total_amount).toBeNull();
    expect(document.status).toBeNull();
    expect(document.currency).toBe('USD');
  });

  it('throws ERR_MAPPING for an order without an id', () => {
    const raw = fixture('tiktok-order');
    delete raw.id;
    let error: unknown;
    try {
      mapTikTokOrder(raw, input);
    } catch (caught) {
      error = caught;
    }
    expect(isAppError(error, 'ERR_MAPPING')).toBe(true);
    expect(() => mapTikTokOrder('not an object', input)).toThrow(/has no id/);
  });

  it('uses the configured offset', () => {
    const document = mapTikTokOrder(fixture('tiktok-order'), {
      ...input,
      context: { ...context, timezoneOffset: '-03:00' },
    });
    expect(document.create_time).toBe('2026-11-21T00:30:00-03:00');
  });

  it('reads an unpaid order without paid_time as valid', () => {
    const raw = fixture('tiktok-order');
    delete raw.paid_time;
    const document = mapTikTokOrder(raw, input);
    expect(document.paid_time).toBeNull();
    expect(document.is_valid).toBe(true);
  });
});

describe('TikTok return and product', () => {
  it('maps a return', () => {
    const document = mapTikTokReturn(fixture('tiktok-return'), input);
    expect(document).toMatchObject({
      return_id: '4035227014123456789',
      order_id: '576461413038785752',
      status: 'AWAITING_BUYER_SHIP',
      return_type: 'RETURN_AND_REFUND',
      currency: 'USD',
      version: 1_795_235_400,
      idempotency_key: 'tiktok:7495001:4035227014123456789',
      is_valid: true,
    });
    expect(digits(document.refund_amount)).toBe('35.97');
  });

  it('maps a product with the price of each sku', () => {
    const document = mapTikTokProduct(fixture('tiktok-product'), input);
    expect(document).toMatchObject({
      product_id: '1729582718312380123',
      status: 'ACTIVATE',
      title: 'Linen Shirt',
      is_valid: true,
    });
    const sku = { original_price: null, reserved_stock: null, status: null, currency: 'USD' };
    expect(document.skus.map((s) => ({ ...s, price: digits(s.price) }))).toEqual([
      { ...sku, sku_id: '1729582718312445659', seller_sku: 'LS-RED-M', price: '35.97', stock: 12 },
      { ...sku, sku_id: '1729582718312445660', seller_sku: 'LS-RED-L', price: '0.1', stock: 0 },
    ]);
    expect(document).toMatchObject({ is_deleted: false, deleted_at: null });
  });

  it('flags a product sku without any price', () => {
    const raw = fixture('tiktok-product');
    ((raw.skus as Json[])[1]!.price as Json).tax_exclusive_price = undefined;
    const document = mapTikTokProduct(raw, input);
    expect(document.is_valid).toBe(false);
    expect(document.validation_errors).toEqual(['skus.1.price: expected tax_exclusive_price or sale_price']);
    expect(document.skus[1]!.price).toBeNull();
  });
});

describe('Shopee order', () => {
  it('maps a real-shaped order, numbers through their shortest decimal string', () => {
    const raw = fixture('shopee-order');
    const document = mapShopeeOrder({ ...raw, tracking_no: 'SPXSG000111222' }, input);

    expect(document).toMatchObject({
      platform: 'shopee',
      order_id: '2511210ABCDEF1',
      idempotency_key: 'shopee:7495001:2511210ABCDEF1',
      version: 1_795_235_400,
      status: 'READY_TO_SHIP',
      currency: 'SGD',
      create_time: '2026-11-21T10:30:00+07:00',
      update_time: '2026-11-21T11:30:00+07:00',
      paid_time: '2026-11-21T10:31:00+07:00',
      tracking_number: 'SPXSG000111222',
      is_valid: true,
      validation_errors: [],
      recipient_address: {
        name: 'Tran Thi Binh',
        phone: '6591234567',
        full_address: '1 Orchard Road, #01-02, Singapore 238801',
        postal_code: '238801',
        region: 'SG',
      },
    });
    expect(digits(document.total_amount)).toBe('35.97');
    expect(document.line_items.map((item) => ({ ...item, sale_price: digits(item.sale_price) }))).toEqual([
      {
        product_id: '23081234567',
        sku_id: '120987654321',
        name: 'Ceramic Mug',
        quantity: 1,
        sale_price: '35.87',
      },
      { product_id: '23081234999', sku_id: '0', name: 'Sticker', quantity: 1, sale_price: '0.1' },
    ]);
  });

  it('never goes through float arithmetic: 0.1 stays 0.1', () => {
    const raw = fixture('shopee-order');
    // 0.1 + 0.2 would be 0.30000000000000004; a sent 0.3 must stay 0.3.
    raw.total_amount = 0.3;
    expect(digits(mapShopeeOrder(raw, input).total_amount)).toBe('0.3');
    // JavaScript writes 1e-7 with an exponent; the stored value is still exactly 0.0000001.
    raw.total_amount = 1e-7;
    expect(digits(mapShopeeOrder(raw, input).total_amount)).toBe(
      Decimal128.fromString('0.0000001').toString(),
    );
  });

  it('reads pay_time 0 (unpaid) as no paid_time', () => {
    const raw = fixture('shopee-order');
    raw.pay_time = 0;
    expect(mapShopeeOrder(raw, input).paid_time).toBeNull();
  });

  it('maps an invalid order that has its order_sn, and refuses one without', () => {
    const raw = fixture('shopee-order');
    raw.total_amount = 'thirty';
    (raw.item_list as Json[])[0]!.model_quantity_purchased = -1;
    const document = mapShopeeOrder(raw, input);
    expect(document.is_valid).toBe(false);
    expect(document.validation_errors).toEqual([
      'total_amount: expected a decimal number',
      expect.stringMatching(/^item_list\.0\.model_quantity_purchased: /),
    ]);
    expect(document.total_amount).toBeNull();

    delete raw.order_sn;
    expect(() => mapShopeeOrder(raw, input)).toThrow(expect.objectContaining({ code: 'ERR_MAPPING' }));
  });
});

describe('Shopee return and items', () => {
  it('maps a return', () => {
    const document = mapShopeeReturn(fixture('shopee-return'), input);
    expect(document).toMatchObject({
      return_id: '2511210000001234',
      order_id: '2511210ABCDEF1',
      status: 'REQUESTED',
      return_type: 'RETURN_AND_REFUND',
      currency: 'SGD',
      is_valid: true,
    });
    expect(digits(document.refund_amount)).toBe('35.97');
  });

  it('maps an item without models as one sku', () => {
    const document = mapShopeeProduct(fixture('shopee-item'), input);
    expect(document).toMatchObject({
      product_id: '23081234999',
      title: 'Sticker',
      status: 'NORMAL',
      is_valid: true,
    });
    expect(
      document.skus.map((sku) => ({
        ...sku,
        price: digits(sku.price),
        original_price: digits(sku.original_price),
      })),
    ).toEqual([
      {
        sku_id: '0',
        seller_sku: 'STK',
        price: '0.1',
        original_price: '0.1',
        currency: 'SGD',
        stock: null,
        reserved_stock: null,
        status: null,
      },
    ]);
  });

  it('maps an item with models, one sku per model', () => {
    const document = mapShopeeProduct(fixture('shopee-item-models'), input);
    expect(document.is_valid).toBe(true);
    expect(document.skus.map((sku) => [sku.sku_id, sku.seller_sku, digits(sku.price)])).toEqual([
      ['120987654321', 'MUG-BLUE', '35.97'],
      ['120987654322', 'MUG-RED', '35.87'],
    ]);
  });

  it('flags an item with models whose models were not fetched', () => {
    const raw = fixture('shopee-item-models');
    delete raw.model;
    const document = mapShopeeProduct(raw, input);
    expect(document.is_valid).toBe(false);
    expect(document.validation_errors).toEqual(['model: expected the models of an item with models']);
  });
});

describe('Shopee lost push body', () => {
  it('rebuilds the push body from the lost message, data parsed from its JSON string', () => {
    const body = lostPushBody({
      shop_id: 7495001,
      code: 3,
      timestamp: 1_795_231_800,
      data: '{"ordersn":"2511210ABCDEF1","status":"READY_TO_SHIP","update_time":1795231800}',
    });
    expect(body).toBe(
      '{"data":{"ordersn":"2511210ABCDEF1","status":"READY_TO_SHIP","update_time":1795231800},"shop_id":7495001,"code":3,"timestamp":1795231800}',
    );
  });
});
