/**
 * What the mapper tests share: a recorded marketplace object from test/fixtures/marketplaces/,
 * and the input a mapper is given (shop and MappingContext) at fixed instants.
 */
import { readFileSync } from 'node:fs';

import type { MapInput } from '../../src/marketplaces/mapping.js';
import type { MappingContext } from '../../src/marketplaces/types.js';

export type Json = Record<string, unknown>;

/** test/fixtures/marketplaces/<name>.json, parsed. */
export function marketplaceFixture<T = Json>(name: string): T {
  const url = new URL(`../fixtures/marketplaces/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

/** A mapper's input for shop 7495001 in +07:00, fetched and synced at the given instants. */
export function mappingInput(
  source: MappingContext['source'],
  fetchedAt: string,
  syncedAt: string,
): MapInput {
  const context: MappingContext = {
    timezoneOffset: '+07:00',
    source,
    fetchedAt: new Date(fetchedAt),
    syncedAt: new Date(syncedAt),
  };
  return { shopId: '7495001', context };
}
