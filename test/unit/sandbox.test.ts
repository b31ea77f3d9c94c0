/**
 * The sandbox's pure parts: the scenario (statuses follow the platforms' flows, versions only
 * grow, every webhook announces what the marketplace now holds and is one the service's own
 * handlers accept, duplicates are exact repeats), the sample bodies of `webhook send`, the
 * traffic loop's accounting, and the configuration that points the service at the simulator.
 */
import { describe, expect, it } from 'vitest';

import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch } from '../../src/cli/dispatch.js';
import { ENTITY_RULES, CANCELLED } from '../../src/sandbox/entities.js';
import type { FakePlatform, Json } from '../../src/sandbox/marketplace/state.js';
import { createScenario, type Delivery, type ScenarioMarketplace } from '../../src/sandbox/scenario.js';
import { sandboxConfig, SANDBOX_NAMES, SANDBOX_SHOPS } from '../../src/sandbox/simulator.js';
import { startTraffic } from '../../src/sandbox/traffic.js';
import { sampleWebhook, WEBHOOK_TYPES } from '../../src/sandbox/webhooks.js';
import { loadConfig } from '../../src/shared/config.js';
import { createShopeeWebhookHandler } from '../../src/marketplaces/shopee/webhook.js';
import { createTikTokWebhookHandler } from '../../src/marketplaces/tiktok/webhook.js';
import type { WebhookHandler } from '../../src/marketplaces/types.js';

const HANDLERS: Record<FakePlatform, WebhookHandler> = {
  tiktok: createTikTokWebhookHandler({ appKey: 'k', appSecret: 's' }),
  shopee: createShopeeWebhookHandler({ partnerKey: 'p', webhookUrl: undefined }),
};

/** The marketplace side the scenario writes to, keeping the latest object per entity. */
function recordingMarketplace() {
  const objects = new Map<string, Json>();
  const put =
    (kind: string, idOf: (platform: FakePlatform, object: Json) => string) =>
    (platform: FakePlatform, shopId: string, list: readonly Json[]) =>
      list.map((object) => {
        const id = idOf(platform, object);
        objects.set(`${platform}:${shopId}:${kind}:${id}`, object);
        return id;
      });
  const marketplace: ScenarioMarketplace = {
    putOrders: put('order', (p, o) => ENTITY_RULES[p].orderId(o)),
    putReturns: put('return', (p, r) => ENTITY_RULES[p].returnId(r)),
    putProducts: put('product', (p, o) => ENTITY_RULES[p].productId(o)),
  };
  return { marketplace, objects };
}

function runScenario(steps: number, now: () => number = () => 1_800_000_000_000) {
  const { marketplace, objects } = recordingMarketplace();
  const scenario = createScenario({ marketplace, shops: SANDBOX_SHOPS, seed: 7, now });
  const deliveries: { delivery: Delivery; held: Json | undefined }[] = [];
  for (let i = 0; i < steps; i++) {
    const delivery = scenario.next();
    const key = `${delivery.platform}:${delivery.shopId}:${delivery.kind}:${delivery.entityId}`;
    deliveries.push({ delivery, held: objects.get(key) });
  }
  return deliveries;
}

const statusOf = (platform: FakePlatform, kind: Delivery['kind'], object: Json) =>
  kind === 'order'
    ? ENTITY_RULES[platform].orderStatus(object)
    : kind === 'return'
      ? ENTITY_RULES[platform].returnStatus(object)
      : String(object.status);

