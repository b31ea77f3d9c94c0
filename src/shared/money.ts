/**
 * Money as BSON Decimal128 with exactly the digits the marketplace sent (CONTRACT §5).
 *
 * TikTok sends amounts as decimal strings ("35.97"): they are stored digit for digit. Shopee
 * sends JSON numbers (35.97): by the time we see one it is a double, so we take its shortest
 * round-trip decimal string (`String(35.97)` is "35.97", `String(0.1)` is "0.1") — the text the
 * marketplace wrote — and never do arithmetic on it.
 */
import { Decimal128 } from 'mongodb';
import { z } from 'zod';

const DECIMAL = /^-?\d+(\.\d+)?$/;

export function isDecimalString(value: string): boolean {
  return DECIMAL.test(value);
}

/** Throws RangeError for anything but a plain decimal ("12", "-0.50") or more than 34 significant digits. */
export function decimalFromString(value: string): Decimal128 {
  if (!DECIMAL.test(value)) throw new RangeError(`not a decimal string: ${JSON.stringify(value)}`);
  // Decimal128 refuses (rather than rounds) values it cannot hold exactly.
  return Decimal128.fromString(value);
}

/**
 * The shortest decimal text of a double, without exponent: 35.97 -> "35.97", 1e-7 -> "0.0000001",
 * 1e21 -> "1000000000000000000000". Only string manipulation after String(): no float arithmetic.
 */
export function decimalStringFromNumber(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  const text = String(value);
  const match = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match;
  const digits = whole + fraction;
  const point = whole.length + Number(exponent);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

export function decimalFromNumber(value: number): Decimal128 {
  return decimalFromString(decimalStringFromNumber(value));
}

function toDecimal(text: string, ctx: z.RefinementCtx): Decimal128 {
  try {
    return decimalFromString(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected a decimal of at most 34 digits' });
    return z.NEVER;
  }
}

/** A decimal string (TikTok) -> Decimal128. */
export const decimalStringSchema = z
  .string({ error: 'expected a decimal string' })
  .regex(DECIMAL, 'expected a decimal string')
  .transform(toDecimal);

/** A JSON number (Shopee) -> Decimal128 through its shortest decimal string; a decimal string is accepted too. */
export const decimalNumberSchema = z.union(
  [
    z
      .number()
      .refine(Number.isFinite)
      .transform((n, ctx) => toDecimal(decimalStringFromNumber(n), ctx)),
    z.string().regex(DECIMAL).transform(toDecimal),
  ],
  { error: 'expected a decimal number' },
);
