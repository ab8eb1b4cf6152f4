import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { DEFAULT_SHARD_COUNT } from './shards.js';

export interface OwnershipOptions {
  /** This replica's id: `--replica-id`, the Pod name on Kubernetes. Default: `<hostname>-<pid>`. */
  readonly replicaId?: string;
  /** The Redis key prefix (`--key-prefix`). */
  readonly prefix?: string;
  readonly shardCount?: number;
  /** How long a shard lease lasts without renewal, by Redis time: the takeover time after a crash. */
  readonly ttlMs?: number;
  /**
   * The part of the TTL after the last renewal *sent* for which this replica still acts for a
   * shard; past it, the shard is declared lost locally. Must leave room for clock-rate drift
   * and for onLost to run before the lease expires in Redis.
   */
  readonly fenceFraction?: number;
  /** How often leases are renewed and shards balanced (jittered ±20 %). Default: TTL / 3. */
  readonly intervalMs?: number;
  /** How often to check whether a peer joined, left or released shards. Default: 500 ms. */
  readonly pollMs?: number;
  /** A monotonic clock (self-fencing must not follow wall-clock steps); tests pass their own. */
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export type ResolvedOwnershipOptions = Required<Omit<OwnershipOptions, 'logger'>> & { readonly logger: Logger | undefined };

export const DEFAULT_OWNERSHIP_TTL_MS = 10_000;
export const DEFAULT_FENCE_FRACTION = 0.66;
/** The longest a tick may be delayed by jitter, as a multiple of the interval. */
export const JITTER = 0.2;

/** Time since an arbitrary origin that never jumps with NTP or `date -s`. */
export const monotonicClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export function defaultReplicaId(): string {
  return `${hostname()}-${process.pid}`;
}

/** Replica ids appear in key names, logs and labels: DNS-like names only (Pod names fit). */
const REPLICA_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

export function resolveOwnershipOptions(options: OwnershipOptions): ResolvedOwnershipOptions {
  const ttlMs = options.ttlMs ?? DEFAULT_OWNERSHIP_TTL_MS;
  const fenceFraction = options.fenceFraction ?? DEFAULT_FENCE_FRACTION;
  const intervalMs = options.intervalMs ?? Math.round(ttlMs / 3);
  const resolved = {
    replicaId: options.replicaId ?? defaultReplicaId(),
    prefix: options.prefix ?? '',
    shardCount: options.shardCount ?? DEFAULT_SHARD_COUNT,
    ttlMs,
    fenceFraction,
    intervalMs,
    pollMs: options.pollMs ?? Math.min(500, intervalMs),
    clock: options.clock ?? monotonicClock,
    logger: options.logger,
  };
  if (!REPLICA_ID.test(resolved.replicaId)) {
    throw new ConfigError(`replica id ${JSON.stringify(resolved.replicaId)} must be 1-253 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  if (!Number.isInteger(resolved.shardCount) || resolved.shardCount < 1 || resolved.shardCount > 16384) {
    throw new ConfigError(`the shard count must be an integer from 1 to 16384, not ${resolved.shardCount}`);
  }
  if (!(ttlMs >= 100)) throw new ConfigError(`the ownership TTL must be at least 100 ms, not ${ttlMs}`);
  if (!(fenceFraction > 0 && fenceFraction < 1)) throw new ConfigError(`the fence fraction must be between 0 and 1, not ${fenceFraction}`);
  // A renewal must be due (even at the latest jitter) well before the local validity ends, or a
  // healthy replica would fence itself between two renewals.
  if (!(intervalMs > 0 && intervalMs * (1 + JITTER) * 1.5 <= ttlMs * fenceFraction)) {
    throw new ConfigError(
      `the ownership interval (${intervalMs} ms) must be at most ${Math.floor((ttlMs * fenceFraction) / (1.5 * (1 + JITTER)))} ms for a TTL of ${ttlMs} ms: renewals must come well within the fence window`,
    );
  }
  if (!(resolved.pollMs > 0)) throw new ConfigError(`the ownership poll interval must be positive, not ${resolved.pollMs}`);
  return resolved;
}