describe('sandbox scenario', () => {
  // A frozen clock: versions must still grow when many changes fall in the same second.
  const deliveries = runScenario(800);
  const fresh = deliveries.filter(({ delivery }) => !delivery.duplicate);

  it("each webhook is one the service's handlers accept, about the entity it names", () => {
    for (const { delivery } of fresh) {
      const outcome = HANDLERS[delivery.platform].toStreamEntry(Buffer.from(delivery.body));
      expect(outcome.handled, delivery.body).toBe(true);
      if (!outcome.handled) continue;
      expect(outcome.event).toMatchObject({
        shop_id: delivery.shopId,
        kind: delivery.kind,
        entity_id: delivery.entityId,
        event_type: String(delivery.type),
      });
    }
  });

  it('announces what the marketplace holds at that moment', () => {
    for (const { delivery, held } of fresh) {
      expect(held, delivery.body).toBeDefined();
      if (delivery.change === 'tracking number') {
        expect(held!.tracking_no).toBe((JSON.parse(delivery.body) as { data: Json }).data.tracking_no);
        continue;
      }
      expect(statusOf(delivery.platform, delivery.kind, held!)).toBe(delivery.change);
      const data = (JSON.parse(delivery.body) as { data: Json }).data;
      expect(data.update_time).toBe(held!.update_time);
    }
  });

  it("moves orders and returns only along their platform's flow, with growing versions", () => {
    const last = new Map<string, { status: string; version: number }>();
    for (const { delivery, held } of fresh) {
      if (delivery.kind === 'product') continue;
      const rules = ENTITY_RULES[delivery.platform];
      const flow = delivery.kind === 'order' ? rules.orderFlow : rules.returnFlow;
      const key = `${delivery.platform}:${delivery.kind}:${delivery.entityId}`;
      const status = statusOf(delivery.platform, delivery.kind, held!);
      const version = Number(held!.update_time);
      const before = last.get(key);
      if (before) {
        expect(version, key).toBeGreaterThan(before.version);
        const allowed = [flow[flow.indexOf(before.status) + 1]];
        if (delivery.kind === 'order' && rules.cancellableFrom.has(before.status)) allowed.push(CANCELLED);
        if (delivery.change === 'tracking number') allowed.push(before.status);
        expect(allowed, `${key}: ${before.status} -> ${status}`).toContain(status);
      }
      last.set(key, { status, version });
    }
    // The run went somewhere: orders finished, got cancelled, got returned.
    const seen = new Set(
      fresh.map(({ delivery }) => `${delivery.platform} ${delivery.kind} ${delivery.change}`),
    );
    for (const expected of [
      'tiktok order COMPLETED',
      'tiktok order CANCELLED',
      'shopee order COMPLETED',
      'shopee order tracking number',
      'tiktok return RETURN_OR_REFUND_REQUEST_COMPLETE',
      'shopee return REFUND_PAID',
    ])
      expect(seen).toContain(expected);
    expect(fresh.some(({ delivery }) => delivery.kind === 'product')).toBe(true);
  });

  it('repeats every tenth webhook byte for byte', () => {
    const duplicates = deliveries.filter(({ delivery }) => delivery.duplicate);
    expect(duplicates).toHaveLength(deliveries.length / 10);
    deliveries.forEach(({ delivery }, index) => {
      if (!delivery.duplicate) return;
      const earlier = deliveries.slice(0, index).map((d) => d.delivery.body);
      expect(earlier).toContain(delivery.body);
    });
  });
});

describe('webhook send sample bodies', () => {
  for (const platform of ['tiktok', 'shopee'] as const) {
    for (const [type, name] of WEBHOOK_TYPES[platform]) {
      it(`${platform} ${type} (${name}) is handled as its kind`, () => {
        const body = sampleWebhook(platform, type, { at: 1_800_000_000, seed: type, partnerId: 42 });
        const outcome = HANDLERS[platform].toStreamEntry(Buffer.from(body));
        expect(outcome.handled).toBe(true);
        if (!outcome.handled) return;
        const kind = {
          1: 'order',
          11: 'order',
          3: 'order',
          4: 'order',
          12: 'return',
          29: 'return',
          5: 'product',
        }[type];
        expect(outcome.event.kind).toBe(kind ?? 'shop');
        expect(outcome.event.event_type).toBe(String(type));
      });
    }
  }

  it('makes a new event each time (no accidental duplicate)', () => {
    const a = sampleWebhook('shopee', 3, { at: 1_800_000_000, seed: 1 });
    const b = sampleWebhook('shopee', 3, { at: 1_800_000_000, seed: 2 });
    expect(a).not.toBe(b);
  });
});

