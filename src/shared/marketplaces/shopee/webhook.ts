/**
 * Shopee Open Platform push (webhook) handling (CONTRACT §3, MARKETPLACES.md): verification and
 * mapping to a stream entry. Pure: no I/O, so it is tested against fixtures alone.
 *
 * Signature: `Authorization` = lowercase hex HMAC-SHA256(key = partner key,
 * message = callback URL + "|" + raw body). The callback URL is the one registered with Shopee
 * (SHOPEE_WEBHOOK_URL) when configured, because behind a proxy the URL we see differs from it.
 */
import { z } from 'zod';

import { AppError } from '../../errors.js';
import type { EntityKind } from '../../stream.js';
import {
  describeIssues,
  hmacKey,
  hmacSha256Hex,
  parseJsonBody,
  sha256Hex,
  signatureMatches,
} from '../signature.js';
import type { WebhookEvent, WebhookHandler, WebhookOutcome, WebhookRequest } from '../types.js';

export interface ShopeeWebhookOptions {
  partnerKey: string;
  /** The callback URL registered with Shopee; undefined: use the URL the request arrived at. */
  webhookUrl: string | undefined;
}

/** Shopee push codes we act on. */
export const SHOPEE_HANDLED_CODES = {
  3: { kind: 'order' }, // order status update: data.ordersn
  4: { kind: 'order' }, // tracking number: data.ordersn
  2: { kind: 'shop' }, // deauthorization: the shop itself
} as const satisfies Record<number, { kind: EntityKind }>;

type HandledCode = keyof typeof SHOPEE_HANDLED_CODES;

/** Shopee sends shop ids as JSON numbers; we store them as strings (digits also accepted). */
const shopId = z.union([
  z
    .number()
    .int()
    .positive()
    .max(Number.MAX_SAFE_INTEGER)
    .transform((n) => String(n)),
  z.string().regex(/^\d{1,16}$/, 'must be a numeric shop id'),
]);

const unixSeconds = z.union([
  z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  z
    .string()
    .regex(/^\d{1,15}$/)
    .transform(Number),
]);

const codeOnly = z.object({ code: z.number().int() });

const orderEnvelope = z.object({
  code: z.number().int(),
  shop_id: shopId,
  data: z.object({
    ordersn: z.string().min(1, 'must be a non-empty string'),
    update_time: unixSeconds.optional(),
  }),
});

/** Deauthorization names the shop at the top level or, in partner-level pushes, inside data. */
const shopEnvelope = z
  .object({
    code: z.number().int(),
    shop_id: shopId.optional(),
    data: z.object({ shop_id: shopId.optional(), update_time: unixSeconds.optional() }).optional(),
  })
  .transform((envelope, ctx) => {
    const id = envelope.shop_id ?? envelope.data?.shop_id;
    if (id === undefined) {
      ctx.addIssue({ code: 'custom', path: ['shop_id'], message: 'is required' });
      return z.NEVER;
    }
    return { shopId: id, updateTime: envelope.data?.update_time };
  });

function isHandled(code: number): code is HandledCode {
  return Object.hasOwn(SHOPEE_HANDLED_CODES, code);
}

function describeShopId(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

export function createShopeeWebhookHandler(options: ShopeeWebhookOptions): WebhookHandler {
  const key = hmacKey(options.partnerKey);
  const { webhookUrl } = options;

  return {
    platform: 'shopee',

    verify(request: WebhookRequest): void {
      if (request.signature === undefined)
        throw new AppError('ERR_SIGNATURE', 'missing Authorization signature');
      const expected = hmacSha256Hex(key, webhookUrl ?? request.url, '|', request.rawBody);
      if (!signatureMatches(expected, request.signature))
        throw new AppError('ERR_SIGNATURE', 'signature does not match');
    },

    toStreamEntry(rawBody: Buffer): WebhookOutcome {
      const { text, json } = parseJsonBody(rawBody);
      const routed = codeOnly.safeParse(json);
      if (!routed.success) throw new AppError('ERR_PAYLOAD', describeIssues(routed.error));
      const { code } = routed.data;
      if (!isHandled(code)) {
        return {
          handled: false,
          eventType: String(code),
          shopId: describeShopId((json as { shop_id?: unknown }).shop_id),
        };
      }

      let shop: string;
      let entityId: string;
      let version: number;
      if (SHOPEE_HANDLED_CODES[code].kind === 'order') {
        const parsed = orderEnvelope.safeParse(json);
        if (!parsed.success) throw new AppError('ERR_PAYLOAD', describeIssues(parsed.error));
        shop = parsed.data.shop_id;
        entityId = parsed.data.data.ordersn;
        version = parsed.data.data.update_time ?? 0;
      } else {
        const parsed = shopEnvelope.safeParse(json);
        if (!parsed.success) throw new AppError('ERR_PAYLOAD', describeIssues(parsed.error));
        shop = parsed.data.shopId;
        entityId = shop;
        version = parsed.data.updateTime ?? 0;
      }

      const event: WebhookEvent = {
        platform: 'shopee',
        shop_id: shop,
        kind: SHOPEE_HANDLED_CODES[code].kind,
        entity_id: entityId,
        version,
        // Shopee pushes carry no id of their own: the same body delivered twice is the same event.
        event_id: sha256Hex(rawBody),
        event_type: String(code),
        payload: text,
      };
      return { handled: true, event };
    },
  };
}
