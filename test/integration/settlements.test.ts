/**
 * Settlements end to end: a backfill of `--kind settlement` against the fake marketplace, drained
 * by the real worker, stores exactly the settlements the fake holds (TikTok 202309 for a US shop,
 * 202501 for an SG one; Shopee escrow releases enriched from get_escrow_detail_batch), with
 * calls within the documented limits, and a second run writes nothing.
 */
import { Decimal128 } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';

import type { ShopeeAdapter } from '../../src/marketplaces/shopee/adapter.js';
import type { TikTokAdapter } from '../../src/marketplaces/tiktok/adapter.js';
import {
  SHOPEE_FINANCE_ENDPOINTS,
  TIKTOK_FINANCE_ENDPOINTS,
  type Json,
} from '../support/fake-marketplace/index.js';
import { createPipeline, reconcilerFor, runCli, type Pipeline } from '../support/pipeline.js';

let p: Pipeline | undefined;
afterEach(async () => {
  await p?.cleanup();
  p = undefined;
});

const unix = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);
const DAYS = ['2026-11-18', '2026-11-19', '2026-11-20'];
/** TikTok generates the previous day's statement at 00:00 UTC: 07:00 in Ho Chi Minh City. */
const statementTimes = DAYS.map((day) => unix(`${day}T07:00:00+07:00`));

const text = (value: unknown) => (value instanceof Decimal128 ? value.toString() : value);

