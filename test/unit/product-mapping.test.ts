/**
 * Products catalog mapping (issue 14) against the platforms' published response samples
 * (test/fixtures/marketplaces/*-published.json): every money field as Decimal128 with the exact
 * digits sent, stock per sku, and the reversible logical delete (deleted, then recovered).
 */
import { Decimal128 } from 'mongodb';
import { describe, expect, it } from 'vitest';

import type { ProductDocument, ProductSku } from '../../src/shared/documents.js';
import { mapShopeeProduct } from '../../src/marketplaces/shopee/dto.js';
import { mapTikTokProduct } from '../../src/marketplaces/tiktok/dto.js';
import { marketplaceFixture, mappingInput, type Json } from '../support/mapping.js';

/** The `body` of a recorded published sample. */
const published = (name: string) => marketplaceFixture<{ body: Json }>(name).body;

const input = mappingInput('reconcile', '2026-11-21T04:00:00.000Z', '2026-11-21T04:00:01.000Z');

/** Every money field of a sku as exact text, after checking it is a Decimal128. */
function money(sku: ProductSku) {
  for (const value of [sku.price, sku.original_price]) {
    if (value !== null) expect(value).toBeInstanceOf(Decimal128);
  }
  return { price: sku.price?.toString() ?? null, original_price: sku.original_price?.toString() ?? null };
}

const tiktokSearchProduct = () =>
  (published('tiktok-product-search-published').data as Json).products as Json[];
const tiktokProduct = () => published('tiktok-product-published').data as Json;
const shopeeItem = () =>
  ((published('shopee-item-base-info-published').response as Json).item_list as Json[])[0]!;
/** The published model sample has no model_id; the tests that need one add it. */
const shopeeModels = () => (published('shopee-model-list-published').response as Json).model as Json[];

describe('TikTok products from the published samples', () => {
  it('Get Product: the tax-exclusive price, the list price, the stock of every warehouse, the sku status', () => {
    const document = mapTikTokProduct(tiktokProduct(), input);

    expect(document).toMatchObject({
      product_id: '1729592969712207008',
      status: 'SELLER_DEACTIVATED',
      title: 'Short Boat Invisible Socks',
      version: 1_234_567_899,
      update_time: '2009-02-14T06:31:39+07:00',
      is_valid: true,
      is_deleted: false,
      deleted_at: null,
    });
    expect(document.skus).toHaveLength(1);
    const [sku] = document.skus;
    expect(money(sku!)).toEqual({ price: '110', original_price: '1' });
    expect(sku).toMatchObject({
      sku_id: '10001',
      seller_sku: 'sku name',
      currency: 'USD',
      stock: 999,
      reserved_stock: null,
      status: 'DEACTIVATED',
    });
  });

  it('Search Products: a listed product maps alike (what a deleted product is stored from)', () => {
    const document = mapTikTokProduct(tiktokSearchProduct()[0], input);

    expect(document.is_valid).toBe(true);
    expect(money(document.skus[0]!)).toEqual({ price: '111.01', original_price: '1' });
    expect(document.skus[0]).toMatchObject({ sku_id: '1729592969712207012', stock: 999, currency: 'USD' });
  });

  it('sums the stock over warehouses and keeps trailing zeros of prices', () => {
    const product = tiktokProduct();
    const sku = (product.skus as Json[])[0]!;
    sku.price = { currency: 'USD', tax_exclusive_price: '19.90' };
    sku.inventory = [
      { warehouse_id: '1', quantity: 3 },
      { warehouse_id: '2', quantity: 4 },
    ];
    const document = mapTikTokProduct(product, input);
    expect(money(document.skus[0]!).price).toBe('19.90');
    expect(document.skus[0]!.stock).toBe(7);
  });

  it.each(['DELETED', 'FREEZE'])('a %s product is logically deleted, then recovered', (status) => {
    const listed = tiktokSearchProduct()[0]!;
    const deleted = mapTikTokProduct({ ...listed, status, update_time: 1_795_235_400 }, input);
    expect(deleted).toMatchObject({
      status,
      is_deleted: true,
      deleted_at: '2026-11-21T11:30:00+07:00',
      version: 1_795_235_400,
    });
    // Still the whole product: its skus, prices and stock stay readable while deleted.
    expect(money(deleted.skus[0]!).price).toBe('111.01');

    // Recover Products moves DELETED to SELLER_DEACTIVATED with a new update_time.
    const recovered = mapTikTokProduct(
      { ...tiktokProduct(), status: 'SELLER_DEACTIVATED', update_time: 1_795_239_000 },
      input,
    );
    expect(recovered).toMatchObject({ is_deleted: false, deleted_at: null, version: 1_795_239_000 });
    expect(recovered.version).toBeGreaterThan(deleted.version);
  });
});

