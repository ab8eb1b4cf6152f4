import type { Redis } from 'ioredis';

/**
 * Which warm pool member a workload runs in. `session`: the member is the session, and any owner
 * can go on using it after a takeover. `run`: the workload's command runs in the member through an
 * exec that only the replica which started it can see end.
 */
export interface PoolClaim {
  readonly member: string;
  readonly kind: 'run' | 'session';
  /** The workload's spec env: the member was made without it, so every command run in it is given it. */
  readonly env?: Readonly<Record<string, string>>;
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

/**
 * Claims in one Redis hash, `<id>` → `<kind>:<member>`, then ` <env as JSON>` when the workload has
 * any env (a member id holds no space): one small write per claim and per teardown.
 */
export class RedisPoolClaims implements PoolClaims {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async record(id: string, claim: PoolClaim): Promise<void> {
    const env = claim.env && Object.keys(claim.env).length > 0 ? ` ${JSON.stringify(claim.env)}` : '';
    await this.redis.hset(this.key, id, `${claim.kind}:${claim.member}${env}`);
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
  if (kind !== 'run' && kind !== 'session') return null;
  const space = value.indexOf(' ', at);
  if (space < 0) return { kind, member: value.slice(at + 1) };
  return { kind, member: value.slice(at + 1, space), env: decodeEnv(value.slice(space + 1)) };
}

/** Env as `record` wrote it; anything else (a hand edit) is no env rather than a crash. */
function decodeEnv(json: string): Record<string, string> {
  try {
    const env: unknown = JSON.parse(json);
    if (typeof env !== 'object' || env === null || Array.isArray(env)) return {};
    return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  } catch {
    return {};
  }
}
