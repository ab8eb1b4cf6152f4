import type { z } from 'zod';
import { jsonErrorPosition } from './json-error.js';
import { workloadSpecSchema, type WorkloadSpec } from './schema.js';
import { sizeProblem } from './size-bounds.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;

/** Why an entry was refused, as a stable label for metrics; `reason` is the sentence for people. */
export type RefusalKind = 'oversized' | 'invalidJson' | 'notAnObject' | 'invalidSpec' | 'duplicate';

export type ParseResult = { ok: true; spec: WorkloadSpec } | { ok: false; kind: RefusalKind; reason: string; id?: string };

/**
 * Turns one raw queue entry into a spec, or into a reason a person can act on. Never throws: the
 * intake loop must go on to the next entry whatever this one holds.
 */
export function parseSubmission(raw: string, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): ParseResult {
  const bytes = Buffer.byteLength(raw);
  if (bytes > maxBytes) return { ok: false, kind: 'oversized', reason: `payload of ${bytes} bytes is over the limit of ${maxBytes} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, kind: 'invalidJson', reason: `invalid JSON at position ${Math.max(0, jsonErrorPosition(raw))}` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, kind: 'notAnObject', reason: 'payload must be a JSON object' };
  }
  const id = (json as { id?: unknown }).id;
  const named = typeof id === 'string' ? { id } : {};
  const tooBig = sizeProblem(json as Record<string, unknown>);
  if (tooBig) return { ok: false, kind: 'invalidSpec', reason: tooBig, ...named };
  const result = workloadSpecSchema.safeParse(json);
  if (result.success) return { ok: true, spec: result.data };
  return { ok: false, kind: 'invalidSpec', reason: describeIssues(result.error.issues, json as Record<string, unknown>), ...named };
}

/**
 * `id: must be a DNS-1123 label; cmd: is required` — one clause per problem, field first, each said
 * once (2^53 breaks both "a safe integer" and the maximum, which say the same thing to a person).
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: Record<string, unknown>): string {
  // A thousand bad names make a reason no one reads whole: the first few say what is wrong.
  const clauses = issues.slice(0, MAX_CLAUSES * 4).map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const shown = issue.keys.slice(0, MAX_CLAUSES).join(', ');
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${shown}${issue.keys.length > MAX_CLAUSES ? ` (${issue.keys.length} in all)` : ''}`;
    }
    const path = issue.path.join('.');
    const missing = issue.path.length === 1 && !Object.hasOwn(input, issue.path[0] as string);
    const message = missing ? 'is required' : issue.message;
    return path ? `${path}: ${message}` : message;
  });
  const distinct = [...new Set(clauses)];
  const more = issues.length > MAX_CLAUSES * 4 || distinct.length > MAX_CLAUSES ? '; and more' : '';
  return distinct.slice(0, MAX_CLAUSES).join('; ') + more;
}

/** Clauses in one reason; what follows is summed up as "and more". */
const MAX_CLAUSES = 10;
