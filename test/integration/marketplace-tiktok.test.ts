/**
 * The TikTok adapter against the fake marketplace over real HTTP: detail chunking, paging,
 * returns and products, and the mapping of what came back.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { isAppError } from '../../src/shared/errors.js';
import { httpStatusOf } from '../../src/marketplaces/http.js';
import { createTikTokAdapter, type TikTokAdapter } from '../../src/marketplaces/tiktok/adapter.js';
import { createTikTokWebhookHandler } from '../../src/marketplaces/tiktok/webhook.js';
import type { ListedEntity, Shop } from '../../src/marketplaces/types.js';
import { memoryTokenStore, unlimitedLimiter } from '../support/fake-marketplace/deps.js';
import { detailsOrThrow } from '../support/details.js';
import {
  FAKE_ENDPOINTS,
  startFakeMarketplace,
  type FakeMarketplace,
} from '../support/fake-marketplace/index.js';
import { silentLogger } from '../support/context.js';

const E = FAKE_ENDPOINTS.tiktok;
let fake: FakeMarketplace;
let adapter: TikTokAdapter;
let shop: Shop;

function makeAdapter(overrides: { appSecret?: string; now?: () => number } = {}) {
  return createTikTokAdapter({
    config: {
      appKey: fake.credentials.tiktok.appKey,
      appSecret: overrides.appSecret ?? fake.credentials.tiktok.appSecret,
      apiBaseUrl: fake.tiktokBaseUrl,
      authBaseUrl: fake.authBaseUrl,
    },
    webhook: createTikTokWebhookHandler(fake.credentials.tiktok),
    limiter: unlimitedLimiter(),
    tokens: memoryTokenStore(),
    logger: silentLogger,
    timeoutMs: 2_000,
    maxAttempts: 3,
    detailBatchSize: 50,
    client: { retry: { backoffBaseMs: 1, backoffMaxMs: 5 }, now: overrides.now },
  });
}

async function collect(pages: AsyncIterable<ListedEntity[]>): Promise<ListedEntity[][]> {
  const all: ListedEntity[][] = [];
  for await (const page of pages) all.push(page);
  return all;
}

beforeAll(async () => {
  fake = await startFakeMarketplace({ seed: 7 });
  adapter = makeAdapter();
});

afterAll(async () => {
  await adapter.close();
  await fake.close();
});

beforeEach(() => {
  const { shopId } = fake.addShop('tiktok');
  shop = fake.toShop('tiktok', shopId);
  fake.calls.reset();
  fake.knobs.reset();
});

describe('TikTok getDetails', () => {
  it('fetches 120 orders in 3 calls of at most 50 ids', async () => {
    const orders = fake.seedOrders('tiktok', shop.shop_id, 120);
    const ids = orders.map((o) => String(o.id));

    const details = await detailsOrThrow(adapter.getDetails(shop, 'order', ids));

    expect(details.map((d) => (d as { id: string }).id).sort()).toEqual([...ids].sort());
    const calls = fake.calls.ids({ endpoint: E.orderDetail });
    expect(calls.map((c) => c.length)).toEqual([50, 50, 20]);
    expect(calls.flat().sort()).toEqual([...ids].sort());
  });

  it('leaves out ids the marketplace does not return', async () => {
    const [order] = fake.seedOrders('tiktok', shop.shop_id, 1);
    const details = await detailsOrThrow(
      adapter.getDetails(shop, 'order', [String(order!.id), '999999999999999999']),
    );
    expect(details).toHaveLength(1);
  });

  it('fetches returns by id through the returns search, and maps them', async () => {
    const returns = fake.seedReturns('tiktok', shop.shop_id, 60);
    const ids = returns.slice(0, 55).map((r) => String(r.return_id));

    const details = await detailsOrThrow(adapter.getDetails(shop, 'return', ids));

    expect(details.map((d) => (d as { return_id: string }).return_id).sort()).toEqual([...ids].sort());
    expect(fake.calls.ids({ endpoint: E.returnSearch }).map((c) => c.length)).toEqual([50, 5]);
    const document = adapter.toDocument(shop, 'return', details[0], {
      timezoneOffset: '+07:00',
      source: 'webhook',
      fetchedAt: new Date(),
      syncedAt: new Date(),
    });
    expect(document.is_valid).toBe(true);
    expect(document).toMatchObject({ platform: 'tiktok', shop_id: shop.shop_id });
  });

  it('fetches products one call each and skips products that do not exist', async () => {
    const products = fake.seedProducts('tiktok', shop.shop_id, 3);
    const ids = [...products.map((p) => String(p.id)), '1111111111111111111'];

    const details = await detailsOrThrow(adapter.getDetails(shop, 'product', ids));

    expect(details).toHaveLength(3);
    expect(fake.calls.count({ endpoint: E.productDetail })).toBe(4);
    const document = adapter.toDocument(shop, 'product', details[0], {
      timezoneOffset: '+07:00',
      source: 'reconcile',
      fetchedAt: new Date(),
      syncedAt: new Date(),
    });
    expect(document.is_valid).toBe(true);
    expect('skus' in document && document.skus.length).toBeGreaterThan(0);
  });

  it('maps every generated order as valid, with exact money', async () => {
    const orders = fake.seedOrders('tiktok', shop.shop_id, 30);
    const details = await detailsOrThrow(
      adapter.getDetails(
        shop,
        'order',
        orders.map((o) => String(o.id)),
      ),
    );
    for (const raw of details) {
      const document = adapter.toDocument(shop, 'order', raw, {
        timezoneOffset: '+07:00',
        source: 'webhook',
        fetchedAt: new Date(),
        syncedAt: new Date(),
      });
      expect(document.validation_errors).toEqual([]);
      const payment = (raw as { payment: { total_amount: string } }).payment;
      expect('total_amount' in document && document.total_amount?.toString()).toBe(payment.total_amount);
    }
  });
});

describe('TikTok getDetails settles each call on its own', () => {
  it('issue 10 #7: one refused sub-call fails only its own product: 19 of 20 returned, one failure', async () => {
    const ids = fake.seedProducts('tiktok', shop.shop_id, 20).map((p) => String(p.id));
    const refused = ids[7]!;
    fake.knobs.failNext({ status: 403 }, { endpoint: E.productDetail, id: refused });

    const { objects, failures } = await adapter.getDetails(shop, 'product', ids);

    expect(objects.map((p) => (p as { id: string }).id).sort()).toEqual(
      ids.filter((id) => id !== refused).sort(),
    );
    expect(failures).toHaveLength(1);
    expect(failures[0]!.ids).toEqual([refused]);
    expect(failures[0]!.error).toMatchObject({ code: 'ERR_MARKETPLACE_REJECTED', retryable: false });
    expect(httpStatusOf(failures[0]!.error)).toBe(403);
    // A refusal is not retried.
    expect(fake.calls.count({ endpoint: E.productDetail, id: refused })).toBe(1);
  });

  it('issue 10 #7: one refused sub-call fails only its own chunk of the returns search', async () => {
    const ids = fake.seedReturns('tiktok', shop.shop_id, 55).map((r) => String(r.return_id));
    // The second chunk (ids 50..54) is answered 500 on every attempt.
    fake.knobs.failNext({ status: 500 }, { endpoint: E.returnSearch, id: ids[52]!, times: 3 });

    const { objects, failures } = await adapter.getDetails(shop, 'return', ids);

    expect(objects.map((r) => (r as { return_id: string }).return_id).sort()).toEqual(
      ids.slice(0, 50).sort(),
    );
    expect(failures).toHaveLength(1);
    expect(failures[0]!.ids).toEqual(ids.slice(50));
    expect(failures[0]!.error).toMatchObject({ code: 'ERR_MARKETPLACE_TRANSIENT', retryable: true });
  });
});

describe('TikTok listUpdated', () => {
  it('follows page tokens to the end and lists exactly the window', async () => {
    const from = new Date('2026-11-01T00:00:00Z');
    const to = new Date('2026-11-02T00:00:00Z');
    const inside = fake.seedOrders('tiktok', shop.shop_id, 250, (i) => ({
      update_time: Math.floor(from.getTime() / 1000) + i * 60,
    }));
    fake.seedOrders('tiktok', shop.shop_id, 5, () => ({ update_time: Math.floor(to.getTime() / 1000) }));

    const pages = await collect(adapter.listUpdated(shop, 'order', from, to));

    expect(pages.map((p) => p.length)).toEqual([100, 100, 50]);
    expect(pages.flat().map((e) => e.id)).toEqual(inside.map((o) => String(o.id)));
    expect(pages.flat()[0]!.version).toBe(Math.floor(from.getTime() / 1000));
    expect(fake.calls.count({ endpoint: E.orderSearch })).toBe(3);
    const bodies = fake.calls.log.filter((c) => c.endpoint === E.orderSearch).map((c) => c.body);
    expect(bodies[0]).toEqual({
      update_time_ge: from.getTime() / 1000,
      update_time_lt: to.getTime() / 1000,
    });
  });

  it('lists returns and products by update time', async () => {
    const from = new Date('2026-11-01T00:00:00Z');
    const to = new Date('2026-11-03T00:00:00Z');
    const at = (i: number) => ({ update_time: Math.floor(from.getTime() / 1000) + i });
    fake.seedReturns('tiktok', shop.shop_id, 120, at);
    fake.seedProducts('tiktok', shop.shop_id, 7, at);

    const returns = await collect(adapter.listUpdated(shop, 'return', from, to));
    const products = await collect(adapter.listUpdated(shop, 'product', from, to));

    expect(returns.flat()).toHaveLength(120);
    expect(returns).toHaveLength(3);
    expect(products.flat()).toHaveLength(7);
  });
});

describe('TikTok signing as the marketplace checks it', () => {
  it('is refused, without retries, when signed with the wrong app secret', async () => {
    const wrong = makeAdapter({ appSecret: 'not-the-secret' });
    try {
      const error: unknown = await detailsOrThrow(wrong.getDetails(shop, 'order', ['1'])).catch(
        (e: unknown) => e,
      );
      expect(isAppError(error, 'ERR_MARKETPLACE_REJECTED')).toBe(true);
      expect((error as Error).message).toMatch(/106001/);
      expect(fake.calls.count({ endpoint: E.orderDetail })).toBe(1);
    } finally {
      await wrong.close();
    }
  });

  it('needs the shop cipher', async () => {
    const error: unknown = await detailsOrThrow(
      adapter.getDetails({ ...shop, shop_cipher: null }, 'order', ['1']),
    ).catch((e: unknown) => e);
    expect(isAppError(error, 'ERR_MARKETPLACE_REJECTED')).toBe(true);
    expect(fake.calls.count()).toBe(0);
  });
});

/** Published samples: the SDK's page_size ranges and TikTok's error tables (see each file's _source). */
const searchParams = JSON.parse(
  readFileSync(new URL('../fixtures/marketplaces/tiktok-search-params.json', import.meta.url), 'utf8'),
) as { searches: Record<'order' | 'return' | 'product', { page_size: { min: number; max: number } }> };
const errorTable = JSON.parse(
  readFileSync(new URL('../fixtures/marketplaces/tiktok-errors.json', import.meta.url), 'utf8'),
) as { pairs: { code: string; message: string }[] };

