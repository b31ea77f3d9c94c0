/**
 * Authorization links and token answers (issue 13) against fixed vectors: the links' exact form
 * (MARKETPLACES-MORE.md §1), Shopee's auth_partner sign, and the expiry rules (TikTok absolute
 * unix seconds, Shopee a duration, either read as a unix time above 1e9).
 */
import { describe, expect, it } from 'vitest';

import {
  shopeeExpiry,
  shopeeGrantOf,
  shopeeOpenAuthorizationLink,
  shopeeRedirectWithState,
  shopeeShopInfoOf,
  shopeeShopInfoSchema,
  shopeeSignedAuthorizationLink,
  shopeeTokenGetSchema,
} from '../../src/marketplaces/shopee/oauth.js';
import { shopeeStringToSign } from '../../src/marketplaces/shopee/signing.js';
import {
  tiktokAuthorizationLink,
  tiktokExpiry,
  tiktokGrantOf,
  tiktokTokenGetSchema,
} from '../../src/marketplaces/tiktok/oauth.js';
import { escapeHtml, connectedPage } from '../../src/ingest/oauth-routes.js';

const STATE = 'Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE';
const NOW = Date.UTC(2026, 10, 29, 22, 0, 0);

describe('TikTok authorization link', () => {
  it('is the services.tiktokshop.com form with service_id and state', () => {
    expect(tiktokAuthorizationLink({ kind: 'service', serviceId: '7123456789', state: STATE })).toBe(
      `https://services.tiktokshop.com/open/authorize?service_id=7123456789&state=${STATE}`,
    );
  });

  it('takes another authorization page (US) as configured', () => {
    const url = tiktokAuthorizationLink({
      kind: 'service',
      serviceId: '7123456789',
      state: STATE,
      authorizeUrl: 'https://services.us.tiktokshop.com/open/authorize',
    });
    expect(url).toBe(
      `https://services.us.tiktokshop.com/open/authorize?service_id=7123456789&state=${STATE}`,
    );
  });

  it('legacy: the auth host with app_key', () => {
    expect(
      tiktokAuthorizationLink({
        kind: 'legacy',
        appKey: '6abc123',
        authBaseUrl: 'https://auth.tiktok-shops.com/',
        state: STATE,
      }),
    ).toBe(`https://auth.tiktok-shops.com/oauth/authorize?app_key=6abc123&state=${STATE}`);
  });

  it('refuses a service link without the Service ID', () => {
    expect(() => tiktokAuthorizationLink({ kind: 'service', state: STATE })).toThrow(TypeError);
  });
});

describe('TikTok token get', () => {
  // Shape of rymndcs/tiktok_shop_rb_api test/fixtures/api_v2_token_get.json.
  const body = tiktokTokenGetSchema.parse({
    code: 0,
    message: 'success',
    request_id: 'x',
    data: {
      access_token: 'ROW_access',
      access_token_expire_in: 1791309162,
      refresh_token: 'ROW_refresh',
      refresh_token_expire_in: 4102444800,
      open_id: 'open',
      seller_name: 'Seller',
      seller_base_region: 'GB',
      user_type: 0,
      granted_scopes: ['seller.order.info'],
    },
  });

  it('reads the expiries as absolute unix seconds', () => {
    const grant = tiktokGrantOf(body, NOW);
    expect(grant.access_token_expires_at.toISOString()).toBe('2026-10-06T17:52:42.000Z');
    expect(grant.authorization_expires_at?.toISOString()).toBe('2100-01-01T00:00:00.000Z');
    expect(grant).toMatchObject({ access_token: 'ROW_access', refresh_token: 'ROW_refresh', user_type: 0 });
  });

  it('reads a small value as a lifetime (guard)', () => {
    expect(tiktokExpiry(604800, NOW).getTime()).toBe(NOW + 604800_000);
  });
});

