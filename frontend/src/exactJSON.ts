// Whole numbers beyond Number.MAX_SAFE_INTEGER (account numbers, ids sent
// as numbers) lose digits in JSON.parse: 12345678901234567890 would show as
// 12345678901234567000. The API keeps them exact, so the replies that are
// shown as they are (a customer's attributes, event properties) are read
// with parseExactJSON, which keeps such an integer as a marked string, and
// shown with displayValue / prettyJSON, which print it as the number it is.

/**
 * The prefix of a marked integer. A JSON text from the API never holds a
 * NUL character in a string (Postgres refuses \u0000 in text and jsonb), so
 * a string that starts with one can only be ours.
 */
const MARK = '\u0000int:';

/** Whether v is a whole number parseExactJSON kept as a marked string. */
export function isExactInteger(v: unknown): v is string {
  return typeof v === 'string' && v.startsWith(MARK);
}

/** The digits of a marked integer, or undefined. */
export function exactIntegerDigits(v: unknown): string | undefined {
  return isExactInteger(v) ? v.slice(MARK.length) : undefined;
}

const isDigit = (c: string) => c >= '0' && c <= '9';

/**
 * Rewrites the JSON text so that every integer literal (outside strings)
 * that a JavaScript number cannot hold exactly becomes a marked string.
 * Decimals and numbers with an exponent are left alone: they are not ids,
 * and a float is what they mean. Text that is not valid JSON comes out
 * changed only in such literals, so JSON.parse still reports it.
 */
export function markLargeIntegers(text: string): string {
  let out = '';
  let copied = 0; // text[copied:] is not in out yet
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      // Skip the string, escapes included (\" does not end it, \\ does not escape the quote after it).
      i++;
      while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c !== '-' && !isDigit(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === '-') i++;
    while (i < n && isDigit(text[i])) i++;
    let whole = true;
    if (text[i] === '.') {
      whole = false;
      i++;
      while (i < n && isDigit(text[i])) i++;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      whole = false;
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      while (i < n && isDigit(text[i])) i++;
    }
    const literal = text.slice(start, i);
    const digits = literal.length - (c === '-' ? 1 : 0);
    if (whole && digits >= 16 && !Number.isSafeInteger(Number(literal))) {
      out += text.slice(copied, start) + JSON.stringify(MARK + literal);
      copied = i;
    }
    if (i === start) i++; // a lone "-": not a number, move on
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** JSON.parse that keeps integers beyond Number.MAX_SAFE_INTEGER exact, as marked strings. */
export function parseExactJSON(text: string): unknown {
  return JSON.parse(markLargeIntegers(text));
}

/** JSON.stringify(v, null, 2), with marked integers printed as the numbers they are. */
export function prettyJSON(v: unknown, indent = 2): string {
  // JSON.stringify writes the NUL of the mark as \u0000 right after the
  // opening quote; a string that merely contains the text "\u0000" has its
  // backslash escaped and does not match.
  return JSON.stringify(v, null, indent).replace(/"\\u0000int:(-?\d+)"/g, '$1');
}

/** A value as a profile shows it: a string as it is, a number exact, anything else as JSON. */
export function displayValue(v: unknown): string {
  const digits = exactIntegerDigits(v);
  if (digits !== undefined) return digits;
  if (typeof v === 'string') return v;
  return prettyJSON(v, 0);
}
