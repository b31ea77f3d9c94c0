/**
 * Issue 12 "observability users expect": the metrics of marketplace calls, token refreshes,
 * reconcile runs and the dead-letter stream, read from the registries the roles are wired with
 * (openRuntime, buildReconcileScheduler, buildWorker) while they talk to the fake marketplace,
 * real Redis and the MongoDB-wire server. Expected counts come from the fake's own call log.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { buildReconcileScheduler } from '../../src/reconcile/main.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import type { Platform } from '../../src/shared/stream.js';
import { silentLogger } from '../support/context.js';
import { FAKE_ENDPOINTS } from '../support/fake-marketplace/index.js';
import { metricSeries, metricValue } from '../support/metrics.js';
import { createPipeline, type Pipeline } from '../support/pipeline.js';
import { waitFor } from '../support/wait.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Another process on the pipeline's Redis, MongoDB and marketplace, with its own registry. */
async function otherProcess(pipeline: Pipeline): Promise<Runtime> {
  const runtime = await openRuntime({
    config: pipeline.env.config,
    logger: silentLogger,
    role: 'test-other',
  });
  pipeline.env.defer(() => runtime.close());
  return runtime;
}

async function orderDetails(runtime: Runtime, platform: Platform, shopId: string, ids: string[]) {
  const shop = (await runtime.shops.get(platform, shopId))!;
  return runtime.adapters[platform]!.getDetails(shop, 'order', ids);
}

describe('marketplace call metrics', () => {
  it('times and counts each attempt and each call by platform, endpoint and outcome; 429s show', async () => {
    p = await createPipeline();
    const { fake, runtime } = p;
    const tiktokShop = await p.addShop('tiktok');
    const shopeeShop = await p.addShop('shopee');
    const tiktokIds = fake.seedOrders('tiktok', tiktokShop, 3).map((o) => String(o.id));
    const shopeeIds = fake.seedOrders('shopee', shopeeShop, 2).map((o) => String(o.order_sn));
    const tiktokEndpoint = FAKE_ENDPOINTS.tiktok.orderDetail;
    const shopeeEndpoint = FAKE_ENDPOINTS.shopee.orderDetail;
    fake.knobs.failNext({ status: 429, retryAfter: 0 }, { platform: 'tiktok', endpoint: tiktokEndpoint });
    fake.knobs.failNext({ status: 400 }, { platform: 'shopee', endpoint: shopeeEndpoint });

    const tiktok = await orderDetails(runtime, 'tiktok', tiktokShop, tiktokIds);
    const shopee = await orderDetails(runtime, 'shopee', shopeeShop, shopeeIds);
    expect(tiktok.objects).toHaveLength(3);
    expect(shopee.failures).toHaveLength(1);

    const registry = runtime.metrics;
    const requests = (platform: Platform, outcome: string) =>
      metricValue(registry, 'market_ingest_marketplace_requests_total', {
        platform,
        endpoint: 'get_order_detail',
        outcome,
      });
    expect(await requests('tiktok', 'rate_limited')).toBe(
      fake.calls.count({ endpoint: tiktokEndpoint, status: 429 }),
    );
    expect(await requests('tiktok', 'rate_limited')).toBeGreaterThan(0);
    expect(await requests('tiktok', 'ok')).toBe(fake.calls.count({ endpoint: tiktokEndpoint, status: 200 }));
    expect(await requests('shopee', 'rejected')).toBe(1);
    expect(
      await metricValue(registry, 'market_ingest_marketplace_request_duration_seconds_count', {
        platform: 'tiktok',
        endpoint: 'get_order_detail',
      }),
    ).toBe(fake.calls.count({ endpoint: tiktokEndpoint }));

    // Calls as their callers saw them: the 429 was retried away; the 400 was not retryable.
    const calls = await metricSeries(registry, 'market_ingest_marketplace_calls_total');
    expect(
      calls
        .map(({ labels, value }) => `${labels.platform} ${labels.endpoint} ${labels.outcome} ${value}`)
        .sort(),
    ).toEqual(['shopee get_order_detail rejected 1', 'tiktok get_order_detail ok 1']);
  });
});

