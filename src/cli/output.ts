import { stringify } from 'yaml';

/** What `-o` takes on every data command; `text` is for people, the others for programs. */
export type DataFormat = 'json' | 'yaml';
export type OutputFormat = 'text' | DataFormat;

/**
 * Characters that JSON.stringify and the yaml package leave raw but that a terminal may obey
 * (C1 controls, DEL) or that reorder what it shows (bidirectional overrides). Written as `\uXXXX`
 * they mean the same to a parser and nothing to a terminal.
 */
const RAW_IN_OUTPUT = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const unicodeEscape = (char: string) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** One JSON document on one line: what `jq` and line-by-line readers expect. */
export function toJson(value: unknown): string {
  return JSON.stringify(value).replace(RAW_IN_OUTPUT, unicodeEscape);
}

/**
 * A YAML document. Only inside a double-quoted scalar does `\u009b` mean the character, so when
 * one of those characters is present every string (keys too) is written double-quoted first.
 */
export function toYaml(value: unknown): string {
  const plain = stringify(value, { lineWidth: 0 });
  RAW_IN_OUTPUT.lastIndex = 0;
  if (!RAW_IN_OUTPUT.test(plain)) return plain;
  return stringify(value, { lineWidth: 0, defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'QUOTE_DOUBLE' }).replace(RAW_IN_OUTPUT, unicodeEscape);
}

/** A value as data: a JSON line, or a YAML document (`---` separates several, as kubectl does). */
export function formatData(value: unknown, format: DataFormat): string {
  return format === 'json' ? `${toJson(value)}\n` : toYaml(value);
}

/** For a stream of documents (watch, submit --wait): YAML documents are separated by `---`. */
export function formatDataItem(value: unknown, format: DataFormat): string {
  return format === 'json' ? `${toJson(value)}\n` : `---\n${toYaml(value)}`;
}
