/**
 * Real-shaped TikTok Shop (API 202309) and Shopee (Open Platform v2) objects, deterministic for a
 * given seed. Shapes follow the platforms' published responses (every field we map plus the
 * usual neighbours), so mappers and the fake see what production sends. Amounts are computed in
 * integer cents and written as TikTok decimal strings or Shopee JSON numbers: never float sums.
 */

type Json = Record<string, unknown>;

/** mulberry32: small, fast, good enough to vary test data reproducibly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const TIKTOK_ORDER_STATUSES = [
  'UNPAID',
  'ON_HOLD',
  'AWAITING_SHIPMENT',
  'AWAITING_COLLECTION',
  'IN_TRANSIT',
  'DELIVERED',
  'COMPLETED',
  'CANCELLED',
] as const;

export const SHOPEE_ORDER_STATUSES = [
  'UNPAID',
  'READY_TO_SHIP',
  'PROCESSED',
  'SHIPPED',
  'TO_CONFIRM_RECEIVE',
  'COMPLETED',
  'IN_CANCEL',
  'CANCELLED',
] as const;

const PRODUCTS = ['Linen Shirt', 'Ceramic Mug', 'Running Shoes', 'Desk Lamp', 'Phone Case', 'Rice Cooker'];
const NAMES = ['Nguyen Van An', 'Tran Thi Binh', 'Le Minh Chau', 'Pham Quoc Dung', 'Hoang Thu Ha'];

/** "35.97" from 3597 cents. */
export function centsToDecimal(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

export interface GeneratorOptions {
  seed?: number;
  /** Base unix time (s) for generated create/update times. */
  baseTime?: number;
}

export interface Generator {
  /** A fresh numeric id string of `digits` digits (TikTok ids are 18-19 digits). */
  digits: (count: number) => string;
  tiktokOrder: (overrides?: Json) => Json;
  tiktokReturn: (overrides?: Json) => Json;
  tiktokProduct: (overrides?: Json) => Json;
  /** Includes `tracking_no` for shipped orders; the fake serves it from get_tracking_number, not the detail. */
  shopeeOrder: (overrides?: Json) => Json;
  shopeeReturn: (overrides?: Json) => Json;
  /** With `model` (get_model_list) for items that have models; the fake serves it separately. */
  shopeeItem: (overrides?: Json) => Json;
}

export function createGenerator(options: GeneratorOptions = {}): Generator {
  const random = seededRandom(options.seed ?? 42);
  const baseTime = options.baseTime ?? 1_795_231_800; // 2026-11-21T10:30:00+07:00
  let counter = 0;
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(list: readonly T[]): T => list[int(0, list.length - 1)]!;
  const digits = (count: number) => {
    counter += 1;
    const suffix = String(counter).padStart(6, '0');
    let head = String(int(1, 9));
    while (head.length < count - suffix.length) head += String(int(0, 9));
    return head + suffix;
  };
  const letters = (count: number) =>
    Array.from({ length: count }, () => 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789'[int(0, 33)]).join('');
  const times = () => {
    const create = baseTime - int(3_600, 30 * 86_400);
    return { create, update: create + int(60, 86_400) };
  };

  return {
    digits,

    tiktokOrder(overrides = {}) {
      const { create, update } = times();
      const status = pick(TIKTOK_ORDER_STATUSES);
      const itemCount = int(1, 3);
      const currency = 'USD';
      const lineItems = Array.from({ length: itemCount }, () => {
        const original = int(500, 9_999);
        const sale = original - int(0, 300);
        return {
          id: digits(18),
          currency,
          display_status: status,
          is_gift: false,
          original_price: centsToDecimal(original),
          package_id: digits(18),
          package_status: 'TO_FULFILL',
          platform_discount: '0',
          product_id: digits(19),
          product_name: pick(PRODUCTS),
          sale_price: centsToDecimal(sale),
          seller_discount: centsToDecimal(original - sale),
          seller_sku: `SKU-${letters(6)}`,
          shipping_provider_id: digits(19),
          shipping_provider_name: 'USPS',
          sku_id: digits(19),
          sku_image: 'https://p16-oec-va.ibyteimg.com/tos-maliva-i-o3syd03w52-us/example.jpeg',
          sku_name: `${pick(['Red', 'Blue', 'Black'])}, ${pick(['S', 'M', 'L'])}`,
          sku_type: 'NORMAL',
          tracking_number: '',
          _sale_cents: sale,
          _original_cents: original,
        };
      });
      const subTotal = lineItems.reduce((sum, item) => sum + item._sale_cents, 0);
      const originalTotal = lineItems.reduce((sum, item) => sum + item._original_cents, 0);
      const shipping = pick([0, 499, 599]);
      const shipped = ['AWAITING_COLLECTION', 'IN_TRANSIT', 'DELIVERED', 'COMPLETED'].includes(status);
      const trackingNumber = shipped ? `9400${digits(18)}` : '';
      const paid = status === 'UNPAID' ? undefined : create + int(10, 600);
      return {
        id: digits(18),
        buyer_email: `v2${letters(10).toLowerCase()}@scs.tiktokw.us`,
        buyer_message: '',
        cancellation_initiator: status === 'CANCELLED' ? 'BUYER' : '',
        create_time: create,
        delivery_option_id: digits(19),
        delivery_option_name: 'Standard shipping',
        delivery_type: 'HOME_DELIVERY',
        fulfillment_type: 'FULFILLMENT_BY_SELLER',
        has_updated_recipient_address: false,
        is_cod: false,
        is_on_hold_order: status === 'ON_HOLD',
        is_replacement_order: false,
        is_sample_order: false,
        line_items: lineItems.map(({ _sale_cents: _s, _original_cents: _o, ...item }) => ({
          ...item,
          tracking_number: trackingNumber,
        })),
        packages: [{ id: digits(18) }],
        ...(paid === undefined ? {} : { paid_time: paid }),
        payment: {
          currency,
          original_shipping_fee: centsToDecimal(shipping),
          original_total_product_price: centsToDecimal(originalTotal),
          platform_discount: '0',
          product_tax: '0',
          seller_discount: centsToDecimal(originalTotal - subTotal),
          shipping_fee: centsToDecimal(shipping),
          shipping_fee_platform_discount: '0',
          shipping_fee_seller_discount: '0',
          shipping_fee_tax: '0',
          sub_total: centsToDecimal(subTotal),
          tax: '0',
          total_amount: centsToDecimal(subTotal + shipping),
        },
        payment_method_name: 'Credit card',
        recipient_address: {
          address_detail: `Apt ${int(1, 40)}`,
          address_line1: `${int(1, 999)} Main St`,
          address_line2: '',
          district_info: [
            { address_level: 'L0', address_level_name: 'Country', address_name: 'United States' },
            { address_level: 'L1', address_level_name: 'State', address_name: 'California' },
            { address_level: 'L3', address_level_name: 'City', address_name: 'Los Angeles' },
          ],
          full_address: `${int(1, 999)} Main St, Los Angeles, California, United States`,
          name: pick(NAMES),
          phone_number: `(+1)213*****${int(10, 99)}`,
          postal_code: `9${int(1000, 6999)}`,
          region_code: 'US',
        },
        shipping_provider: shipped ? 'USPS' : '',
        shipping_provider_id: digits(19),
        shipping_type: 'TIKTOK',
        status,
        tracking_number: trackingNumber,
        update_time: update,
        user_id: digits(19),
        warehouse_id: digits(19),
        ...overrides,
      };
    },

    tiktokReturn(overrides = {}) {
      const { create, update } = times();
      const refund = int(500, 9_999);
      return {
        arbitration_status: '',
        can_buyer_keep_item: false,
        create_time: create,
        handover_method: 'DROP_OFF',
        next_return_id: '',
        order_id: digits(18),
        pre_return_id: '',
        refund_amount: {
          currency: 'USD',
          refund_shipping_fee: '0',
          refund_subtotal: centsToDecimal(refund),
          refund_tax: '0',
          refund_total: centsToDecimal(refund),
        },
        return_id: digits(18),
        return_line_items: [
          {
            order_line_item_id: digits(18),
            product_image: { height: 200, url: 'https://p16-oec-va.ibyteimg.com/example.jpeg', width: 200 },
            product_name: pick(PRODUCTS),
            refund_amount: { currency: 'USD', refund_total: centsToDecimal(refund) },
            return_line_item_id: digits(18),
            seller_sku: `SKU-${letters(6)}`,
            sku_id: digits(19),
            sku_name: 'Default',
          },
        ],
        return_provider_id: '',
        return_provider_name: '',
        return_reason: 'ecom_order_delivered_refund_and_return_reason_wrong_item',
        return_reason_text: 'Wrong item',
        return_status: pick([
          'RETURN_OR_REFUND_REQUEST_PENDING',
          'AWAITING_BUYER_SHIP',
          'RETURN_OR_REFUND_REQUEST_COMPLETE',
        ]),
        return_tracking_number: '',
        return_type: pick(['REFUND', 'RETURN_AND_REFUND']),
        role: 'BUYER',
        shipment_type: 'PLATFORM',
        update_time: update,
        ...overrides,
      };
    },

    tiktokProduct(overrides = {}) {
      const { create, update } = times();
      const skus = Array.from({ length: int(1, 3) }, () => {
        const price = centsToDecimal(int(500, 9_999));
        return {
          id: digits(19),
          seller_sku: `SKU-${letters(6)}`,
          price: { currency: 'USD', sale_price: price, tax_exclusive_price: price, unit_price: '0' },
          inventory: [{ quantity: int(0, 100), warehouse_id: digits(19) }],
          sales_attributes: [
            { id: '100000', name: 'Color', value_id: digits(10), value_name: pick(['Red', 'Blue']) },
          ],
        };
      });
      return {
        audit: { status: 'APPROVED' },
        brand: { id: digits(19), name: 'Acme' },
        category_chains: [{ id: '600001', is_leaf: true, local_name: 'Home Supplies', parent_id: '0' }],
        create_time: create,
        description: '<p>Good product</p>',
        id: digits(19),
        is_cod_allowed: false,
        is_not_for_sale: false,
        main_images: [{ height: 600, uri: 'tos-maliva-i-o3syd03w52-us/example', urls: [], width: 600 }],
        package_weight: { unit: 'KILOGRAM', value: '0.5' },
        product_types: ['NORMAL'],
        skus,
        status: pick(['ACTIVATE', 'SELLER_DEACTIVATED', 'PENDING']),
        title: `${pick(PRODUCTS)} ${letters(4)}`,
        update_time: update,
        ...overrides,
      };
    },

    shopeeOrder(overrides = {}) {
      const { create, update } = times();
      const status = pick(SHOPEE_ORDER_STATUSES);
      const items = Array.from({ length: int(1, 3) }, () => {
        const original = int(500, 9_999);
        const discounted = original - int(0, 300);
        const quantity = int(1, 3);
        const hasModel = random() < 0.5;
        return {
          item: {
            item_id: Number(digits(11)),
            item_name: pick(PRODUCTS),
            item_sku: `SKU-${letters(6)}`,
            model_id: hasModel ? Number(digits(11)) : 0,
            model_name: hasModel ? pick(['Red', 'Blue']) : '',
            model_sku: hasModel ? `SKU-${letters(6)}` : '',
            model_quantity_purchased: quantity,
            model_original_price: Number(centsToDecimal(original)),
            model_discounted_price: Number(centsToDecimal(discounted)),
            wholesale: false,
            weight: 0.3,
            add_on_deal: false,
            main_item: false,
            add_on_deal_id: 0,
            promotion_type: '',
            promotion_id: 0,
            order_item_id: Number(digits(11)),
            promotion_group_id: 0,
            image_info: { image_url: 'https://cf.shopee.sg/file/example' },
            product_location_id: ['SG'],
            is_prescription_item: false,
            is_b2c_owned_item: false,
          },
          cents: discounted * quantity,
        };
      });
      const shipping = pick([0, 199, 299]);
      const total = items.reduce((sum, entry) => sum + entry.cents, 0) + shipping;
      const shipped = ['PROCESSED', 'SHIPPED', 'TO_CONFIRM_RECEIVE', 'COMPLETED'].includes(status);
      const orderSn = `${String(251100 + int(0, 99))}${letters(8)}`;
      return {
        order_sn: orderSn,
        region: 'SG',
        currency: 'SGD',
        cod: false,
        total_amount: Number(centsToDecimal(total)),
        order_status: status,
        shipping_carrier: 'Standard Delivery',
        payment_method: 'Credit Card/Debit Card',
        estimated_shipping_fee: Number(centsToDecimal(shipping)),
        message_to_seller: '',
        create_time: create,
        update_time: update,
        days_to_ship: 3,
        ship_by_date: create + 3 * 86_400,
        buyer_user_id: Number(digits(9)),
        buyer_username: `buyer${letters(5).toLowerCase()}`,
        recipient_address: {
          name: pick(NAMES),
          phone: `65${int(80_000_000, 99_999_999)}`,
          town: '',
          district: '',
          city: '',
          state: '',
          region: 'SG',
          zipcode: String(int(100_000, 829_999)),
          full_address: `${int(1, 999)} Orchard Road, #${int(1, 20)}-${int(1, 99)}, Singapore`,
        },
        actual_shipping_fee: Number(centsToDecimal(shipping)),
        goods_to_declare: false,
        note: '',
        note_update_time: 0,
        item_list: items.map((entry) => entry.item),
        pay_time: status === 'UNPAID' ? 0 : create + int(10, 600),
        dropshipper: '',
        dropshipper_phone: '',
        split_up: false,
        buyer_cancel_reason: '',
        cancel_by: status === 'CANCELLED' ? 'buyer' : '',
        cancel_reason: '',
        actual_shipping_fee_confirmed: false,
        buyer_cpf_id: '',
        fulfillment_flag: 'fulfilled_by_local_seller',
        pickup_done_time: 0,
        package_list: [
          {
            package_number: `OFG${digits(12)}`,
            logistics_status: shipped ? 'LOGISTICS_PICKUP_DONE' : 'LOGISTICS_NOT_START',
            shipping_carrier: 'Standard Delivery',
            item_list: items.map((entry) => ({ item_id: entry.item.item_id, model_id: entry.item.model_id })),
          },
        ],
        invoice_data: null,
        reverse_shipping_fee: 0,
        order_chargeable_weight_gram: 300,
        ...(shipped ? { tracking_no: `SPXSG${digits(12)}` } : {}),
        ...overrides,
      };
    },

    shopeeReturn(overrides = {}) {
      const { create, update } = times();
      const refund = int(500, 9_999);
      return {
        image: [],
        buyer_videos: [],
        reason: pick(['NOT_RECEIPT', 'WRONG_ITEM', 'ITEM_DAMAGED']),
        text_reason: '',
        return_sn: `${String(2511)}${digits(11)}`,
        refund_amount: Number(centsToDecimal(refund)),
        currency: 'SGD',
        create_time: create,
        update_time: update,
        status: pick([
          'REQUESTED',
          'ACCEPTED',
          'CANCELLED',
          'JUDGING',
          'REFUND_PAID',
          'CLOSED',
          'PROCESSING',
        ]),
        due_date: update + 3 * 86_400,
        tracking_number: '',
        needs_logistics: true,
        amount_before_discount: Number(centsToDecimal(refund)),
        user: { username: `buyer${letters(5).toLowerCase()}`, email: '', portrait: '' },
        item: [
          {
            model_id: 0,
            name: pick(PRODUCTS),
            images: [],
            amount: 1,
            item_price: Number(centsToDecimal(refund)),
            is_add_on_deal: false,
            is_main_item: false,
            add_on_deal_id: 0,
            item_id: Number(digits(11)),
            item_sku: `SKU-${letters(6)}`,
            variation_sku: '',
            refund_amount: Number(centsToDecimal(refund)),
          },
        ],
        order_sn: `${String(251100 + int(0, 99))}${letters(8)}`,
        return_ship_due_date: update + 5 * 86_400,
        return_seller_due_date: update + 7 * 86_400,
        activity: [],
        logistics_status: 'LOGISTICS_NOT_START',
        return_solution: pick([0, 1]),
        ...overrides,
      };
    },

    shopeeItem(overrides = {}) {
      const { create, update } = times();
      const hasModel = (overrides.has_model as boolean | undefined) ?? random() < 0.5;
      const price = () => {
        const original = int(500, 9_999);
        const current = original - int(0, 300);
        return {
          currency: 'SGD',
          original_price: Number(centsToDecimal(original)),
          current_price: Number(centsToDecimal(current)),
          inflated_price_of_original_price: Number(centsToDecimal(original)),
          inflated_price_of_current_price: Number(centsToDecimal(current)),
        };
      };
      const base: Json = {
        item_id: Number(digits(11)),
        category_id: 100_017,
        item_name: `${pick(PRODUCTS)} ${letters(4)}`,
        description: 'Good product',
        item_sku: `SKU-${letters(6)}`,
        create_time: create,
        update_time: update,
        attribute_list: [],
        image: { image_url_list: ['https://cf.shopee.sg/file/example'], image_id_list: ['example'] },
        weight: '0.3',
        dimension: { package_length: 10, package_width: 10, package_height: 5 },
        logistic_info: [],
        pre_order: { is_pre_order: false, days_to_ship: 2 },
        condition: 'NEW',
        item_status: pick(['NORMAL', 'UNLIST']),
        has_model: hasModel,
        brand: { brand_id: 0, original_brand_name: 'NoBrand' },
        item_dangerous: 0,
        description_type: 'normal',
      };
      if (hasModel) {
        base.model = Array.from({ length: int(2, 3) }, (_, index) => {
          const { currency: _currency, ...modelPrice } = price();
          return {
            model_id: Number(digits(11)),
            model_sku: `SKU-${letters(6)}`,
            model_status: 'MODEL_NORMAL',
            tier_index: [index],
            price_info: [modelPrice],
            stock_info_v2: { summary_info: { total_reserved_stock: 0, total_available_stock: int(0, 50) } },
          };
        });
      } else {
        base.price_info = [price()];
        // Derived from the id, not drawn: drawing would shift every object generated after it.
        const stock = Number(base.item_id) % 51;
        base.stock_info_v2 = {
          summary_info: { total_reserved_stock: 0, total_available_stock: stock },
          seller_stock: [{ location_id: 'SGZ', stock, if_saleable: true }],
        };
      }
      return { ...base, ...overrides };
    },
  };
}
