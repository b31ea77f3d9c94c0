/**
 * Issue 11, "what the platforms really send", end to end: the fake marketplace sends and serves
 * the platforms' published shapes (numeric ids beyond 2^53, lost pushes whose data is the whole
 * envelope, return pushes, a separate push key), through the real ingest app or reconcile's
 * lost-push recovery, the stream and the worker, into MongoDB.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

import { buildIngestApp } from '../../src/ingest/app.js';
import { waitForRedis, webhookHandlersFromConfig } from '../../src/ingest/main.js';
import type { Config } from '../../src/shared/config.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import { COLLECTIONS } from '../../src/shared/mongo.js';
import { closeRedis, createRedis } from '../../src/shared/redis.js';
import { decodeStreamEntry, type StreamEvent } from '../../src/shared/stream.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';
import { FAKE_ENDPOINTS, startFakeMarketplace } from '../support/fake-marketplace/index.js';
import { createPipeline, fakeMarketplaceEnv, reconcilerFor, type Pipeline } from '../support/pipeline.js';

const FIXTURES = new URL('../fixtures/webhooks/', import.meta.url);
const fixtureText = (path: string): string => readFileSync(new URL(path, FIXTURES), 'utf8');
const nowSeconds = () => Math.floor(Date.now() / 1000);
/** Well before today: reconcile's own listing does not bring these in, only the event under test. */
const DAYS_AGO = nowSeconds() - 10 * 86_400;

let p: Pipeline | undefined;
const envs: TestEnv[] = [];
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
  for (const env of envs.splice(0)) await env.cleanup();
});

