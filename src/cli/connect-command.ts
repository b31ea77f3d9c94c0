/**
 * `market-ingest shops connect` (issue 13): the marketplace authorization flow from the command
 * line. Without `--code` it prints the authorization link(s) to send to the seller, each with a
 * fresh single-use state (10 minutes); the seller lands on the ingest callback, which stores the
 * shops. With `--code` it does the exchange itself, for setups whose callback URL the marketplace
 * cannot reach: the code from the redirect URL, and for Shopee the `shop_id` or `main_account_id`
 * beside it.
 */
import { resolveRedisUrl } from '../shared/config.js';
import { closeRedis, createRedis } from '../shared/redis.js';
import { createOAuthStateStore, oauthStateKeyPrefix } from '../shared/store/oauth-state.js';
import type { ShopStore } from '../shared/store/shops.js';
import type { Logger } from '../shared/logger.js';
import type { Platform } from '../shared/stream.js';
import {
  createShopConnectorFromConfig,
  type AuthorizationLinks,
  type ConnectResult,
  type ShopConnector,
} from '../marketplaces/connect.js';
import { EXIT_OK, type CommandContext, type CommandSpec, type FlagValues } from './dispatch.js';
import { platformProblem, text, withShopStore } from './shops-command.js';

const DIGITS = /^\d{1,15}$/;

function urlProblem(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    if (['http:', 'https:'].includes(new URL(value).protocol)) return undefined;
  } catch {
    // reported below
  }
  return `--redirect-url must be an http(s) URL (got "${value}")`;
}

function codeProblem(flags: FlagValues): string | undefined {
  const code = text(flags, 'code');
  const shopId = text(flags, 'shop-id');
  const mainAccountId = text(flags, 'main-account-id');
  if (code === undefined) {
    if (shopId !== undefined || mainAccountId !== undefined) {
      return '--shop-id and --main-account-id go with --code';
    }
    return undefined;
  }
  if (code === '') return '--code must not be empty';
  if (text(flags, 'redirect-url') !== undefined) return '--redirect-url goes with the link, not with --code';
  if (text(flags, 'platform') === 'tiktok') {
    return shopId !== undefined || mainAccountId !== undefined
      ? 'a TikTok code names no shop: give --code alone (the shops come from the grant)'
      : undefined;
  }
  if ((shopId === undefined) === (mainAccountId === undefined)) {
    return 'a Shopee code needs --shop-id ID or --main-account-id ID (whichever the redirect URL carried)';
  }
  const id = (shopId ?? mainAccountId)!;
  return DIGITS.test(id) ? undefined : `a Shopee id is digits only (got "${id}")`;
}

function linksText(result: AuthorizationLinks): string {
  const lines = [
    `Send the seller this ${result.platform} authorization link (valid for 10 minutes, once):`,
    '',
  ];
  for (const link of result.links) lines.push(`  ${link.url}`, `    (${link.note})`, '');
  if (result.platform === 'tiktok') {
    lines.push(
      'TikTok redirects to the URL registered in Partner Center' +
        (result.redirectUrl
          ? `; it must be ${result.redirectUrl}`
          : ' (<OAUTH_REDIRECT_BASE_URL>/oauth/tiktok/callback)') +
        '.',
    );
  } else {
    lines.push(`Shopee redirects to ${result.redirectUrl}.`);
  }
  lines.push(
    'If the callback cannot be reached, copy the code from the redirect URL and run:',
    `  market-ingest shops connect --platform ${result.platform} --code CODE` +
      (result.platform === 'shopee' ? ' (--shop-id ID | --main-account-id ID)' : ''),
    '',
  );
  return lines.join('\n');
}

function connectedText(result: ConnectResult): string {
  return result.shops
    .map((shop) => {
      const verb = shop.created ? 'connected' : 'reconnected';
      const name = shop.name ? ` (${shop.name})` : '';
      const until = shop.authorization_expires_at
        ? `; authorization until ${shop.authorization_expires_at.toISOString()}`
        : '';
      return `${verb} ${result.platform} shop ${shop.shop_id}${name}${until}\n`;
    })
    .join('');
}

async function withConnector(
  ctx: CommandContext,
  work: (connector: ShopConnector) => Promise<number>,
): Promise<number> {
  const config = ctx.config();
  return withShopStore(ctx, 'shops connect', async (shops: ShopStore, _encrypted, logger: Logger) => {
    const redis = createRedis({ url: resolveRedisUrl(config), name: 'cli', logger });
    const states = createOAuthStateStore({ redis, keyPrefix: oauthStateKeyPrefix(config.streamKey) });
    const configured = createShopConnectorFromConfig(config, { shops, states, logger });
    try {
      return await work(configured.connector);
    } finally {
      await configured.close();
      await closeRedis(redis);
    }
  });
}

export const shopsConnectCommand: CommandSpec = {
  name: 'shops connect',
  usage: '--platform P [--redirect-url URL] | --platform P --code C [--shop-id ID | --main-account-id ID]',
  summary:
    "print the marketplace authorization link for a seller, or exchange an authorization code and store the grant's shops",
  options: {
    platform: { type: 'string' },
    'redirect-url': { type: 'string' },
    code: { type: 'string' },
    'shop-id': { type: 'string' },
    'main-account-id': { type: 'string' },
  },
  validate: (flags) =>
    platformProblem(flags) ?? urlProblem(text(flags, 'redirect-url')) ?? codeProblem(flags),
  run(ctx) {
    const platform = text(ctx.flags, 'platform') as Platform;
    const code = text(ctx.flags, 'code');
    return withConnector(ctx, async (connector) => {
      if (code === undefined) {
        const links = await connector.links(platform, { redirectUrl: text(ctx.flags, 'redirect-url') });
        ctx.io.stdout(linksText(links));
        return EXIT_OK;
      }
      const result = await connector.exchange(platform, code, {
        shopId: text(ctx.flags, 'shop-id'),
        mainAccountId: text(ctx.flags, 'main-account-id'),
      });
      ctx.io.stdout(connectedText(result));
      return EXIT_OK;
    });
  },
};
