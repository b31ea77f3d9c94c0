/** Small helpers for bounded concurrent work, shared by the marketplace clients and the worker. */

/** One item's outcome in `mapSettled`. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * `work` over `items` with at most `limit` in flight; results in input order. The first failure
 * rejects (remaining items are not started).
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let failed = false;
  await runLanes(
    items.length,
    limit,
    async (index) => {
      try {
        results[index] = await work(items[index]!, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    },
    () => failed,
  );
  return results;
}

/**
 * `work` over `items` with at most `limit` in flight; every item runs, and each one's outcome
 * (value or error) is returned in input order. Never rejects: one failure is only its own item's.
 */
export async function mapSettled<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<Settled<R>[]> {
  const results = new Array<Settled<R>>(items.length);
  await runLanes(items.length, limit, async (index) => {
    try {
      results[index] = { ok: true, value: await work(items[index]!, index) };
    } catch (error) {
      results[index] = { ok: false, error };
    }
  });
  return results;
}

/** Runs `run(0 … count-1)` on at most `limit` lanes, each taking the next index until `stop()`. */
async function runLanes(
  count: number,
  limit: number,
  run: (index: number) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (!stop() && next < count) await run(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, lane));
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}
