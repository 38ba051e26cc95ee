import { describe, expect, it } from 'vitest';
import { displayValue, exactIntegerDigits, isExactInteger, markLargeIntegers, parseExactJSON, prettyJSON } from './exactJSON.ts';

const big = (digits: string) => JSON.stringify(`\u0000int:${digits}`);

describe('markLargeIntegers', () => {
  it('marks whole numbers a JavaScript number cannot hold, and only those', () => {
    expect(markLargeIntegers('{"a":12345678901234567890}')).toBe(`{"a":${big('12345678901234567890')}}`);
    expect(markLargeIntegers('[-12345678901234567890, 9007199254740993]')).toBe(`[${big('-12345678901234567890')}, ${big('9007199254740993')}]`);
    // Safe: 15 digits, and 16 up to MAX_SAFE_INTEGER.
    expect(markLargeIntegers('[123456789012345,9007199254740991,-9007199254740991,0,-1]')).toBe('[123456789012345,9007199254740991,-9007199254740991,0,-1]');
  });

  it('leaves decimals and exponents alone', () => {
    const text = '{"d":12345678901234567890.5,"e":12345678901234567890e3,"E":1E+30,"n":-12345678901234567890.25e-2}';
    expect(markLargeIntegers(text)).toBe(text);
  });

  it('leaves digits inside strings alone, escaped quotes and backslashes included', () => {
    const text = String.raw`{"s":"12345678901234567890","q":"say \"12345678901234567890\" twice","b":"ends with \\","n":12345678901234567891,"k\"12345678901234567892":1}`;
    const out = markLargeIntegers(text);
    expect(out).toBe(text.replace('12345678901234567891', big('12345678901234567891')));
    const parsed = JSON.parse(out) as Record<string, unknown>;
    expect(parsed.q).toBe('say "12345678901234567890" twice');
    expect(parsed.b).toBe('ends with \\');
    expect(exactIntegerDigits(parsed.n)).toBe('12345678901234567891');
    expect(parsed['k"12345678901234567892']).toBe(1);
  });

  it('handles numbers at the start, end and in nested structures, and unicode escapes in strings', () => {
    expect(markLargeIntegers('12345678901234567890')).toBe(big('12345678901234567890'));
    const text = String.raw`{"u":"\u0022 12345678901234567890","a":[{"x":[12345678901234567890]}]}`;
    const parsed = parseExactJSON(text) as { u: string; a: { x: unknown[] }[] };
    expect(parsed.u).toBe('" 12345678901234567890');
    expect(exactIntegerDigits(parsed.a[0].x[0])).toBe('12345678901234567890');
  });

  it('returns the text unchanged (the same string) when nothing needs marking', () => {
    const text = '{"a":1,"b":"x","c":[true,false,null,-2.5]}';
    expect(markLargeIntegers(text)).toBe(text);
    expect(parseExactJSON(text)).toEqual(JSON.parse(text));
  });

  it('leaves invalid JSON for JSON.parse to refuse', () => {
    expect(() => parseExactJSON('{"a":-}')).toThrow(SyntaxError);
    expect(() => parseExactJSON('{"a":"12345678901234567890}')).toThrow(SyntaxError);
  });
});

describe('showing exact integers', () => {
  it('prints them as numbers, in JSON and as a value', () => {
    const v = parseExactJSON('{"account":12345678901234567890,"nested":{"ids":[-98765432109876543210]},"s":"12345678901234567890","t":"\\\\u0000int:1"}');
    expect(prettyJSON(v)).toBe(
      '{\n  "account": 12345678901234567890,\n  "nested": {\n    "ids": [\n      -98765432109876543210\n    ]\n  },\n  "s": "12345678901234567890",\n  "t": "\\\\u0000int:1"\n}',
    );
    const o = v as Record<string, unknown>;
    expect(isExactInteger(o.account)).toBe(true);
    expect(isExactInteger(o.s)).toBe(false);
    expect(displayValue(o.account)).toBe('12345678901234567890');
    expect(displayValue(o.nested)).toBe('{"ids":[-98765432109876543210]}');
    expect(displayValue('plain')).toBe('plain');
    expect(displayValue(42)).toBe('42');
  });
});
