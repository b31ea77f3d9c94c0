/**
 * The sandbox scenario gives shipped orders carrier scans at the fake marketplace, so the
 * tracking the service fetches in `market-ingest sandbox` has events: each scan belongs to an
 * order the scenario moved into a shipped or delivered status, with the platform's shape.
 */
import { describe, expect, it } from 'vitest';

import { ENTITY_RULES } from '../../src/sandbox/entities.js';
import type { FakeTrackingEvent, TrackingEventsInit } from '../../src/sandbox/marketplace/index.js';
import type { FakePlatform, Json } from '../../src/sandbox/marketplace/state.js';
import { createScenario, type ScenarioMarketplace } from '../../src/sandbox/scenario.js';
import { SANDBOX_SHOPS } from '../../src/sandbox/simulator.js';

interface Scan {
  platform: FakePlatform;
  orderId: string;
  events: readonly FakeTrackingEvent[];
  init: TrackingEventsInit | undefined;
}

describe('sandbox scenario: carrier scans', () => {
  it('scans orders as they ship and arrive, with Shopee event statuses and package numbers', () => {
    const orders = new Map<string, Json>();
    const scans: Scan[] = [];
    const marketplace: ScenarioMarketplace = {
      putOrders: (platform, _shop, list) =>
        list.map((order) => {
          const id = ENTITY_RULES[platform].orderId(order);
          orders.set(`${platform}:${id}`, order);
          return id;
        }),
      putReturns: () => [],
      putProducts: () => [],
      addTrackingEvents: (platform, _shop, orderId, events, init) => {
        scans.push({ platform, orderId, events, init });
      },
    };
    const scenario = createScenario({
      marketplace,
      shops: SANDBOX_SHOPS,
      seed: 3,
      now: () => 1_800_000_000_000,
    });
    for (let i = 0; i < 600; i++) scenario.next();

    for (const platform of ['tiktok', 'shopee'] as const) {
      expect(scans.filter((s) => s.platform === platform).length).toBeGreaterThan(0);
    }
    for (const scan of scans) {
      const order = orders.get(`${scan.platform}:${scan.orderId}`)!;
      const status = ENTITY_RULES[scan.platform].orderStatus(order);
      const [event] = scan.events;
      if (scan.platform === 'tiktok') {
        expect(['IN_TRANSIT', 'DELIVERED', 'COMPLETED']).toContain(status);
        expect(event?.status).toBeUndefined();
      } else {
        expect(['SHIPPED', 'TO_CONFIRM_RECEIVE', 'COMPLETED']).toContain(status);
        expect(['PICKED_UP', 'DELIVERED']).toContain(event?.status);
        expect(scan.init?.packageNumber).toMatch(/^OFG/);
      }
    }
  });
});
