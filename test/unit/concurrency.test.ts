/**
 * mapSettled: bounded concurrency where one item's failure is only its own (the adapters settle
 * each marketplace call this way). Promises are released by hand, so nothing depends on timing.
 */
import { describe, expect, it } from 'vitest';

import { mapSettled } from '../../src/shared/concurrency.js';

interface Gate {
  promise: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('mapSettled', () => {
  it('returns every outcome in input order, failures beside successes', async () => {
    const boom = new Error('boom');
    const results = await mapSettled([1, 2, 3, 4], 2, (n) =>
      n % 2 === 0 ? Promise.reject(boom) : Promise.resolve(n * 10),
    );
    expect(results).toEqual([
      { ok: true, value: 10 },
      { ok: false, error: boom },
      { ok: true, value: 30 },
      { ok: false, error: boom },
    ]);
  });

  it('keeps starting items after a failure (unlike mapConcurrent)', async () => {
    const started: number[] = [];
    const results = await mapSettled([1, 2, 3, 4], 1, (n) => {
      started.push(n);
      return n === 1 ? Promise.reject(new Error('first')) : Promise.resolve(n);
    });
    expect(started).toEqual([1, 2, 3, 4]);
    expect(results.filter((r) => r.ok)).toHaveLength(3);
  });

  it('captures a synchronous throw as that item’s failure', async () => {
    const results = await mapSettled(['a', 'b'], 2, (item) => {
      if (item === 'a') throw new TypeError('sync');
      return Promise.resolve(item);
    });
    expect(results[0]).toMatchObject({ ok: false, error: expect.any(TypeError) as TypeError });
    expect(results[1]).toEqual({ ok: true, value: 'b' });
  });

  it('has at most `limit` items in flight, and starts the next as one finishes', async () => {
    const gates = Array.from({ length: 5 }, gate);
    const started: number[] = [];
    const pending = mapSettled(gates, 2, async (g, index) => {
      started.push(index);
      await g.promise;
      if (index === 0) throw new Error('released with a failure');
      return index;
    });

    await settle();
    expect(started).toEqual([0, 1]);
    gates[0]!.open();
    await settle();
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.open();

    const results = await pending;
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(results.map((r) => r.ok)).toEqual([false, true, true, true, true]);
  });

  it('answers an empty list with an empty list', async () => {
    await expect(mapSettled([], 4, () => Promise.resolve(1))).resolves.toEqual([]);
  });
});
