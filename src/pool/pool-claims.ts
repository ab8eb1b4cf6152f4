import type { Redis } from 'ioredis';

/**
 * Which warm pool member a workload runs in. `session`: the member is the session, and any owner
 * can go on using it after a takeover. `run`: the workload's command runs in the member through an
 * exec that only the replica which started it can see end.
 */
export interface PoolClaim {
  readonly member: string;
  readonly kind: 'run' | 'session';
}

/**
 * Where claims are kept beyond this process: a replica that restarts, or takes a shard over, finds
 * the member a workload runs in, and tears it down with the workload.
 */
export interface PoolClaims {
  record(id: string, claim: PoolClaim): Promise<void>;
  lookup(id: string): Promise<PoolClaim | null>;
  forget(id: string): Promise<void>;
  all(): Promise<Map<string, PoolClaim>>;
}

/** Claims in one Redis hash, `<id>` → `<kind>:<member>`: one small write per claim and per teardown. */
export class RedisPoolClaims implements PoolClaims {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async record(id: string, claim: PoolClaim): Promise<void> {
    await this.redis.hset(this.key, id, `${claim.kind}:${claim.member}`);
  }

  async lookup(id: string): Promise<PoolClaim | null> {
    return decode(await this.redis.hget(this.key, id));
  }

  async forget(id: string): Promise<void> {
    await this.redis.hdel(this.key, id);
  }

  async all(): Promise<Map<string, PoolClaim>> {
    const claims = new Map<string, PoolClaim>();
    for (const [id, value] of Object.entries(await this.redis.hgetall(this.key))) {
      const claim = decode(value);
      if (claim) claims.set(id, claim);
    }
    return claims;
  }
}

function decode(value: string | null): PoolClaim | null {
  const at = value?.indexOf(':') ?? -1;
  if (!value || at < 0) return null;
  const kind = value.slice(0, at);
  return kind === 'run' || kind === 'session' ? { kind, member: value.slice(at + 1) } : null;
}
