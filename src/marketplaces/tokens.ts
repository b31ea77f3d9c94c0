/**
 * Access tokens of one platform's shops: refreshed shortly BEFORE they expire, and once when the
 * marketplace answers ERR_MARKETPLACE_AUTH (the call is then retried once with the new token).
 *
 * Both platforms rotate the refresh token on every refresh (single use): of two refreshes of one
 * shop with the same refresh token, the second is refused. So a refresh is single-flight
 * - in this process: concurrent refreshes of a shop share one promise;
 * - across processes, through the injected RefreshLock (Redis): the holder first re-reads the
 *   stored tokens and refreshes only if they are still the stale ones (another process may have
 *   refreshed just before); the others poll, re-reading the stored tokens, until they change or
 *   the lock is theirs, at most for the lock's TTL.
 * A refresh refused right after another process refreshed (the stored refresh token is no longer
 * the one we sent) uses the stored tokens, or fails retryable, never fatally. Without a lock
 * (unit tests, tools) only the in-process single flight applies.
 *
 * New tokens are persisted through TokenPersistence; until that succeeds they are kept in memory
 * and saving is retried on the next use, so a refresh is never lost.
 *
 * Shops arrive from callers as they were read from MongoDB, possibly before our last refresh.
 * The manager remembers which access tokens it has replaced, so a stale Shop object is served the
 * newest tokens, while a token we have never seen (a shop re-added by an operator) wins.
 */
import { AppError, isAppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Platform } from '../shared/stream.js';
import { DEFAULT_MAX_RETRY_AFTER_MS } from './http.js';
import type { MarketplaceMetrics, TokenRefreshOutcome } from './metrics.js';
import type { RefreshLock, Shop, ShopTokens, TokenPersistence } from './types.js';

export const DEFAULT_REFRESH_BEFORE_MS = 5 * 60 * 1000;
/** Replaced access tokens remembered per shop (enough for any Shop object still in use). */
const REMEMBERED_TOKENS = 8;
/** Pauses between looks at another process's refresh: short at first, growing to this. */
const FIRST_POLL_MS = 25;
const MAX_POLL_MS = 1_000;
const LOCK_TTL_MARGIN_MS = 5_000;

export type RefreshTokens = (shop: Shop, refreshToken: string) => Promise<ShopTokens>;

export interface TokenManagerOptions {
  platform: Platform;
  /** Calls the platform's refresh endpoint. */
  refresh: RefreshTokens;
  persistence: TokenPersistence;
  logger: Logger;
  /** Cross-process single flight; without one, refreshes are single-flight in this process only. */
  lock?: RefreshLock;
  /** Refresh when the access token expires within this long. */
  refreshBeforeMs?: number;
  now?: () => number;
  /** How waiting for another process's refresh sleeps. */
  sleep?: (ms: number) => Promise<void>;
  /** Counts refreshes by outcome. */
  metrics?: Pick<MarketplaceMetrics, 'countTokenRefresh'>;
}

export interface TokenManager {
  /** The tokens to use for `shop` now: the newest this process knows of. */
  current(shop: Shop): ShopTokens;
  /** A usable access token, refreshed first when it expires within `refreshBeforeMs`. */
  accessToken(shop: Shop): Promise<string>;
  /** Runs `call`; on ERR_MARKETPLACE_AUTH refreshes once (shared with concurrent callers) and runs it once more. */
  withAccessToken<T>(shop: Shop, call: (accessToken: string) => Promise<T>): Promise<T>;
}

/**
 * A refresh lock's TTL: a little longer than one refresh call can take with all its attempts
 * (each up to the timeout, with a Retry-After wait between them), so only a crashed holder's
 * lock expires under a live refresh.
 */
export function refreshLockTtlMs(timeoutMs: number, maxAttempts: number): number {
  const attempts = Math.max(1, maxAttempts);
  return attempts * timeoutMs + (attempts - 1) * DEFAULT_MAX_RETRY_AFTER_MS + LOCK_TTL_MARGIN_MS;
}

