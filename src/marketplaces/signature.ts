/**
 * Webhook primitives shared by the marketplace handlers: both platforms sign the raw body with
 * HMAC-SHA256 and send the digest as lowercase hex in `Authorization` (CONTRACT §3); both bodies
 * are UTF-8 JSON that is parsed only after the signature is verified.
 */
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { z } from 'zod';

import { AppError, isAppError } from '../shared/errors.js';
import { parseLosslessJson, type JsonValue } from './lossless-json.js';

/** Imports a secret once, so each verification does not re-import the key bytes. */
export function hmacKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

/** Lowercase hex HMAC-SHA256 of the parts, fed in order (no separators added). */
export function hmacSha256Hex(key: KeyObject | string, ...parts: readonly (string | Buffer)[]): string {
  const hmac = createHmac('sha256', key);
  for (const part of parts) hmac.update(part);
  return hmac.digest('hex');
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Constant-time comparison of the expected lowercase hex digest with the header value, as text:
 * uppercase hex is a different string and is rejected, as the contract asks for lowercase.
 * The length check comes first because timingSafeEqual throws on unequal lengths; a digest's
 * length is public, so leaking it costs nothing.
 */
export function signatureMatches(expectedHex: string, provided: string | undefined): boolean {
  if (provided === undefined || provided.length !== expectedHex.length) return false;
  // latin1 maps each character to one byte, so equal string lengths give equal buffer lengths.
  return timingSafeEqual(Buffer.from(provided, 'latin1'), Buffer.from(expectedHex, 'latin1'));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A verified body as text and parsed JSON. Invalid UTF-8 is refused rather than replaced, so the
 * text stored in the stream is exactly the bytes that were signed. Numbers are kept as written
 * (JsonNumber), so ids of any size survive. Throws ERR_PAYLOAD.
 */
export function parseJsonBody(rawBody: Buffer): { text: string; json: JsonValue } {
  let text: string;
  try {
    text = strictUtf8.decode(rawBody);
  } catch {
    throw new AppError('ERR_PAYLOAD', 'body is not valid UTF-8');
  }
  try {
    return { text, json: parseLosslessJson(text) };
  } catch (error) {
    if (!isAppError(error)) throw error;
    throw new AppError('ERR_PAYLOAD', `body is ${error.message}`);
  }
}

/** One readable line from a zod failure, naming the field: "data.order_id: expected string". */
export function describeIssues(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid envelope';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}