describe('settlements', () => {
  it('a backfill of 3 days for 2 shops per platform stores exactly what the fake holds; a second run writes 0', async () => {
    p = await createPipeline({ BATCH_SIZE: '500' });
    const pipeline = p;
    const us = await pipeline.addShop('tiktok', undefined, { region: 'US' });
    const sg = await pipeline.addShop('tiktok', undefined, { region: 'SG' });
    const shopeeA = await pipeline.addShop('shopee');
    const shopeeB = await pipeline.addShop('shopee');

    // 120 transactions on one statement: two pages of 100.
    const usTx = pipeline.fake.seedStatements(us, statementTimes, 40);
    const sgTx = [
      ...pipeline.fake.seedStatements(sg, statementTimes.slice(0, 2), 10),
      ...pipeline.fake.seedStatements(sg, statementTimes.slice(2), 120),
    ];
    // 70 releases on one day: two detail batches; one order released twice is two documents.
    const releasesOf = (day: string, count: number) =>
      Array.from({ length: count }, (_, i) => unix(`${day}T09:00:00+07:00`) + i * 60);
    const escrowsA = pipeline.fake.seedEscrows(
      shopeeA,
      DAYS.flatMap((day) => releasesOf(day, 5)),
    );
    const escrowsB = pipeline.fake.seedEscrows(shopeeB, [
      ...releasesOf(DAYS[0]!, 70),
      ...releasesOf(DAYS[1]!, 1),
    ]);
    // Outside the backfill: not listed.
    pipeline.fake.seedEscrows(shopeeB, [unix('2026-11-21T09:00:00+07:00')]);
    pipeline.fake.seedStatements(us, [unix('2026-11-21T07:00:00+07:00')], 3);

    const mode = { type: 'days' as const, firstDay: DAYS[0]!, lastDay: DAYS[2]! };
    const first = await reconcilerFor(pipeline).run({ trigger: 'cli', mode, kinds: ['settlement'] });
    expect(first).toMatchObject({ status: 'succeeded', listed: 346, enqueued: 346 });
    // One worker read (BATCH_SIZE 500) takes every entry: the fewest detail calls possible.
    await pipeline.startWorker();
    await pipeline.drained();

    const { db } = await pipeline.env.mongo();
    const settlements = db.collection('settlements');
    const stored = async (shopId: string): Promise<unknown[][]> =>
      (await settlements.find({ shop_id: shopId }).toArray()).map((d): unknown[] => [
        d.settlement_id,
        text(d.settlement_amount),
        d.statement_id,
        d.is_valid,
      ]);
    const sorted = (rows: unknown[][]) => rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    for (const [shopId, transactions, version] of [
      [us, usTx, '202309'],
      [sg, sgTx, '202501'],
    ] as const) {
      expect(sorted(await stored(shopId))).toEqual(
        sorted(
          transactions.map((t) => [t.transaction.id, t.transaction.settlement_amount, t.statementId, true]),
        ),
      );
      expect(await settlements.countDocuments({ shop_id: shopId, api_version: { $ne: version } })).toBe(0);
    }
    for (const [shopId, escrows] of [
      [shopeeA, escrowsA],
      [shopeeB, escrowsB],
    ] as const) {
      const expected = escrows.map(({ row }: { row: Json }) => [
        `${String(row.order_sn)}:${String(row.escrow_release_time)}`,
        String(row.payout_amount),
        null,
        true,
      ]);
      expect(sorted(await stored(shopId))).toEqual(sorted(expected));
    }

    // The calls the limits allow: 202309 only for the US shop, 202501 only for the SG one, and
    // Σ ceil(missing / 50) detail batches (15 and 71 releases), none above 50 orders.
    const { calls } = pipeline.fake;
    expect(calls.count({ endpoint: TIKTOK_FINANCE_ENDPOINTS.transactions202309, shopId: sg })).toBe(0);
    expect(calls.count({ endpoint: TIKTOK_FINANCE_ENDPOINTS.transactions202501, shopId: us })).toBe(0);
    expect(calls.count({ platform: 'tiktok', succeeded: false })).toBe(0);
    const batches = calls.ids({ endpoint: SHOPEE_FINANCE_ENDPOINTS.escrowDetailBatch });
    for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(50);
    expect(calls.count({ endpoint: SHOPEE_FINANCE_ENDPOINTS.escrowDetailBatch, shopId: shopeeA })).toBe(1);
    expect(calls.count({ endpoint: SHOPEE_FINANCE_ENDPOINTS.escrowDetailBatch, shopId: shopeeB })).toBe(2);
    expect(calls.count({ platform: 'shopee', succeeded: false })).toBe(0);

    // Stored as the documents say: Decimal128, ISO times with the offset, a fee breakdown.
    const one = await settlements.findOne({ shop_id: us });
    expect(one?.settlement_amount).toBeInstanceOf(Decimal128);
    expect(one?.release_time).toMatch(/^2026-11-1[89]T07:00:00\+07:00$|^2026-11-20T07:00:00\+07:00$/);
    expect((one?.fee_breakdown as Json).platform_commission_amount).toBeInstanceOf(Decimal128);

    // Again, through the CLI: everything listed again, nothing fetched, nothing written.
    calls.reset();
    const changes = pipeline.env.config.changesStreamKey;
    const notified = await pipeline.env.redis().xlen(changes);
    const again = await runCli(
      pipeline,
      'reconcile',
      'run',
      '--from',
      DAYS[0]!,
      '--to',
      DAYS[2]!,
      '--kind',
      'settlement',
    );
    expect(again.code).toBe(0);
    await pipeline.drained();
    expect(await pipeline.env.redis().xlen(changes)).toBe(notified);
    expect(calls.count({ endpoint: SHOPEE_FINANCE_ENDPOINTS.escrowDetailBatch })).toBe(0);
    expect(calls.count({ endpoint: TIKTOK_FINANCE_ENDPOINTS.statements })).toBeGreaterThan(0);
    expect(await settlements.countDocuments()).toBe(
      usTx.length + sgTx.length + escrowsA.length + escrowsB.length,
    );
  });

  it('a failed get_escrow_detail_batch call fails only its own releases', async () => {
    p = await createPipeline({ BATCH_SIZE: '500' });
    const pipeline = p;
    const shopId = await pipeline.addShop('shopee');
    const escrows = pipeline.fake.seedEscrows(
      shopId,
      Array.from({ length: 70 }, (_, i) => unix('2026-11-18T09:00:00+07:00') + i * 60),
    );
    const first = String(escrows[0]!.row.order_sn);
    // The batch asking for the first order is refused (HTTP 400: not retryable).
    pipeline.fake.knobs.failNext(
      { status: 400 },
      { endpoint: SHOPEE_FINANCE_ENDPOINTS.escrowDetailBatch, id: first },
    );
    const run = await reconcilerFor(pipeline).run({
      trigger: 'cli',
      mode: { type: 'days', firstDay: '2026-11-18', lastDay: '2026-11-18' },
      kinds: ['settlement'],
    });
    expect(run.enqueued).toBe(70);
    await pipeline.startWorker();
    await pipeline.drained();

    const { db } = await pipeline.env.mongo();
    const refused = pipeline.fake.calls.ids({
      endpoint: SHOPEE_FINANCE_ENDPOINTS.escrowDetailBatch,
      status: 400,
    });
    expect(refused).toHaveLength(1);
    expect(refused[0]).toHaveLength(50);
    expect(refused[0]).toContain(first);
    const storedIds = (await db.collection('settlements').find({ shop_id: shopId }).toArray()).map((d) =>
      String(d.order_id),
    );
    expect(storedIds).toHaveLength(20);
    expect(storedIds.filter((sn) => refused[0]!.includes(sn))).toEqual([]);
    const failed = await db.collection('sync_failures').find({ kind: 'settlement' }).toArray();
    expect(failed).toHaveLength(50);
    expect(new Set(failed.map((f) => String(f.entity_id).split(':')[0]))).toEqual(new Set(refused[0]));
  });

  it('the fake enforces the published limits: 50 orders a detail batch, 15-day escrow windows, 202309 for US/UK only', async () => {
    p = await createPipeline();
    const pipeline = p;
    const sg = await pipeline.addShop('tiktok', undefined, { region: 'SG' });
    const shopee = await pipeline.addShop('shopee');
    const adapters = pipeline.runtime.adapters as { shopee?: ShopeeAdapter; tiktok?: TikTokAdapter };
    const shopeeShop = pipeline.fake.toShop('shopee', shopee);
    const sgShop = pipeline.fake.toShop('tiktok', sg);
    const shopeeClient = adapters.shopee!.client;
    const tiktokClient = adapters.tiktok!.client;

    await expect(
      shopeeClient.request(
        shopeeShop,
        'get_escrow_detail_batch',
        SHOPEE_FINANCE_ENDPOINTS.escrowDetailBatch,
        {},
        {
          order_sn_list: Array.from({ length: 51 }, (_, i) => `SN${i}`),
        },
      ),
    ).rejects.toThrow(/exceed_max_limit/);
    await expect(
      shopeeClient.request(shopeeShop, 'get_escrow_list', SHOPEE_FINANCE_ENDPOINTS.escrowList, {
        release_time_from: '1790000000',
        release_time_to: String(1_790_000_000 + 15 * 86_400 + 1),
      }),
    ).rejects.toMatchObject({ code: 'ERR_MARKETPLACE_REJECTED' });
    const [statement] = pipeline.fake.seedStatements(sg, [statementTimes[0]!], 1);
    await expect(
      tiktokClient.request(
        sgShop,
        'get_statement_transactions',
        'GET',
        `/finance/202309/statements/${statement!.statementId}/statement_transactions`,
        { sort_field: 'order_create_time' },
      ),
    ).rejects.toThrow(/UK and US/);
  });
});
