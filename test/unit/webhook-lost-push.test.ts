/**
 * Shopee lost pushes (issue 11 #6) read into push bodies, against the published response sample
 * of get_lost_push_message (test/fixtures/README.md): each item's `data` is the WHOLE push
 * envelope as a JSON string.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { isAppError } from '../../src/shared/errors.js';
import { lostPushBody } from '../../src/marketplaces/shopee/dto.js';
import { createShopeeWebhookHandler } from '../../src/marketplaces/shopee/webhook.js';

const FIXTURES = new URL('../fixtures/webhooks/', import.meta.url);
const published = JSON.parse(
  readFileSync(new URL('shopee/lost-push-message-list.json', FIXTURES), 'utf8'),
) as { response: { push_message_list: Record<string, unknown>[] } };
const item = published.response.push_message_list[0]!;

const shopee = createShopeeWebhookHandler({ partnerKey: 'p', webhookUrl: undefined });
const mapLost = (push: unknown) => shopee.toStreamEntry(Buffer.from(lostPushBody(push), 'utf8'));

function bodyError(push: unknown): string {
  try {
    lostPushBody(push);
  } catch (error) {
    if (isAppError(error, 'ERR_PAYLOAD')) return error.message;
    throw error;
  }
  throw new Error('expected ERR_PAYLOAD');
}

describe('Shopee lost push bodies', () => {
  it('issue 11 #6: the published item (data = the whole envelope as a string) maps like the push itself', () => {
    // Before: the envelope was wrapped again as {data: <envelope>}, failed with ERR_PAYLOAD
    // (data.ordersn missing), was skipped, and then confirmed: the order change was lost.
    const body = lostPushBody(item);
    expect(body).toBe(item.data); // the envelope text, verbatim
    expect(mapLost(item)).toEqual({
      handled: true,
      event: {
        platform: 'shopee',
        shop_id: '727720655',
        kind: 'order',
        entity_id: '220810QSK8S7BX',
        version: 1660123127,
        event_id: createHash('sha256').update(body).digest('hex'),
        event_type: '3',
        payload: body,
      },
    });
  });

  it('accepts the envelope as an object too', () => {
    const envelope = JSON.parse(item.data as string) as Record<string, unknown>;
    expect(mapLost({ ...item, data: envelope })).toMatchObject({
      handled: true,
      event: { shop_id: '727720655', entity_id: '220810QSK8S7BX', version: 1660123127 },
    });
  });

  it('accepts the inner-data form, wrapped with the item shop_id, code and timestamp, inner text verbatim', () => {
    const inner = '{"ordersn":"2511210ABCDEF1","status":"READY_TO_SHIP","update_time":1795231800}';
    const push = { shop_id: 7495001, code: 3, timestamp: 1_795_231_800, data: inner };
    expect(lostPushBody(push)).toBe(`{"data":${inner},"shop_id":7495001,"code":3,"timestamp":1795231800}`);
    expect(mapLost(push)).toMatchObject({ event: { shop_id: '7495001', entity_id: '2511210ABCDEF1' } });
    expect(mapLost({ ...push, data: JSON.parse(inner) as unknown })).toMatchObject({
      event: { entity_id: '2511210ABCDEF1', version: 1795231800 },
    });
  });

  it('maps a partner-level push without a top-level shop_id (deauthorization names the shop in data)', () => {
    const push = {
      code: 2,
      timestamp: 1732182800,
      data: '{"data":{"partner_id":2001234,"shop_id":220456789},"code":2,"timestamp":1732182800}',
    };
    expect(mapLost(push)).toMatchObject({ event: { kind: 'shop', shop_id: '220456789' } });
  });

  it('issue 11 #7: ids in a lost push string keep every digit', () => {
    const push = {
      ...item,
      data: '{"data":{"return_sn":2411230000000000001,"update_time":5},"shop_id":90071992547409931,"code":29,"timestamp":6}',
    };
    expect(mapLost(push)).toMatchObject({
      event: { kind: 'return', shop_id: '90071992547409931', entity_id: '2411230000000000001' },
    });
  });

  it.each([
    ['an item that is not an object', 'push', /not an object/],
    ['an item without data', { shop_id: 1, code: 3, timestamp: 1 }, /without data/],
    ['data that is not JSON', { ...item, data: '{"data":' }, /data is not JSON/],
    // JSON.parse of the API response already rounded it: never guess an id.
    [
      'an object whose integers lost digits in the API response parse',
      { ...item, data: { data: { ordersn: 'X' }, shop_id: 2 ** 60, code: 3 } },
      /beyond 2\^53/,
    ],
    ['inner data without a code', { shop_id: 1, timestamp: 1, data: '{"ordersn":"X"}' }, /code/],
  ])('refuses %s with ERR_PAYLOAD (reported as unreadable, never dropped)', (_name, push, message) => {
    expect(bodyError(push)).toMatch(message);
  });
});
