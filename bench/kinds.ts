/**
 * Phase 3 of the consumer benchmark: marketplace calls and MongoDB round trips PER KIND.
 *
 * For every kind of DETAIL_KINDS, in order: seed BENCH_KIND_OBJECTS objects per shop (one TikTok
 * and one Shopee shop) where the fake has a seeder for it, run `reconcile run --kind <kind>` over
 * one day (the same scheduler path as the CLI, so a kind's own lister is used), let the worker
 * drain it, and count what that took; then run it again over the unchanged fake.
 * Kinds without a seeder are still run and counted (whatever the fake holds for them, e.g. the
 * tracking of the orders seeded before): adding a kind to the fake adds one SEEDERS line here.
 *
 * Calls are counted at the fake (it records every request), by endpoint; MongoDB round trips by
 * a command-monitoring listener on the runtime's MongoClient, by target collection (the kind's own:
 * lookups of stored versions and bulk writes; the rest: sync_runs, checkpoints, shops, and what
 * follow-ups write, e.g. the tracking an order on its way brings).
 */
import type { CommandStartedEvent } from 'mongodb';

import { buildReconcileScheduler } from '../src/reconcile/main.js';
import type { ReconcileScheduler } from '../src/reconcile/scheduler.js';
import type { Runtime } from '../src/runtime.js';
import type { FakeMarketplace, FakePlatform, Json } from '../src/sandbox/marketplace/index.js';
import { KIND_STORAGE } from '../src/shared/documents.js';
import { DETAIL_KINDS, type DetailKind } from '../src/shared/stream.js';

type Seeder = (
  fake: FakeMarketplace,
  platform: FakePlatform,
  shopId: string,
  count: number,
  at: (index: number) => Json,
) => unknown;

/** How the fake is given objects of a kind; kinds absent here are measured on what it holds. */
const SEEDERS: Partial<Record<DetailKind, Seeder>> = {
  order: (fake, ...args) => fake.seedOrders(...args),
  return: (fake, ...args) => fake.seedReturns(...args),
  product: (fake, ...args) => fake.seedProducts(...args),
  // TikTok: statements of `count` transactions, one per hour; Shopee: one release per object.
  settlement: (fake, platform, shopId, count, at) => {
    const times = Array.from({ length: count }, (_, i) => Number(at(i).update_time));
    if (platform === 'tiktok') return fake.seedStatements(shopId, [times[0]!], count);
    return fake.seedEscrows(shopId, times);
  },
};

/** The one day every kind is listed over (TIMEZONE), and update times spread inside it. */
const DAY = '2026-11-18';
const DAY_START = Math.floor(new Date(`${DAY}T00:00:00+07:00`).getTime() / 1000);

export interface KindMeasure {
  kind: DetailKind;
  seeded: number;
  listed: number;
  stored: number;
  seconds: number;
  calls: Record<string, number>;
  /** MongoDB commands by target collection. */
  mongo: Record<string, number>;
  /** The same run again: what reconciling unchanged data costs. */
  again: { calls: number; mongo: Record<string, number>; written: number };
}

export interface KindBenchDeps {
  runtime: Runtime;
  fake: FakeMarketplace;
  shops: { platform: FakePlatform; shopId: string }[];
  objectsPerShop: number;
  drained: () => Promise<void>;
}

/** Counts MongoDB commands by target collection while attached. */
function mongoCounter(runtime: Runtime) {
  const byCollection = new Map<string, number>();
  const listener = (event: CommandStartedEvent) => {
    const target = (event.command as Record<string, unknown>)[event.commandName];
    const key = typeof target === 'string' ? target : `(${event.commandName})`;
    byCollection.set(key, (byCollection.get(key) ?? 0) + 1);
  };
  runtime.mongo.client.on('commandStarted', listener);
  return {
    reset: () => byCollection.clear(),
    snapshot: () => Object.fromEntries(byCollection),
    detach: () => runtime.mongo.client.off('commandStarted', listener),
  };
}

