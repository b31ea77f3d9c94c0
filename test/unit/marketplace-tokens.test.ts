/**
 * TokenManager: when it refreshes, that concurrent refreshes share one, that a refused token is
 * refreshed once, and that refreshed tokens are persisted (and re-persisted after a failure).
 * Across processes: managers sharing a RefreshLock and a token store (in memory here; the Redis
 * lock and the shop store are tested in integration) refresh once, and a refresh refused because
 * another process had just rotated the token uses the stored tokens or fails retryable.
 */
import { describe, expect, it } from 'vitest';

import { AppError, isAppError } from '../../src/shared/errors.js';
import { createTokenManager, refreshLockTtlMs, type RefreshTokens } from '../../src/marketplaces/tokens.js';
import type { RefreshLock, Shop, ShopTokens } from '../../src/marketplaces/types.js';
import { silentLogger } from '../support/context.js';
import { memoryTokenStore, type MemoryTokenStore } from '../support/fake-marketplace/deps.js';

const NOW = Date.parse('2026-11-21T03:30:00Z');
const MINUTE = 60_000;

function shop(overrides: Partial<Shop> = {}): Shop {
  return {
    platform: 'shopee',
    shop_id: '7495001',
    status: 'active',
    access_token: 'A0',
    refresh_token: 'R0',
    access_token_expires_at: new Date(NOW + 60 * MINUTE),
    shop_cipher: null,
    name: null,
    created_at: new Date(NOW),
    updated_at: new Date(NOW),
    ...overrides,
  };
}

function setup(
  options: {
    refresh?: RefreshTokens;
    now?: () => number;
    store?: MemoryTokenStore;
    lock?: RefreshLock;
    sleep?: (ms: number) => Promise<void>;
  } = {},
) {
  const store = options.store ?? memoryTokenStore();
  const refreshed: string[] = [];
  let generation = 0;
  const refresh: RefreshTokens =
    options.refresh ??
    (async (_shop, refreshToken) => {
      refreshed.push(refreshToken);
      await new Promise((resolve) => setTimeout(resolve, 10));
      generation += 1;
      return {
        access_token: `A${generation}`,
        refresh_token: `R${generation}`,
        access_token_expires_at: new Date(NOW + 240 * MINUTE),
      } satisfies ShopTokens;
    });
  const manager = createTokenManager({
    platform: 'shopee',
    refresh,
    persistence: store,
    logger: silentLogger,
    now: options.now ?? (() => NOW),
    lock: options.lock,
    sleep: options.sleep ?? (() => new Promise<void>((resolve) => setTimeout(resolve, 1))),
  });
  return { manager, store, refreshed };
}

/** A RefreshLock in memory: what the Redis one guarantees, for managers in one test process. */
function memoryLock(ttlMs = 5_000): RefreshLock & { busy(key: string): void } {
  const held = new Set<string>();
  return {
    ttlMs,
    busy: (key) => held.add(key),
    tryAcquire(platform, shopId) {
      const key = `${platform}:${shopId}`;
      if (held.has(key)) return Promise.resolve(undefined);
      held.add(key);
      return Promise.resolve({ release: () => Promise.resolve(void held.delete(key)) });
    },
  };
}

/** The platform's refresh endpoint: refresh tokens are single-use. */
function singleUseMarketplace() {
  let refreshToken = 'R0';
  let generation = 0;
  const calls: string[] = [];
  const refresh: RefreshTokens = async (_shop, sent) => {
    calls.push(sent);
    await new Promise((resolve) => setTimeout(resolve, 10));
    if (sent !== refreshToken) throw new AppError('ERR_MARKETPLACE_AUTH', 'invalid refresh_token');
    generation += 1;
    refreshToken = `R${generation}`;
    return {
      access_token: `A${generation}`,
      refresh_token: refreshToken,
      access_token_expires_at: new Date(NOW + 240 * MINUTE),
    };
  };
  return { refresh, calls };
}

