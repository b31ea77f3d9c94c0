/** Test helper: the objects of a detail fetch, or the first failed call's error thrown. */
import type { DetailResult } from '../../src/marketplaces/types.js';

export async function detailsOrThrow(pending: Promise<DetailResult>): Promise<unknown[]> {
  const result = await pending;
  if (result.failures.length > 0) throw result.failures[0]!.error;
  return result.objects;
}