/** One `reconcile run --kind` over DAY, drained; the calls and round trips it took. */
async function runKind(
  deps: KindBenchDeps,
  scheduler: ReconcileScheduler,
  kind: DetailKind,
  mongo: ReturnType<typeof mongoCounter>,
) {
  const changesBefore = await deps.runtime.redis.xlen(deps.runtime.config.changesStreamKey);
  deps.fake.calls.reset();
  mongo.reset();
  const started = Date.now();
  const result = await scheduler.runExclusive({
    trigger: 'cli',
    mode: { type: 'days', firstDay: DAY, lastDay: DAY },
    kinds: [kind],
  });
  if (!result.ran) throw new Error(`bench: reconcile did not run: ${result.reason}`);
  await deps.drained();
  return {
    listed: result.summary.listed,
    seconds: (Date.now() - started) / 1000,
    calls: deps.fake.calls.byEndpoint(),
    totalCalls: deps.fake.calls.count(),
    mongo: mongo.snapshot(),
    written: (await deps.runtime.redis.xlen(deps.runtime.config.changesStreamKey)) - changesBefore,
  };
}

export async function measureKinds(deps: KindBenchDeps): Promise<KindMeasure[]> {
  const mongo = mongoCounter(deps.runtime);
  // One scheduler (it registers the reconcile metrics), as `reconcile run` builds it.
  const scheduler = buildReconcileScheduler(deps.runtime);
  const measures: KindMeasure[] = [];
  try {
    for (const kind of DETAIL_KINDS) {
      const seed = SEEDERS[kind];
      let seeded = 0;
      for (const { platform, shopId } of deps.shops) {
        if (!seed) continue;
        // Spread over the day, never at its last second (the window is [start, end)).
        seed(deps.fake, platform, shopId, deps.objectsPerShop, (i) => ({
          update_time: DAY_START + 60 + (i % 80_000),
        }));
        seeded += deps.objectsPerShop;
      }
      const first = await runKind(deps, scheduler, kind, mongo);
      const again = await runKind(deps, scheduler, kind, mongo);
      const stored = await deps.runtime.mongo.db.collection(KIND_STORAGE[kind].collection).countDocuments();
      measures.push({
        kind,
        seeded,
        listed: first.listed,
        stored,
        seconds: first.seconds,
        calls: first.calls,
        mongo: first.mongo,
        again: { calls: again.totalCalls, mongo: again.mongo, written: again.written },
      });
    }
  } finally {
    mongo.detach();
  }
  return measures;
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** "a 3, b 1", keys sorted. */
const breakdown = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, count]) => `${key} ${count}`)
    .join(', ');

/**
 * The phase's report lines: one block per kind. A phase counts everything its run caused,
 * follow-ups included (an order on its way brings its tracking), by endpoint and by collection.
 */
export function formatKindMeasures(measures: readonly KindMeasure[]): string[] {
  const lines: string[] = [];
  for (const m of measures) {
    const onOwn = m.mongo[KIND_STORAGE[m.kind].collection] ?? 0;
    const againOwn = m.again.mongo[KIND_STORAGE[m.kind].collection] ?? 0;
    lines.push(
      `  ${m.kind.padEnd(10)} seeded ${m.seeded}, listed ${m.listed}, stored ${m.stored} in ${m.seconds.toFixed(1)} s`,
      `    marketplace calls ${sum(m.calls)} (${breakdown(m.calls)})`,
      `    mongo round trips ${sum(m.mongo)}, ${onOwn} on ${KIND_STORAGE[m.kind].collection} (${breakdown(m.mongo)})`,
      `    again, unchanged: ${m.again.calls} calls, ${sum(m.again.mongo)} round trips (${againOwn} on ${KIND_STORAGE[m.kind].collection}), ${m.again.written} writes`,
    );
  }
  return lines;
}