/** Another process's refresh, as this one sees it: new tokens in the shared store. */
function storedByAnotherProcess(store: MemoryTokenStore, tokens: ShopTokens): Promise<void> {
  return store.saveTokens('shopee', '7495001', tokens);
}

const authError = () => new AppError('ERR_MARKETPLACE_AUTH', 'invalid_access_token');

describe('TokenManager', () => {
  it('uses the stored token while it is not about to expire', async () => {
    const { manager, refreshed } = setup();
    expect(await manager.accessToken(shop())).toBe('A0');
    expect(refreshed).toEqual([]);
  });

  it('refreshes within 5 minutes of expiry, persists, and serves the new token to stale Shop objects', async () => {
    const { manager, store, refreshed } = setup();
    const expiring = shop({ access_token_expires_at: new Date(NOW + 4 * MINUTE) });

    expect(await manager.accessToken(expiring)).toBe('A1');
    expect(refreshed).toEqual(['R0']);
    expect(store.saved).toEqual([
      {
        platform: 'shopee',
        shopId: '7495001',
        tokens: {
          access_token: 'A1',
          refresh_token: 'R1',
          access_token_expires_at: new Date(NOW + 240 * MINUTE),
        },
      },
    ]);
    // The caller still holds the Shop read before the refresh.
    expect(await manager.accessToken(expiring)).toBe('A1');
    expect(refreshed).toEqual(['R0']);
  });

  it('lets a token it has never seen (an operator re-added the shop) win over its own', async () => {
    const { manager } = setup();
    await manager.accessToken(shop({ access_token_expires_at: new Date(NOW + MINUTE) }));
    expect(await manager.accessToken(shop({ access_token: 'NEW', refresh_token: 'RNEW' }))).toBe('NEW');
  });

  it('shares one refresh among concurrent callers', async () => {
    const { manager, refreshed, store } = setup();
    const expiring = shop({ access_token_expires_at: new Date(NOW - MINUTE) });

    const tokens = await Promise.all(Array.from({ length: 10 }, () => manager.accessToken(expiring)));

    expect(new Set(tokens)).toEqual(new Set(['A1']));
    expect(refreshed).toEqual(['R0']);
    expect(store.saved).toHaveLength(1);
  });

  it('refreshes once on an auth error and retries the call once', async () => {
    const { manager, refreshed } = setup();
    const used: string[] = [];
    const result = await manager.withAccessToken(shop(), (token) => {
      used.push(token);
      return token === 'A0' ? Promise.reject(authError()) : Promise.resolve('ok');
    });
    expect(result).toBe('ok');
    expect(used).toEqual(['A0', 'A1']);
    expect(refreshed).toEqual(['R0']);
  });

  it('gives up when the new token is refused too', async () => {
    const { manager, refreshed } = setup();
    let calls = 0;
    const error: unknown = await manager
      .withAccessToken(shop(), () => {
        calls += 1;
        return Promise.reject(authError());
      })
      .catch((e: unknown) => e);
    expect(isAppError(error, 'ERR_MARKETPLACE_AUTH')).toBe(true);
    expect(calls).toBe(2);
    expect(refreshed).toHaveLength(1);
  });

  it('does not refresh again when another caller already did while its call was out', async () => {
    const { manager, refreshed } = setup();
    const s = shop();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = manager.withAccessToken(s, async (token) => {
      await gate;
      if (token === 'A0') throw authError();
      return token;
    });
    const fast = manager.withAccessToken(s, (token) =>
      token === 'A0' ? Promise.reject(authError()) : Promise.resolve(token),
    );
    expect(await fast).toBe('A1');
    release();
    expect(await slow).toBe('A1');
    expect(refreshed).toEqual(['R0']);
  });

  it('does not refresh on other errors', async () => {
    const { manager, refreshed } = setup();
    const error: unknown = await manager
      .withAccessToken(shop(), () => Promise.reject(new AppError('ERR_MARKETPLACE_TRANSIENT', 'HTTP 503')))
      .catch((e: unknown) => e);
    expect(isAppError(error, 'ERR_MARKETPLACE_TRANSIENT')).toBe(true);
    expect(refreshed).toEqual([]);
  });

  it('answers ERR_MARKETPLACE_AUTH for an expired token without a refresh token', async () => {
    const { manager } = setup();
    const error: unknown = await manager
      .accessToken(shop({ refresh_token: null, access_token_expires_at: new Date(NOW - 1) }))
      .catch((e: unknown) => e);
    expect(isAppError(error, 'ERR_MARKETPLACE_AUTH')).toBe(true);
    expect((error as AppError).retryable).toBe(false);
  });

  it('keeps using a still-valid token when an early refresh fails', async () => {
    const { manager } = setup({
      refresh: () => Promise.reject(new AppError('ERR_MARKETPLACE_TRANSIENT', 'down')),
    });
    expect(await manager.accessToken(shop({ access_token_expires_at: new Date(NOW + 2 * MINUTE) }))).toBe(
      'A0',
    );
    await expect(
      manager.accessToken(shop({ access_token_expires_at: new Date(NOW - 1) })),
    ).rejects.toMatchObject({
      code: 'ERR_MARKETPLACE_TRANSIENT',
    });
  });

  it('keeps refreshed tokens when saving fails, and saves them on the next use', async () => {
    const { manager, store, refreshed } = setup();
    store.failNext();
    const expiring = shop({ access_token_expires_at: new Date(NOW + MINUTE) });

    expect(await manager.accessToken(expiring)).toBe('A1');
    expect(store.saved).toHaveLength(0);

    expect(await manager.accessToken(expiring)).toBe('A1');
    expect(store.latest('shopee', '7495001')?.access_token).toBe('A1');
    expect(refreshed).toEqual(['R0']);
  });
});