/** The real ingest app on a random port, with the handlers `config` enables. */
async function startIngest(env: TestEnv, config: Config = env.config): Promise<string> {
  const redis = createRedis({
    url: env.redisUrl,
    name: 'ingest',
    logger: silentLogger,
    profile: 'fail-fast',
  });
  env.defer(() => closeRedis(redis));
  const app = buildIngestApp({
    config,
    redis,
    handlers: webhookHandlersFromConfig(config),
    logger: silentLogger,
    metrics: createMetricsRegistry(),
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  env.defer(() => app.close());
  await waitForRedis(redis, 5_000);
  return url;
}

async function streamEvents(pipeline: Pipeline): Promise<StreamEvent[]> {
  const entries = (await pipeline.env.redis().xrange(pipeline.env.config.streamKey, '-', '+')) as [
    string,
    string[],
  ][];
  return entries.map(([, fields]) => decodeStreamEntry(fields));
}

describe('issue 11: what the platforms send, end to end', () => {
  it('issue 11 #6: a Shopee lost push in the published envelope is stored and confirmed only after enqueueing', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const [order] = pipeline.fake.seedOrders('shopee', shopId, 1, () => ({
      order_status: 'READY_TO_SHIP',
      update_time: DAYS_AGO,
    }));
    const orderSn = String(order!.order_sn);
    // Served as Shopee's published sample does: data = the whole push envelope as JSON text.
    pipeline.fake.addLostPush({
      shopId,
      code: 3,
      data: {
        items: [],
        ordersn: orderSn,
        status: 'READY_TO_SHIP',
        completed_scenario: '',
        update_time: DAYS_AGO,
      },
    });
    let inStreamAtConfirm: StreamEvent[] | undefined;
    pipeline.fake.knobs.beforeAnswer({ endpoint: FAKE_ENDPOINTS.shopee.confirmLostPush }, async () => {
      inStreamAtConfirm = await streamEvents(pipeline);
    });

    const summary = await reconcilerFor(pipeline).run({ trigger: 'cron', mode: { type: 'today' } });
    await pipeline.startWorker();
    await pipeline.drained();

    expect(summary.status).toBe('succeeded');
    // The fake received the confirm once, and by then the push was in the stream.
    expect(pipeline.fake.calls.count({ endpoint: FAKE_ENDPOINTS.shopee.confirmLostPush })).toBe(1);
    expect(pipeline.fake.lostPushState().pending).toBe(0);
    expect(inStreamAtConfirm).toEqual([
      expect.objectContaining({
        platform: 'shopee',
        shop_id: shopId,
        kind: 'order',
        entity_id: orderSn,
        event_type: '3',
        source: 'reconcile',
      }),
    ]);
    const { db } = await pipeline.env.mongo();
    const stored = await db.collection(COLLECTIONS.orders).findOne({ platform: 'shopee', shop_id: shopId });
    expect(stored).toMatchObject({ order_id: orderSn, status: 'READY_TO_SHIP', version: DAYS_AGO });
  });

  it('issue 11 #7: a TikTok product webhook with a 19-digit numeric id is stored with that exact id', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const productId = '1729592969712207009'; // a JS number would read 1729592969712207000
    pipeline.fake.putProducts('tiktok', shopId, [
      pipeline.fake.generate.tiktokProduct({ id: productId, update_time: DAYS_AGO }),
    ]);
    const url = await startIngest(pipeline.env);
    // TikTok's published product-status shape, product_id a bare JSON number.
    const body = fixtureText('tiktok/product-status-change-numeric-id.json')
      .replace('"7494012345678901234"', JSON.stringify(shopId))
      .replace('1732182899', String(DAYS_AGO));
    expect(body).toContain(`"product_id": ${productId},`);

    const answer = await pipeline.fake.sendTikTokWebhook(`${url}/webhooks/tiktok`, body);
    await pipeline.startWorker();
    await pipeline.drained();

    expect(answer).toEqual({
      status: 200,
      body: expect.stringMatching(/^\{"ok":true,"id":"\d+-\d+"\}$/) as unknown,
    });
    expect(pipeline.fake.calls.ids({ endpoint: FAKE_ENDPOINTS.tiktok.productDetail })).toEqual([[productId]]);
    const { db } = await pipeline.env.mongo();
    const products = await db.collection(COLLECTIONS.products).find({ platform: 'tiktok' }).toArray();
    expect(products.map((doc): unknown[] => [doc.shop_id, doc.product_id, doc.version])).toEqual([
      [shopId, productId, DAYS_AGO],
    ]);
  });

  it('issue 11 #8: a Shopee return push (code 29) is fetched by return_sn and stored in returns', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const [ret] = pipeline.fake.seedReturns('shopee', shopId, 1, () => ({ update_time: DAYS_AGO }));
    const returnSn = String(ret!.return_sn);
    const url = await startIngest(pipeline.env);
    const body = fixtureText('shopee/return-update.json')
      .replace('220456789', shopId)
      .replace('2411230RTN0001', returnSn)
      .replace('1732182950', String(DAYS_AGO));

    const answer = await pipeline.fake.sendShopeeWebhook(`${url}/webhooks/shopee`, body);
    await pipeline.startWorker();
    await pipeline.drained();

    expect(answer).toEqual({
      status: 200,
      body: expect.stringMatching(/^\{"ok":true,"id":"\d+-\d+"\}$/) as unknown,
    });
    const { db } = await pipeline.env.mongo();
    const stored = await db.collection(COLLECTIONS.returns).findOne({ platform: 'shopee', shop_id: shopId });
    expect(stored).toMatchObject({ return_id: returnSn, version: DAYS_AGO });
  });

  it('issue 11 #11: the fake signs pushes with a distinct push key, which ingest verifies with SHOPEE_PUSH_PARTNER_KEY', async () => {
    const fake = await startFakeMarketplace({ shopee: { pushPartnerKey: 'live-push-partner-key' } });
    try {
      expect(fake.credentials.shopee.pushPartnerKey).not.toBe(fake.credentials.shopee.partnerKey);
      const body = fixtureText('shopee/order-status-update.json');
      const withPushKey = createTestEnv({
        ...fakeMarketplaceEnv(fake),
        SHOPEE_PUSH_PARTNER_KEY: fake.credentials.shopee.pushPartnerKey,
      });
      const withoutPushKey = createTestEnv(fakeMarketplaceEnv(fake));
      envs.push(withPushKey, withoutPushKey);

      const configured = await startIngest(withPushKey);
      const unconfigured = await startIngest(withoutPushKey);

      expect((await fake.sendShopeeWebhook(`${configured}/webhooks/shopee`, body)).status).toBe(200);
      // Without it the partner key is expected, and the push key's signature does not match.
      expect((await fake.sendShopeeWebhook(`${unconfigured}/webhooks/shopee`, body)).status).toBe(401);
    } finally {
      await fake.close();
    }
  });
});