describe('Shopee authorization links', () => {
  it('signs auth_partner with partner_id + path + timestamp (fixed vector)', () => {
    expect(
      shopeeStringToSign({
        partnerId: 2001234,
        partnerKey: 'test-partner-key',
        path: '/api/v2/shop/auth_partner',
        timestamp: 1700000000,
      }),
    ).toBe('2001234/api/v2/shop/auth_partner1700000000');
    const link = shopeeSignedAuthorizationLink({
      apiBaseUrl: 'https://partner.shopeemobile.com',
      partnerId: 2001234,
      partnerKey: 'test-partner-key',
      timestamp: 1700000000,
      redirectUrl: 'https://ingest.example.com/oauth/shopee/callback?state=abc',
    });
    expect(link).toBe(
      'https://partner.shopeemobile.com/api/v2/shop/auth_partner?partner_id=2001234&timestamp=1700000000' +
        '&sign=a6dea4a24bee0861cb57a1f3a08dec91723f9eb5a3ab0c3cf4bec7488c35b5c7' +
        '&redirect=https%3A%2F%2Fingest.example.com%2Foauth%2Fshopee%2Fcallback%3Fstate%3Dabc',
    );
  });

  it('the newer link is unsigned, with auth_type, redirect_uri, response_type and state', () => {
    expect(
      shopeeOpenAuthorizationLink({
        partnerId: 2001234,
        redirectUrl: 'https://ingest.example.com/oauth/shopee/callback',
        state: STATE,
      }),
    ).toBe(
      'https://open.shopee.com/auth?partner_id=2001234&auth_type=seller' +
        '&redirect_uri=https%3A%2F%2Fingest.example.com%2Foauth%2Fshopee%2Fcallback&response_type=code' +
        `&state=${STATE}`,
    );
  });

  it('carries the state inside the redirect URL too', () => {
    expect(shopeeRedirectWithState('https://x.example/oauth/shopee/callback', STATE)).toBe(
      `https://x.example/oauth/shopee/callback?state=${STATE}`,
    );
  });
});

describe('Shopee token get and shop info', () => {
  it('a duration; a value above 1e9 is a unix time (the API page sample)', () => {
    expect(shopeeExpiry(14400, NOW).getTime()).toBe(NOW + 14_400_000);
    expect(shopeeExpiry(1767001812, NOW).toISOString()).toBe('2025-12-29T09:50:12.000Z');
  });

  it('lists the main account shops as strings; a shop account without a list is the shop asked', () => {
    const main = shopeeTokenGetSchema.parse({
      access_token: 'a',
      refresh_token: 'r',
      expire_in: 14400,
      shop_id_list: [101, 102, 101],
      merchant_id_list: [9],
      error: '',
      message: '',
    });
    expect(shopeeGrantOf(main, NOW).shop_ids).toEqual(['101', '102']);
    const single = shopeeTokenGetSchema.parse({ access_token: 'a', refresh_token: 'r', expire_in: 14400 });
    expect(shopeeGrantOf(single, NOW, '555').shop_ids).toEqual(['555']);
  });

  it('refuses an id beyond 2^53 instead of changing its digits', () => {
    const parsed = shopeeTokenGetSchema.safeParse({
      access_token: 'a',
      refresh_token: 'r',
      expire_in: 1,
      shop_id_list: [2 ** 60],
    });
    expect(parsed.success).toBe(false);
  });

  it('get_shop_info: name and the authorization end (expire_time)', () => {
    const info = shopeeShopInfoOf(
      shopeeShopInfoSchema.parse({
        shop_name: 'Shop',
        status: 'NORMAL',
        expire_time: 1798761600,
        auth_time: 1,
      }),
    );
    expect(info).toEqual({ name: 'Shop', authorization_expires_at: new Date('2027-01-01T00:00:00Z') });
  });
});

describe('callback page', () => {
  it('escapes every shop name and id', () => {
    expect(escapeHtml(`<script>"&'`)).toBe('&lt;script&gt;&quot;&amp;&#39;');
    const page = connectedPage({
      platform: 'tiktok',
      shops: [{ shop_id: '1<b>', name: '<img onerror=x>', created: true, authorization_expires_at: null }],
    });
    expect(page).toContain('&lt;img onerror=x&gt; (shop 1&lt;b&gt;): connected');
    expect(page).not.toContain('<img');
  });
});
