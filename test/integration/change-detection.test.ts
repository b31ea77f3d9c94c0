/**
 * Issue 11 #1, #2: changes a marketplace makes without moving `update_time` (its version, in
 * seconds) still reach MongoDB and downstream — and a refetch of the same content writes and
 * notifies nothing. Real Redis, the harness MongoDB, the fake marketplace, a real worker.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { fieldsToRecord } from '../../src/shared/stream.js';
import { FAKE_ENDPOINTS, type Json } from '../support/fake-marketplace/index.js';
import { createPipeline, orderEvent, type Pipeline } from '../support/pipeline.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

/** The orders' change notifications (shipped orders also bring their tracking's: not the subject here). */
async function changes(pipeline: Pipeline): Promise<Record<string, string>[]> {
  const entries = await pipeline.env.redis().xrange(pipeline.env.config.changesStreamKey, '-', '+');
  return entries.map(([, fields]) => fieldsToRecord(fields)).filter((change) => change.kind === 'order');
}

describe('issue 11: same-second changes', () => {
  it('issue 11 #1: a second change in the same second is lost for good — an order paid in the second it was created ends AWAITING_SHIPMENT with two notifications', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const [created] = pipeline.fake.seedOrders('tiktok', shopId, 1, () => ({ status: 'UNPAID' })) as [Json];
    await pipeline.startWorker();
    await pipeline.enqueue([orderEvent('tiktok', shopId, created, { event_id: 'created' })]);
    await pipeline.drained();

    // Paid within the same second: same update_time, new status, and its own webhook.
    const paid = { ...created, status: 'AWAITING_SHIPMENT' };
    pipeline.fake.putOrders('tiktok', shopId, [paid]);
    await pipeline.enqueue([orderEvent('tiktok', shopId, paid, { event_id: 'paid' })]);
    await pipeline.drained();

    const { db } = await pipeline.env.mongo();
    expect(await db.collection('orders').findOne({ order_id: created.id })).toMatchObject({
      version: created.update_time,
      status: 'AWAITING_SHIPMENT',
    });
    expect(await changes(pipeline)).toEqual([
      expect.objectContaining({ entity_id: created.id, change: 'inserted' }),
      expect.objectContaining({
        entity_id: created.id,
        change: 'updated',
        version: String(created.update_time),
      }),
    ]);
  });

  it('issue 11 #2: equal version, new content is never written — a tracking-number push at an unchanged update_time stores the tracking number', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const [shipped] = pipeline.fake.seedOrders('shopee', shopId, 1, () => ({
      order_status: 'SHIPPED',
      tracking_no: undefined,
    })) as [Json];
    await pipeline.startWorker();
    await pipeline.enqueue([orderEvent('shopee', shopId, shipped, { event_id: 'status' })]);
    await pipeline.drained();
    const { db } = await pipeline.env.mongo();
    expect(await db.collection('orders').findOne({ order_id: shipped.order_sn })).toMatchObject({
      tracking_number: null,
    });

    // The carrier assigns a tracking number; the order's update_time does not move.
    pipeline.fake.putOrders('shopee', shopId, [{ ...shipped, tracking_no: 'SPXVN0123456789' }]);
    await pipeline.enqueue([
      orderEvent('shopee', shopId, shipped, { version: 0, event_type: '4', event_id: 'tracking' }),
    ]);
    await pipeline.drained();
    expect(await db.collection('orders').findOne({ order_id: shipped.order_sn })).toMatchObject({
      version: shipped.update_time,
      tracking_number: 'SPXVN0123456789',
    });
    expect((await changes(pipeline)).map((c) => c.change)).toEqual(['inserted', 'updated']);
  });

  it('a repeated webhook at the stored version refetches but writes and notifies nothing; reconcile at that version costs no call', async () => {
    p = await createPipeline();
    const pipeline = p;
    const shopId = await pipeline.addShop('tiktok');
    const orders = pipeline.fake.seedOrders('tiktok', shopId, 60);
    await pipeline.startWorker();
    await pipeline.enqueue(orders.map((o) => orderEvent('tiktok', shopId, o)));
    await pipeline.drained();
    expect(await changes(pipeline)).toHaveLength(60);

    pipeline.fake.calls.reset();
    await pipeline.enqueue(
      orders.map((o) => orderEvent('tiktok', shopId, o, { event_id: `again-${String(o.id)}` })),
    );
    await pipeline.drained();
    // Each order fetched once more, nothing written, nothing notified.
    const requested = pipeline.fake.calls.ids({ endpoint: FAKE_ENDPOINTS.tiktok.orderDetail }).flat();
    expect(requested.sort()).toEqual(orders.map((o) => String(o.id)).sort());
    expect(await changes(pipeline)).toHaveLength(60);

    pipeline.fake.calls.reset();
    await pipeline.enqueue(orders.map((o) => orderEvent('tiktok', shopId, o, { source: 'reconcile' })));
    await pipeline.drained();
    expect(pipeline.fake.calls.count()).toBe(0);
    expect(await changes(pipeline)).toHaveLength(60);
  });
});