describe('sandbox traffic', () => {
  it('counts every answer, injects one failure per 25 webhooks, and close() waits for those in flight', async () => {
    const { marketplace } = recordingMarketplace();
    const scenario = createScenario({ marketplace, shops: SANDBOX_SHOPS, seed: 3 });
    const injected: unknown[] = [];
    let answered = 0;
    const traffic = startTraffic({
      scenario,
      rate: 1000,
      tickMs: 5,
      injectFailure: (failure) => injected.push(failure),
      send: async (delivery) => {
        await new Promise((resolve) => setTimeout(resolve, 2));
        answered += 1;
        if (delivery.duplicate) return { status: 200, body: '{"ok":true,"duplicate":true}' };
        if (delivery.kind === 'return') return { status: 401, body: '{"error":{}}' };
        if (delivery.kind === 'product') throw new Error('connection reset');
        return { status: 200, body: '{"ok":true}' };
      },
    });
    while (traffic.counters().sent < 100) await new Promise((resolve) => setTimeout(resolve, 10));
    await traffic.close();
    const counters = traffic.counters();
    expect(answered).toBe(counters.sent);
    expect(counters.accepted + counters.duplicates + counters.refused + counters.unanswered).toBe(
      counters.sent,
    );
    expect(counters.duplicates).toBe(Math.floor(counters.sent / 10));
    expect(counters.refused).toBeGreaterThan(0);
    expect(counters.unanswered).toBeGreaterThan(0);
    expect(counters.failuresInjected).toBe(Math.floor(counters.sent / 25));
    expect(injected).toContainEqual({ status: 503 });
    expect(injected).toContainEqual({ status: 429, retryAfter: 1 });
    // Nothing more is sent after close().
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(traffic.counters().sent).toBe(counters.sent);
  });
});

describe('sandbox configuration', () => {
  const simulator = {
    credentials: {
      tiktok: { appKey: 'sim-key', appSecret: 'sim-secret' },
      shopee: { partnerId: 77, partnerKey: 'sim-partner', pushPartnerKey: 'sim-push' },
    },
    tiktokBaseUrl: 'http://127.0.0.1:1001',
    authBaseUrl: 'http://127.0.0.1:1002',
    shopeeBaseUrl: 'http://127.0.0.1:1003',
  };
  const real = {
    TIKTOK_APP_KEY: 'real-key',
    TIKTOK_APP_SECRET: 'real-secret',
    TIKTOK_API_BASE_URL: 'https://open-api.tiktokglobalshop.com',
    SHOPEE_PARTNER_ID: '123',
    SHOPEE_PARTNER_KEY: 'real-partner',
    SHOPEE_PUSH_PARTNER_KEY: 'real-push',
    SHOPEE_WEBHOOK_URL: 'https://real.example/webhooks/shopee',
  };
  const urls = { redisUrl: 'redis://127.0.0.1:1', mongoUrl: 'mongodb://127.0.0.1:2' };

  it('points both platforms at the simulator, ignoring the real credentials and callback URL', () => {
    const config = sandboxConfig(loadConfig(real), simulator, urls);
    expect(config.tiktok).toEqual({
      appKey: 'sim-key',
      appSecret: 'sim-secret',
      apiBaseUrl: 'http://127.0.0.1:1001',
      authBaseUrl: 'http://127.0.0.1:1002',
      rateLimitPerMinute: 600,
    });
    expect(config.shopee).toMatchObject({
      partnerId: 77,
      partnerKey: 'sim-partner',
      pushPartnerKey: 'sim-push',
      apiBaseUrl: 'http://127.0.0.1:1003',
      webhookUrl: undefined,
    });
    expect(JSON.stringify(config)).not.toMatch(/real-/);
    expect(config).toMatchObject(urls);
  });

  it("uses its own database and streams where the environment leaves the defaults, and the environment's otherwise", () => {
    expect(sandboxConfig(loadConfig({}), simulator, urls)).toMatchObject(SANDBOX_NAMES);
    const chosen = { MONGO_DB: 'mine', STREAM_KEY: 'mine:events', CONSUMER_GROUP: 'mine-workers' };
    expect(sandboxConfig(loadConfig(chosen), simulator, urls)).toMatchObject({
      mongoDb: 'mine',
      streamKey: 'mine:events',
      consumerGroup: 'mine-workers',
      changesStreamKey: SANDBOX_NAMES.changesStreamKey,
    });
  });
});

describe('sandbox --rate', () => {
  for (const rate of ['0', '-1', 'abc', '1001', '']) {
    it(`rejects --rate ${JSON.stringify(rate)} with exit 2`, async () => {
      let stderr = '';
      const code = await dispatch(COMMANDS, ['sandbox', `--rate=${rate}`], {
        stdout: () => undefined,
        stderr: (text) => (stderr += text),
        env: {},
        isTTY: false,
      });
      expect(code).toBe(2);
      expect(stderr).toMatch(/--rate must be a number of webhooks per second/);
    });
  }
});
