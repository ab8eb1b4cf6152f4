import { createHash, randomBytes } from 'node:crypto';
import { describeError, type ProvisionResult } from '../../machines/index.js';
import type { Logger } from '../log.js';
import { RESERVED_ID_PREFIX } from '../spec/schema.js';
import type { WorkloadSpec } from '../spec/index.js';
import { poolName, type PoolTemplate } from './pool-template.js';

/** Where a pool makes and removes its members: its runtime, under the members' own ids. */
export interface MemberHost {
  provision(memberId: string, spec: WorkloadSpec): Promise<ProvisionResult>;
  teardown(memberId: string): Promise<void>;
}

export interface PoolStats {
  readonly name: string;
  readonly type: string;
  readonly image: string;
  /** What the pool aims to hold ready now: `size` in use, more under demand, `min` when idle. */
  readonly target: number;
  readonly ready: number;
  readonly starting: number;
  /** Members claimed by workloads that still run in them. */
  readonly inUse: number;
  readonly hits: number;
  readonly misses: number;
}

/**
 * Member ids start with a prefix the spec schema refuses for workload ids, so a member can never be
 * mistaken for a workload, nor a workload take a member's place: `wp-<pool>-<replica>-<random>`,
 * the pool and the replica as short hashes, so that a restarted replica knows its members again.
 */
export const MEMBER_PREFIX = RESERVED_ID_PREFIX;
export const isMemberId = (id: string): boolean => id.startsWith(MEMBER_PREFIX);
export const tagOf = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 8);
export function memberTags(memberId: string): { pool: string; replica: string } | null {
  const match = /^wp-([0-9a-f]{8})-([0-9a-f]{8})-[0-9a-f]+$/.exec(memberId);
  return match ? { pool: match[1]!, replica: match[2]! } : null;
}

/** Demand is measured over this window: claims and misses in it give the claim rate. */
const RATE_WINDOW_MS = 60_000;
/** Members started at once per pool: a large target fills over a few rounds, not in one stampede. */
const MAX_STARTING = 8;
/** A member not running after this long is given up and replaced. */
const START_TIMEOUT_MS = 120_000;
const MAX_BACKOFF_MS = 60_000;
const MEMBER_LIFETIME_SECONDS = 7 * 24 * 3600;

interface Member {
  readonly id: string;
  state: 'starting' | 'ready';
  readonly since: number;
}

/**
 * One warm pool: members made ahead of demand and held idle, each claimed at most once. It sizes
 * itself from recent demand: `size` while in use, up to `max` when claims come faster than members
 * start (twice the members a claim rate uses up in one cold start), and down to `min` once no claim
 * (nor miss) came for `idleSeconds`.
 */
export class WarmPool {
  readonly name: string;
  readonly tag: string;
  private readonly members = new Map<string, Member>();
  /** Ready members, oldest first: the one idle longest is claimed first. */
  private readyQueue: string[] = [];
  private readonly demandAt: number[] = [];
  private lastDemandAt: number;
  /** How long members take to start (a moving average); null until one has. */
  private coldStartMs: number | null = null;
  private failures = 0;
  private retryAt = 0;
  private inUse = 0;
  private hits = 0;
  private misses = 0;
  private closed = false;

