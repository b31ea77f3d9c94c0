/**
 * `npm run demo`: the whole pipeline in under a minute, on this machine alone.
 *
 * Starts the fake marketplace (src/sandbox/marketplace) and the service (ingest + worker,
 * as `start` runs them), registers three shops, sends a burst of correctly signed TikTok and
 * Shopee webhooks with duplicates and one bad signature, waits for the worker, and prints a
 * report. Redis and MongoDB are chosen as the test harness chooses them (test/support/services.ts):
 * REDIS_URL / MONGO_URL, Docker, local binaries, or the MongoDB emulator.
 */
import { randomBytes } from 'node:crypto';

import { buildWorker } from '../src/consumer/main.js';
import { pendingSummary } from '../src/consumer/ops.js';
import { startIngest } from '../src/ingest/main.js';
import { loadConfig } from '../src/shared/config.js';
import { createLogger } from '../src/shared/logger.js';
import { openRuntime } from '../src/runtime.js';
import type { Platform } from '../src/shared/stream.js';
import { FAKE_ENDPOINTS, startFakeMarketplace, type Json } from '../src/sandbox/marketplace/index.js';
import { fakeMarketplaceEnv } from '../test/support/pipeline.js';
import { provideServices } from '../test/support/services.js';

const ORDERS_PER_SHOP = 40;
const DUPLICATE_EVERY = 4; // every 4th webhook is delivered twice

function webhookBody(platform: Platform, shopId: string, order: Json): string {
  if (platform === 'tiktok') {
    return JSON.stringify({
      type: 1,
      tts_notification_id: randomBytes(8).toString('hex'),
      shop_id: shopId,
      timestamp: Math.floor(Date.now() / 1000),
      data: { order_id: order.id, order_status: order.status, update_time: order.update_time },
    });
  }
  return JSON.stringify({
    code: 3,
    shop_id: Number(shopId),
    timestamp: Math.floor(Date.now() / 1000),
    data: { ordersn: order.order_sn, status: order.order_status, update_time: order.update_time },
  });
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const infra = await provideServices();
  const fake = await startFakeMarketplace({ seed: 2026 });
  const id = `demo-${randomBytes(3).toString('hex')}`;
  const config = loadConfig({
    ...fakeMarketplaceEnv(fake),
    REDIS_URL: infra.redis.url,
    MONGO_URL: infra.mongo.url,
    MONGO_DB: id.replace(/-/g, '_'),
    STREAM_KEY: `${id}:events`,
    DEAD_LETTER_STREAM_KEY: `${id}:dead`,
    CHANGES_STREAM_KEY: `${id}:changes`,
    CONSUMER_GROUP: `${id}:workers`,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
  });
  const logger = createLogger({ level: 'warn', pretty: false, stderr: true });
  const runtime = await openRuntime({ config, logger, role: 'demo' });
  const ingest = await startIngest(config, logger, { metrics: runtime.metrics });
  const worker = buildWorker(runtime, { blockMs: 200 });
  void worker.run();

  try {
    process.stdout.write(
      `redis:   ${infra.redis.description}\nmongo:   ${infra.mongo.description}\nservice: ${ingest.address}\n\n`,
    );
    // Three shops, registered at the fake marketplace and in market-ingest.
    const shops: [Platform, string][] = [];
    for (const platform of ['tiktok', 'tiktok', 'shopee'] as const) {
      const { shopId } = fake.addShop(platform);
      const shop = fake.toShop(platform, shopId);
      await runtime.shops.upsert({ ...shop, platform, shop_id: shopId });
      shops.push([platform, shopId]);
    }

    const answers = { accepted: 0, duplicate: 0, rejected: 0, ignored: 0 };
    let sent = 0;
    const send = async (platform: Platform, body: string) => {
      sent++;
      const url = `${ingest.address}/webhooks/${platform}`;
      const answer =
        platform === 'tiktok'
          ? await fake.sendTikTokWebhook(url, body)
          : await fake.sendShopeeWebhook(url, body);
      const parsed = JSON.parse(answer.body) as { ok?: boolean; duplicate?: boolean; ignored?: boolean };
      if (answer.status !== 200) answers.rejected++;
      else if (parsed.duplicate) answers.duplicate++;
      else if (parsed.ignored) answers.ignored++;
      else answers.accepted++;
    };

    const burst: Promise<void>[] = [];
    for (const [platform, shopId] of shops) {
      for (const [i, order] of fake.seedOrders(platform, shopId, ORDERS_PER_SHOP).entries()) {
        const body = webhookBody(platform, shopId, order);
        burst.push(send(platform, body));
        if (i % DUPLICATE_EVERY === 0) burst.push(send(platform, body)); // the marketplace retries
      }
    }
    // One forged webhook: right shape, wrong signature.
    burst.push(
      (async () => {
        sent++;
        const response = await fetch(`${ingest.address}/webhooks/tiktok`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'f'.repeat(64) },
          body: webhookBody('tiktok', shops[0]![1], { id: '1', update_time: 1 }),
        });
        if (response.status === 401) answers.rejected++;
      })(),
    );
    await Promise.all(burst);

    // Wait for the worker to store everything and leave nothing pending.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const summary = await pendingSummary(runtime.redis, config, 1);
      if (summary.lag === 0 && summary.pending === 0) break;
      if (Date.now() > deadline) throw new Error(`worker did not drain: ${JSON.stringify(summary)}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const orders = await runtime.mongo.db.collection('orders').countDocuments();
    const detailCalls =
      fake.calls.count({ endpoint: FAKE_ENDPOINTS.tiktok.orderDetail }) +
      fake.calls.count({ endpoint: FAKE_ENDPOINTS.shopee.orderDetail });
    const pending = await pendingSummary(runtime.redis, config, 1);
    const sample = await runtime.mongo.db
      .collection<Record<string, unknown>>('orders')
      .findOne(
        { platform: 'tiktok' },
        { projection: { _id: 0, raw: 0, line_items: 0, recipient_address: 0 } },
      );
    process.stdout.write(
      [
        `webhooks sent          ${sent}`,
        `  accepted             ${answers.accepted}`,
        `  duplicates           ${answers.duplicate}`,
        `  rejected             ${answers.rejected} (bad signature)`,
        `marketplace calls      ${fake.calls.count()} (${detailCalls} order-detail calls for ${shops.length * ORDERS_PER_SHOP} orders)`,
        `orders stored          ${orders}`,
        `pending                ${pending.pending}`,
        `dead letters           ${await runtime.redis.xlen(config.deadLetterStreamKey)}`,
        `took                   ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
        '',
        'one stored order:',
        JSON.stringify({ ...sample, total_amount: String(sample?.total_amount) }, null, 2),
        '',
      ].join('\n'),
    );
  } finally {
    await worker.close(5_000);
    await ingest.close();
    await runtime.mongo.db.dropDatabase().catch(() => undefined);
    await runtime.close();
    await fake.close();
    await Promise.all([infra.redis.stop(), infra.mongo.stop()]);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
