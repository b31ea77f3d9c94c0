/**
 * Seconds until each active shop's authorization ends (issue 13), for the alert that fires 7 days
 * before a seller must connect again. Exported by the reconcile role (once per deployment, like
 * the last-success gauge), read from the shops collection at scrape time: a reconnect, or a shop
 * added or removed, shows at the next scrape. Shops whose end is unknown (tokens pasted with
 * `shops add`) have no series. While MongoDB cannot be read the last values stay.
 */
import { Gauge, type Registry } from 'prom-client';

import type { Logger } from '../shared/logger.js';
import type { ShopStore } from '../shared/store/shops.js';

export const AUTHORIZATION_EXPIRY_METRIC = 'market_ingest_shop_authorization_expiry_seconds';

export interface AuthorizationExpiryDeps {
  registry: Registry;
  shops: Pick<ShopStore, 'listPublic'>;
  logger: Logger;
  now?: () => number;
}

/** Registers the gauge once per registry (`start` builds the scheduler on a shared one). */
export function registerAuthorizationExpiry(deps: AuthorizationExpiryDeps): void {
  if (deps.registry.getSingleMetric(AUTHORIZATION_EXPIRY_METRIC)) return;
  const now = deps.now ?? Date.now;
  new Gauge({
    name: AUTHORIZATION_EXPIRY_METRIC,
    help: "Seconds until each active shop's marketplace authorization ends (negative: ended); connect the shop again before",
    labelNames: ['platform', 'shop_id'] as const,
    registers: [deps.registry],
    async collect() {
      let listing;
      try {
        listing = await deps.shops.listPublic({ status: 'active' });
      } catch (error) {
        deps.logger.warn({ component: 'reconcile', err: error }, 'authorization expiry gauge not refreshed');
        return;
      }
      this.reset();
      for (const shop of listing.shops) {
        const ends = shop.authorization_expires_at;
        if (ends === undefined) continue;
        this.set(
          { platform: shop.platform, shop_id: shop.shop_id },
          Math.round((ends.getTime() - now()) / 1000),
        );
      }
    },
  });
}