describe('token refresh metrics', () => {
  it('counts a refresh, a refusal, and tokens another process had just refreshed', async () => {
    p = await createPipeline();
    const pipeline = p;
    const { fake } = pipeline;
    const refreshEndpoint = FAKE_ENDPOINTS.tiktok.tokenRefresh;
    const renewed = await pipeline.addShop('tiktok');
    const revoked = await pipeline.addShop('tiktok');
    const renewedIds = fake.seedOrders('tiktok', renewed, 1).map((o) => String(o.id));
    const revokedIds = fake.seedOrders('tiktok', revoked, 1).map((o) => String(o.id));
    // Both stored copies say the token has expired; the marketplace agrees.
    for (const shopId of [renewed, revoked]) {
      const issued = fake.shop('tiktok', shopId);
      await pipeline.runtime.shops.saveTokens('tiktok', shopId, {
        access_token: issued.accessToken,
        refresh_token: issued.refreshToken,
        access_token_expires_at: new Date(Date.now() - 60_000),
      });
      fake.knobs.expireAccessToken('tiktok', shopId);
    }
    fake.knobs.revokeRefreshToken('tiktok', revoked);
    const other = await otherProcess(pipeline);
    // The other process read the shop before this one refreshed: its copy is stale.
    const staleCopy = (await other.shops.get('tiktok', renewed))!;

    expect((await orderDetails(pipeline.runtime, 'tiktok', renewed, renewedIds)).objects).toHaveLength(1);
    expect((await orderDetails(pipeline.runtime, 'tiktok', revoked, revokedIds)).failures).toHaveLength(1);
    expect((await other.adapters.tiktok!.getDetails(staleCopy, 'order', renewedIds)).objects).toHaveLength(1);

    const refreshes = async (runtime: Runtime) =>
      (await metricSeries(runtime.metrics, 'market_ingest_marketplace_token_refreshes_total'))
        .map(({ labels, value }) => `${labels.platform} ${labels.outcome} ${value}`)
        .sort();
    expect(await refreshes(pipeline.runtime)).toEqual(['tiktok refreshed 1', 'tiktok refused 1']);
    expect(await refreshes(other)).toEqual(['tiktok shared 1']);
    // One refresh that worked, one refused: the other process never called the marketplace.
    expect(fake.calls.count({ endpoint: refreshEndpoint })).toBe(2);
  });
});

describe('reconcile metrics', () => {
  it('counts runs, shops, listed and enqueued; the last success survives a restart', async () => {
    p = await createPipeline();
    const pipeline = p;
    const healthy = await pipeline.addShop('tiktok');
    const broken = await pipeline.addShop('shopee');
    pipeline.fake.seedOrders('tiktok', healthy, 4, () => ({ update_time: nowSeconds() - 10 }));
    pipeline.fake.knobs.expireAccessToken('shopee', broken);
    pipeline.fake.knobs.revokeRefreshToken('shopee', broken);

    const result = await buildReconcileScheduler(pipeline.runtime).runExclusive({
      trigger: 'cli',
      mode: { type: 'today' },
    });
    if (!result.ran) throw new Error(result.reason);
    const { summary } = result;
    expect(summary.status).toBe('partial');
    const report = summary.shops.find((s) => s.shop_id === healthy)!;
    expect(report.enqueued).toBe(4);

    const registry = pipeline.runtime.metrics;
    const series = async (name: string) =>
      (await metricSeries(registry, name))
        .map(({ labels, value }) =>
          [labels.job, labels.platform, labels.shop_id, labels.status, value]
            .filter((x) => x !== undefined)
            .join(' '),
        )
        .sort();
    expect(await series('market_ingest_reconcile_runs_total')).toEqual(['reconcile partial 1']);
    expect(await series('market_ingest_reconcile_shops_total')).toEqual([
      'shopee failed 1',
      'tiktok succeeded 1',
    ]);
    expect(await metricValue(registry, 'market_ingest_reconcile_listed_total', { platform: 'tiktok' })).toBe(
      report.listed,
    );
    expect(await metricValue(registry, 'market_ingest_reconcile_enqueued_total')).toBe(summary.enqueued);
    expect(await metricValue(registry, 'market_ingest_reconcile_run_duration_seconds_count')).toBe(1);
    const lastSuccess = Math.floor(report.window.to.getTime() / 1000);
    expect(await series('market_ingest_reconcile_last_success_timestamp_seconds')).toEqual([
      `tiktok ${healthy} ${lastSuccess}`,
    ]);

    // A restarted reconcile process reports the same last success before it runs anything.
    const restarted = await otherProcess(pipeline);
    const scheduler = buildReconcileScheduler(restarted);
    scheduler.start();
    await scheduler.close(); // waits for the gauges to load
    expect(
      await metricSeries(restarted.metrics, 'market_ingest_reconcile_last_success_timestamp_seconds'),
    ).toEqual([{ labels: { platform: 'tiktok', shop_id: healthy, role: 'test-other' }, value: lastSuccess }]);
    expect(await metricSeries(restarted.metrics, 'market_ingest_reconcile_runs_total')).toEqual([]);
  });
});

describe('dead-letter stream metric', () => {
  it('the worker reports the dead-letter stream length', async () => {
    p = await createPipeline();
    const pipeline = p;
    const redis = pipeline.env.redis();
    const key = pipeline.env.config.deadLetterStreamKey;
    for (let i = 0; i < 3; i++) await redis.xadd(key, '*', 'n', String(i));
    const runtime = await otherProcess(pipeline);
    await pipeline.startWorker({ runtime, tuning: { gaugeIntervalMs: 50 } });
    const length = () => metricValue(runtime.metrics, 'market_ingest_dead_letter_stream_length');

    await waitFor(async () => (await length()) === 3);
    await redis.xadd(key, '*', 'n', '3');
    await waitFor(async () => (await length()) === 4);
    expect(await length()).toBe(await redis.xlen(key));
  });
});
