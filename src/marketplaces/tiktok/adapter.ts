/**
 * TikTok Shop behind the MarketplaceAdapter interface: the webhook handler (injected), the API
 * client and the pure mappers.
 */
import type { Dispatcher } from 'undici';

import type { TikTokConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import { dispatchKinds, webhookKinds, withOrderFollowUps } from '../kinds.js';
import type { MarketplaceMetrics } from '../metrics.js';
import type {
  MarketplaceAdapter,
  RateLimiter,
  RefreshLock,
  TokenPersistence,
  WebhookHandler,
} from '../types.js';
import { createTikTokClient, type TikTokClient, type TikTokClientOptions } from './client.js';
import { createTikTokTrackingKind, tiktokOrderFollowUps } from './tracking.js';
import { mapTikTokDocument } from './dto.js';
import { tiktokSettlementKind } from './settlements.js';

export interface TikTokAdapterOptions {
  config: Pick<TikTokConfig, 'appKey' | 'appSecret' | 'apiBaseUrl' | 'authBaseUrl'>;
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
  /** Fine tuning and test seams passed to the client (clock, retry schedule, concurrency). */
  client?: Partial<
    Pick<TikTokClientOptions, 'now' | 'retry' | 'concurrency' | 'refreshBeforeMs' | 'returnIdsFilter'>
  >;
}

export interface TikTokAdapter extends MarketplaceAdapter {
  readonly client: TikTokClient;
}

export function createTikTokAdapter(options: TikTokAdapterOptions): TikTokAdapter {
  if (options.webhook.platform !== 'tiktok') {
    throw new TypeError(`a tiktok adapter needs the tiktok webhook handler, got ${options.webhook.platform}`);
  }
  const client = createTikTokClient({
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
    platform: 'tiktok',
    webhook: options.webhook,
    client,

    // The kinds tiktok syncs; the client settles each call on its own (one failure, its own ids).
    // Orders on their way announce their tracking (followUps).
    ...dispatchKinds(
      'tiktok',
      withOrderFollowUps(tiktokOrderFollowUps, {
        ...webhookKinds(client, (kind, shop, raw, context) =>
          mapTikTokDocument(kind, raw, { shopId: shop.shop_id, context }),
        ),
        settlement: tiktokSettlementKind(client, { logger: options.logger }),
        tracking: createTikTokTrackingKind(client, { concurrency: options.client?.concurrency }),
      }),
    ),

    close: () => client.close(),
  };
}
