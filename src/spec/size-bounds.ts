/**
 * Bounds on the size of a submission, checked on the parsed JSON before the schema sees it.
 *
 * The payload limit bounds bytes, not work: under 64 KiB fit 30,000 numbers in `cmd`, and the
 * schema spent over 100 ms on each such entry (it tries both forms of `cmd` and reports every
 * element), so 200 of them held the event loop for seconds and leases lapsed. These checks are
 * linear, stop at the first problem, and leave the schema only inputs of bounded size.
 */

/** More than any real program takes (Linux's own limit is on bytes, ~2 MiB with the environment). */
export const MAX_CMD_ARGS = 4_096;
export const MAX_ENV_VARS = 1_024;
export const MAX_ENV_NAME_LENGTH = 256;
/** Kubernetes allows 64 labels' worth in practice; a Pod with more is a mistake or an attack. */
export const MAX_LABELS = 64;
/** A DNS subdomain prefix (253), a slash, a name (63). */
export const MAX_LABEL_KEY_LENGTH = 253 + 1 + 63;
export const MAX_LABEL_VALUE_LENGTH = 63;
/**
 * Names that JavaScript objects give a meaning to. `JSON.parse` makes `"__proto__"` an own key,
 * which the schema then dropped without a word: the workload ran without the variable its
 * submitter set. Refused by name instead, in env and labels alike.
 */
const OBJECT_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Why `input` is too big to validate, naming the field and the bound; null when it is not. */
export function sizeProblem(input: Record<string, unknown>): string | null {
  const { cmd, env, labels } = input;
  if (Array.isArray(cmd)) {
    if (cmd.length > MAX_CMD_ARGS) return `cmd: at most ${MAX_CMD_ARGS} arguments (got ${cmd.length})`;
    // The schema says the same, after trying each element against both forms of cmd.
    if (cmd.some((arg) => typeof arg !== 'string')) return 'cmd: must be an array of strings (exec) or a string (run by /bin/sh -c)';
  }
  return mapProblem('env', env, MAX_ENV_VARS, MAX_ENV_NAME_LENGTH, null) ?? mapProblem('labels', labels, MAX_LABELS, MAX_LABEL_KEY_LENGTH, MAX_LABEL_VALUE_LENGTH);
}

function mapProblem(field: string, value: unknown, maxKeys: number, maxKeyLength: number, maxValueLength: number | null): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null; // the schema says what is wrong
  const keys = Object.keys(value);
  if (keys.length > maxKeys) return `${field}: at most ${maxKeys} entries (got ${keys.length})`;
  for (const key of keys) {
    if (OBJECT_KEYS.has(key)) return `${field}: the key ${key} is not allowed (it names a property of JavaScript objects)`;
    if (key.length > maxKeyLength) return `${field}: keys must be at most ${maxKeyLength} characters (one has ${key.length})`;
    const entry = (value as Record<string, unknown>)[key];
    if (typeof entry !== 'string') return `${field}.${key}: must be a string`;
    if (maxValueLength !== null && entry.length > maxValueLength) {
      return `${field}.${key}: values must be at most ${maxValueLength} characters (got ${entry.length})`;
    }
  }
  return null;
}