/** TikTok's error body for a code of the published table, with its published message. */
function published(code: string) {
  const pair = errorTable.pairs.find((p) => p.code === code)!;
  return { code: Number(code), message: pair.message, request_id: 'published-sample', data: null };
}

const pageSizes = (endpoint: string) =>
  fake.calls.log.filter((c) => c.endpoint === endpoint).map((c) => Number(c.query.page_size));

describe('issue 11 #9: TikTok search parameters as the platform defines them', () => {
  it('issue 11 #9: the returns reconcile listing succeeds against a search that accepts page_size only within [10, 50]', async () => {
    const from = new Date('2026-11-01T00:00:00Z');
    const to = new Date('2026-11-02T00:00:00Z');
    const inside = fake.seedReturns('tiktok', shop.shop_id, 120, (i) => ({
      update_time: from.getTime() / 1000 + i * 60,
    }));

    const pages = await collect(adapter.listUpdated(shop, 'return', from, to));

    expect(pages.flat().map((e) => e.id)).toEqual(inside.map((r) => String(r.return_id)));
    const { min, max } = searchParams.searches.return.page_size;
    const sizes = pageSizes(E.returnSearch);
    expect(sizes).toEqual([max, max, max]);
    for (const size of sizes) expect(size).toBeGreaterThanOrEqual(min);
    // Returns keep the half-open filter of the order search.
    expect(fake.calls.log.find((c) => c.endpoint === E.returnSearch)?.body).toEqual({
      update_time_ge: from.getTime() / 1000,
      update_time_lt: to.getTime() / 1000,
    });
  });

  it('issue 11 #9: a by-id lookup of 3 returns asks for page_size 10 (not 3) and finds all 3', async () => {
    const ids = fake
      .seedReturns('tiktok', shop.shop_id, 12)
      .slice(0, 3)
      .map((r) => String(r.return_id));

    const { objects, failures } = await adapter.getDetails(shop, 'return', ids);

    expect(failures).toEqual([]);
    expect(objects.map((r) => (r as { return_id: string }).return_id).sort()).toEqual([...ids].sort());
    expect(pageSizes(E.returnSearch)).toEqual([searchParams.searches.return.page_size.min]);
  });

  it('issue 11 #9: a product search window [from, to) sends update_time_le = to − 1 s and lists exactly the window', async () => {
    const from = new Date('2026-11-01T00:00:00Z');
    const to = new Date('2026-11-02T00:00:00Z');
    const [ge, lt] = [from.getTime() / 1000, to.getTime() / 1000];
    const at = (update_time: number) => () => ({ update_time });
    const inside = [
      ...fake.seedProducts('tiktok', shop.shop_id, 1, at(ge)),
      ...fake.seedProducts('tiktok', shop.shop_id, 1, at(lt - 1)),
    ];
    fake.seedProducts('tiktok', shop.shop_id, 1, at(ge - 1));
    fake.seedProducts('tiktok', shop.shop_id, 1, at(lt));
    fake.seedProducts('tiktok', shop.shop_id, 1, at(lt + 3_600));

    const pages = await collect(adapter.listUpdated(shop, 'product', from, to));

    expect(pages.flat().map((e) => e.id)).toEqual(inside.map((p) => String(p.id)));
    expect(fake.calls.log.find((c) => c.endpoint === E.productSearch)?.body).toEqual({
      update_time_ge: ge,
      update_time_le: lt - 1,
    });
  });
});

