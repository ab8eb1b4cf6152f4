/**
 * Where a text stops being JSON. V8's `JSON.parse` reports a position for some errors and not for
 * others ("Unexpected token 'o', "not json" is not valid JSON"), and a dead letter that says *where*
 * saves its reader a search. Called only after `JSON.parse` has already failed, so speed is moot,
 * but depth is not: the submitter chooses it. Nesting is tracked on an explicit stack, never the
 * call stack, so 30,000 (or a million) unclosed `[` get a position like any other text.
 *
 * Returns the index of the first character that cannot continue a JSON text, or -1 if it is JSON.
 */
export function jsonErrorPosition(text: string): number {
  try {
    scan(text);
    return -1;
  } catch (error) {
    if (error instanceof NotJsonAt) return error.position;
    throw error;
  }
}

class NotJsonAt {
  constructor(readonly position: number) {}
}

const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const HEX4 = /[0-9a-fA-F]{4}/y;

function scan(text: string): void {
  let i = 0;
  /** The open containers, innermost last: `{` or `[`. */
  const open: string[] = [];
  const fail = (): never => {
    throw new NotJsonAt(i);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail();
      i++;
    }
  };
  const string = () => {
    i++; // opening quote
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          HEX4.lastIndex = i + 1;
          if (!HEX4.test(text)) {
            // Point at the first character that is not a hex digit.
            let k = i + 1;
            while (k < i + 5 && /[0-9a-fA-F]/.test(text[k] ?? '')) k++;
            i = k;
            fail();
          }
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? '!')) fail();
      }
      i++;
    }
    if (text[i] !== '"') fail();
    i++;
  };
  /** A member's key and its colon; the value follows. */
  const key = () => {
    ws();
    if (text[i] !== '"') fail();
    string();
    ws();
    if (text[i] !== ':') fail();
    i++;
  };

  for (;;) {
    // A value is expected here.
    ws();
    const ch = text[i];
    if (ch === '{' || ch === '[') {
      i++;
      ws();
      if (text[i] === (ch === '{' ? '}' : ']')) i++;
      else {
        open.push(ch);
        if (ch === '{') key();
        continue;
      }
    } else if (ch === '"') string();
    else if (ch === 't') literal('true');
    else if (ch === 'f') literal('false');
    else if (ch === 'n') literal('null');
    else if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(text);
      if (!match) fail();
      i += match![0].length;
    } else fail();

    // A value has ended: close containers, or go on to the next element or member.
    for (;;) {
      ws();
      const inside = open.at(-1);
      if (inside === undefined) {
        if (i < text.length) fail();
        return;
      }
      if (text[i] === ',') {
        i++;
        if (inside === '{') key();
        break;
      }
      if (text[i] === (inside === '{' ? '}' : ']')) {
        i++;
        open.pop();
        continue;
      }
      fail();
    }
  }
}
