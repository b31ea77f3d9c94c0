/**
 * Access tokens of one platform's shops: refreshed shortly BEFORE they expire, and once when the
 * marketplace answers ERR_MARKETPLACE_AUTH (the call is then retried once with the new token).
 *
 * Concurrent refreshes of one shop share one promise: both platforms rotate the refresh token on
 * every refresh (Shopee's are single-use), so two parallel refreshes would race each other into
 * an invalid token. New tokens are persisted through TokenPersistence; until that succeeds they
 * are kept in memory and saving is retried on the next use, so a refresh is never lost.
 *
 * Shops arrive from callers as they were read from MongoDB, possibly before our last refresh.
 * The manager remembers which access tokens it has replaced, so a stale Shop object is served the
 * newest tokens, while a token we have never seen (a shop re-added by an operator) wins.
 */
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Platform } from '../stream.js';
import type { Shop, ShopTokens, TokenPersistence } from './types.js';

export const DEFAULT_REFRESH_BEFORE_MS = 5 * 60 * 1000;
/** Replaced access tokens remembered per shop (enough for any Shop object still in use). */
const REMEMBERED_TOKENS = 8;

export type RefreshTokens = (shop: Shop, refreshToken: string) => Promise<ShopTokens>;

export interface TokenManagerOptions {
  platform: Platform;
  /** Calls the platform's refresh endpoint. */
  refresh: RefreshTokens;
  persistence: TokenPersistence;
  logger: Logger;
  /** Refresh when the access token expires within this long. */
  refreshBeforeMs?: number;
  now?: () => number;
}

export interface TokenManager {
  /** The tokens to use for `shop` now: the newest this process knows of. */
  current(shop: Shop): ShopTokens;
  /** A usable access token, refreshed first when it expires within `refreshBeforeMs`. */
  accessToken(shop: Shop): Promise<string>;
  /** Runs `call`; on ERR_MARKETPLACE_AUTH refreshes once (shared with concurrent callers) and runs it once more. */
  withAccessToken<T>(shop: Shop, call: (accessToken: string) => Promise<T>): Promise<T>;
}

interface Known {
  tokens: ShopTokens;
  replaced: string[];
  saved: boolean;
}

export function createTokenManager(options: TokenManagerOptions): TokenManager {
  const { platform, persistence } = options;
  const now = options.now ?? Date.now;
  const refreshBeforeMs = options.refreshBeforeMs ?? DEFAULT_REFRESH_BEFORE_MS;
  const log = options.logger.child({ component: 'tokens', platform });
  const known = new Map<string, Known>();
  const refreshing = new Map<string, Promise<ShopTokens>>();

  function current(shop: Shop): ShopTokens {
    const entry = known.get(shop.shop_id);
    if (
      entry &&
      (entry.tokens.access_token === shop.access_token || entry.replaced.includes(shop.access_token))
    ) {
      return entry.tokens;
    }
    return {
      access_token: shop.access_token,
      refresh_token: shop.refresh_token,
      access_token_expires_at: shop.access_token_expires_at,
    };
  }

  async function save(shopId: string, entry: Known): Promise<void> {
    try {
      await persistence.saveTokens(platform, shopId, entry.tokens);
      entry.saved = true;
    } catch (error) {
      // The old refresh token is already spent: keep the new ones in memory and try again later.
      log.error({ err: error, shop_id: shopId }, 'could not persist refreshed tokens; will retry');
    }
  }

  /** One refresh per shop at a time; callers arriving meanwhile get the same promise. */
  function refresh(shop: Shop, stale: ShopTokens): Promise<ShopTokens> {
    const running = refreshing.get(shop.shop_id);
    if (running) return running;
    const refreshToken = stale.refresh_token;
    if (!refreshToken) {
      return Promise.reject(
        new AppError(
          'ERR_MARKETPLACE_AUTH',
          `${platform} shop ${shop.shop_id}: access token expired and no refresh token; re-authorize the shop`,
        ),
      );
    }
    const promise = (async () => {
      const tokens = await options.refresh(shop, refreshToken);
      const previous = known.get(shop.shop_id);
      const replaced = [stale.access_token, ...(previous?.replaced ?? [])].slice(0, REMEMBERED_TOKENS);
      const entry: Known = { tokens, replaced, saved: false };
      known.set(shop.shop_id, entry);
      log.info(
        { shop_id: shop.shop_id, expires_at: tokens.access_token_expires_at },
        'access token refreshed',
      );
      await save(shop.shop_id, entry);
      return tokens;
    })().finally(() => refreshing.delete(shop.shop_id));
    refreshing.set(shop.shop_id, promise);
    return promise;
  }

  const expiresSoon = (tokens: ShopTokens) =>
    tokens.access_token_expires_at !== null &&
    tokens.access_token_expires_at.getTime() - now() <= refreshBeforeMs;

  async function accessToken(shop: Shop): Promise<string> {
    const entry = known.get(shop.shop_id);
    if (entry && !entry.saved) await save(shop.shop_id, entry);
    const tokens = current(shop);
    if (!expiresSoon(tokens)) return tokens.access_token;
    try {
      return (await refresh(shop, tokens)).access_token;
    } catch (error) {
      // Refreshing early is a courtesy: while the old token still works, a failed refresh need not fail the call.
      if (tokens.access_token_expires_at!.getTime() <= now()) throw error;
      log.warn({ err: error, shop_id: shop.shop_id }, 'early token refresh failed; using the current token');
      return tokens.access_token;
    }
  }

  return {
    current,
    accessToken,
    async withAccessToken(shop, call) {
      const token = await accessToken(shop);
      try {
        return await call(token);
      } catch (error) {
        if (!isAppError(error, 'ERR_MARKETPLACE_AUTH')) throw error;
        const latest = current(shop);
        // Someone else refreshed while this call was out: use their token rather than refresh again.
        const fresh = latest.access_token !== token ? latest : await refresh(shop, latest);
        log.info(
          { shop_id: shop.shop_id, code: error.code },
          'marketplace refused the token; retrying once with a new one',
        );
        return await call(fresh.access_token);
      }
    },
  };
}
