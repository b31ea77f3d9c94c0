/**
 * Small in-memory implementations of the adapters' injected dependencies, for tests that talk
 * to the fake marketplace without Redis or MongoDB. Both are our own interfaces, not drivers.
 */
import type { RateLimiter, ShopTokens, TokenPersistence } from '../../../src/marketplaces/types.js';
import type { Platform } from '../../../src/shared/stream.js';

export interface RecordingLimiter extends RateLimiter {
  acquired: { platform: Platform; shopId: string }[];
  penalties: { platform: Platform; shopId: string; forMs: number }[];
}

/** Never waits; remembers every acquire and penalty. */
export function unlimitedLimiter(): RecordingLimiter {
  const acquired: RecordingLimiter['acquired'] = [];
  const penalties: RecordingLimiter['penalties'] = [];
  return {
    acquired,
    penalties,
    acquire(platform, shopId) {
      acquired.push({ platform, shopId });
      return Promise.resolve();
    },
    penalize(platform, shopId, forMs) {
      penalties.push({ platform, shopId, forMs });
      return Promise.resolve();
    },
  };
}

export interface MemoryTokenStore extends TokenPersistence {
  saved: { platform: Platform; shopId: string; tokens: ShopTokens }[];
  latest(platform: Platform, shopId: string): ShopTokens | undefined;
  /** Makes the next `times` saves throw. */
  failNext(times?: number): void;
}

export function memoryTokenStore(): MemoryTokenStore {
  const saved: MemoryTokenStore['saved'] = [];
  let failures = 0;
  return {
    saved,
    latest: (platform, shopId) =>
      saved.findLast((s) => s.platform === platform && s.shopId === shopId)?.tokens,
    failNext(times = 1) {
      failures += times;
    },
    saveTokens(platform, shopId, tokens) {
      if (failures > 0) {
        failures -= 1;
        return Promise.reject(new Error('token store unavailable'));
      }
      saved.push({ platform, shopId, tokens: { ...tokens } });
      return Promise.resolve();
    },
    /** The last saved tokens (null before any save): what another process would read. */
    loadTokens(platform, shopId) {
      const tokens = saved.findLast((s) => s.platform === platform && s.shopId === shopId)?.tokens;
      return Promise.resolve(tokens ? { ...tokens } : null);
    },
  };
}
