/**
 * The `state` nonces of the marketplaces' authorization links (issue 13): one random value per
 * link, kept in Redis for 10 minutes and taken with GETDEL, so a callback's state is accepted at
 * most once (a replayed or forged redirect finds nothing) and a link left unused dies on its own.
 */
import { randomBytes } from 'node:crypto';

import { AppError, messageOf } from '../errors.js';
import type { Redis } from '../redis.js';
import { PLATFORMS, type Platform } from '../stream.js';

/** How long an authorization link's state is honoured (seconds). */
export const OAUTH_STATE_TTL_SECONDS = 600;

/** 32 random bytes as base64url: unguessable, and safe in a URL without escaping. */
const STATE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** One deployment's namespace (under STREAM_KEY, like the rate limiter's): ingest and the CLI agree on it. */
export function oauthStateKeyPrefix(streamKey: string): string {
  return `${streamKey}:oauth-state:`;
}

export interface OAuthStateRecord {
  platform: Platform;
  /** Where the seller is sent back (Shopee); recorded so the exchange can be told the same. */
  redirect_url: string | null;
  /** unix ms */
  issued_at: number;
}

export interface OAuthStateStore {
  /** A new single-use state for `platform`. */
  issue(platform: Platform, redirectUrl?: string | null): Promise<string>;
  /**
   * Takes the state: its record when it was issued for `platform` and not yet used or expired.
   * Throws ERR_OAUTH_STATE otherwise (the state is gone either way).
   */
  consume(platform: Platform, state: string | undefined): Promise<OAuthStateRecord>;
}

export interface CreateOAuthStateStoreOptions {
  redis: Redis;
  /** e.g. `${STREAM_KEY}:oauth-state:` (one deployment's namespace). */
  keyPrefix: string;
  ttlSeconds?: number;
  now?: () => number;
}

export function createOAuthStateStore(options: CreateOAuthStateStoreOptions): OAuthStateStore {
  const { redis, keyPrefix } = options;
  const ttl = options.ttlSeconds ?? OAUTH_STATE_TTL_SECONDS;
  const now = options.now ?? Date.now;

  async function redisCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new AppError('ERR_REDIS_UNAVAILABLE', `Redis authorization state: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  return {
    async issue(platform, redirectUrl = null) {
      const state = randomBytes(32).toString('base64url');
      const record: OAuthStateRecord = { platform, redirect_url: redirectUrl, issued_at: now() };
      await redisCall(() => redis.set(keyPrefix + state, JSON.stringify(record), 'EX', ttl));
      return state;
    },

    async consume(platform, state) {
      if (state === undefined || !STATE_PATTERN.test(state)) {
        throw new AppError('ERR_OAUTH_STATE', 'the authorization link carries no valid state');
      }
      const text = await redisCall(() => redis.getdel(keyPrefix + state));
      const record = text === null ? undefined : parseRecord(text);
      if (!record) {
        throw new AppError(
          'ERR_OAUTH_STATE',
          'this authorization link is unknown, was already used, or expired (links last 10 minutes)',
        );
      }
      if (record.platform !== platform) {
        throw new AppError('ERR_OAUTH_STATE', `this authorization link was made for ${record.platform}`);
      }
      return record;
    },
  };
}

function parseRecord(text: string): OAuthStateRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<OAuthStateRecord>;
    if (!(PLATFORMS as readonly unknown[]).includes(value.platform)) return undefined;
    return {
      platform: value.platform!,
      redirect_url: typeof value.redirect_url === 'string' ? value.redirect_url : null,
      issued_at: typeof value.issued_at === 'number' ? value.issued_at : 0,
    };
  } catch {
    return undefined;
  }
}
