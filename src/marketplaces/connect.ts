/**
 * Connecting shops through the marketplaces' authorization flow (issue 13), one service for the
 * ingest callback routes and `shops connect --code`:
 *
 *   link:     a single-use `state` (Redis, 10 min) and the platform's authorization link(s);
 *   callback: take the state (unknown, reused or expired → ERR_OAUTH_STATE, nothing stored),
 *             then exchange;
 *   exchange: code → token pair → the shops the grant covers (TikTok Get Authorized Shops with
 *             their ciphers; Shopee shop_id_list + get_shop_info) → every shop upserted active,
 *             tokens encrypted at rest by the store. A reconnecting shop gets its tokens replaced
 *             and its status back to active.
 *
 * Codes are single-use at the marketplace, and a state is taken atomically before the code is
 * sent, so a replayed callback stores nothing twice.
 */
import type { Config } from '../shared/config.js';
import { AppError, isAppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { OAuthStateStore } from '../shared/store/oauth-state.js';
import type { ShopStore } from '../shared/store/shops.js';
import type { Platform } from '../shared/stream.js';
import { createShopeeClient, type ShopeeAccount, type ShopeeClient } from './shopee/client.js';
import {
  shopeeOpenAuthorizationLink,
  shopeeRedirectWithState,
  shopeeSignedAuthorizationLink,
  type ShopeeLinkKind,
} from './shopee/oauth.js';
import { createTikTokClient, type TikTokClient } from './tiktok/client.js';
import type { RateLimiter } from './types.js';
import { tiktokAuthorizationLink, type TikTokLinkKind } from './tiktok/oauth.js';

/** Where the marketplaces send the seller back: `<OAUTH_REDIRECT_BASE_URL>` + this. */
export const OAUTH_CALLBACK_PATHS: Record<Platform, string> = {
  tiktok: '/oauth/tiktok/callback',
  shopee: '/oauth/shopee/callback',
};

export interface TikTokConnectSetup {
  client: Pick<TikTokClient, 'exchangeAuthCode' | 'getAuthorizedShops'>;
  appKey: string;
  authBaseUrl: string;
  serviceId?: string | undefined;
  authorizeUrl?: string | undefined;
}

export interface ShopeeConnectSetup {
  client: Pick<ShopeeClient, 'exchangeAuthCode' | 'getShopInfo'>;
  partnerId: number;
  partnerKey: string;
  apiBaseUrl: string;
  authorizeUrl?: string | undefined;
}

export interface ShopConnectorDeps {
  /** Undefined: the platform is disabled (its credentials are unset). */
  tiktok?: TikTokConnectSetup | undefined;
  shopee?: ShopeeConnectSetup | undefined;
  shops: Pick<ShopStore, 'upsert'>;
  states: OAuthStateStore;
  /** OAUTH_REDIRECT_BASE_URL, without a trailing slash. */
  redirectBaseUrl?: string | undefined;
  logger: Logger;
  now?: () => number;
}

export interface AuthorizationLink {
  kind: TikTokLinkKind | ShopeeLinkKind;
  url: string;
  note: string;
}

export interface AuthorizationLinks {
  platform: Platform;
  /** Where the seller lands after approving (TikTok: the URL registered in Partner Center). */
  redirectUrl: string | null;
  links: AuthorizationLink[];
}

export interface ConnectedShop {
  shop_id: string;
  name: string | null;
  /** False when the shop was known: its tokens were replaced and it is active again. */
  created: boolean;
  authorization_expires_at: Date | null;
}

export interface ConnectResult {
  platform: Platform;
  shops: ConnectedShop[];
}

/** Who authorized a Shopee code: from the redirect (`shop_id` or `main_account_id`) or the CLI. */
export interface CodeAccount {
  shopId?: string | undefined;
  mainAccountId?: string | undefined;
}

export interface ShopConnector {
  links(platform: Platform, options?: { redirectUrl?: string | undefined }): Promise<AuthorizationLinks>;
  /** The redirect's query: checks and takes `state`, then exchanges `code`. */
  callback(platform: Platform, query: Readonly<Record<string, string | undefined>>): Promise<ConnectResult>;
  /** The exchange alone (`shops connect --code`): no state. */
  exchange(platform: Platform, code: string, account?: CodeAccount): Promise<ConnectResult>;
}

const SHOPEE_ID = /^\d{1,15}$/;

export function createShopConnector(deps: ShopConnectorDeps): ShopConnector {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: 'connect' });

  function setupOf<P extends Platform>(platform: P): NonNullable<ShopConnectorDeps[P]> {
    const setup = deps[platform];
    if (!setup) {
      throw new AppError(
        'ERR_PLATFORM_DISABLED',
        `${platform} is not configured (set its app credentials to connect shops)`,
      );
    }
    return setup;
  }

  function defaultRedirect(platform: Platform): string | null {
    return deps.redirectBaseUrl ? `${deps.redirectBaseUrl}${OAUTH_CALLBACK_PATHS[platform]}` : null;
  }

  function tiktokLinks(setup: TikTokConnectSetup, state: string): AuthorizationLink[] {
    const links: AuthorizationLink[] = [];
    if (setup.serviceId) {
      links.push({
        kind: 'service',
        url: tiktokAuthorizationLink({
          kind: 'service',
          state,
          serviceId: setup.serviceId,
          authorizeUrl: setup.authorizeUrl,
        }),
        note: 'TikTok Shop authorization page (Service ID)',
      });
    }
    links.push({
      kind: 'legacy',
      url: tiktokAuthorizationLink({
        kind: 'legacy',
        state,
        appKey: setup.appKey,
        authBaseUrl: setup.authBaseUrl,
      }),
      note: setup.serviceId
        ? 'legacy app_key link, if the first one is refused'
        : 'legacy app_key link (set TIKTOK_SERVICE_ID for the current one)',
    });
    return links;
  }

  function shopeeLinks(setup: ShopeeConnectSetup, state: string, redirect: string): AuthorizationLink[] {
    const redirectUrl = shopeeRedirectWithState(redirect, state);
    return [
      {
        kind: 'signed',
        url: shopeeSignedAuthorizationLink({
          apiBaseUrl: setup.apiBaseUrl,
          partnerId: setup.partnerId,
          partnerKey: setup.partnerKey,
          timestamp: Math.floor(now() / 1000),
          redirectUrl,
        }),
        note: 'signed auth_partner link: open it within 5 minutes',
      },
      {
        kind: 'open',
        url: shopeeOpenAuthorizationLink({
          authorizeUrl: setup.authorizeUrl,
          partnerId: setup.partnerId,
          redirectUrl,
          state,
        }),
        note: 'newer open.shopee.com link',
      },
    ];
  }

  async function links(platform: Platform, options: { redirectUrl?: string | undefined } = {}) {
    const setup = setupOf(platform);
    const redirectUrl = options.redirectUrl ?? defaultRedirect(platform);
    if (platform === 'shopee' && !redirectUrl) {
      throw new AppError(
        'ERR_USAGE',
        'a Shopee link needs a redirect URL: set OAUTH_REDIRECT_BASE_URL or give --redirect-url',
      );
    }
    const state = await deps.states.issue(platform, redirectUrl);
    const list =
      platform === 'tiktok'
        ? tiktokLinks(setup as TikTokConnectSetup, state)
        : shopeeLinks(setup as ShopeeConnectSetup, state, redirectUrl!);
    return { platform, redirectUrl, links: list };
  }

  async function exchangeTikTok(setup: TikTokConnectSetup, code: string): Promise<ConnectResult> {
    const grant = await setup.client.exchangeAuthCode(code);
    const granted = await setup.client.getAuthorizedShops(grant.access_token);
    if (granted.length === 0) {
      const creator = grant.user_type === 1 ? ' (it is a creator account: use the seller link)' : '';
      throw new AppError('ERR_MARKETPLACE_REJECTED', `the TikTok authorization covers no shop${creator}`);
    }
    const shops: ConnectedShop[] = [];
    for (const shop of granted) {
      const { created } = await deps.shops.upsert({
        platform: 'tiktok',
        shop_id: shop.id,
        access_token: grant.access_token,
        refresh_token: grant.refresh_token,
        access_token_expires_at: grant.access_token_expires_at,
        authorization_expires_at: grant.authorization_expires_at,
        shop_cipher: shop.cipher,
        name: shop.name ?? null,
        status: 'active',
      });
      shops.push({
        shop_id: shop.id,
        name: shop.name ?? null,
        created,
        authorization_expires_at: grant.authorization_expires_at,
      });
    }
    return { platform: 'tiktok', shops };
  }

  /** get_shop_info is only for the name and the authorization end: its failure must not lose the grant. */
  async function shopeeInfo(setup: ShopeeConnectSetup, shopId: string, accessToken: string) {
    try {
      return await setup.client.getShopInfo(shopId, accessToken);
    } catch (error) {
      if (!isAppError(error)) throw error;
      log.warn(
        { platform: 'shopee', shop_id: shopId, err: error },
        'get_shop_info failed; shop stored without name',
      );
      return { name: null, authorization_expires_at: null };
    }
  }

  async function exchangeShopee(
    setup: ShopeeConnectSetup,
    code: string,
    account: CodeAccount,
  ): Promise<ConnectResult> {
    const grant = await setup.client.exchangeAuthCode(code, shopeeAccount(account));
    if (grant.shop_ids.length === 0) {
      throw new AppError('ERR_MARKETPLACE_REJECTED', 'the Shopee authorization covers no shop');
    }
    const shops: ConnectedShop[] = [];
    for (const shopId of grant.shop_ids) {
      const info = await shopeeInfo(setup, shopId, grant.access_token);
      const { created } = await deps.shops.upsert({
        platform: 'shopee',
        shop_id: shopId,
        access_token: grant.access_token,
        refresh_token: grant.refresh_token,
        access_token_expires_at: grant.access_token_expires_at,
        authorization_expires_at: info.authorization_expires_at,
        name: info.name,
        status: 'active',
      });
      shops.push({ shop_id: shopId, created, ...info });
    }
    return { platform: 'shopee', shops };
  }

  async function exchange(platform: Platform, code: string, account: CodeAccount = {}) {
    if (code.trim() === '') throw new AppError('ERR_PAYLOAD', 'the authorization code is missing');
    const result =
      platform === 'tiktok'
        ? await exchangeTikTok(setupOf('tiktok'), code)
        : await exchangeShopee(setupOf('shopee'), code, account);
    log.info(
      { platform, shops: result.shops.map((s) => s.shop_id) },
      `connected ${result.shops.length} ${platform} shop(s)`,
    );
    return result;
  }

  return {
    links,
    exchange,
    async callback(platform, query) {
      setupOf(platform);
      await deps.states.consume(platform, query.state);
      const code = query.code;
      if (!code) throw new AppError('ERR_PAYLOAD', 'the marketplace sent no authorization code');
      return exchange(platform, code, { shopId: query.shop_id, mainAccountId: query.main_account_id });
    },
  };
}

