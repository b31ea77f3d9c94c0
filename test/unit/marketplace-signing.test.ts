/**
 * Request signing vectors. Each expected value is an HMAC computed here, with node:crypto, over
 * the message written out by hand from MARKETPLACES.md — never by calling the code under test.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { shopeeSign, shopeeSignedQuery, shopeeStringToSign } from '../../src/marketplaces/shopee/signing.js';
import { tiktokSign, tiktokSignedQuery, tiktokStringToSign } from '../../src/marketplaces/tiktok/signing.js';

const hmac = (key: string, message: string) => createHmac('sha256', key).update(message).digest('hex');

describe('TikTok API signature', () => {
  const appSecret = 'e59af819cc';

  it('signs path + parameters sorted by name, without sign and access_token, for a GET', () => {
    const query = {
      timestamp: '1795231800',
      shop_cipher: 'ROW_abc',
      ids: '576461413038785752,576461413038785753',
      app_key: '6abc1def',
      access_token: 'TTP_never_signed',
      sign: 'old-signature',
    };
    const message =
      'e59af819cc' +
      '/order/202309/orders' +
      'app_key6abc1def' +
      'ids576461413038785752,576461413038785753' +
      'shop_cipherROW_abc' +
      'timestamp1795231800' +
      'e59af819cc';

    const input = { appSecret, method: 'GET', path: '/order/202309/orders', query };
    expect(tiktokStringToSign(input)).toBe(message);
    expect(tiktokSign(input)).toBe(hmac(appSecret, message));
    expect(tiktokSign(input)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('leaves the body out of a GET even if one is passed', () => {
    const input = { appSecret, method: 'GET', path: '/p', query: { a: '1' }, body: '{"x":1}' };
    expect(tiktokSign(input)).toBe(hmac(appSecret, `${appSecret}/pa1${appSecret}`));
  });

  it('includes the raw JSON body of a POST, byte for byte', () => {
    const body = '{"update_time_ge":1795231800,"update_time_lt":1795318200}';
    const input = {
      appSecret,
      method: 'POST',
      path: '/order/202309/orders/search',
      query: { page_size: '100', app_key: 'k', timestamp: '1795231800', page_token: '' },
      body,
      contentType: 'application/json',
    };
    const message = `${appSecret}/order/202309/orders/searchapp_keykpage_size100page_tokentimestamp1795231800${body}${appSecret}`;
    expect(tiktokSign(input)).toBe(hmac(appSecret, message));
    // Reordering the JSON changes the signature: the body is signed as sent, not re-serialised.
    expect(
      tiktokSign({ ...input, body: '{"update_time_lt":1795318200,"update_time_ge":1795231800}' }),
    ).not.toBe(hmac(appSecret, message));
  });

  it('leaves the body out of a multipart POST', () => {
    const input = {
      appSecret,
      method: 'POST',
      path: '/product/202309/images/upload',
      query: { app_key: 'k' },
      body: '--boundary...',
      contentType: 'multipart/form-data; boundary=boundary',
    };
    expect(tiktokSign(input)).toBe(
      hmac(appSecret, `${appSecret}/product/202309/images/uploadapp_keyk${appSecret}`),
    );
  });

  it('builds the signed query with app_key, timestamp, shop_cipher and sign', () => {
    const body = '{"return_ids":["1","2"]}';
    const query = tiktokSignedQuery({
      appKey: '6abc1def',
      appSecret,
      method: 'POST',
      path: '/return_refund/202309/returns/search',
      params: { page_size: '2' },
      shopCipher: 'ROW_abc',
      timestamp: 1_795_231_800,
      body,
    });
    expect(query).toEqual({
      page_size: '2',
      app_key: '6abc1def',
      timestamp: '1795231800',
      shop_cipher: 'ROW_abc',
      sign: hmac(
        appSecret,
        `${appSecret}/return_refund/202309/returns/searchapp_key6abc1defpage_size2shop_cipherROW_abctimestamp1795231800${body}${appSecret}`,
      ),
    });
  });

  it('omits shop_cipher for calls that are not shop-scoped', () => {
    const query = tiktokSignedQuery({ appKey: 'k', appSecret, method: 'GET', path: '/x', timestamp: 1 });
    expect(Object.keys(query).sort()).toEqual(['app_key', 'sign', 'timestamp']);
    expect(query.sign).toBe(hmac(appSecret, `${appSecret}/xapp_keyktimestamp1${appSecret}`));
  });
});

describe('Shopee API signature', () => {
  const partnerKey = 'shpk4a6f0b9c';

  it('signs partner_id + path + timestamp + access_token + shop_id for shop calls', () => {
    const input = {
      partnerId: 2001234,
      partnerKey,
      path: '/api/v2/order/get_order_detail',
      timestamp: 1_795_231_800,
      accessToken: 'SPAc0ffee',
      shopId: '7495001',
    };
    const message = '2001234/api/v2/order/get_order_detail1795231800SPAc0ffee7495001';
    expect(shopeeStringToSign(input)).toBe(message);
    expect(shopeeSign(input)).toBe(hmac(partnerKey, message));
  });

  it('signs partner_id + path + timestamp for public calls', () => {
    const input = {
      partnerId: 2001234,
      partnerKey,
      path: '/api/v2/push/get_lost_push_message',
      timestamp: 1_795_231_800,
    };
    expect(shopeeSign(input)).toBe(hmac(partnerKey, '2001234/api/v2/push/get_lost_push_message1795231800'));
  });

  it('refuses half a shop signature', () => {
    expect(() =>
      shopeeStringToSign({ partnerId: 1, partnerKey, path: '/p', timestamp: 1, shopId: '2' }),
    ).toThrow(TypeError);
  });

  it('builds the signed common query', () => {
    expect(
      shopeeSignedQuery({
        partnerId: 2001234,
        partnerKey,
        path: '/api/v2/order/get_order_list',
        timestamp: 1_795_231_800,
        accessToken: 'SPAc0ffee',
        shopId: '7495001',
      }),
    ).toEqual({
      partner_id: '2001234',
      timestamp: '1795231800',
      access_token: 'SPAc0ffee',
      shop_id: '7495001',
      sign: hmac(partnerKey, '2001234/api/v2/order/get_order_list1795231800SPAc0ffee7495001'),
    });
    expect(
      shopeeSignedQuery({
        partnerId: 2001234,
        partnerKey,
        path: '/api/v2/auth/access_token/get',
        timestamp: 5,
      }),
    ).toEqual({
      partner_id: '2001234',
      timestamp: '5',
      sign: hmac(partnerKey, '2001234/api/v2/auth/access_token/get5'),
    });
  });
});
