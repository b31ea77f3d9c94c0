/**
 * The dispatch over a platform's kind table: what the roles call (getDetails, listUpdated,
 * toDocument by kind) is the same for every platform and kind, so adding a kind is one file per
 * platform plus an entry in its table — never a branch in the worker or reconcile.
 */
import { AppError } from '../shared/errors.js';
import type { DetailKind, Platform } from '../shared/stream.js';
import type {
  DetailResult,
  KindAdapter,
  KindTable,
  ListedEntity,
  MappingContext,
  MarketplaceAdapter,
  Shop,
  WebhookKind,
} from './types.js';
import type { EntityDocument } from '../shared/documents.js';

const NO_HINTS: ReadonlyMap<string, string> = new Map();

function kindOf(platform: Platform, kinds: KindTable, kind: DetailKind): KindAdapter {
  const adapter = kinds[kind];
  if (!adapter) throw new AppError('ERR_PLATFORM_DISABLED', `${platform} does not sync ${kind}s`);
  return adapter;
}

/** The kind-dispatching part of a MarketplaceAdapter, over `kinds`. */
export function dispatchKinds(
  platform: Platform,
  kinds: KindTable,
): Pick<MarketplaceAdapter, 'kinds' | 'getDetails' | 'listUpdated' | 'toDocument'> {
  return {
    kinds,
    getDetails: async (shop, kind, ids, hints = NO_HINTS) =>
      kindOf(platform, kinds, kind).getDetails(shop, ids, hints),
    listUpdated(shop, kind, from, to) {
      const entry = kindOf(platform, kinds, kind);
      if (!entry.listUpdated)
        throw new AppError('ERR_PLATFORM_DISABLED', `${platform} cannot list ${kind}s by update time`);
      return entry.listUpdated(shop, from, to);
    },
    toDocument: (shop, kind, raw, context) => kindOf(platform, kinds, kind).toDocument(shop, raw, context),
  };
}

/** A platform client's per-id fetches and listing of orders, returns and products. */
export interface WebhookKindClient {
  getOrders(shop: Shop, ids: readonly string[]): Promise<DetailResult>;
  getReturns(shop: Shop, ids: readonly string[]): Promise<DetailResult>;
  /** `hints`: the stream payloads by id (TikTok: the search object of a deleted product). */
  getProducts(shop: Shop, ids: readonly string[], hints?: ReadonlyMap<string, string>): Promise<DetailResult>;
  listUpdated(shop: Shop, kind: WebhookKind, from: Date, to: Date): AsyncIterable<ListedEntity[]>;
}

/** The kind-table entries of orders, returns and products over a client and the platform's mapper. */
export function webhookKinds(
  client: WebhookKindClient,
  map: (kind: WebhookKind, shop: Shop, raw: unknown, context: MappingContext) => EntityDocument,
): Pick<Required<KindTable>, WebhookKind> {
  const entry = (kind: WebhookKind, fetch: WebhookKindClient['getProducts']): KindAdapter => ({
    getDetails: (shop, ids, hints) => fetch(shop, ids, hints),
    listUpdated: (shop, from, to) => client.listUpdated(shop, kind, from, to),
    toDocument: (shop, raw, context) => map(kind, shop, raw, context),
  });
  return {
    order: entry('order', (shop, ids) => client.getOrders(shop, ids)),
    return: entry('return', (shop, ids) => client.getReturns(shop, ids)),
    product: entry('product', (shop, ids, hints) => client.getProducts(shop, ids, hints)),
  };
}

/** The table with `followUps` on its order entry (e.g. an order on its way calls for its tracking). */
export function withOrderFollowUps<T extends KindTable>(
  followUps: NonNullable<KindAdapter['followUps']>,
  kinds: T,
): T {
  return kinds.order ? { ...kinds, order: { ...kinds.order, followUps } } : kinds;
}