/** Exactly one of shop_id / main_account_id, digits only (Shopee ids are int64 numbers). */
function shopeeAccount(account: CodeAccount): ShopeeAccount {
  const { shopId, mainAccountId } = account;
  if ((shopId === undefined) === (mainAccountId === undefined)) {
    throw new AppError('ERR_PAYLOAD', 'a Shopee code needs exactly one of shop_id and main_account_id');
  }
  const id = (shopId ?? mainAccountId)!;
  if (!SHOPEE_ID.test(id)) throw new AppError('ERR_PAYLOAD', `a Shopee id is digits only (got "${id}")`);
  return shopId !== undefined ? { shopId } : { mainAccountId: mainAccountId! };
}

/** Authorization calls are a few per connected seller: not worth the shared per-shop budget. */
const UNMETERED: RateLimiter = { acquire: () => Promise.resolve(), penalize: () => Promise.resolve() };

export interface ConfiguredConnector {
  connector: ShopConnector;
  /** Closes the API clients it created. */
  close(): Promise<void>;
}

/** A connector with API clients for every configured platform (ingest and the CLI). */
export function createShopConnectorFromConfig(
  config: Readonly<Config>,
  deps: { shops: ShopStore; states: OAuthStateStore; logger: Logger },
): ConfiguredConnector {
  const common = {
    limiter: UNMETERED,
    tokens: deps.shops,
    logger: deps.logger,
    timeoutMs: config.marketplaceTimeoutMs,
    maxAttempts: config.marketplaceMaxAttempts,
    detailBatchSize: config.detailBatchSize,
  };
  const tiktok = config.tiktok ? createTikTokClient({ ...config.tiktok, ...common }) : undefined;
  const shopee = config.shopee ? createShopeeClient({ ...config.shopee, ...common }) : undefined;
  const connector = createShopConnector({
    tiktok: tiktok && config.tiktok ? { ...config.tiktok, client: tiktok } : undefined,
    shopee: shopee && config.shopee ? { ...config.shopee, client: shopee } : undefined,
    shops: deps.shops,
    states: deps.states,
    redirectBaseUrl: config.oauthRedirectBaseUrl,
    logger: deps.logger,
  });
  return {
    connector,
    close: async () => {
      await Promise.all([tiktok?.close(), shopee?.close()]);
    },
  };
}
