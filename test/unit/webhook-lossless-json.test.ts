/**
 * The lossless JSON parser webhook bodies go through (issue 11 #7): the grammar of JSON.parse,
 * checked against JSON.parse itself, with every number kept as written.
 */
import { describe, expect, it } from 'vitest';

import { isAppError } from '../../src/shared/errors.js';
import {
  JsonNumber,
  idText,
  jsonId,
  jsonInteger,
  jsonNumericId,
  jsonUnixSeconds,
  parseLosslessJson,
  type JsonValue,
} from '../../src/marketplaces/lossless-json.js';

/** The parsed value with every JsonNumber turned into a JS number: what JSON.parse gives. */
function asJsonParseWould(value: JsonValue): unknown {
  if (value instanceof JsonNumber) return Number(value.text);
  if (Array.isArray(value)) return value.map(asJsonParseWould);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(out, key, { value: asJsonParseWould(item), enumerable: true, writable: true });
    }
    return out;
  }
  return value;
}

function parseError(text: string): string {
  try {
    parseLosslessJson(text);
  } catch (error) {
    if (isAppError(error, 'ERR_PAYLOAD')) return error.message;
    throw error;
  }
  throw new Error(`expected ERR_PAYLOAD for ${text}`);
}

const VALID = [
  '{}',
  '[]',
  ' \t\r\n{ "a" : [ 1 , -2.5e+3 , 0.25E-2 , true , false , null ] } \n',
  '"plain"',
  '"esc\\"apes \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00 \\ud800"',
  '"Hà Nội ✓ 😀"',
  '{"a":1,"a":2}',
  '{"__proto__":{"polluted":true}}',
  '-0',
  '0',
  '1e400',
  '[[[[[[[[]]]]]]]]',
  '{"nested":{"deeper":{"list":[{"k":"v"},[],{}]}}}',
];

const INVALID = [
  '',
  ' ',
  '{',
  '[1,]',
  '{"a":1,}',
  '{a:1}',
  "{'a':1}",
  '01',
  '1.',
  '.5',
  '+1',
  '-',
  '1e',
  'NaN',
  'Infinity',
  'tru',
  'nul',
  '"unterminated',
  '"bad \\x escape"',
  '"bad \\u12 escape"',
  '"tab\tinside"',
  '"newline\ninside"',
  '[1 2]',
  '{"a" 1}',
  '{} {}',
  '"a" x',
  '\u00a0{}',
];

describe('parseLosslessJson', () => {
  it.each(VALID)('parses %j exactly as JSON.parse does, numbers aside', (text) => {
    expect(asJsonParseWould(parseLosslessJson(text))).toStrictEqual(JSON.parse(text));
  });

  it.each(INVALID)('refuses %j with ERR_PAYLOAD, as JSON.parse refuses it', (text) => {
    expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError);
    expect(parseError(text)).toMatch(/^not JSON: .* at offset \d+$/);
  });

  it('agrees with JSON.parse on generated documents', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const scalar = (): unknown =>
      [
        () => Math.floor(random() * 1e6) - 5e5,
        () => random() * 1e3,
        () => String.fromCharCode(...Array.from({ length: 5 }, () => Math.floor(random() * 0xd7ff))),
        () => random() < 0.5,
        () => null,
      ][Math.floor(random() * 5)]!();
    const build = (depth: number): unknown => {
      if (depth > 3 || random() < 0.3) return scalar();
      const size = Math.floor(random() * 4);
      return random() < 0.5
        ? Array.from({ length: size }, () => build(depth + 1))
        : Object.fromEntries(Array.from({ length: size }, (_, i) => [`k${i}`, build(depth + 1)]));
    };
    for (let i = 0; i < 300; i++) {
      const text = JSON.stringify(build(0), null, i % 2 === 0 ? 2 : undefined);
      expect(asJsonParseWould(parseLosslessJson(text))).toStrictEqual(JSON.parse(text));
    }
  });

  it('keeps every number as written: ids beyond 2^53 keep their digits', () => {
    const parsed = parseLosslessJson('{"id":1729592969712207009,"price":35.90,"big":-1E+400}') as Record<
      string,
      JsonNumber
    >;
    expect(parsed.id).toEqual(new JsonNumber('1729592969712207009'));
    expect(parsed.price!.text).toBe('35.90');
    expect(parsed.big!.text).toBe('-1E+400');
    // What JSON.parse would have done to the id.
    expect(String(JSON.parse('1729592969712207009'))).toBe('1729592969712207000');
  });

  it('makes "__proto__" an own property, never the prototype', () => {
    const parsed = parseLosslessJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.keys(parsed)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a body nested deeper than it will follow, without exhausting the stack', () => {
    expect(parseError('['.repeat(100_000) + ']'.repeat(100_000))).toMatch(/nested deeper than 256/);
  });
});

describe('schemas over parsed values', () => {
  const n = (text: string) => new JsonNumber(text);

  it('jsonId keeps strings and integers as written, of any size', () => {
    expect(jsonId.parse('576486316948490001')).toBe('576486316948490001');
    expect(jsonId.parse(n('576486316948490001'))).toBe('576486316948490001');
    expect(jsonId.parse(n('7'))).toBe('7');
    for (const bad of ['', n('1.5'), n('-3'), n('1e3'), 7, null, true]) {
      expect(jsonId.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('jsonNumericId accepts digits only', () => {
    expect(jsonNumericId.parse(n('90071992547409931'))).toBe('90071992547409931');
    expect(jsonNumericId.parse('220456789')).toBe('220456789');
    for (const bad of ['abc', '', n('1.5'), n('-1')]) {
      expect(jsonNumericId.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('jsonInteger and jsonUnixSeconds give safe JS numbers', () => {
    expect(jsonInteger.parse(n('29'))).toBe(29);
    expect(jsonInteger.safeParse(n('9007199254740993')).success).toBe(false);
    expect(jsonInteger.safeParse('29').success).toBe(false);
    expect(jsonUnixSeconds.parse(n('1732182598'))).toBe(1732182598);
    expect(jsonUnixSeconds.parse('17')).toBe(17);
    expect(jsonUnixSeconds.safeParse(n('-1')).success).toBe(false);
    expect(jsonUnixSeconds.safeParse(n('1.5')).success).toBe(false);
  });

  it('idText names an id-like value, or nothing', () => {
    expect(idText(n('7494012345678901234'))).toBe('7494012345678901234');
    expect(idText('s1')).toBe('s1');
    expect(idText(n('1.5'))).toBeUndefined();
    expect(idText(5)).toBeUndefined();
  });
});
