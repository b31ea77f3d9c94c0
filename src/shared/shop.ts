/**
 * A shop as the roles use it, and the shop-scoped services the marketplace clients are given:
 * the shared outbound rate limit (ratelimit.ts), where refreshed tokens are persisted
 * (store/shops.ts) and the cross-process refresh lock (lock.ts). Infrastructure implements these;
 * src/marketplaces uses them.
 */
import type { Platform } from './stream.js';

export type ShopStatus = 'active' | 'deauthorized';

/** A shop as the roles use it: tokens already decrypted (they are encrypted only at rest). */
export interface Shop {
  platform: Platform;
  shop_id: string;
  status: ShopStatus;
  access_token: string;
  refresh_token: string | null;
  access_token_expires_at: Date | null;
  /** TikTok only: required on shop-scoped API calls. */
  shop_cipher: string | null;
  name: string | null;
  /**
   * When the seller's authorization ends and the shop must be connected again (Shopee
   * get_shop_info.expire_time; TikTok's refresh token expiry). Absent: unknown.
   */
  authorization_expires_at?: Date;
  created_at: Date;
  updated_at: Date;
}

/** Outbound API budget per platform and shop, shared by every process through Redis. */
export interface RateLimiter {
  /** Resolves when one request may be sent now; waits (without spinning) while the budget is spent. */
  acquire(platform: Platform, shopId: string): Promise<void>;
  /** The marketplace answered 429: shrink this shop's budget for `forMs` (Retry-After, or a default). */
  penalize(platform: Platform, shopId: string, forMs: number): Promise<void>;
}

export interface ShopTokens {
  access_token: string;
  refresh_token: string | null;
  access_token_expires_at: Date | null;
}

/** Where refreshed tokens are persisted (the shops collection, encrypted at rest when configured). */
export interface TokenPersistence {
  saveTokens(platform: Platform, shopId: string, tokens: ShopTokens): Promise<void>;
  /**
   * The tokens stored now (decrypted), or null when the shop is gone: what another process may
   * have refreshed meanwhile.
   */
  loadTokens(platform: Platform, shopId: string): Promise<ShopTokens | null>;
}

export interface HeldRefreshLock {
  /** Idempotent; never throws (an unreleased lock expires after its TTL). */
  release(): Promise<void>;
}

/**
 * Serialises the token refreshes of one shop across every process of the deployment: both
 * platforms rotate the refresh token on every refresh, so a second concurrent refresh with the
 * same refresh token is refused. Implemented over Redis in src/shared/lock.ts.
 */
export interface RefreshLock {
  /** How long a holder keeps the lock at most (it expires then): how long the others wait for it. */
  readonly ttlMs: number;
  /** Takes the shop's lock, or answers undefined while another process holds it. */
  tryAcquire(platform: Platform, shopId: string): Promise<HeldRefreshLock | undefined>;
}
