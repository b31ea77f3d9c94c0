/**
 * Tracking end to end through the real worker against the fake marketplace: an order webhook on
 * its way stores the order's tracking (its follow-up), delivery makes it final, and a later order
 * event for a delivered order with final tracking calls nothing (calls counted at the fake). One
 * Shopee order with two packages gives two documents under one order id. Reconcile lists the
 * orders not delivered yet.
 */
import { afterEach, describe, expect, it } from 'vitest';

import type { TrackingDocument } from '../../src/shared/documents.js';
import { fieldsToRecord } from '../../src/shared/stream.js';
import { FAKE_ENDPOINTS, type Json } from '../support/fake-marketplace/index.js';
import { createPipeline, orderEvent, reconcilerFor, type Pipeline } from '../support/pipeline.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

async function tracking(pipeline: Pipeline) {
  const { db } = await pipeline.env.mongo();
  return db.collection<TrackingDocument>('tracking');
}

async function trackingChanges(pipeline: Pipeline): Promise<Record<string, string>[]> {
  const entries = await pipeline.env.redis().xrange(pipeline.env.config.changesStreamKey, '-', '+');
  return entries.map(([, fields]) => fieldsToRecord(fields)).filter((c) => c.kind === 'tracking');
}

describe('tracking', () => {
  it('TikTok: an order in transit stores its tracking; delivered makes it final; then no more calls', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const t0 = nowSeconds() - 7200;
    const [order] = pipeline.fake.seedOrders('tiktok', shopId, 1, () => ({
      status: 'IN_TRANSIT',
      update_time: t0,
      tracking_number: '9400111899223344556677',
    })) as [Json];
    const orderId = String(order.id);
    pipeline.fake.addTrackingEvents('tiktok', shopId, orderId, [
      { time: t0 - 3600, description: 'Shipping label created' },
      { time: t0, description: 'In transit' },
    ]);
    const trackingCalls = () =>
      pipeline.fake.calls.count({ shopId, endpoint: FAKE_ENDPOINTS.tiktok.tracking, succeeded: true });
    await pipeline.startWorker();

    await pipeline.enqueue([orderEvent('tiktok', shopId, order)]);
    await pipeline.drained();
    const collection = await tracking(pipeline);
    const first = await collection.findOne({ order_id: orderId });
    expect(first).toMatchObject({
      platform: 'tiktok',
      shop_id: shopId,
      package_id: '',
      status: 'IN_TRANSIT',
      is_final: false,
      version: t0,
      sync_source: 'webhook',
      tracking_number: '9400111899223344556677',
    });
    expect(first?.events.map((e) => e.description)).toEqual(['In transit', 'Shipping label created']);
    expect(first?.events[0]?.time).toMatch(/\+07:00$/);
    expect(trackingCalls()).toBe(1);

    // The carrier delivers; the order says so.
    const t1 = t0 + 3600;
    pipeline.fake.addTrackingEvents('tiktok', shopId, orderId, [{ time: t1, description: 'Delivered' }]);
    const delivered = { ...order, status: 'DELIVERED', update_time: t1 };
    pipeline.fake.putOrders('tiktok', shopId, [delivered]);
    await pipeline.enqueue([orderEvent('tiktok', shopId, delivered)]);
    await pipeline.drained();
    expect(await collection.findOne({ order_id: orderId })).toMatchObject({
      status: 'DELIVERED',
      is_final: true,
      version: t1,
    });
    expect(trackingCalls()).toBe(2);

    // Completed later: the order is written (and announces its tracking), but the stored
    // tracking is final: no tracking call.
    const completed = { ...delivered, status: 'COMPLETED', update_time: t1 + 86_400 };
    pipeline.fake.putOrders('tiktok', shopId, [completed]);
    await pipeline.enqueue([orderEvent('tiktok', shopId, completed)]);
    await pipeline.drained();
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('orders').findOne({ order_id: orderId })).toMatchObject({
      status: 'COMPLETED',
    });
    expect(trackingCalls()).toBe(2);
    expect(await collection.countDocuments()).toBe(1);
    expect((await trackingChanges(pipeline)).map((c) => c.change)).toEqual(['inserted', 'updated']);
  });

  it('Shopee: one order, two packages, two documents under one order id; final ones are not fetched again', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const t0 = nowSeconds() - 7200;
    const packages = ['OFG200000000001', 'OFG200000000002'];
    const [order] = pipeline.fake.seedOrders('shopee', shopId, 1, () => ({
      order_status: 'SHIPPED',
      update_time: t0,
      package_list: packages.map((number) => ({
        package_number: number,
        logistics_status: 'LOGISTICS_PICKUP_DONE',
      })),
    })) as [Json];
    const orderSn = String(order.order_sn);
    for (const [i, packageNumber] of packages.entries()) {
      pipeline.fake.addTrackingEvents(
        'shopee',
        shopId,
        orderSn,
        [
          { time: t0 - 600, description: 'Picked up', status: 'PICKED_UP' },
          { time: t0 + i, description: 'In transit', status: 'DELIVERY_PENDING' },
        ],
        { packageNumber },
      );
    }
    const trackingCalls = () =>
      pipeline.fake.calls.count({ shopId, endpoint: FAKE_ENDPOINTS.shopee.trackingInfo, succeeded: true });
    await pipeline.startWorker();

    await pipeline.enqueue([orderEvent('shopee', shopId, order)]);
    await pipeline.drained();
    const collection = await tracking(pipeline);
    const docs = await collection.find({ order_id: orderSn }).sort({ package_id: 1 }).toArray();
    expect(docs.map((d) => [d.package_id, d.status, d.is_final, d.version])).toEqual([
      [packages[0], 'DELIVERY_PENDING', false, t0],
      [packages[1], 'DELIVERY_PENDING', false, t0 + 1],
    ]);
    expect(trackingCalls()).toBe(2);
    // One notification for the order's tracking, whatever number of packages.
    expect(await trackingChanges(pipeline)).toHaveLength(1);

    // Both packages delivered; the order moves to TO_CONFIRM_RECEIVE.
    const t1 = t0 + 3600;
    for (const packageNumber of packages) {
      pipeline.fake.addTrackingEvents(
        'shopee',
        shopId,
        orderSn,
        [{ time: t1, description: 'Delivered', status: 'DELIVERED' }],
        { packageNumber, logisticsStatus: 'LOGISTICS_DELIVERY_DONE' },
      );
    }
    const received = { ...order, order_status: 'TO_CONFIRM_RECEIVE', update_time: t1 };
    pipeline.fake.putOrders('shopee', shopId, [received]);
    await pipeline.enqueue([orderEvent('shopee', shopId, received)]);
    await pipeline.drained();
    expect(
      (await collection.find({ order_id: orderSn }).toArray()).map((d) => [d.status, d.is_final]),
    ).toEqual([
      ['DELIVERED', true],
      ['DELIVERED', true],
    ]);
    expect(trackingCalls()).toBe(4);

    const completed = { ...received, order_status: 'COMPLETED', update_time: t1 + 86_400 };
    pipeline.fake.putOrders('shopee', shopId, [completed]);
    await pipeline.enqueue([orderEvent('shopee', shopId, completed)]);
    await pipeline.drained();
    expect(trackingCalls()).toBe(4);
    expect(await collection.countDocuments()).toBe(2);
  });

  it('reconcile lists the orders in transit (both platforms) and stores their tracking', async () => {
    p = await createPipeline();
    const pipeline = p;
    const tiktokShop = await pipeline.addShop('tiktok');
    const shopeeShop = await pipeline.addShop('shopee');
    const fresh = nowSeconds() - 60;
    const [inTransit] = pipeline.fake.seedOrders('tiktok', tiktokShop, 2, (i) => ({
      status: i === 0 ? 'IN_TRANSIT' : 'AWAITING_SHIPMENT',
      update_time: fresh,
      create_time: fresh - 3600,
    })) as [Json];
    pipeline.fake.addTrackingEvents('tiktok', tiktokShop, String(inTransit.id), [
      { time: fresh - 30, description: 'In transit' },
    ]);
    const [shipped] = pipeline.fake.seedOrders('shopee', shopeeShop, 2, (i) => ({
      order_status: i === 0 ? 'SHIPPED' : 'READY_TO_SHIP',
      update_time: fresh,
      create_time: fresh - 3600,
    })) as [Json];
    await pipeline.startWorker();

    const summary = await reconcilerFor(pipeline).run({
      trigger: 'cli',
      mode: { type: 'today' },
      kinds: ['tracking'],
    });
    expect(summary).toMatchObject({ status: 'succeeded', listed: 2, enqueued: 2 });
    await pipeline.drained();

    const collection = await tracking(pipeline);
    expect(await collection.findOne({ order_id: String(inTransit.id) })).toMatchObject({
      status: 'IN_TRANSIT',
      sync_source: 'reconcile',
      is_final: false,
    });
    const shopee = await collection.findOne({ order_id: String(shipped.order_sn) });
    // Asked per package, named by get_order_detail's package_list.
    const [shippedPackage] = shipped.package_list as Json[];
    expect(shopee).toMatchObject({ package_id: shippedPackage!.package_number, sync_source: 'reconcile' });
    expect(await collection.countDocuments()).toBe(2);
    expect(pipeline.fake.calls.count({ endpoint: FAKE_ENDPOINTS.tiktok.tracking })).toBe(1);
    expect(pipeline.fake.calls.count({ endpoint: FAKE_ENDPOINTS.shopee.trackingInfo })).toBe(1);
  });

  it('Shopee tracking listed over more than 15 days covers every get_order_list window, not only the first', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    // 20 days: windows of 15 and 5 days, a shipped order in each.
    const unix = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);
    const times = [unix('2026-11-02T10:00:00+07:00'), unix('2026-11-19T10:00:00+07:00')];
    const orders = pipeline.fake.seedOrders('shopee', shopId, 2, (i) => ({
      order_status: 'SHIPPED',
      update_time: times[i],
      create_time: times[i]! - 3600,
    }));
    const adapter = pipeline.runtime.adapters.shopee!;
    const shop = pipeline.fake.toShop('shopee', shopId);
    const listed: string[] = [];
    const from = new Date('2026-11-01T00:00:00+07:00');
    const to = new Date('2026-11-21T00:00:00+07:00');
    for await (const page of adapter.listUpdated(shop, 'tracking', from, to))
      listed.push(...page.map((e) => e.id));
    expect(listed.sort()).toEqual(orders.map((o) => String(o.order_sn)).sort());
  });
});
