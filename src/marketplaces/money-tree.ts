/**
 * Fee breakdowns as stored: the settlement APIs send dozens of money fields, nested differently
 * per platform and API version, and more appear with each version. Rather than name every one
 * (and silently drop the next), a breakdown is copied with each money field turned into
 * Decimal128 with its exact digits, and anything that is not a usable amount reported.
 */
import type { Decimal128 } from 'mongodb';

import { decimalFromString, decimalStringFromNumber, isDecimalString } from '../shared/money.js';
import { isRecord } from './mapping.js';

export type MoneyTree = {
  [key: string]: MoneyTree | MoneyTree[] | Decimal128 | string | number | boolean | null;
};

export interface MoneyTreeOptions {
  /** Is this field an amount? (Not an id, a count, a time, a name.) */
  isMoney: (key: string, value: unknown) => boolean;
  /** Where each problem is reported, as `path: message` (the mappers' validation_errors). */
  issues: string[];
  /** Shopee sends amounts as JSON numbers; TikTok as strings, so a number there is refused. */
  numbers: boolean;
}

/** `value` with its money fields as Decimal128; other fields as they are. Pure. */
export function moneyTree(value: unknown, options: MoneyTreeOptions, path = ''): MoneyTree {
  const out: MoneyTree = {};
  if (!isRecord(value)) return out;
  for (const [key, field] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (Array.isArray(field)) {
      out[key] = field.map((item, i) => moneyTree(item, options, `${at}.${i}`));
    } else if (isRecord(field)) {
      out[key] = moneyTree(field, options, at);
    } else if (options.isMoney(key, field)) {
      out[key] = amountOf(field, at, options.issues, options.numbers);
    } else {
      out[key] = field === undefined ? null : (field as string | number | boolean | null);
    }
  }
  return out;
}

/** A decimal string, or a JSON number when `numbers`, as Decimal128; null (reported) otherwise. */
export function amountOf(value: unknown, at: string, issues: string[], numbers: boolean): Decimal128 | null {
  if (value === null || value === undefined || value === '') return null;
  try {
    if (typeof value === 'string' && isDecimalString(value)) return decimalFromString(value);
    if (numbers && typeof value === 'number') return decimalFromString(decimalStringFromNumber(value));
  } catch {
    // out of Decimal128's range: reported below
  }
  issues.push(`${at}: expected a decimal amount`);
  return null;
}
