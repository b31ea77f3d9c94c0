/**
 * `market-ingest webhook send --platform P --type T [--url U]`: signs one realistic test webhook
 * with the CONFIGURED secrets, using the service's own signing primitives, and sends it to a
 * deployment (default: the local ingest), to check that deployment's signature setup. Prints the
 * answer; exits 0 on 2xx, 1 otherwise.
 */
import { randomInt } from 'node:crypto';

import { TEST_SHOP_IDS, WEBHOOK_TYPES, sampleWebhook } from '../sandbox/webhooks.js';
import { EXIT_FAILURE, EXIT_OK, type CliIo, type CommandSpec, type FlagValues } from '../shared/command.js';
import { redactUrl, type Config } from '../shared/config.js';
import { hmacSha256Hex } from '../marketplaces/signature.js';
import type { Platform } from '../shared/stream.js';
import { messageOf } from '../shared/errors.js';

const PLATFORMS: readonly Platform[] = ['tiktok', 'shopee'];
const TIMEOUT_MS = 10_000;

const typeList = (platform: Platform) => [...WEBHOOK_TYPES[platform].keys()].join(', ');

function validate(flags: FlagValues): string | undefined {
  const { platform, type, url } = flags;
  if (typeof platform !== 'string' || !PLATFORMS.includes(platform as Platform))
    return '--platform must be tiktok or shopee';
  if (typeof type !== 'string') return `--type is required (${platform}: ${typeList(platform as Platform)})`;
  if (!/^\d+$/.test(type) || !WEBHOOK_TYPES[platform as Platform].has(Number(type)))
    return `--type must be one of ${typeList(platform as Platform)} for ${platform}`;
  if (url !== undefined && !isHttpUrl(url)) return '--url must be an http:// or https:// URL';
  return undefined;
}

function isHttpUrl(value: unknown): boolean {
  try {
    return typeof value === 'string' && ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

const NOT_CONFIGURED: Record<Platform, string> = {
  tiktok: 'TikTok secrets are not configured: set TIKTOK_APP_KEY and TIKTOK_APP_SECRET',
  shopee:
    'Shopee secrets are not configured: set SHOPEE_PARTNER_ID and SHOPEE_PARTNER_KEY ' +
    '(and SHOPEE_PUSH_PARTNER_KEY when the console shows a separate Live Push Partner Key)',
};

/**
 * The `Authorization` value the marketplace would send (CONTRACT §3), or undefined when the
 * platform's secrets are unset. Shopee signs the callback URL registered with it
 * (SHOPEE_WEBHOOK_URL), else the URL posted to.
 */
export function webhookSignature(
  config: Pick<Config, 'tiktok' | 'shopee'>,
  platform: Platform,
  url: string,
  body: string,
): string | undefined {
  if (platform === 'tiktok') {
    const tiktok = config.tiktok;
    return tiktok && hmacSha256Hex(tiktok.appSecret, tiktok.appKey, body);
  }
  const shopee = config.shopee;
  return (
    shopee && hmacSha256Hex(shopee.pushPartnerKey ?? shopee.partnerKey, shopee.webhookUrl ?? url, '|', body)
  );
}

async function post(url: string, body: string, signature: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: signature },
    body,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  return { status: response.status, statusText: response.statusText, text: await response.text() };
}

function reason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (error instanceof Error && error.name === 'TimeoutError')
    return `no answer within ${TIMEOUT_MS / 1000} s`;
  return messageOf(error);
}

/** What a refusal most likely means, for the operator. */
function hint(io: CliIo, platform: Platform, status: number, config: Readonly<Config>): void {
  if (status === 401) {
    io.stdout(
      platform === 'tiktok'
        ? 'signature refused: the deployment verifies with other TIKTOK_APP_KEY/TIKTOK_APP_SECRET values\n'
        : `signature refused: the deployment verifies with another push key, or another callback URL than ${
            config.shopee?.webhookUrl ? 'SHOPEE_WEBHOOK_URL' : 'the one posted to (set SHOPEE_WEBHOOK_URL)'
          }\n`,
    );
  } else if (status === 404) {
    io.stdout(
      `not found: the deployment has ${platform} disabled (its secrets unset), or the URL is wrong\n`,
    );
  }
}

export const webhookSendCommand: CommandSpec = {
  name: 'webhook send',
  usage: '--platform tiktok|shopee --type T [--url U]',
  summary:
    'sign one test webhook (TikTok types 1 5 6 11 12, Shopee 2 3 4 29) with the configured secrets, send it, print the answer',
  options: { platform: { type: 'string' }, type: { type: 'string' }, url: { type: 'string' } },
  validate,
  async run({ flags, config, io }) {
    const configured = config();
    const platform = flags.platform as Platform;
    const type = Number(flags.type);
    const url =
      (flags.url as string | undefined) ?? `http://127.0.0.1:${configured.port}/webhooks/${platform}`;
    const at = Math.floor(Date.now() / 1000);
    const body = sampleWebhook(platform, type, {
      at,
      seed: randomInt(2 ** 31),
      partnerId: configured.shopee?.partnerId,
    });
    const signature = webhookSignature(configured, platform, url, body);
    if (signature === undefined) {
      io.stderr(`market-ingest webhook send: ${NOT_CONFIGURED[platform]}\n`);
      return EXIT_FAILURE;
    }
    const shown = redactUrl(url);
    io.stdout(
      `POST ${shown}  ${platform} type ${type} (${WEBHOOK_TYPES[platform].get(type)}), test shop ${TEST_SHOP_IDS[platform]}\n`,
    );
    io.stdout(`${body}\n`);
    let answer;
    try {
      answer = await post(url, body, signature);
    } catch (error) {
      io.stderr(`market-ingest webhook send: no answer from ${shown}: ${reason(error)}\n`);
      return EXIT_FAILURE;
    }
    io.stdout(`HTTP ${answer.status} ${answer.statusText}\n${answer.text}\n`);
    hint(io, platform, answer.status, configured);
    if (answer.status >= 200 && answer.status < 300) {
      io.stdout(
        `signature accepted. Unless a shop ${TEST_SHOP_IDS[platform]} is registered there, the worker dead-letters ` +
          'the event as ERR_SHOP_UNKNOWN (market-ingest dlq list).\n',
      );
      return EXIT_OK;
    }
    return EXIT_FAILURE;
  },
};