describe('Shopee items from the published samples', () => {
  it('get_item_base_info without models: the item is its one sku, prices exact, stock from the summary', () => {
    const item = { ...shopeeItem(), has_model: false };
    const document = mapShopeeProduct(item, input);

    expect(document).toMatchObject({
      product_id: '34002',
      title: 'seller discount',
      status: 'NORMAL',
      version: 1_600_572_640,
      is_valid: true,
      is_deleted: false,
      deleted_at: null,
    });
    expect(document.skus).toHaveLength(1);
    expect(money(document.skus[0]!)).toEqual({ price: '122.02', original_price: '122.02' });
    expect(document.skus[0]).toMatchObject({
      sku_id: '0',
      seller_sku: '-',
      currency: 'SGD',
      stock: 100,
      reserved_stock: 100,
      status: null,
    });
  });

  it('get_item_base_info + get_model_list: one sku per model, with its price and stock', () => {
    const models = shopeeModels().map((model, i) => ({ ...model, model_id: 2_000_001 + i }));
    const document = mapShopeeProduct({ ...shopeeItem(), model: models }, input);

    expect(document.is_valid).toBe(true);
    expect(document.skus).toHaveLength(1);
    expect(money(document.skus[0]!)).toEqual({ price: '100', original_price: '100' });
    expect(document.skus[0]).toMatchObject({
      sku_id: '2000001',
      seller_sku: 'blue bag',
      currency: 'TWD',
      stock: 0,
      reserved_stock: 0,
      status: 'MODEL_NORMAL',
    });
  });

  it('the model sample as published (no model_id) is reported, not keyed under a guessed id', () => {
    const document = mapShopeeProduct({ ...shopeeItem(), model: shopeeModels() }, input);
    expect(document.is_valid).toBe(false);
    expect(document.validation_errors).toEqual(['model.0.model_id: expected a numeric id']);
    expect(document.skus).toEqual([]);
  });

  it('keeps the digits of prices a double would print differently (0.1, 19.9, 1234567.89)', () => {
    for (const price of [0.1, 19.9, 1234567.89]) {
      const item = {
        ...shopeeItem(),
        has_model: false,
        price_info: [{ currency: 'SGD', current_price: price, original_price: price }],
      };
      expect(money(mapShopeeProduct(item, input).skus[0]!)).toEqual({
        price: String(price),
        original_price: String(price),
      });
    }
  });

  it.each(['SELLER_DELETE', 'SHOPEE_DELETE', 'BANNED'])(
    'an item in %s is logically deleted, and recovered by a later NORMAL version',
    (status) => {
      const deleted = mapShopeeProduct(
        { ...shopeeItem(), item_status: status, update_time: 1_795_235_400 },
        input,
      );
      expect(deleted).toMatchObject({ is_deleted: true, deleted_at: '2026-11-21T11:30:00+07:00' });

      const recovered = mapShopeeProduct(
        { ...shopeeItem(), item_status: 'NORMAL', update_time: 1_795_239_000 },
        input,
      );
      expect(recovered).toMatchObject({ is_deleted: false, deleted_at: null });
    },
  );

  it('UNLIST (hidden by the seller) and REVIEWING are not deletions', () => {
    for (const status of ['UNLIST', 'REVIEWING']) {
      const document: ProductDocument = mapShopeeProduct({ ...shopeeItem(), item_status: status }, input);
      expect(document.is_deleted).toBe(false);
    }
  });
});
