/**
 * `GET /oauth/tiktok/callback` and `GET /oauth/shopee/callback` (issue 13): where the
 * marketplaces send a seller back after approving the app. The connector checks and takes the
 * `state`, exchanges the code and stores the shops; this file only turns its answer into a small
 * HTML page for the seller. Everything shown is escaped; 5xx pages carry a fixed text only.
 *
 * A bad, reused or expired state is a 400 page and nothing is stored; a code the marketplace
 * refuses (used, expired) is a 400 page too, never a 500.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';

import { isAppError, type ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { OAUTH_CALLBACK_PATHS, type ConnectResult, type ShopConnector } from '../marketplaces/connect.js';
import { PLATFORMS, type Platform } from '../shared/stream.js';

export interface OAuthRoutesOptions {
  connector: Pick<ShopConnector, 'callback'>;
  logger: Logger;
}

const PLATFORM_NAMES: Record<Platform, string> = { tiktok: 'TikTok Shop', shopee: 'Shopee' };

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** A whole page; `body` must already be escaped HTML. */
function htmlPage(title: string, body: string): string {
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(title)}</title></head>\n<body>\n<h1>${escapeHtml(title)}</h1>\n${body}\n</body></html>\n`
  );
}

export function connectedPage(result: ConnectResult): string {
  const items = result.shops
    .map((shop) => {
      const name = shop.name ? `${escapeHtml(shop.name)} ` : '';
      const state = shop.created ? 'connected' : 'reconnected';
      return `<li>${name}(shop ${escapeHtml(shop.shop_id)}): ${state}</li>`;
    })
    .join('\n');
  return htmlPage(
    `${PLATFORM_NAMES[result.platform]} connected`,
    `<p>${result.shops.length} shop(s) can now be synced:</p>\n<ul>\n${items}\n</ul>\n<p>You can close this page.</p>`,
  );
}

interface FailurePage {
  status: number;
  title: string;
  /** Plain text; escaped when the page is built. */
  text: string;
}

const STATUS_4XX: Partial<Record<ErrorCode, number>> = {
  ERR_OAUTH_STATE: 400,
  ERR_PAYLOAD: 400,
  ERR_USAGE: 400,
  ERR_MARKETPLACE_REJECTED: 400,
  ERR_MARKETPLACE_AUTH: 400,
  ERR_PLATFORM_DISABLED: 404,
};

const UNAVAILABLE: Partial<Record<ErrorCode, FailurePage>> = {
  ERR_MARKETPLACE_TRANSIENT: {
    status: 502,
    title: 'Marketplace unavailable',
    text: 'The marketplace did not answer. Please open a new authorization link in a few minutes.',
  },
  ERR_MARKETPLACE_RATE_LIMITED: {
    status: 502,
    title: 'Marketplace busy',
    text: 'The marketplace is busy. Please open a new authorization link in a few minutes.',
  },
  ERR_MARKETPLACE_RESPONSE: {
    status: 502,
    title: 'Unexpected answer',
    text: 'The marketplace answered something unexpected; nothing was stored. Please tell the operator.',
  },
  ERR_MONGO_UNAVAILABLE: {
    status: 503,
    title: 'Try again later',
    text: 'The service cannot store shops right now. Please open a new authorization link later.',
  },
  ERR_REDIS_UNAVAILABLE: {
    status: 503,
    title: 'Try again later',
    text: 'The service is not ready. Please open a new authorization link later.',
  },
};

const INTERNAL_PAGE: FailurePage = {
  status: 500,
  title: 'Something went wrong',
  text: 'Nothing was stored. Please tell the operator.',
};

function failurePage(error: unknown): FailurePage {
  if (!isAppError(error)) return INTERNAL_PAGE;
  const status = STATUS_4XX[error.code];
  if (status !== undefined) {
    const marketplace = error.code.startsWith('ERR_MARKETPLACE_');
    return {
      status,
      title: marketplace ? 'Authorization refused' : 'Authorization link not valid',
      text: marketplace
        ? `The marketplace refused the authorization (${error.message}); nothing was stored. Codes work once: please open a new authorization link.`
        : `${error.message}. Nothing was stored; please open a new authorization link.`,
    };
  }
  return UNAVAILABLE[error.code] ?? INTERNAL_PAGE;
}

/**
 * The query's values as strings. A parameter given twice with one value counts once: the state
 * rides in the Shopee redirect URL and Shopee may append its own echo of it. Conflicting values
 * count as absent.
 */
function queryOf(raw: unknown): Record<string, string | undefined> {
  const query: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
    const values: unknown[] = Array.isArray(value) ? value : [value];
    const [first] = values;
    if (typeof first === 'string' && values.every((v) => v === first)) query[name] = first;
  }
  return query;
}

function sendHtml(reply: FastifyReply, status: number, html: string) {
  return (
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      // The URL carried a code: no caching, and no Referer to wherever the seller goes next.
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .send(html)
  );
}

export function oauthRoutes(app: FastifyInstance, options: OAuthRoutesOptions, done: () => void): void {
  const log = options.logger.child({ component: 'oauth' });
  for (const platform of PLATFORMS) {
    app.get(OAUTH_CALLBACK_PATHS[platform], async (request, reply) => {
      try {
        const result = await options.connector.callback(platform, queryOf(request.query));
        return await sendHtml(reply, 200, connectedPage(result));
      } catch (error) {
        const page = failurePage(error);
        if (page.status >= 500)
          log.error({ err: error, platform, reqId: request.id }, 'authorization callback failed');
        else
          log.warn(
            { platform, reqId: request.id, code: isAppError(error) ? error.code : undefined },
            'authorization callback refused',
          );
        return sendHtml(reply, page.status, htmlPage(page.title, `<p>${escapeHtml(page.text)}</p>`));
      }
    });
  }
  done();
}
