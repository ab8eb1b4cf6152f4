import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';

/** What a 0.1 (single-process) installation left under the old key layout. */
export interface LegacyKeys {
  /** Workloads 0.1 had not finished: this version does not drive them. */
  readonly unfinished: number;
  /** Dead letters under `workload_queue:dead`, which `leasehold dead-letters` no longer reads. */
  readonly deadLetters: number;
}

/**
 * Says at start, once, when Redis still holds keys of the 0.1 layout under this prefix. The
 * sharded layout moved workload records into their shard's hash slot and the dead letters under
 * the queue's hash tag; nothing reads the old keys any more, so unfinished 0.1 workloads would
 * be stranded without a word. Two EXISTS-cheap reads; nothing is scanned.
 */
export async function warnIfLegacyLayout(redis: Redis, prefix: string, log: Logger): Promise<LegacyKeys | null> {
  const [unfinished, deadLetters] = await Promise.all([redis.scard(`${prefix}leasehold:active`), redis.llen(`${prefix}workload_queue:dead`)]);
  if (unfinished === 0 && deadLetters === 0) return null;
  log.warn(
    { unfinished, deadLetters, activeKey: `${prefix}leasehold:active`, deadKey: `${prefix}workload_queue:dead` },
    `Redis holds keys of Leasehold 0.1's layout: ${unfinished} unfinished workload(s) that this version will not drive, and ${deadLetters} dead letter(s) it will not list. See the README, Replicas, "Upgrading from 0.1"`,
  );
  return { unfinished, deadLetters };
}
