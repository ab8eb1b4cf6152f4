import type { Cluster, Redis } from 'ioredis';
import { FENCE_LUA, rethrowFenced } from '../../src/ownership/fencing.js';

/**
 * A fenced write, written the way the store's and intake's scripts will be: the fence first,
 * then the write, in one script, with every key in KEYS and in the shard's slot.
 */
const PROBE_WRITE = `${FENCE_LUA}
if not fenced_ok(KEYS[1], ARGV[1], ARGV[2]) then return fenced_reply(KEYS[1]) end
redis.call('SET', KEYS[2], ARGV[3])
return 1`;

export function probeKey(prefix: string, shard: number): string {
  return `${prefix}leasehold:{s${shard}}:probe`;
}

/** Writes `value` to the shard's probe key, as `replicaId` under `epoch`; FencedError if stale. */
export async function probeWrite(
  redis: Redis | Cluster,
  prefix: string,
  shard: number,
  replicaId: string,
  epoch: number,
  value: string,
): Promise<void> {
  const commands = redis as unknown as { leaseholdTestProbe?: (...args: (string | number)[]) => Promise<unknown> };
  if (!commands.leaseholdTestProbe) redis.defineCommand('leaseholdTestProbe', { numberOfKeys: 2, lua: PROBE_WRITE });
  await commands.leaseholdTestProbe!(`${prefix}leasehold:{s${shard}}:owner`, probeKey(prefix, shard), replicaId, epoch, value).catch(rethrowFenced);
}
