/**
 * The fake marketplace itself, spoken to with plain HTTP: it refuses what the real platforms
 * refuse, in their formats, and its signed webhooks verify with the service's webhook handlers.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createShopeeWebhookHandler } from '../../src/marketplaces/shopee/webhook.js';
import { createTikTokWebhookHandler } from '../../src/marketplaces/tiktok/webhook.js';
import {
  FAKE_ENDPOINTS,
  startFakeMarketplace,
  type FakeMarketplace,
} from '../support/fake-marketplace/index.js';

let fake: FakeMarketplace;
const now = () => Math.floor(Date.now() / 1000);
const hmac = (key: string, message: string) => createHmac('sha256', key).update(message).digest('hex');

beforeAll(async () => {
  fake = await startFakeMarketplace();
});

afterAll(async () => {
  await fake.close();
  await fake.close();
});

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('fake TikTok API', () => {
  function signedUrl(
    path: string,
    params: Record<string, string>,
    secret = fake.credentials.tiktok.appSecret,
  ) {
    const names = Object.keys(params).sort();
    const sign = hmac(secret, `${secret}${path}${names.map((n) => n + params[n]).join('')}${secret}`);
    return `${fake.tiktokBaseUrl}${path}?${new URLSearchParams({ ...params, sign }).toString()}`;
  }

  it('serves a correctly signed call and refuses each wrong part with its own code', async () => {
    const shop = fake.addShop('tiktok');
    const [order] = fake.seedOrders('tiktok', shop.shopId, 1);
    const params = {
      app_key: fake.credentials.tiktok.appKey,
      timestamp: String(now()),
      shop_cipher: shop.shopCipher!,
      ids: String(order!.id),
    };
    const token = { 'x-tts-access-token': shop.accessToken };

    const good = await get(signedUrl('/order/202309/orders', params), token);
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({ code: 0, data: { orders: [{ id: order!.id }] } });

    const badSign = await get(signedUrl('/order/202309/orders', params, 'wrong'), token);
    expect(badSign.body).toMatchObject({ code: 106001, request_id: expect.any(String) as string });

    // 36009004 is TikTok's code for many refusals; the message says which (common-errors).
    const stale = await get(
      signedUrl('/order/202309/orders', { ...params, timestamp: String(now() - 3_600) }),
      token,
    );
    expect(stale.body.code).toBe(36009004);
    expect(stale.body.message).toMatch(/^Invalid timestamp/);

    const noToken = await get(signedUrl('/order/202309/orders', params));
    expect(noToken.body).toMatchObject({
      code: 36009004,
      message: 'Invalid credentials. The `x-tts-access-token` header is invalid.',
    });

    fake.knobs.expireAccessToken('tiktok', shop.shopId);
    const expired = await get(signedUrl('/order/202309/orders', params), token);
    expect(expired.body.code).toBe(105002);

    expect(fake.calls.ids({ endpoint: FAKE_ENDPOINTS.tiktok.orderDetail, shopId: shop.shopId })).toEqual(
      Array.from({ length: 5 }, () => [String(order!.id)]),
    );
  });

  it('answers injected 429s with Retry-After and TikTok’s rate-limit body, then recovers', async () => {
    const shop = fake.addShop('tiktok');
    fake.knobs.failNext({ status: 429, retryAfter: 1 }, { shopId: shop.shopId, times: 2 });
    const url = () =>
      signedUrl('/order/202309/orders', {
        app_key: fake.credentials.tiktok.appKey,
        timestamp: String(now()),
        shop_cipher: shop.shopCipher!,
        ids: '1',
      });
    for (let i = 0; i < 2; i += 1) {
      const response = await fetch(url(), { headers: { 'x-tts-access-token': shop.accessToken } });
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(await response.json()).toMatchObject({ code: 36009002 });
    }
    expect((await get(url(), { 'x-tts-access-token': shop.accessToken })).status).toBe(200);
  });
});

describe('fake TikTok searches (issue 11 #9)', () => {
  async function post(path: string, query: Record<string, string>, body: unknown, accessToken: string) {
    const raw = JSON.stringify(body);
    const secret = fake.credentials.tiktok.appSecret;
    const names = Object.keys(query).sort();
    const sign = hmac(secret, `${secret}${path}${names.map((n) => n + query[n]).join('')}${raw}${secret}`);
    const response = await fetch(
      `${fake.tiktokBaseUrl}${path}?${new URLSearchParams({ ...query, sign }).toString()}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-tts-access-token': accessToken },
        body: raw,
      },
    );
    return (await response.json()) as { code: number; message: string; data: Record<string, unknown[]> };
  }

  it('refuses a returns search page_size outside [10, 50], as the official SDK documents', async () => {
    const shop = fake.addShop('tiktok');
    fake.seedReturns('tiktok', shop.shopId, 12);
    const search = (pageSize?: string) =>
      post(
        '/return_refund/202309/returns/search',
        {
          app_key: fake.credentials.tiktok.appKey,
          timestamp: String(now()),
          shop_cipher: shop.shopCipher!,
          ...(pageSize === undefined ? {} : { page_size: pageSize }),
        },
        {},
        shop.accessToken,
      );

    for (const refused of ['9', '51', '100']) expect((await search(refused)).code).toBe(36009004);
    expect((await search('50')).data.return_orders).toHaveLength(12);
    expect((await search('10')).data.return_orders).toHaveLength(10);
    // Default: 10.
    expect((await search()).data.return_orders).toHaveLength(10);
  });

  it('filters a product search by update_time_le (inclusive) and ignores update_time_lt', async () => {
    const shop = fake.addShop('tiktok');
    const t = 1_795_000_000;
    fake.seedProducts('tiktok', shop.shopId, 3, (i) => ({ update_time: t + i }));
    const search = (filter: Record<string, number>) =>
      post(
        '/product/202309/products/search',
        {
          app_key: fake.credentials.tiktok.appKey,
          timestamp: String(now()),
          shop_cipher: shop.shopCipher!,
          page_size: '100',
        },
        { update_time_ge: t, ...filter },
        shop.accessToken,
      );

    expect((await search({ update_time_le: t + 1 })).data.products).toHaveLength(2);
    expect((await search({ update_time_lt: t + 1 })).data.products).toHaveLength(3);
  });
});

describe('fake Shopee API', () => {
  it('strips optional order fields unless asked for, and refuses a wrong token in Shopee format', async () => {
    const shop = fake.addShop('shopee');
    const [order] = fake.seedOrders('shopee', shop.shopId, 1);
    const { partnerId, partnerKey } = fake.credentials.shopee;
    const path = '/api/v2/order/get_order_detail';
    const url = (accessToken: string, optional?: string) => {
      const timestamp = String(now());
      const sign = hmac(partnerKey, `${partnerId}${path}${timestamp}${accessToken}${shop.shopId}`);
      const query = new URLSearchParams({
        partner_id: String(partnerId),
        timestamp,
        access_token: accessToken,
        shop_id: shop.shopId,
        sign,
        order_sn_list: String(order!.order_sn),
        ...(optional ? { response_optional_fields: optional } : {}),
      });
      return `${fake.shopeeBaseUrl}${path}?${query.toString()}`;
    };

    const bare = await get(url(shop.accessToken));
    const [plain] = (bare.body.response as { order_list: Record<string, unknown>[] }).order_list;
    expect(plain).toMatchObject({ order_sn: order!.order_sn, order_status: order!.order_status });
    expect(plain).not.toHaveProperty('total_amount');
    expect(plain).not.toHaveProperty('tracking_no');

    const full = await get(url(shop.accessToken, 'total_amount,item_list'));
    const [rich] = (full.body.response as { order_list: Record<string, unknown>[] }).order_list;
    expect(rich).toMatchObject({ total_amount: order!.total_amount, item_list: order!.item_list });

    // Both from Shopee's common error list.
    const wrong = await get(url('not-the-token'));
    expect(wrong.status).toBe(403);
    expect(wrong.body).toMatchObject({
      error: 'error_auth',
      message: 'Invalid access_token.',
      request_id: expect.any(String) as string,
    });
    fake.knobs.expireAccessToken('shopee', shop.shopId);
    const expired = await get(url(shop.accessToken));
    expect(expired.status).toBe(403);
    expect(expired.body).toMatchObject({ error: 'invalid_acceess_token' });
  });

  it('signs partner-level calls (lost pushes) with partner_id + path + timestamp only', async () => {
    const { partnerId, partnerKey } = fake.credentials.shopee;
    const path = '/api/v2/push/get_lost_push_message';
    const url = (message: (timestamp: string) => string) => {
      const timestamp = String(now());
      const sign = hmac(partnerKey, message(timestamp));
      return `${fake.shopeeBaseUrl}${path}?${new URLSearchParams({ partner_id: String(partnerId), timestamp, sign }).toString()}`;
    };

    expect((await get(url((ts) => `${partnerId}${path}${ts}`))).body).toMatchObject({ error: '' });
    // A shop call's base string is refused here.
    const shopSigned = await get(url((ts) => `${partnerId}${path}${ts}some-token123456`));
    expect(shopSigned.status).toBe(403);
    expect(shopSigned.body).toMatchObject({ error: 'error_sign' });
  });
});

describe('fake webhooks', () => {
  let server: Server;
  let url: string;
  const received: { authorization: string | undefined; body: Buffer }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ authorization: req.headers.authorization, body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('signs TikTok webhooks so the service verifies them', async () => {
    const body = {
      type: 1,
      tts_notification_id: 'n1',
      shop_id: '7495001',
      timestamp: now(),
      data: { order_id: '1' },
    };
    const answer = await fake.sendTikTokWebhook(url, body);
    expect(answer.status).toBe(200);
    const last = received.at(-1)!;
    const handler = createTikTokWebhookHandler(fake.credentials.tiktok);
    expect(() => handler.verify({ rawBody: last.body, signature: last.authorization, url })).not.toThrow();
    expect(() =>
      createTikTokWebhookHandler({ ...fake.credentials.tiktok, appSecret: 'other' }).verify({
        rawBody: last.body,
        signature: last.authorization,
        url,
      }),
    ).toThrow();
  });

  it('signs Shopee pushes over the callback URL', async () => {
    const callbackUrl = 'https://ingest.example.com/webhooks/shopee';
    const body =
      '{"code":3,"shop_id":7495001,"timestamp":1795231800,"data":{"ordersn":"X","update_time":1795231800}}';
    await fake.sendShopeeWebhook(url, body, { callbackUrl });
    const last = received.at(-1)!;
    expect(last.body.toString()).toBe(body);
    const handler = createShopeeWebhookHandler({
      partnerKey: fake.credentials.shopee.partnerKey,
      webhookUrl: callbackUrl,
    });
    expect(() => handler.verify({ rawBody: last.body, signature: last.authorization, url })).not.toThrow();
    const unconfigured = createShopeeWebhookHandler({
      partnerKey: fake.credentials.shopee.partnerKey,
      webhookUrl: undefined,
    });
    expect(() => unconfigured.verify({ rawBody: last.body, signature: last.authorization, url })).toThrow();
  });
});
