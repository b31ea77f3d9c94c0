/**
 * Shopee Open Platform push (webhook) handling (CONTRACT §3, MARKETPLACES.md): verification and
 * mapping to a stream entry. Pure: no I/O, so it is tested against fixtures alone.
 *
 * Signature: `Authorization` = lowercase hex HMAC-SHA256(key = push key, message = callback URL +
 * "|" + raw body). The push key is the console's "Live Push Partner Key" (SHOPEE_PUSH_PARTNER_KEY),
 * which production integrations report differs from the API partner key; unset, the partner key.
 * The callback URL is the one registered with Shopee (SHOPEE_WEBHOOK_URL) when configured,
 * because behind a proxy the URL we see differs from it. Ids are read from the raw text
 * (lossless-json.ts): shop ids are JSON numbers.
 */
import { z } from 'zod';

import { AppError } from '../../shared/errors.js';
import type { EntityKind } from '../../shared/stream.js';
import {
  idText,
  jsonId as id,
  jsonInteger,
  jsonNumericId as shopId,
  jsonUnixSeconds as unixSeconds,
} from '../lossless-json.js';
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
  /** The API partner key: signs pushes when no separate push key is configured. */
  partnerKey: string;
  /** The console's "Live Push Partner Key"; undefined: pushes are signed with `partnerKey`. */
  pushPartnerKey?: string | undefined;
  /** The callback URL registered with Shopee; undefined: use the URL the request arrived at. */
  webhookUrl: string | undefined;
}

/** What a handled push contributes to the stream entry. */
interface Notification {
  shopId: string;
  entityId: string;
  version: number;
}

const codeOnly = z.object({ code: jsonInteger });

/** code 3 (order status) and 4 (tracking number): `data.ordersn`, Shopee's spelling in pushes. */
const orderPush = z
  .object({ shop_id: shopId, data: z.object({ ordersn: id, update_time: unixSeconds.optional() }) })
  .transform((p) => ({ shopId: p.shop_id, entityId: p.data.ordersn, version: p.data.update_time ?? 0 }));

/** code 29 (return update): `data.return_sn` (with `order_sn`, `status`, `update_time` when present). */
const returnPush = z
  .object({ shop_id: shopId, data: z.object({ return_sn: id, update_time: unixSeconds.optional() }) })
  .transform((p) => ({ shopId: p.shop_id, entityId: p.data.return_sn, version: p.data.update_time ?? 0 }));

/** Deauthorization names the shop at the top level or, in partner-level pushes, inside data. */
const shopPush = z
  .object({
    shop_id: shopId.optional(),
    data: z.object({ shop_id: shopId.optional(), update_time: unixSeconds.optional() }).optional(),
  })
  .transform((p, ctx) => {
    const shop = p.shop_id ?? p.data?.shop_id;
    if (shop === undefined) {
      ctx.addIssue({ code: 'custom', path: ['shop_id'], message: 'is required' });
      return z.NEVER;
    }
    return { shopId: shop, entityId: shop, version: p.data?.update_time ?? 0 };
  });

/** Shopee push codes we act on (CONTRACT §3); every other verified code is ignored. */
const HANDLED_CODES: ReadonlyMap<number, { kind: EntityKind; schema: z.ZodType<Notification> }> = new Map([
  [3, { kind: 'order', schema: orderPush }], // order status update
  [4, { kind: 'order', schema: orderPush }], // tracking number
  [29, { kind: 'return', schema: returnPush }], // return update
  [2, { kind: 'shop', schema: shopPush }], // deauthorization: the shop itself
]);

export function createShopeeWebhookHandler(options: ShopeeWebhookOptions): WebhookHandler {
  const key = hmacKey(options.pushPartnerKey ?? options.partnerKey);
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
      const handled = HANDLED_CODES.get(code);
      if (handled === undefined) {
        return {
          handled: false,
          eventType: String(code),
          shopId: idText((json as { shop_id?: unknown }).shop_id),
        };
      }

      const parsed = handled.schema.safeParse(json);
      if (!parsed.success) throw new AppError('ERR_PAYLOAD', describeIssues(parsed.error));
      const event: WebhookEvent = {
        platform: 'shopee',
        shop_id: parsed.data.shopId,
        kind: handled.kind,
        entity_id: parsed.data.entityId,
        version: parsed.data.version,
        // Shopee pushes carry no id of their own: the same body delivered twice is the same event.
        event_id: sha256Hex(rawBody),
        event_type: String(code),
        payload: text,
      };
      return { handled: true, event };
    },
  };
}
