/**
 * Issue 13: TikTok's "upcoming authorization expiration" (webhook type 7) through the real
 * pipeline — signed webhook → ingest → stream → worker → shops collection → expiry gauge. The
 * notice records when the authorization ends; it never deauthorizes the shop nor holds back its
 * other entries.
 */
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';

import { startIngest, type RunningIngest } from '../../src/ingest/main.js';
import { registerAuthorizationExpiry } from '../../src/reconcile/authorization-metrics.js';
import { COLLECTIONS } from '../../src/shared/mongo.js';
import { silentLogger } from '../support/context.js';
import type { Json } from '../support/fake-marketplace/index.js';
import { createPipeline, type Pipeline } from '../support/pipeline.js';

interface Setup {
  pipeline: Pipeline;
  ingest: RunningIngest;
}

const setups: Setup[] = [];

afterEach(async () => {
  for (const s of setups.splice(0)) {
    await s.ingest.close();
    await s.pipeline.cleanup();
  }
});

async function setup(): Promise<Setup> {
  const pipeline = await createPipeline();
  const ingest = await startIngest({ ...pipeline.env.config, host: '127.0.0.1', port: 0 }, silentLogger);
  const s = { pipeline, ingest };
  setups.push(s);
  return s;
}

async function send(s: Setup, body: Json): Promise<void> {
  const answer = await s.pipeline.fake.sendTikTokWebhook(`${s.ingest.address}/webhooks/tiktok`, body);
  expect(answer.status).toBe(200);
}

function orderWebhook(shopId: string, order: Json, id: string): Json {
  return {
    type: 1,
    tts_notification_id: id,
    shop_id: shopId,
    timestamp: Number(order.update_time),
    data: { order_id: order.id, order_status: order.status, update_time: order.update_time },
  };
}

describe('TikTok upcoming authorization expiration (type 7)', () => {
  it('records expiration_time on the shop, keeps it active, and its orders in the same batch are stored', async () => {
    const s = await setup();
    const { pipeline } = s;
    const shopId = await pipeline.addShop('tiktok');
    const [order] = pipeline.fake.seedOrders('tiktok', shopId, 1) as [Json];
    const ends = Math.floor(Date.now() / 1000) + 5 * 86_400;

    // Both queued before the worker starts, so they meet in one batch.
    await send(s, {
      type: 7,
      tts_notification_id: 'auth-exp-1',
      shop_id: shopId,
      timestamp: Math.floor(Date.now() / 1000),
      data: {
        message: `Authorization of shop_id ${shopId} is expirating in 5 days. Please direct the merchant to re-authorize.`,
        expiration_time: String(ends), // a string, as in the witness DTO
      },
    });
    await send(s, orderWebhook(shopId, order, 'auth-exp-order-1'));
    await pipeline.startWorker();
    await pipeline.drained();

    const shop = await pipeline.runtime.shops.get('tiktok', shopId);
    expect(shop?.status).toBe('active');
    expect(shop?.authorization_expires_at).toEqual(new Date(ends * 1000));
    const { db } = pipeline.runtime.mongo;
    expect(
      await db.collection(COLLECTIONS.orders).findOne({ shop_id: shopId, order_id: order.id }),
    ).not.toBeNull();
    expect(await pipeline.env.redis().xlen(pipeline.env.config.deadLetterStreamKey)).toBe(0);

    // The gauge behind MarketIngestShopAuthorizationEnding now has the shop's series.
    const registry = new Registry();
    const at = Date.now();
    registerAuthorizationExpiry({
      registry,
      shops: pipeline.runtime.shops,
      logger: silentLogger,
      now: () => at,
    });
    expect(await registry.metrics()).toContain(
      `market_ingest_shop_authorization_expiry_seconds{platform="tiktok",shop_id="${shopId}"} ${Math.round((ends * 1000 - at) / 1000)}`,
    );
  });

  it('a notice without expiration_time is acknowledged and changes nothing', async () => {
    const s = await setup();
    const { pipeline } = s;
    const shopId = await pipeline.addShop('tiktok');
    const before = await pipeline.runtime.shops.get('tiktok', shopId);

    await send(s, {
      type: 7,
      tts_notification_id: 'auth-exp-2',
      shop_id: shopId,
      timestamp: Math.floor(Date.now() / 1000),
      data: { message: 'Authorization is expirating in 7 days.' },
    });
    await pipeline.startWorker();
    await pipeline.drained();

    const after = await pipeline.runtime.shops.get('tiktok', shopId);
    expect(after).toEqual(before);
    expect(await pipeline.env.redis().xlen(pipeline.env.config.deadLetterStreamKey)).toBe(0);
  });
});