describe('TokenManager across processes', () => {
  const expired = () => shop({ access_token_expires_at: new Date(NOW - MINUTE) });

  it('issue 10 #8: two processes sharing a lock and a store refresh once, and both get the new token', async () => {
    const marketplace = singleUseMarketplace();
    const store = memoryTokenStore();
    const lock = memoryLock();
    const processes = [1, 2].map(() => setup({ refresh: marketplace.refresh, store, lock }).manager);

    const tokens = await Promise.all(processes.map((manager) => manager.accessToken(expired())));

    expect(tokens).toEqual(['A1', 'A1']);
    expect(marketplace.calls).toEqual(['R0']);
    expect(store.saved).toHaveLength(1);
  });

  it('re-reads the stored tokens under the lock and does not refresh when another process just did', async () => {
    const { manager, store, refreshed } = setup({ lock: memoryLock() });
    const theirs = {
      access_token: 'A9',
      refresh_token: 'R9',
      access_token_expires_at: new Date(NOW + 240 * MINUTE),
    };
    await storedByAnotherProcess(store, theirs);

    expect(await manager.accessToken(expired())).toBe('A9');
    expect(refreshed).toEqual([]);
    // Stale Shop objects are served the adopted tokens too.
    expect(manager.current(expired())).toEqual(theirs);
  });

  it('refreshes from the stored refresh token when the stored tokens changed but are due too', async () => {
    const { manager, store, refreshed } = setup({ lock: memoryLock() });
    await storedByAnotherProcess(store, {
      access_token: 'A8',
      refresh_token: 'R8',
      access_token_expires_at: new Date(NOW + MINUTE),
    });

    expect(await manager.accessToken(expired())).toBe('A1');
    expect(refreshed).toEqual(['R8']);
  });

  it('while another process holds the lock, waits and uses the tokens it stores', async () => {
    const lock = memoryLock();
    lock.busy('shopee:7495001');
    const store = memoryTokenStore();
    let looks = 0;
    const { manager, refreshed } = setup({
      lock,
      store,
      sleep: async (ms) => {
        looks += 1;
        if (looks === 3) {
          await storedByAnotherProcess(store, {
            access_token: 'A5',
            refresh_token: 'R5',
            access_token_expires_at: new Date(NOW + 240 * MINUTE),
          });
        }
        expect(ms).toBeGreaterThan(0);
      },
    });

    expect(await manager.accessToken(expired())).toBe('A5');
    expect(refreshed).toEqual([]);
    expect(looks).toBe(3);
  });

  it('waits for another holder at most the lock TTL, with growing pauses, then fails retryable', async () => {
    const lock = memoryLock(3_000);
    lock.busy('shopee:7495001');
    const pauses: number[] = [];
    const { manager, refreshed } = setup({
      lock,
      sleep: (ms) => {
        pauses.push(ms);
        return Promise.resolve();
      },
    });

    const error: unknown = await manager.accessToken(expired()).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'ERR_MARKETPLACE_TRANSIENT', retryable: true });
    expect(refreshed).toEqual([]);
    expect(pauses.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3_000);
    expect(pauses.reduce((a, b) => a + b, 0) - pauses.at(-1)!).toBeLessThan(3_000);
    expect(pauses[1]).toBeGreaterThan(pauses[0]!);
  });

  it('issue 10 #8: a refresh refused right after another process refreshed uses the stored tokens', async () => {
    const store = memoryTokenStore();
    const theirs = {
      access_token: 'A7',
      refresh_token: 'R7',
      access_token_expires_at: new Date(NOW + 240 * MINUTE),
    };
    const sent: string[] = [];
    const { manager } = setup({
      store,
      // The other process refreshed (and saved) while our request was on its way.
      refresh: async (_shop, refreshToken) => {
        sent.push(refreshToken);
        await storedByAnotherProcess(store, theirs);
        throw new AppError('ERR_MARKETPLACE_AUTH', 'invalid refresh_token');
      },
    });

    const used: string[] = [];
    const result = await manager.withAccessToken(expired(), (token) => {
      used.push(token);
      return Promise.resolve('ok');
    });

    expect(result).toBe('ok');
    expect(used).toEqual(['A7']);
    expect(sent).toEqual(['R0']);
  });

  it('issue 10 #8: a refresh refused after another process rotated the token is retryable when its tokens are not usable', async () => {
    const store = memoryTokenStore();
    const { manager } = setup({
      store,
      refresh: async () => {
        await storedByAnotherProcess(store, {
          access_token: 'A7',
          refresh_token: 'R7',
          access_token_expires_at: new Date(NOW - 1),
        });
        throw new AppError('ERR_MARKETPLACE_AUTH', 'invalid refresh_token');
      },
    });

    const error: unknown = await manager.accessToken(expired()).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'ERR_MARKETPLACE_AUTH', retryable: true });
  });

  it('a refused refresh stays fatal when the stored refresh token is still the one sent', async () => {
    const store = memoryTokenStore();
    await storedByAnotherProcess(store, {
      access_token: 'A0',
      refresh_token: 'R0',
      access_token_expires_at: new Date(NOW - MINUTE),
    });
    const { manager } = setup({
      store,
      refresh: () => Promise.reject(new AppError('ERR_MARKETPLACE_AUTH', 'invalid refresh_token')),
    });

    const error: unknown = await manager.accessToken(expired()).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'ERR_MARKETPLACE_AUTH', retryable: false });
  });

  it('releases the lock after a failed refresh, so the next attempt can take it', async () => {
    const lock = memoryLock();
    let fail = true;
    const { manager } = setup({
      lock,
      refresh: () =>
        fail
          ? Promise.reject(new AppError('ERR_MARKETPLACE_TRANSIENT', 'HTTP 503'))
          : Promise.resolve({ access_token: 'A1', refresh_token: 'R1', access_token_expires_at: null }),
    });
    await expect(manager.accessToken(expired())).rejects.toMatchObject({ code: 'ERR_MARKETPLACE_TRANSIENT' });
    fail = false;
    expect(await manager.accessToken(expired())).toBe('A1');
  });

  it('sizes the lock TTL beyond one refresh call with all its attempts and waits', () => {
    expect(refreshLockTtlMs(15_000, 4)).toBeGreaterThan(4 * 15_000 + 3 * 8_000);
    expect(refreshLockTtlMs(1_000, 1)).toBeGreaterThan(1_000);
  });
});
