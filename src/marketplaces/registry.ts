/**
 * The AdapterRegistry for the enabled platforms. A platform whose credentials are unset has no
 * adapter (CONTRACT §2): the roles see it as disabled.
 */
import type { Dispatcher } from 'undici';

import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { Platform } from '../shared/stream.js';
import type { MarketplaceMetrics } from './metrics.js';
import { createShopeeAdapter, type ShopeeAdapterOptions } from './shopee/adapter.js';
import { createShopeeWebhookHandler } from './shopee/webhook.js';
import { createTikTokAdapter, type TikTokAdapterOptions } from './tiktok/adapter.js';
import { createTikTokWebhookHandler } from './tiktok/webhook.js';
import type { AdapterRegistry, RateLimiter, RefreshLock, TokenPersistence } from './types.js';

export interface RegistryOptions {
  config: Pick<
    Config,
    'tiktok' | 'shopee' | 'detailBatchSize' | 'marketplaceTimeoutMs' | 'marketplaceMaxAttempts'
  >;
  limiter: RateLimiter;
  tokens: TokenPersistence;
  /** Token refreshes single-flight across processes (src/shared/lock.ts); without it, per process. */
  refreshLock?: RefreshLock;
  logger: Logger;
  /** Shared by both clients when given (not owned); otherwise each client has its own Agent. */
  dispatcher?: Dispatcher;
  /** Outbound call and token refresh metrics (optional: tests and tools go without). */
  metrics?: MarketplaceMetrics;
  /** Per-platform fine tuning and test seams. */
  tiktok?: TikTokAdapterOptions['client'];
  shopee?: ShopeeAdapterOptions['client'];
}

export function createAdapterRegistry(options: RegistryOptions): AdapterRegistry {
  const { config } = options;
  const common = {
    limiter: options.limiter,
    tokens: options.tokens,
    refreshLock: options.refreshLock,
    logger: options.logger,
    dispatcher: options.dispatcher,
    metrics: options.metrics,
    timeoutMs: config.marketplaceTimeoutMs,
    maxAttempts: config.marketplaceMaxAttempts,
    detailBatchSize: config.detailBatchSize,
  };
  const registry: AdapterRegistry = {};
  if (config.tiktok) {
    registry.tiktok = createTikTokAdapter({
      ...common,
      config: config.tiktok,
      webhook: createTikTokWebhookHandler(config.tiktok),
      client: options.tiktok,
    });
  }
  if (config.shopee) {
    registry.shopee = createShopeeAdapter({
      ...common,
      config: config.shopee,
      webhook: createShopeeWebhookHandler(config.shopee),
      client: options.shopee,
    });
  }
  return registry;
}

/** Closes every adapter of the registry (each close is idempotent). */
export async function closeAdapterRegistry(registry: AdapterRegistry): Promise<void> {
  await Promise.all(Object.values(registry).map((adapter) => adapter.close()));
}

export function enabledPlatforms(registry: AdapterRegistry): Platform[] {
  return (Object.keys(registry) as Platform[]).filter((platform) => registry[platform] !== undefined);
}
