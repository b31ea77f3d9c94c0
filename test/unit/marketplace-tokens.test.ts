/**
 * TokenManager: when it refreshes, that concurrent refreshes share one, that a refused token is
 * refreshed once, and that refreshed tokens are persisted (and re-persisted after a failure).
 */
import { describe, expect, it } from 'vitest';

import { AppError, isAppError } from '../../src/shared/errors.js';
import { createTokenManager, type RefreshTokens } from '../../src/shared/marketplaces/tokens.js';
import type { Shop, ShopTokens } from '../../src/shared/marketplaces/types.js';
import { silentLogger } from '../support/context.js';
import { memoryTokenStore } from '../support/fake-marketplace/deps.js';

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

function setup(options: { refresh?: RefreshTokens; now?: () => number } = {}) {
  const store = memoryTokenStore();
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
  });
  return { manager, store, refreshed };
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
