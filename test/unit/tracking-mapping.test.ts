/**
 * The tracking mappers against the published shapes (test/fixtures/marketplaces): TikTok's
 * millisecond times to ISO with the configured offset, events newest first, the document status
 * and finality, one document per Shopee package; and the follow-ups orders announce.
 */
import { describe, expect, it } from 'vitest';

import type { OrderDocument } from '../../src/shared/documents.js';
import { isAppError } from '../../src/shared/errors.js';
import { mapShopeeTracking, shopeeOrderFollowUps } from '../../src/marketplaces/shopee/tracking.js';
import { mapTikTokTracking, tiktokOrderFollowUps } from '../../src/marketplaces/tiktok/tracking.js';
import { newestFirst, readTrackingHint, trackingVersion } from '../../src/marketplaces/tracking.js';
import { marketplaceFixture, mappingInput, type Json } from '../support/mapping.js';

const fixture = (name: string) => marketplaceFixture(name);

const input = mappingInput('webhook', '2026-11-22T04:00:00.000Z', '2026-11-22T04:00:01.000Z');

/** What getDetails hands the TikTok mapper: Get Tracking's data, the order id, the hint. */
const tiktokRaw = (extra: Json = {}): Json => ({
  ...(fixture('tiktok-tracking').data as Json),
  order_id: '576486316948491234',
  tracking_number: '9400111899223344556677',
  ...extra,
});

const shopeeResponse = () => fixture('shopee-tracking-info').response as Json;

describe('TikTok tracking', () => {
  it('turns millisecond times into ISO with the offset, newest event first', () => {
    const doc = mapTikTokTracking(tiktokRaw({ order_status: 'IN_TRANSIT' }), input);
    expect(doc.events).toEqual([
      {
        time: '2026-11-22T10:30:00+07:00',
        description: 'In transit: arrived at sort facility, Los Angeles CA',
        status: null,
      },
      { time: '2026-11-21T22:30:00+07:00', description: 'Package picked up by carrier', status: null },
      { time: '2026-11-21T10:30:00+07:00', description: 'Shipping label created', status: null },
    ]);
    expect(doc).toMatchObject({
      platform: 'tiktok',
      shop_id: '7495001',
      order_id: '576486316948491234',
      package_id: '',
      tracking_number: '9400111899223344556677',
      status: 'IN_TRANSIT',
      is_final: false,
      // update_time of the newest event, in seconds (1795318200000 ms)
      version: 1_795_318_200,
      create_time: '2026-11-21T10:30:00+07:00',
      update_time: '2026-11-22T10:30:00+07:00',
      idempotency_key: 'tiktok:7495001:576486316948491234',
      is_valid: true,
      validation_errors: [],
    });
  });

  it('is final once fetched for a delivered or completed order', () => {
    expect(mapTikTokTracking(tiktokRaw({ order_status: 'DELIVERED' }), input).is_final).toBe(true);
    expect(mapTikTokTracking(tiktokRaw({ order_status: 'COMPLETED' }), input).is_final).toBe(true);
    // Without the order's status (no hint) it is never taken for final.
    expect(mapTikTokTracking(tiktokRaw(), input)).toMatchObject({ status: null, is_final: false });
  });

  it('maps an order without events yet, and reports seconds sent for milliseconds as invalid', () => {
    const empty = mapTikTokTracking({ order_id: '1', tracking: [] }, input);
    expect(empty).toMatchObject({ events: [], version: 0, update_time: null, is_valid: true });
    const wrong = mapTikTokTracking(
      { order_id: '1', tracking: [{ description: 'x', update_time_millis: '1795231800' }] },
      input,
    );
    expect(wrong.is_valid).toBe(false);
    expect(wrong.validation_errors[0]).toMatch(/tracking\.0\.update_time_millis/);
  });

  it('refuses an object without order id (ERR_MAPPING)', () => {
    expect(() => mapTikTokTracking({ tracking: [] }, input)).toThrow(
      expect.objectContaining({ code: 'ERR_MAPPING' }),
    );
    try {
      mapTikTokTracking(null, input);
    } catch (error) {
      expect(isAppError(error, 'ERR_MAPPING')).toBe(true);
    }
  });
});