/** Without a RefreshLock every acquire succeeds at once: only the in-process single flight applies. */
const PROCESS_LOCAL: RefreshLock = {
  ttlMs: 0,
  tryAcquire: () => Promise.resolve({ release: () => Promise.resolve() }),
};

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const sameTokens = (a: ShopTokens, b: ShopTokens) =>
  a.access_token === b.access_token && a.refresh_token === b.refresh_token;

interface Known {
  tokens: ShopTokens;
  replaced: string[];
  saved: boolean;
}

export function createTokenManager(options: TokenManagerOptions): TokenManager {
  const { platform, persistence } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const lock = options.lock ?? PROCESS_LOCAL;
  const refreshBeforeMs = options.refreshBeforeMs ?? DEFAULT_REFRESH_BEFORE_MS;
  const log = options.logger.child({ component: 'tokens', platform });
  const known = new Map<string, Known>();
  const refreshing = new Map<string, Promise<ShopTokens>>();
  const count = (outcome: TokenRefreshOutcome) => options.metrics?.countTokenRefresh(platform, outcome);

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

  const expiresSoon = (tokens: ShopTokens) =>
    tokens.access_token_expires_at !== null &&
    tokens.access_token_expires_at.getTime() - now() <= refreshBeforeMs;
  const expired = (tokens: ShopTokens) =>
    tokens.access_token_expires_at !== null && tokens.access_token_expires_at.getTime() <= now();

  /** Makes `tokens` the shop's newest; Shop objects carrying any of `replacing` get them from now on. */
  function remember(shopId: string, tokens: ShopTokens, replacing: string[], saved: boolean): Known {
    const previous = known.get(shopId);
    const older = [...replacing, ...(previous ? [previous.tokens.access_token, ...previous.replaced] : [])];
    const replaced = [...new Set(older)].filter((token) => token !== tokens.access_token);
    const entry: Known = { tokens, replaced: replaced.slice(0, REMEMBERED_TOKENS), saved };
    known.set(shopId, entry);
    return entry;
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

  /** The stored tokens if another process changed them: not `stale`, and not ones we replaced. */
  async function storedNewer(shopId: string, stale: ShopTokens): Promise<ShopTokens | undefined> {
    const stored = await persistence.loadTokens(platform, shopId);
    if (!stored || sameTokens(stored, stale)) return undefined;
    // Older than ours: our own save is still pending.
    if (known.get(shopId)?.replaced.includes(stored.access_token)) return undefined;
    return stored;
  }

  /** One refresh per shop at a time in this process; callers arriving meanwhile get the same promise. */
  function refresh(shop: Shop, stale: ShopTokens): Promise<ShopTokens> {
    const running = refreshing.get(shop.shop_id);
    if (running) return running;
    const promise = refreshAcrossProcesses(shop, stale)
      .catch((error: unknown) => {
        // A refused refresh needs the shop re-authorized; a retryable one is tried again on next use.
        const refused = isAppError(error, 'ERR_MARKETPLACE_AUTH') && !error.retryable;
        count(refused ? 'refused' : 'failed');
        throw error;
      })
      .finally(() => refreshing.delete(shop.shop_id));
    refreshing.set(shop.shop_id, promise);
    return promise;
  }

  /** Refreshes holding the shop's lock; while another process holds it, waits for its tokens. */
  async function refreshAcrossProcesses(shop: Shop, stale: ShopTokens): Promise<ShopTokens> {
    let waitedMs = 0;
    for (let delay = FIRST_POLL_MS; ; delay = Math.min(delay * 2, MAX_POLL_MS)) {
      const held = await lock.tryAcquire(platform, shop.shop_id);
      if (held) {
        try {
          return await refreshHolding(shop, stale);
        } finally {
          await held.release();
        }
      }
      if (waitedMs >= lock.ttlMs) {
        throw new AppError(
          'ERR_MARKETPLACE_TRANSIENT',
          `${platform} shop ${shop.shop_id}: another process has been refreshing the token for over ${lock.ttlMs} ms`,
        );
      }
      await sleep(delay);
      waitedMs += delay;
      const stored = await storedNewer(shop.shop_id, stale);
      if (stored && !expiresSoon(stored)) {
        log.debug({ shop_id: shop.shop_id }, 'another process refreshed the token; using it');
        count('shared');
        return remember(shop.shop_id, stored, [stale.access_token], true).tokens;
      }
    }
  }

  /** Under the lock: the stored tokens if another process refreshed just before, else the marketplace. */
  async function refreshHolding(shop: Shop, stale: ShopTokens): Promise<ShopTokens> {
    const stored = await storedNewer(shop.shop_id, stale);
    if (stored && !expiresSoon(stored)) {
      log.debug({ shop_id: shop.shop_id }, 'another process refreshed the token just before; using it');
      count('shared');
      return remember(shop.shop_id, stored, [stale.access_token], true).tokens;
    }
    return refreshAtMarketplace(shop, stored ?? stale, [stale.access_token]);
  }

  async function refreshAtMarketplace(
    shop: Shop,
    base: ShopTokens,
    replacing: string[],
  ): Promise<ShopTokens> {
    const refreshToken = base.refresh_token;
    if (!refreshToken) {
      throw new AppError(
        'ERR_MARKETPLACE_AUTH',
        `${platform} shop ${shop.shop_id}: access token expired and no refresh token; re-authorize the shop`,
      );
    }
    let tokens: ShopTokens;
    try {
      tokens = await options.refresh(shop, refreshToken);
    } catch (error) {
      if (!isAppError(error, 'ERR_MARKETPLACE_AUTH')) throw error;
      return afterRefusedRefresh(shop, refreshToken, error, [...replacing, base.access_token]);
    }
    const entry = remember(shop.shop_id, tokens, [...replacing, base.access_token], false);
    log.info({ shop_id: shop.shop_id, expires_at: tokens.access_token_expires_at }, 'access token refreshed');
    count('refreshed');
    await save(shop.shop_id, entry);
    return tokens;
  }

  /**
   * The marketplace refused `sent`. When the stored refresh token is another one, a process
   * refreshed just before us (without the lock, or after its lock expired): its tokens are the
   * ones to use; if they are not usable either, the failure is temporary (retryable).
   */
  async function afterRefusedRefresh(
    shop: Shop,
    sent: string,
    refused: AppError,
    replacing: string[],
  ): Promise<ShopTokens> {
    const stored = await persistence.loadTokens(platform, shop.shop_id);
    const ours = known.get(shop.shop_id);
    if (!stored || stored.refresh_token === sent || ours?.replaced.includes(stored.access_token))
      throw refused;
    if (!expired(stored)) {
      log.info(
        { shop_id: shop.shop_id },
        'refresh refused: another process had just refreshed; using its token',
      );
      count('shared');
      return remember(shop.shop_id, stored, replacing, true).tokens;
    }
    throw new AppError(
      'ERR_MARKETPLACE_AUTH',
      `${platform} shop ${shop.shop_id}: refresh token refused after another process rotated it; retry with the stored tokens`,
      { retryable: true, cause: refused },
    );
  }

  async function accessToken(shop: Shop): Promise<string> {
    const entry = known.get(shop.shop_id);
    if (entry && !entry.saved) await save(shop.shop_id, entry);
    const tokens = current(shop);
    if (!expiresSoon(tokens)) return tokens.access_token;
    try {
      return (await refresh(shop, tokens)).access_token;
    } catch (error) {
      // Refreshing early is a courtesy: while the old token still works, a failed refresh need not fail the call.
      if (expired(tokens)) throw error;
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
