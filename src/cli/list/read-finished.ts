import type { Redis } from 'ioredis';
import type { Keys } from '../../keys.js';
import { loadLua } from '../../lua.js';
import { readRecords, type StoredRecord } from './read-workloads.js';

const TIDY = loadLua(import.meta.url, 'tidy-finished.lua');

/**
 * Reads the finished workloads of every shard from the shards' indexes of finished workloads
 * (save.lua writes them at a workload's final write and trims them to the retention), newest
 * first, a page at a time: one ZREVRANGEBYSCORE and one pipeline of HMGETs per page, so that no
 * command is proportional to the number of workloads.
 *
 * An entry whose record is gone (it expired before the next final write trimmed the index, or
 * was deleted by hand) is skipped, and removed from the index (tidy-finished.lua) where this
 * client may write; a read-only client just skips it.
 */

export interface FinishedRecord extends StoredRecord {
  /** When its final snapshot was written (ms, Redis time): the index's score. */
  readonly finishedAt: number;
}

export interface ReadFinishedOptions {
  readonly pageSize?: number;
  /** Asked before each page: true stops reading this shard (it has given enough). */
  readonly enough?: (shard: number) => boolean;
}

export async function* readFinished(redis: Redis, keys: Keys, { pageSize = 500, enough = () => false }: ReadFinishedOptions = {}): AsyncGenerator<FinishedRecord[]> {
  for (let shard = 0; shard < keys.shardCount; shard++) {
    const index = keys.finished(shard);
    // Offsets from the newest end: an entry added meanwhile shifts the window down (and shows an
    // id twice, which `seen` drops); the trim removes only the oldest, so nothing is skipped.
    const seen = new Set<string>();
    let offset = 0;
    while (!enough(shard)) {
      const flat = await redis.zrevrangebyscore(index, '+inf', '-inf', 'WITHSCORES', 'LIMIT', offset, pageSize);
      const entries: [string, number][] = [];
      for (let i = 0; i < flat.length; i += 2) if (!seen.has(flat[i]!)) entries.push([flat[i]!, Number(flat[i + 1])]);
      for (const [id] of entries) seen.add(id);
      const records = await readRecords(redis, keys, shard, entries.map(([id]) => id));
      const gone = records.filter((r) => r.spec === null).map((r) => r.id);
      // What the tidy removed was before the next page: the next offset moves up by as much.
      const removed = gone.length > 0 ? await tidy(redis, keys, index, gone) : 0;
      offset += flat.length / 2 - removed;
      const found = records.flatMap((r, i) => (r.spec === null ? [] : [{ ...r, finishedAt: entries[i]![1] }]));
      if (found.length > 0) yield found;
      if (flat.length < pageSize * 2) break;
    }
  }
}

/** How many entries it removed. */
async function tidy(redis: Redis, keys: Keys, index: string, ids: readonly string[]): Promise<number> {
  try {
    return Number(await redis.eval(TIDY, 1 + ids.length, index, ...ids.map((id) => keys.workload(id)), ...ids));
  } catch {
    // Not allowed to write (a read-only user), or Redis went away: the next final write's trim, or
    // the index's own expiry, removes them anyway.
    return 0;
  }
}