describe('Shopee tracking', () => {
  it('maps the published sample newest first; same-second events keep the later listed on top', () => {
    const doc = mapShopeeTracking(shopeeResponse(), input);
    expect(doc.events).toEqual([
      { time: '2024-09-17T15:25:00+07:00', description: '包裹正退回物流中心', status: 'FAILED_DELIVERED' },
      { time: '2024-09-17T15:22:00+07:00', description: '包裹已交接給物流商', status: 'PICKED_UP' },
      { time: '2024-09-17T15:22:00+07:00', description: '賣家將於確認訂單後出貨', status: 'ORDER_CREATED' },
    ]);
    expect(doc).toMatchObject({
      platform: 'shopee',
      order_id: '2409177JCSRTEU',
      package_id: '',
      status: 'FAILED_DELIVERED',
      is_final: false,
      version: 1_726_561_500,
      is_valid: true,
    });
    // The reversed (returned-parcel) leg stays in raw.
    expect((doc.raw as Json).reversed_tracking_number).toBe('SG246907296501CU');
  });

  it('keeps one document per package of a split order, final once delivered', () => {
    const first = mapShopeeTracking(
      { ...shopeeResponse(), package_number: 'OFG100000000001', tracking_number: 'SPXSG001' },
      input,
    );
    const delivered = {
      order_sn: '2409177JCSRTEU',
      package_number: 'OFG100000000002',
      logistics_status: 'LOGISTICS_DELIVERY_DONE',
      tracking_info: [
        { update_time: 1726561320, description: 'Picked up', logistics_status: 'PICKED_UP' },
        { update_time: 1726650000, description: 'Delivered', logistics_status: 'DELIVERED' },
      ],
    };
    const second = mapShopeeTracking(delivered, input);
    expect([first.package_id, second.package_id]).toEqual(['OFG100000000001', 'OFG100000000002']);
    expect(first.order_id).toBe(second.order_id);
    expect(first.idempotency_key).toBe('shopee:7495001:2409177JCSRTEU:OFG100000000001');
    expect(first.tracking_number).toBe('SPXSG001');
    expect(second).toMatchObject({ status: 'DELIVERED', is_final: true });
    expect(first.is_final).toBe(false);
  });
});

describe('follow-ups: an order on its way announces its tracking', () => {
  const order = (platform: 'tiktok' | 'shopee', status: string, raw: Json = {}) =>
    ({
      platform,
      shop_id: '7495001',
      order_id: 'O1',
      version: 1_795_000_000,
      status,
      tracking_number: 'T1',
      raw,
    }) as unknown as OrderDocument;

  it('TikTok: in transit, delivered or completed; never before shipping', () => {
    const [next] = tiktokOrderFollowUps(order('tiktok', 'IN_TRANSIT'));
    expect(next).toEqual({
      kind: 'tracking',
      entity_id: 'O1',
      // At the order's version: the next entry for the same order update costs no call.
      version: 1_795_000_000,
      payload: JSON.stringify({
        order_status: 'IN_TRANSIT',
        tracking_number: 'T1',
        order_version: 1_795_000_000,
      }),
    });
    expect(tiktokOrderFollowUps(order('tiktok', 'COMPLETED'))).toHaveLength(1);
    expect(tiktokOrderFollowUps(order('tiktok', 'AWAITING_SHIPMENT'))).toEqual([]);
    expect(tiktokOrderFollowUps(order('tiktok', 'CANCELLED'))).toEqual([]);
  });

  it('Shopee: shipped onwards, with the package numbers of its package_list', () => {
    const raw = {
      order_status: 'SHIPPED',
      package_list: [{ package_number: 'P1' }, { package_number: 'P2' }, { package_number: 'P1' }],
    };
    const [next] = shopeeOrderFollowUps(order('shopee', 'SHIPPED', raw));
    expect(readTrackingHint(next?.payload)).toEqual({
      order_status: 'SHIPPED',
      tracking_number: 'T1',
      packages: ['P1', 'P2'],
      order_version: 1_795_000_000,
    });
    expect(shopeeOrderFollowUps(order('shopee', 'READY_TO_SHIP', raw))).toEqual([]);
  });

  it('a tracking document is at least the version of the order that announced it', () => {
    expect(trackingVersion(1_795_000_500, { order_version: 1_795_000_000 })).toBe(1_795_000_500);
    expect(trackingVersion(1_794_000_000, { order_version: 1_795_000_000 })).toBe(1_795_000_000);
    expect(trackingVersion(null, { order_version: 1_795_000_000 })).toBe(1_795_000_000);
    expect(trackingVersion(1_794_000_000, {})).toBe(1_794_000_000);
    expect(trackingVersion(null, {})).toBeNull();
  });

  it('reads no hint from an empty or broken payload', () => {
    expect(readTrackingHint('{}')).toEqual({});
    expect(readTrackingHint('not json')).toEqual({});
    expect(readTrackingHint(undefined)).toEqual({});
  });

  it('orders events newest first, unknown times last', () => {
    expect(newestFirst([{ t: 1 }, { t: null }, { t: 3 }, { t: 2 }], (e) => e.t).map((e) => e.t)).toEqual([
      3,
      2,
      1,
      null,
    ]);
  });
});