describe('issue 11 #10: TikTok error codes as the platform defines them', () => {
  it('issue 11 #10: 36009004 (`x-tts-access-token` header invalid) refreshes the token once and the retry succeeds', async () => {
    const ids = fake.seedOrders('tiktok', shop.shop_id, 3).map((o) => String(o.id));
    // Our copy of the token is not the one the marketplace knows (e.g. revoked in Seller Center).
    const stale = { ...shop, access_token: 'TTP_not-the-current-token' };

    const { objects, failures } = await adapter.getDetails(stale, 'order', ids);

    expect(failures).toEqual([]);
    expect(objects).toHaveLength(3);
    expect(fake.calls.count({ endpoint: E.tokenRefresh })).toBe(1);
    expect(fake.calls.log.filter((c) => c.endpoint === E.orderDetail).map((c) => c.errorCode)).toEqual([
      '36009004',
      null,
    ]);
  });

  it('a 36009004 that is not about the token (a stale timestamp) is refused without a refresh (no token churn)', async () => {
    const skewed = makeAdapter({ now: () => Date.now() - 3_600_000 });
    try {
      const ids = fake.seedOrders('tiktok', shop.shop_id, 1).map((o) => String(o.id));

      const { failures } = await skewed.getDetails(shop, 'order', ids);

      expect(failures).toHaveLength(1);
      expect(failures[0]!.error).toMatchObject({ code: 'ERR_MARKETPLACE_REJECTED', retryable: false });
      expect(fake.calls.log.map((c) => [c.endpoint, c.errorCode])).toEqual([[E.orderDetail, '36009004']]);
    } finally {
      await skewed.close();
    }
  });

  it('issue 11 #10: 36009007 (request timeout) is transient: retried, then the call succeeds', async () => {
    const ids = fake.seedOrders('tiktok', shop.shop_id, 3).map((o) => String(o.id));
    fake.knobs.failNext({ status: 200, body: published('36009007') }, { endpoint: E.orderDetail });

    const { objects, failures } = await adapter.getDetails(shop, 'order', ids);

    expect(failures).toEqual([]);
    expect(objects).toHaveLength(3);
    expect(fake.calls.count({ endpoint: E.orderDetail })).toBe(2);
  });

  it('issue 11 #10: 12019150 on an order detail means that order is absent: in neither objects nor failures', async () => {
    const known = fake.seedOrders('tiktok', shop.shop_id, 2).map((o) => String(o.id));
    const unknown = '576486316948499999';
    // The marketplace answers not-found to every call that asks for the unknown id.
    fake.knobs.failNext(
      { status: 200, body: published('12019150') },
      { endpoint: E.orderDetail, id: unknown, times: 2 },
    );

    const { objects, failures } = await adapter.getDetails(shop, 'order', [...known, unknown]);

    expect(failures).toEqual([]);
    expect(objects.map((o) => (o as { id: string }).id).sort()).toEqual([...known].sort());
    // The not-found call named no id: halved until it did.
    expect(fake.calls.ids({ endpoint: E.orderDetail })).toEqual([[...known, unknown], known, [unknown]]);
  });

  it('issue 11 #10: 12019150 on a product detail means that product is absent: in neither objects nor failures', async () => {
    const known = fake.seedProducts('tiktok', shop.shop_id, 2).map((p) => String(p.id));
    const unknown = '1729382256910270999';

    const { objects, failures } = await adapter.getDetails(shop, 'product', [...known, unknown]);

    expect(failures).toEqual([]);
    expect(objects.map((p) => (p as { id: string }).id).sort()).toEqual([...known].sort());
    expect(fake.calls.log.find((c) => c.ids.includes(unknown))?.errorCode).toBe('12019150');
  });
});
