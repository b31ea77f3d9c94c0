/**
 * TikTok Shop webhooks (CONTRACT §3, MARKETPLACES.md): verification and mapping to a stream
 * entry. Pure: no I/O, so it is tested against fixtures alone.
 *
 * Signature: `Authorization` = lowercase hex HMAC-SHA256(key = app secret, message = app key + raw body).
 * Ids are read from the raw text (lossless-json.ts), never through a JS number.
 */
import { z } from 'zod';

import { AppError } from '../../shared/errors.js';
import type { EntityKind } from '../../shared/stream.js';
import {
  idText,
  jsonId as id,
  jsonInteger,
  jsonUnixSeconds as unixSeconds,
  parseLosslessJson,
} from '../lossless-json.js';
import { describeIssues, hmacKey, hmacSha256Hex, parseJsonBody, signatureMatches } from '../signature.js';
import type { WebhookEvent, WebhookHandler, WebhookOutcome, WebhookRequest } from '../types.js';

export interface TikTokWebhookOptions {
  appKey: string;
  appSecret: string;
}

// Ids (`id`) are kept exactly as written, strings or numbers of any size: the published
// product-status example sends product_id as an 18-digit number. They are looked up later.

/** Just enough to route: an unhandled type is acknowledged without further demands on its shape. */
const typeOnly = z.object({ type: jsonInteger });

/** What a handled notification contributes to the stream entry. */
interface Notification {
  shopId: string;
  eventId: string;
  entityId: string;
  version: number;
}

const envelope = { tts_notification_id: id, shop_id: id };

function toNotification(
  n: { tts_notification_id: string; shop_id: string },
  entityId: string,
  version: number | undefined,
): Notification {
  return { shopId: n.shop_id, eventId: n.tts_notification_id, entityId, version: version ?? 0 };
}

const orderNotification = z
  .object({ ...envelope, data: z.object({ order_id: id, update_time: unixSeconds.optional() }) })
  .transform((n) => toNotification(n, n.data.order_id, n.data.update_time));

const returnNotification = z
  .object({ ...envelope, data: z.object({ return_id: id, update_time: unixSeconds.optional() }) })
  .transform((n) => toNotification(n, n.data.return_id, n.data.update_time));

const productNotification = z
  .object({ ...envelope, data: z.object({ product_id: id, update_time: unixSeconds.optional() }) })
  .transform((n) => toNotification(n, n.data.product_id, n.data.update_time));

// The shop itself is the entity; deauthorization may carry no data.
const shopNotification = z
  .object({ ...envelope, data: z.object({ update_time: unixSeconds.optional() }).optional() })
  .transform((n) => toNotification(n, n.shop_id, n.data?.update_time));

const UPCOMING_AUTHORIZATION_EXPIRATION = 7;

// Type 7 (upcoming authorization expiration): the shop is the entity, as for type 6. Its
// `data.expiration_time` (unix seconds, a string in the one witness we have, so either is taken)
// is read by the worker through `authorizationEnd`; a notice without one is still accepted.
const expirationNotification = z
  .object({ ...envelope })
  .transform((n) => toNotification(n, n.shop_id, undefined));

const expirationTime = z.object({ data: z.object({ expiration_time: unixSeconds }) });

/**
 * When a type-7 body says the seller's authorization ends; undefined for another type, or when
 * the time is missing or unreadable (the notice is then only logged).
 */
export function tiktokAuthorizationEnd(payload: string): Date | undefined {
  let json: unknown;
  try {
    json = parseLosslessJson(payload);
  } catch {
    return undefined;
  }
  const routed = typeOnly.safeParse(json);
  if (!routed.success || routed.data.type !== UPCOMING_AUTHORIZATION_EXPIRATION) return undefined;
  const parsed = expirationTime.safeParse(json);
  return parsed.success ? new Date(parsed.data.data.expiration_time * 1000) : undefined;
}

/** TikTok notification types we act on (CONTRACT §3); every other verified type is ignored. */
const HANDLED_TYPES: ReadonlyMap<number, { kind: EntityKind; schema: z.ZodType<Notification> }> = new Map([
  [1, { kind: 'order', schema: orderNotification }], // ORDER_STATUS_CHANGE
  [11, { kind: 'order', schema: orderNotification }], // cancellation status change
  [12, { kind: 'return', schema: returnNotification }], // RETURN_STATUS_CHANGE
  [5, { kind: 'product', schema: productNotification }], // PRODUCT_STATUS_CHANGE
  [6, { kind: 'shop', schema: shopNotification }], // SELLER_DEAUTHORIZATION
  [UPCOMING_AUTHORIZATION_EXPIRATION, { kind: 'shop', schema: expirationNotification }],
]);

export function createTikTokWebhookHandler(options: TikTokWebhookOptions): WebhookHandler {
  const { appKey } = options;
  const key = hmacKey(options.appSecret);

  return {
    platform: 'tiktok',

    verify(request: WebhookRequest): void {
      if (request.signature === undefined)
        throw new AppError('ERR_SIGNATURE', 'missing Authorization signature');
      if (!signatureMatches(hmacSha256Hex(key, appKey, request.rawBody), request.signature))
        throw new AppError('ERR_SIGNATURE', 'signature does not match');
    },

    toStreamEntry(rawBody: Buffer): WebhookOutcome {
      const { text, json } = parseJsonBody(rawBody);
      const routed = typeOnly.safeParse(json);
      if (!routed.success) throw new AppError('ERR_PAYLOAD', describeIssues(routed.error));
      const { type } = routed.data;
      const handled = HANDLED_TYPES.get(type);
      if (handled === undefined) {
        return {
          handled: false,
          eventType: String(type),
          shopId: idText((json as { shop_id?: unknown }).shop_id),
        };
      }

      const parsed = handled.schema.safeParse(json);
      if (!parsed.success) throw new AppError('ERR_PAYLOAD', describeIssues(parsed.error));
      const { shopId, eventId, entityId, version } = parsed.data;
      const event: WebhookEvent = {
        platform: 'tiktok',
        shop_id: shopId,
        kind: handled.kind,
        entity_id: entityId,
        version,
        event_id: eventId,
        event_type: String(type),
        payload: text,
      };
      return { handled: true, event };
    },

    authorizationEnd: tiktokAuthorizationEnd,
  };
}
