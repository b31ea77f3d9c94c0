/**
 * Shopee behind the MarketplaceAdapter interface: the webhook handler (injected), the API client,
 * the pure mappers, and lost-push recovery.
 */
import type { Dispatcher } from 'undici';

import type { ShopeeConfig } from '../../shared/config.js';
import { toAppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { dispatchKinds, webhookKinds, withOrderFollowUps } from '../kinds.js';
import type { MarketplaceMetrics } from '../metrics.js';
import { isRecord } from '../mapping.js';
import { sha256Hex } from '../signature.js';
import type {
  LostWebhooks,
  MarketplaceAdapter,
  RateLimiter,
  RefreshLock,
  TokenPersistence,
  UnreadableWebhook,
  WebhookEvent,
  WebhookHandler,
} from '../types.js';
import { createShopeeClient, type ShopeeClient, type ShopeeClientOptions } from './client.js';
import { createShopeeTrackingKind, shopeeOrderFollowUps } from './tracking.js';
import { lostPushBody, mapShopeeDocument, type LostPush } from './dto.js';
import { shopeeSettlementKind } from './settlements.js';

export interface ShopeeAdapterOptions {
  config: Pick<ShopeeConfig, 'partnerId' | 'partnerKey' | 'apiBaseUrl'>;
  webhook: WebhookHandler;
  limiter: RateLimiter;
  tokens: TokenPersistence;
  refreshLock?: RefreshLock;
  logger: Logger;
  /** Not owned by the adapter. */
  dispatcher?: Dispatcher;
  metrics?: MarketplaceMetrics;
  timeoutMs: number;
  maxAttempts: number;
  detailBatchSize: number;
  /** Fine tuning and test seams passed to the client (clock, retry schedule, concurrency, tracking). */
  client?: Partial<
    Pick<ShopeeClientOptions, 'now' | 'retry' | 'concurrency' | 'refreshBeforeMs' | 'fetchTrackingNumbers'>
  >;
}

/** `hasMore`: Shopee holds further lost pushes; fetch again after confirm(). */
export type LostWebhookBatch = LostWebhooks & { hasMore: boolean };

export interface ShopeeAdapter extends MarketplaceAdapter {
  readonly client: ShopeeClient;
  fetchLostWebhooks(): Promise<LostWebhookBatch>;
}

export function createShopeeAdapter(options: ShopeeAdapterOptions): ShopeeAdapter {
  const { webhook } = options;
  if (webhook.platform !== 'shopee') {
    throw new TypeError(`a shopee adapter needs the shopee webhook handler, got ${webhook.platform}`);
  }
  const log = options.logger.child({ component: 'shopee-adapter', platform: 'shopee' });
  const client = createShopeeClient({
    ...options.config,
    limiter: options.limiter,
    tokens: options.tokens,
    refreshLock: options.refreshLock,
    logger: options.logger,
    dispatcher: options.dispatcher,
    metrics: options.metrics,
    timeoutMs: options.timeoutMs,
    maxAttempts: options.maxAttempts,
    detailBatchSize: options.detailBatchSize,
    ...options.client,
  });

  return {
    platform: 'shopee',
    webhook,
    client,

    // The kinds shopee syncs; the client settles each call on its own (one failure, its own ids).
    // Orders on their way announce their tracking (followUps).
    ...dispatchKinds(
      'shopee',
      withOrderFollowUps(shopeeOrderFollowUps, {
        ...webhookKinds(client, (kind, shop, raw, context) =>
          mapShopeeDocument(kind, raw, { shopId: shop.shop_id, context }),
        ),
        settlement: shopeeSettlementKind(client, {
          concurrency: options.client?.concurrency,
          detailBatchSize: options.detailBatchSize,
          logger: options.logger,
        }),
        tracking: createShopeeTrackingKind(client, { concurrency: options.client?.concurrency }),
      }),
    ),

    /**
     * One batch (up to 100) of undelivered pushes, mapped exactly like delivered ones by the
     * webhook handler; pushes of codes we do not handle are dropped (and confirmed with the
     * rest), pushes that cannot be read are returned in `unreadable` for the caller to record
     * before it confirms. Call again after confirm() while `hasMore`: a batch of only unhandled
     * pushes has no events although more may follow.
     */
    async fetchLostWebhooks() {
      const batch = await client.getLostPushes();
      const events: WebhookEvent[] = [];
      const unreadable: UnreadableWebhook[] = [];
      for (const push of batch.pushes) {
        const read = readLostPush(webhook, push);
        if ('event' in read) events.push(read.event);
        else if ('unreadable' in read) unreadable.push(read.unreadable);
      }
      if (unreadable.length > 0) log.warn({ count: unreadable.length }, 'unreadable lost pushes');
      let confirmed = false;
      return {
        events,
        unreadable,
        hasMore: batch.hasNextPage,
        async confirm() {
          if (confirmed || batch.lastMessageId === null) return;
          await client.confirmLostPushes(batch.lastMessageId);
          confirmed = true;
        },
      };
    },

    close: () => client.close(),
  };
}

/** One lost push as a stream event, an ignored code, or an unreadable item (never a throw). */
function readLostPush(
  webhook: WebhookHandler,
  push: LostPush,
): { event: WebhookEvent } | { ignored: true } | { unreadable: UnreadableWebhook } {
  try {
    const outcome = webhook.toStreamEntry(Buffer.from(lostPushBody(push), 'utf8'));
    return outcome.handled ? { event: outcome.event } : { ignored: true };
  } catch (error) {
    const item = isRecord(push) ? push : {};
    const payload = JSON.stringify(push) ?? String(push);
    return {
      unreadable: {
        shop_id: idOf(item.shop_id),
        event_type: idOf(item.code),
        event_id: sha256Hex(payload),
        payload,
        error: toAppError(error),
      },
    };
  }
}

function idOf(value: unknown): string | null {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return typeof value === 'string' && value !== '' ? value : null;
}
