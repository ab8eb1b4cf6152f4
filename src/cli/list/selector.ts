import { InvalidArgumentError } from 'commander';

/**
 * Label selectors as kubectl takes them (`-l env=prod,tier!=web`): requirements separated by
 * commas, all of which must hold. The forms are Kubernetes' own:
 *
 * - `k=v`, `k==v`: the label is there with that value
 * - `k!=v`: it is not there with that value (an absent label matches, as in Kubernetes)
 * - `k in (a,b)`, `k notin (a,b)`: its value is (not) one of these (notin matches an absent label)
 * - `k`, `!k`: the label is there, or not
 */
export type Requirement =
  | { readonly key: string; readonly op: 'in' | 'notin'; readonly values: readonly string[] }
  | { readonly key: string; readonly op: 'exists' | 'absent' };

export type Selector = readonly Requirement[];

/** Kubernetes label keys (an optional DNS prefix and `/`, then a name) and values. */
const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

function invalid(text: string, why: string): InvalidArgumentError {
  // The selector is the user's own text; shown back in one line, never with its control characters.
  return new InvalidArgumentError(`selector ${JSON.stringify(text)}: ${why}`);
}

function checkKey(key: string, text: string): string {
  if (!KEY.test(key)) throw invalid(text, `"${key}" is not a label key (such as env or example.com/tier)`);
  return key;
}

function checkValue(value: string, text: string): string {
  if (!VALUE.test(value)) throw invalid(text, `"${value}" is not a label value (letters, digits, '-', '_', '.'; at most 63)`);
  return value;
}

/** Splits at the commas that are not inside `( )`. */
function splitRequirements(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '(') depth++;
    else if (char === ')') depth--;
    if (depth < 0 || depth > 1) throw invalid(text, 'unbalanced parentheses');
    if (char === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw invalid(text, 'unbalanced parentheses');
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

function parseRequirement(part: string, text: string): Requirement {
  if (part === '') throw invalid(text, 'an empty requirement (two commas, or one at an end)');
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
  if (set) {
    const values = set[3]!.split(',').map((v) => checkValue(v.trim(), text));
    return { key: checkKey(set[1]!, text), op: set[2] as 'in' | 'notin', values };
  }
  const equality = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
  if (equality) {
    const [, key, op, value] = equality;
    return { key: checkKey(key!, text), op: op === '!=' ? 'notin' : 'in', values: [checkValue(value!, text)] };
  }
  if (part.startsWith('!')) return { key: checkKey(part.slice(1).trim(), text), op: 'absent' };
  return { key: checkKey(part, text), op: 'exists' };
}

export function parseSelector(text: string): Selector {
  return splitRequirements(text).map((part) => parseRequirement(part, text));
}

/** For commander: `-l` may be given several times, and every requirement of every one must hold. */
export function collectSelector(text: string, previous: Selector | undefined): Selector {
  return [...(previous ?? []), ...parseSelector(text)];
}

export function matches(selector: Selector, labels: Readonly<Record<string, string>>): boolean {
  return selector.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case 'absent':
        return !has;
      case 'in':
        return has && r.values.includes(labels[r.key]!);
      case 'notin':
        return !has || !r.values.includes(labels[r.key]!);
    }
  });
}
