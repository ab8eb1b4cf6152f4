import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

/**
 * Lua scripts are source files beside the code that runs them (each opens with a header naming
 * KEYS, ARGV and the reply). The build copies them next to the compiled JavaScript.
 */
export function loadLua(moduleUrl: string, name: string): string {
  return readFileSync(new URL(`./${name}`, moduleUrl), 'utf8');
}

/** A script and, when fixed, how many of its arguments are keys (else the caller says, first). */
export interface ScriptDefinition {
  readonly lua: string;
  readonly numberOfKeys?: number;
}

export type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Registers scripts on a connection with `defineCommand`, which sends EVALSHA and falls back to
 * EVAL once on NOSCRIPT (after a Redis restart or failover). Sending the text with EVAL on every
 * call cost the hot path dearly: Redis hashes the whole script each time, and a flush that writes
 * to many shards sent the fenced save script (its fence included) once per shard.
 */
export function defineScripts<N extends string>(redis: Redis | Cluster, scripts: Record<N, ScriptDefinition>): Record<N, ScriptCommand> {
  for (const [name, definition] of Object.entries<ScriptDefinition>(scripts)) redis.defineCommand(name, definition);
  return redis as unknown as Record<N, ScriptCommand>;
}