  constructor(
    readonly template: PoolTemplate,
    private readonly host: MemberHost,
    private readonly replicaTag: string,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {
    this.name = poolName(template);
    this.tag = tagOf(this.name);
    this.lastDemandAt = now();
  }

  owns(memberId: string): boolean {
    return this.members.has(memberId);
  }

  /** A ready member for a workload, which it never gets back; null is a miss (the workload starts cold). */
  claim(): string | null {
    const now = this.now();
    this.noteDemand(now);
    const memberId = this.readyQueue.shift();
    if (memberId === undefined) {
      this.misses++;
      return null;
    }
    this.members.delete(memberId);
    this.hits++;
    this.inUse++;
    return memberId;
  }

  /** A claim that could not be recorded: the member never ran anything, so it is ready again. */
  unclaim(memberId: string): void {
    this.inUse--;
    this.hits--;
    this.misses++;
    this.members.set(memberId, { id: memberId, state: 'ready', since: this.now() });
    this.readyQueue.unshift(memberId);
  }

  /** A claim whose workload had to start cold after all (its member could not run it): a miss, for the hit rate. */
  fellBack(): void {
    this.hits--;
    this.misses++;
  }

  /** A claimed member's workload is over (its member torn down). */
  released(): void {
    this.inUse = Math.max(0, this.inUse - 1);
  }

  /** Counted in use: a member claimed before a restart, by a workload this replica owns now. */
  claimedElsewhere(): void {
    this.inUse++;
  }

  /** A member found running after a restart of this replica: ready again. */
  adopt(memberId: string): void {
    if (this.members.has(memberId)) return;
    this.members.set(memberId, { id: memberId, state: 'ready', since: this.now() });
    this.readyQueue.push(memberId);
  }

  /** The runtime says a member runs (after a `pending` provision). */
  running(memberId: string): void {
    const member = this.members.get(memberId);
    if (!member || member.state !== 'starting') return;
    this.becomeReady(member);
  }

  /** A member that ended or vanished while idle: removed, and replaced by the next refill. */
  gone(memberId: string, detail: string): void {
    if (!this.members.delete(memberId)) return;
    this.readyQueue = this.readyQueue.filter((id) => id !== memberId);
    this.log.warn({ pool: this.name, member: memberId, detail }, 'a warm pool member ended while idle; replacing it');
    void this.remove(memberId);
  }

  /** What the pool aims to hold ready now. */
  target(now = this.now()): number {
    const { size, min, max, idleSeconds } = this.template;
    if (now - this.lastDemandAt > idleSeconds * 1000) return min;
    while (this.demandAt.length > 0 && this.demandAt[0]! < now - RATE_WINDOW_MS) this.demandAt.shift();
    const needed = Math.ceil((2 * this.demandAt.length * (this.coldStartMs ?? 1_000)) / RATE_WINDOW_MS);
    return Math.min(max, Math.max(min, size, needed));
  }

  /** Starts members up to the target, removes those beyond it, and gives up on members that never start. */
  tick(): void {
    if (this.closed) return;
    const now = this.now();
    const target = this.target(now);
    let starting = 0;
    for (const member of this.members.values()) {
      if (member.state !== 'starting') continue;
      if (now - member.since > START_TIMEOUT_MS) {
        this.members.delete(member.id);
        this.failed(`member ${member.id} did not start within ${START_TIMEOUT_MS / 1000} s`);
        void this.remove(member.id);
      } else starting++;
    }
    while (this.readyQueue.length > target) {
      const surplus = this.readyQueue.shift()!;
      this.members.delete(surplus);
      void this.remove(surplus);
    }
    if (now < this.retryAt) return;
    let deficit = target - this.readyQueue.length - starting;
    while (deficit-- > 0 && starting++ < MAX_STARTING) this.startMember(now);
  }

  stats(): PoolStats {
    let starting = 0;
    for (const member of this.members.values()) if (member.state === 'starting') starting++;
    const { type, image } = this.template;
    return { name: this.name, type, image, target: this.target(), ready: this.readyQueue.length, starting, inUse: this.inUse, hits: this.hits, misses: this.misses };
  }

  /** Stops refilling; with `removeIdle`, tears down the members nobody claimed (they would outlive us unused). */
  async close(removeIdle: boolean): Promise<void> {
    this.closed = true;
    if (!removeIdle) return;
    const idle = [...this.members.keys()];
    this.members.clear();
    this.readyQueue = [];
    await Promise.all(idle.map((id) => this.remove(id)));
  }

  private noteDemand(now: number): void {
    this.lastDemandAt = now;
    this.demandAt.push(now);
  }

  private becomeReady(member: Member): void {
    member.state = 'ready';
    // How long members take to start: how far ahead of demand the pool must be.
    const took = this.now() - member.since;
    this.coldStartMs = this.coldStartMs === null ? took : 0.8 * this.coldStartMs + 0.2 * took;
    this.failures = 0;
    this.readyQueue.push(member.id);
  }

  private startMember(now: number): void {
    const id = `${MEMBER_PREFIX}${this.tag}-${this.replicaTag}-${randomBytes(6).toString('hex')}`;
    const member: Member = { id, state: 'starting', since: now };
    this.members.set(id, member);
    const { type, image, resources } = this.template;
    const spec: WorkloadSpec = {
      id,
      type,
      image,
      resources,
      env: {},
      labels: {},
      leaseSeconds: 30,
      maxLifetimeSeconds: MEMBER_LIFETIME_SECONDS,
      mode: 'session',
      heartbeat: 'self',
    };
    this.host.provision(id, spec).then(
      (result) => {
        if (this.members.get(id) !== member) return; // given up meanwhile
        if (this.closed) return void this.remove(id);
        if (result.state === 'running') this.becomeReady(member);
      },
      (error: unknown) => {
        if (this.members.get(id) !== member) return;
        this.members.delete(id);
        this.failed(describeError(error));
        void this.remove(id);
      },
    );
  }

  private failed(detail: string): void {
    this.failures++;
    const backoff = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.failures);
    this.retryAt = this.now() + backoff;
    this.log.warn({ pool: this.name, detail, retryInMs: backoff }, 'a warm pool member could not start');
  }

  private async remove(memberId: string): Promise<void> {
    try {
      await this.host.teardown(memberId);
    } catch (error) {
      this.log.warn({ pool: this.name, member: memberId, err: error }, 'could not remove a warm pool member');
    }
  }
}
