/**
 * JSON parsing that keeps every number exactly as written (issue 11 #7).
 *
 * Marketplaces send ids as JSON numbers larger than 2^53 (TikTok's published product-status
 * example: `"product_id": 576486316948490000`). JSON.parse turns them into doubles, which changes
 * their digits, and Node 20 gives a reviver no access to the source text. So webhook bodies are
 * parsed here instead: the grammar of JSON.parse (RFC 8259), with every number kept as a
 * JsonNumber holding its source text; callers convert the ones they need (an id stays text, a
 * type code becomes a safe integer). Written here rather than taken from a package: the grammar
 * is small and fixed, and the parser is checked against JSON.parse in the unit tests.
 */
import { z } from 'zod';

import { AppError } from '../shared/errors.js';

/** A JSON number as it was written in the body. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | { [key: string]: JsonValue };

/** Bodies nest a few levels; the bound keeps a hostile body from exhausting the stack. */
const MAX_DEPTH = 256;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERALS = [
  ['true', true],
  ['false', false],
  ['null', null],
] as const;

/** Parses `text` like JSON.parse, numbers as JsonNumber. Throws ERR_PAYLOAD naming the offset. */
export function parseLosslessJson(text: string): JsonValue {
  const parser = new Parser(text);
  const value = parser.readValue(0);
  parser.skipWhitespace();
  if (parser.at < text.length) parser.fail('unexpected data after the value');
  return value;
}

/** A recursive-descent reader over `text`; `at` is the offset of the next character. */
class Parser {
  at = 0;

  constructor(private readonly text: string) {}

  fail(what: string): never {
    throw new AppError('ERR_PAYLOAD', `not JSON: ${what} at offset ${this.at}`);
  }

  skipWhitespace(): void {
    const { text } = this;
    for (;;) {
      const c = text.charCodeAt(this.at);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.at++;
    }
  }

  readValue(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.skipWhitespace();
    const c = this.text.charCodeAt(this.at);
    if (c === 0x7b) return this.readObject(depth); // {
    if (c === 0x5b) return this.readArray(depth); // [
    if (c === 0x22) return this.readString(); // "
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.readNumber(); // - 0-9
    for (const [word, value] of LITERALS) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return value;
      }
    }
    return this.fail(Number.isNaN(c) ? 'unexpected end' : 'unexpected character');
  }

  /** A string token; escapes are decoded by JSON.parse itself, so they mean exactly what they mean there. */
  readString(): string {
    const { text } = this;
    const start = this.at;
    let escaped = false;
    for (this.at++; ; this.at++) {
      const c = text.charCodeAt(this.at);
      if (Number.isNaN(c)) this.fail('unterminated string');
      if (c < 0x20) this.fail('control character in a string');
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        this.at++; // the escaped character cannot end the string; JSON.parse below checks it
      }
    }
    this.at++;
    if (!escaped) return text.slice(start + 1, this.at - 1);
    try {
      return JSON.parse(text.slice(start, this.at)) as string;
    } catch {
      this.at = start;
      return this.fail('invalid escape in a string');
    }
  }

  readNumber(): JsonNumber {
    NUMBER.lastIndex = this.at;
    const match = NUMBER.exec(this.text);
    if (!match) return this.fail('unexpected character');
    this.at += match[0].length;
    return new JsonNumber(match[0]);
  }

  readArray(depth: number): JsonValue[] {
    const items: JsonValue[] = [];
    this.at++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.at) === 0x5d) {
      this.at++;
      return items;
    }
    for (;;) {
      items.push(this.readValue(depth + 1));
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.at++);
      if (c === 0x5d) return items; // ]
      if (c !== 0x2c) this.fail('expected , or ]');
    }
  }

  readObject(depth: number): { [key: string]: JsonValue } {
    const object: { [key: string]: JsonValue } = {};
    this.at++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.at) === 0x7d) {
      this.at++;
      return object;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text.charCodeAt(this.at) !== 0x22) this.fail('expected a property name');
      const key = this.readString();
      this.skipWhitespace();
      if (this.text.charCodeAt(this.at++) !== 0x3a) this.fail('expected :');
      const value = this.readValue(depth + 1);
      // As JSON.parse: last one wins, and "__proto__" is an own property, never the prototype.
      if (key === '__proto__')
        Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      else object[key] = value;
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.at++);
      if (c === 0x7d) return object; // }
      if (c !== 0x2c) this.fail('expected , or }');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// zod schemas for values parsed by parseLosslessJson.

const jsonNumber = z.instanceof(JsonNumber, { message: 'expected a number' });
const INTEGER = /^-?\d+$/;
const DIGITS = /^\d+$/;

/** A code or type: an integer within JS's safe range. */
export const jsonInteger = jsonNumber
  .refine((n) => INTEGER.test(n.text) && Number.isSafeInteger(Number(n.text)), 'must be an integer')
  .transform((n) => Number(n.text));

/**
 * An id as written: a non-empty string, or a non-negative integer of any size, kept as its
 * digits (CONTRACT §3). Never a JS number: 576486316948490001 must not become ...490000.
 */
export const jsonId = z.union(
  [
    z.string().min(1),
    jsonNumber.refine((n) => DIGITS.test(n.text), 'must be an integer').transform((n) => n.text),
  ],
  { error: 'must be a non-empty string or an integer' },
);

/** A numeric id (Shopee's shop ids): an integer, or a string of digits, of any size. */
export const jsonNumericId = z.union(
  [
    z.string().regex(DIGITS),
    jsonNumber.refine((n) => DIGITS.test(n.text), 'must be an integer').transform((n) => n.text),
  ],
  { error: 'must be a numeric id' },
);

/** Unix seconds; some payloads send them as digit strings, which is harmless to accept. */
export const jsonUnixSeconds = z.union(
  [
    z
      .string()
      .regex(/^\d{1,15}$/)
      .transform(Number),
    jsonNumber
      .refine((n) => /^\d{1,15}$/.test(n.text), 'must be unix seconds')
      .transform((n) => Number(n.text)),
  ],
  { error: 'must be unix seconds' },
);

/** The text of an id-like value, for logs and "ignored" answers; undefined when it is neither. */
export function idText(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (value instanceof JsonNumber && DIGITS.test(value.text)) return value.text;
  return undefined;
}
