import { LeaseholdError } from '../errors.js';
import { loadLua } from '../lua.js';

/** The Lua functions `fenced_ok` and `fenced_reply` (see fence.lua), for scripts that write for a shard. */
export const FENCE_LUA = loadLua(import.meta.url, 'fence.lua');

/**
 * Loads a write script with the fence prepended. The script's first line should be
 * `if not fenced_ok(KEYS[1], ARGV[1], ARGV[2]) then return fenced_reply(KEYS[1]) end`, with
 * KEYS[1] the shard's owner hash, ARGV[1] the replica id and ARGV[2] the epoch.
 *
 * @example
 * const SAVE = loadFencedLua(import.meta.url, 'save.lua');
 * redis.defineCommand('leaseholdSave', { numberOfKeys: 2, lua: SAVE });
 * await redis.leaseholdSave(shardKeys(prefix, s).owner, key, replicaId, epoch, …).catch(rethrowFenced);
 */
export function loadFencedLua(moduleUrl: string, name: string): string {
  return `${FENCE_LUA}\n${loadLua(moduleUrl, name)}`;
}

/**
 * A write for a shard was refused because the writer no longer holds the shard under the epoch
 * it presented: another replica owns it now (or it was released). Not transient: retrying with
 * the same epoch can never succeed; the writer must stop acting for the shard.
 */
export class FencedError extends LeaseholdError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('FENCED', message, options);
  }
}

/** True if `error` is Redis's reply to a fenced write (`FENCED …` from fenced_reply). */
export function isFencedReply(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError' && error.message.startsWith('FENCED ');
}

/** Rethrows a fenced reply as FencedError and anything else as it is; for `.catch(rethrowFenced)`. */
export function rethrowFenced(error: unknown): never {
  if (isFencedReply(error)) throw new FencedError((error as Error).message.slice('FENCED '.length), { cause: error });
  throw error;
}
