/**
 * Token refresh across processes: two runtimes (each with its own adapters and TokenManager, as
 * two worker replicas, or a worker and reconcile, have) on one Redis, one MongoDB and the fake
 * marketplace, whose refresh tokens are single-use like both platforms'.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { openRuntime, type Runtime } from '../../src/runtime.js';
import { silentLogger } from '../support/context.js';
import { detailsOrThrow } from '../support/details.js';
import { FAKE_ENDPOINTS } from '../support/fake-marketplace/index.js';
import { createPipeline, type Pipeline } from '../support/pipeline.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

/** Another process on the same Redis, MongoDB and marketplace. */
async function otherProcess(pipeline: Pipeline): Promise<Runtime> {
  const runtime = await openRuntime({
    config: pipeline.env.config,
    logger: silentLogger,
    role: 'test-other',
  });
  pipeline.env.defer(() => runtime.close());
  return runtime;
}

describe.each([
  { platform: 'tiktok' as const, idField: 'id' },
  { platform: 'shopee' as const, idField: 'order_sn' },
])('$platform token refresh', ({ platform, idField }) => {
  const refreshEndpoint = FAKE_ENDPOINTS[platform].tokenRefresh;

  it('issue 10 #8: token refresh races between processes', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop(platform);
    const ids = pipeline.fake
      .seedOrders(platform, shopId, 3, () => ({ order_status: 'READY_TO_SHIP' }))
      .map((order) => String(order[idField]));
    // The marketplace expired the token, and our stored copy says so too: both processes refresh at once.
    const issued = pipeline.fake.shop(platform, shopId);
    await pipeline.runtime.shops.saveTokens(platform, shopId, {
      access_token: issued.accessToken,
      refresh_token: issued.refreshToken,
      access_token_expires_at: new Date(Date.now() - 60_000),
    });
    pipeline.fake.knobs.expireAccessToken(platform, shopId);
    const other = await otherProcess(pipeline);
    pipeline.fake.calls.reset();

    const results = await Promise.allSettled(
      [pipeline.runtime, other].map(async (runtime) => {
        const shop = (await runtime.shops.get(platform, shopId))!;
        return detailsOrThrow(runtime.adapters[platform]!.getDetails(shop, 'order', ids));
      }),
    );

    expect(
      // A failure shows its error, not just "rejected".
      results.map((result) =>
        result.status === 'fulfilled' ? result.value.length : (result.reason as unknown),
      ),
    ).toEqual([3, 3]);
    expect(pipeline.fake.calls.count({ endpoint: refreshEndpoint })).toBe(1);
    const rotated = pipeline.fake.shop(platform, shopId);
    expect(rotated.refreshToken).not.toBe(issued.refreshToken);
    expect(await pipeline.runtime.shops.get(platform, shopId)).toMatchObject({
      access_token: rotated.accessToken,
      refresh_token: rotated.refreshToken,
    });
  });
});
