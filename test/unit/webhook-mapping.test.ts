/** Envelope validation and mapping to the stream entry (CONTRACT §3–4), against JSON fixtures. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { isAppError } from '../../src/shared/errors.js';
import { createShopeeWebhookHandler } from '../../src/marketplaces/shopee/webhook.js';
import { createTikTokWebhookHandler } from '../../src/marketplaces/tiktok/webhook.js';
import type { WebhookHandler } from '../../src/marketplaces/types.js';

const FIXTURES = new URL('../fixtures/webhooks/', import.meta.url);
const fixture = (path: string): Buffer => readFileSync(new URL(path, FIXTURES));

const tiktok = createTikTokWebhookHandler({ appKey: 'k', appSecret: 's' });
const shopee = createShopeeWebhookHandler({ partnerKey: 'p', webhookUrl: undefined });

function payloadError(handler: WebhookHandler, body: string | Buffer): string {
  try {
    handler.toStreamEntry(Buffer.isBuffer(body) ? body : Buffer.from(body));
  } catch (error) {
    if (isAppError(error, 'ERR_PAYLOAD')) return error.message;
    throw error;
  }
  throw new Error('expected ERR_PAYLOAD, got an outcome');
}

describe('TikTok envelope mapping', () => {
  const cases = [
    ['order-status-change.json', '1', 'order', '576461413038785752', 1732182598, '7327112393057371910'],
    [
      'cancellation-status-change.json',
      '11',
      'order',
      '576461413038785753',
      1732182690,
      '7327112393057371911',
    ],
    ['return-status-change.json', '12', 'return', '4035261193925558341', 1732182795, '7327112393057371912'],
    ['product-status-change.json', '5', 'product', '1729592969712207008', 1732182899, '7327112393057371913'],
    // Deauthorization names the shop itself; it carries no update_time, so version is 0.
    ['seller-deauthorization.json', '6', 'shop', '7494012345678901234', 0, '7327112393057371914'],
  ] as const;

  it.each(cases)('%s -> type %s, kind %s', (file, type, kind, entityId, version, eventId) => {
    const body = fixture(`tiktok/${file}`);
    expect(tiktok.toStreamEntry(body)).toEqual({
      handled: true,
      event: {
        platform: 'tiktok',
        shop_id: '7494012345678901234',
        kind,
        entity_id: entityId,
        version,
        event_id: eventId,
        event_type: type,
        payload: body.toString('utf8'),
      },
    });
  });

  it('issue 11 #7: TikTok ids sent as JSON numbers beyond 2^53 are kept exactly as written', () => {
    // Published example (product_id 576486316948490000 as a number) and a 19-digit id whose digits
    // a JS number would change (JSON.parse gives ...207000). Both were answered 400 before.
    for (const [file, productId] of [
      ['product-status-change-published.json', '576486316948490000'],
      ['product-status-change-numeric-id.json', '1729592969712207009'],
    ] as const) {
      const body = fixture(`tiktok/${file}`);
      const outcome = tiktok.toStreamEntry(body);
      expect(outcome).toMatchObject({ handled: true, event: { kind: 'product', entity_id: productId } });
      expect(outcome.handled && outcome.event.payload).toBe(body.toString('utf8'));
    }
  });

  it('issue 11 #7: every TikTok id field (order_id, return_id, shop_id, notification id) is read losslessly', () => {
    const big = '7494012345678901237';
    const map = (type: number, data: string) =>
      tiktok.toStreamEntry(
        Buffer.from(`{"type":${type},"tts_notification_id":${big}1,"shop_id":${big},"data":${data}}`),
      );
    expect(map(1, `{"order_id":${big}3,"update_time":5}`)).toMatchObject({
      handled: true,
      event: { shop_id: big, entity_id: `${big}3`, event_id: `${big}1`, version: 5 },
    });
    expect(map(12, `{"return_id":${big}4}`)).toMatchObject({ event: { entity_id: `${big}4` } });
    expect(map(11, `{"order_id":${big}5}`)).toMatchObject({ event: { entity_id: `${big}5` } });
    expect(map(6, '{}')).toMatchObject({ event: { kind: 'shop', shop_id: big, entity_id: big } });
    expect(map(7, '{}')).toMatchObject({ event: { kind: 'shop', shop_id: big, entity_id: big } });
    expect(map(2, '{}')).toEqual({ handled: false, eventType: '2', shopId: big });
  });

  it('maps upcoming authorization expiration (type 7) to kind shop; the end is read from the payload', () => {
    for (const [file, eventId, end] of [
      ['upcoming-authorization-expiration.json', '7327112393057371915', 1732787900],
      ['upcoming-authorization-expiration-string-time.json', '7327112393057371916', 1627587506],
    ] as const) {
      const body = fixture(`tiktok/${file}`);
      const outcome = tiktok.toStreamEntry(body);
      expect(outcome).toMatchObject({
        handled: true,
        event: {
          kind: 'shop',
          shop_id: '7494012345678901234',
          entity_id: '7494012345678901234',
          event_id: eventId,
          event_type: '7',
          version: 0,
        },
      });
      expect(tiktok.authorizationEnd?.(body.toString('utf8'))).toEqual(new Date(end * 1000));
    }
  });

  it('accepts a type-7 notice without a readable expiration_time; it just gives no end', () => {
    for (const data of [
      '',
      ',"data":{}',
      ',"data":{"expiration_time":"soon"}',
      ',"data":{"expiration_time":null}',
    ]) {
      const body = `{"type":7,"tts_notification_id":"n7","shop_id":"s7"${data}}`;
      expect(tiktok.toStreamEntry(Buffer.from(body))).toMatchObject({
        handled: true,
        event: { kind: 'shop' },
      });
      expect(tiktok.authorizationEnd?.(body)).toBeUndefined();
    }
    // Only type 7 announces an end: a deauthorization carrying the field gives none.
    expect(
      tiktok.authorizationEnd?.(
        '{"type":6,"tts_notification_id":"n","shop_id":"s","data":{"expiration_time":5}}',
      ),
    ).toBeUndefined();
    expect(tiktok.authorizationEnd?.('not json')).toBeUndefined();
  });

  it('answers other verified types as ignored, naming the type and shop', () => {
    expect(tiktok.toStreamEntry(Buffer.from('{"type":2,"shop_id":"7494012345678901234"}'))).toEqual({
      handled: false,
      eventType: '2',
      shopId: '7494012345678901234',
    });
    expect(tiktok.toStreamEntry(Buffer.from('{"type":99}'))).toEqual({
      handled: false,
      eventType: '99',
      shopId: undefined,
    });
  });

  it('keeps the payload byte for byte, including non-ASCII text', () => {
    const body = Buffer.from(
      '{"type":1,"tts_notification_id":"n1","shop_id":"s1","data":{"order_id":"o1","note":"Hà Nội ✓"}}',
    );
    const outcome = tiktok.toStreamEntry(body);
    expect(outcome.handled && Buffer.from(outcome.event.payload, 'utf8').equals(body)).toBe(true);
  });

  it('accepts update_time sent as a digit string', () => {
    const outcome = tiktok.toStreamEntry(
      Buffer.from(
        '{"type":5,"tts_notification_id":"n","shop_id":"s","data":{"product_id":"p","update_time":"17"}}',
      ),
    );
    expect(outcome.handled && outcome.event.version).toBe(17);
  });

  it.each([
    ['not JSON', 'type=1&shop_id=1', /not JSON/],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), /UTF-8/],
    ['a JSON array', '[1]', /type|object/i],
    ['JSON null', 'null', /./],
    ['type missing', '{"shop_id":"s"}', /type/],
    ['type as a string', '{"type":"1","tts_notification_id":"n","shop_id":"s"}', /type/],
    ['notification id missing', '{"type":1,"shop_id":"s","data":{"order_id":"o"}}', /tts_notification_id/],
    ['shop id missing', '{"type":1,"tts_notification_id":"n","data":{"order_id":"o"}}', /shop_id/],
    [
      'a fractional shop id',
      '{"type":1,"tts_notification_id":"n","shop_id":7494.5,"data":{"order_id":"o"}}',
      /shop_id/,
    ],
    ['order id missing', '{"type":1,"tts_notification_id":"n","shop_id":"s","data":{}}', /data\.order_id/],
    ['data missing on an order type', '{"type":11,"tts_notification_id":"n","shop_id":"s"}', /^data: /],
    [
      'empty return id',
      '{"type":12,"tts_notification_id":"n","shop_id":"s","data":{"return_id":""}}',
      /return_id/,
    ],
    [
      'product id in exponent form (not an id as written)',
      '{"type":5,"tts_notification_id":"n","shop_id":"s","data":{"product_id":5e18}}',
      /product_id/,
    ],
    [
      'negative order id',
      '{"type":1,"tts_notification_id":"n","shop_id":"s","data":{"order_id":-5}}',
      /order_id/,
    ],
    ['type beyond a safe integer', '{"type":9007199254740993,"shop_id":"s"}', /type/],
    [
      'negative update_time',
      '{"type":1,"tts_notification_id":"n","shop_id":"s","data":{"order_id":"o","update_time":-1}}',
      /update_time/,
    ],
  ])('rejects %s with ERR_PAYLOAD', (_name, body, message) => {
    expect(payloadError(tiktok, body)).toMatch(message);
  });
});

describe('Shopee envelope mapping', () => {
  it.each([
    ['order-status-update.json', '3', 'order', '2411210ABCDEF1', 1732182598],
    // The tracking push has no update_time: version 0 (unknown).
    ['tracking-number.json', '4', 'order', '2411210ABCDEF1', 0],
  ] as const)('%s -> code %s, kind %s', (file, code, kind, entityId, version) => {
    const body = fixture(`shopee/${file}`);
    expect(shopee.toStreamEntry(body)).toEqual({
      handled: true,
      event: {
        platform: 'shopee',
        shop_id: '220456789',
        kind,
        entity_id: entityId,
        version,
        event_id: createHash('sha256').update(body).digest('hex'),
        event_type: code,
        payload: body.toString('utf8'),
      },
    });
  });

  it('issue 11 #8: a code-29 return push maps to kind return, entity data.return_sn', () => {
    const body = fixture('shopee/return-update.json');
    expect(shopee.toStreamEntry(body)).toEqual({
      handled: true,
      event: {
        platform: 'shopee',
        shop_id: '220456789',
        kind: 'return',
        entity_id: '2411230RTN0001',
        version: 1732182950,
        event_id: createHash('sha256').update(body).digest('hex'),
        event_type: '29',
        payload: body.toString('utf8'),
      },
    });
    // update_time is "when present": without it the version is unknown (0), so the worker fetches.
    const bare = shopee.toStreamEntry(Buffer.from('{"code":29,"shop_id":5,"data":{"return_sn":"R1"}}'));
    expect(bare).toMatchObject({ handled: true, event: { kind: 'return', entity_id: 'R1', version: 0 } });
  });

  it('issue 11 #7: Shopee ids (shop_id, ordersn, return_sn) are read exactly as written, numbers of any size', () => {
    const shop = '90071992547409931'; // beyond 2^53: a JS number would read ...9930
    const order = shopee.toStreamEntry(
      Buffer.from(`{"code":3,"shop_id":${shop},"data":{"ordersn":2411210000000000001}}`),
    );
    expect(order).toMatchObject({ event: { shop_id: shop, entity_id: '2411210000000000001' } });
    const ret = shopee.toStreamEntry(
      Buffer.from(`{"code":29,"shop_id":${shop},"data":{"return_sn":2411230000000000001}}`),
    );
    expect(ret).toMatchObject({ event: { shop_id: shop, entity_id: '2411230000000000001' } });
    const deauth = shopee.toStreamEntry(Buffer.from(`{"code":2,"data":{"shop_id":${shop}}}`));
    expect(deauth).toMatchObject({ event: { shop_id: shop, entity_id: shop } });
    expect(shopee.toStreamEntry(Buffer.from(`{"code":7,"shop_id":${shop}}`))).toEqual({
      handled: false,
      eventType: '7',
      shopId: shop,
    });
  });

  it('maps deauthorization (shop id inside data) to kind shop with the shop as entity', () => {
    const body = fixture('shopee/deauthorization.json');
    const outcome = shopee.toStreamEntry(body);
    expect(outcome).toMatchObject({
      handled: true,
      event: { shop_id: '220456789', kind: 'shop', entity_id: '220456789', event_type: '2', version: 0 },
    });
  });

  it('prefers a top-level shop_id on deauthorization', () => {
    const outcome = shopee.toStreamEntry(Buffer.from('{"code":2,"shop_id":42,"data":{"shop_id":43}}'));
    expect(outcome.handled && outcome.event.shop_id).toBe('42');
  });

  it('the event id is the SHA-256 of the raw body, so a redelivery dedupes and any change does not', () => {
    const body = fixture('shopee/order-status-update.json');
    const again = shopee.toStreamEntry(Buffer.from(body));
    const changed = shopee.toStreamEntry(
      Buffer.from(body.toString('utf8').replace('READY_TO_SHIP', 'SHIPPED')),
    );
    const first = shopee.toStreamEntry(body);
    expect(first.handled && again.handled && first.event.event_id === again.event.event_id).toBe(true);
    expect(first.handled && changed.handled && first.event.event_id !== changed.event.event_id).toBe(true);
  });

  it('answers other verified codes as ignored', () => {
    expect(shopee.toStreamEntry(fixture('shopee/shop-authorization.json'))).toEqual({
      handled: false,
      eventType: '1',
      shopId: undefined,
    });
    expect(shopee.toStreamEntry(Buffer.from('{"code":7,"shop_id":5}'))).toEqual({
      handled: false,
      eventType: '7',
      shopId: '5',
    });
  });

  it.each([
    ['not JSON', '{"code":3,', /not JSON/],
    ['code missing', '{"shop_id":1,"data":{"ordersn":"x"}}', /code/],
    ['ordersn missing', '{"code":3,"shop_id":1,"data":{"order_sn":"x"}}', /data\.ordersn/],
    ['data missing', '{"code":4,"shop_id":1}', /data/],
    ['shop id missing on an order push', '{"code":3,"data":{"ordersn":"x"}}', /shop_id/],
    ['fractional shop id', '{"code":3,"shop_id":1.5,"data":{"ordersn":"x"}}', /shop_id/],
    ['negative shop id', '{"code":3,"shop_id":-5,"data":{"ordersn":"x"}}', /shop_id/],
    [
      'return_sn missing on a return push',
      '{"code":29,"shop_id":1,"data":{"order_sn":"x"}}',
      /data\.return_sn/,
    ],
    ['shop id nowhere on deauthorization', '{"code":2,"data":{"partner_id":1}}', /shop_id/],
  ])('rejects %s with ERR_PAYLOAD', (_name, body, message) => {
    expect(payloadError(shopee, body)).toMatch(message);
  });
});
