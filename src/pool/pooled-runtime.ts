import type { ObservedStatus, ProvisionResult } from '../../machines/index.js';
import { ConfigError, RuntimeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ExecOutput, ExecRequest, ExecResult } from '../runtime/exec.js';
import { OutputTail } from '../runtime/output-tail.js';
import { claimedRunEnd, startClaimedRun, stopClaimedRun, type ClaimedRun } from './claimed-run.js';
import { HEARTBEAT_ENV, type LogWindow, type ProvisionContext, type RuntimeEvent, type RuntimeListener, type WorkloadRuntime } from '../runtime/runtime.js';
import { workloadArgv } from '../spec/session.js';
import type { WorkloadSpec } from '../spec/index.js';
import type { PoolClaim, PoolClaims } from './pool-claims.js';
import { matches, type PoolTemplate } from './pool-template.js';
import { isMemberId, memberTags, tagOf, WarmPool, type PoolStats } from './warm-pool.js';

export interface PooledRuntimeOptions {
  readonly templates: readonly PoolTemplate[];
  readonly claims: PoolClaims;
  readonly replicaId: string;
  /** The ids of the live replicas: the idle members of any other are removed. */
  readonly liveReplicas: () => Promise<string[]>;
  readonly log: Logger;
  readonly now?: () => number;
  readonly tickMs?: number;
  readonly sweepMs?: number;
  /** SIGTERM to SIGKILL when a claimed run is torn down, as for a cold one (`--grace`). */
  readonly graceMs?: number;
  /** Output kept per claimed run, for `leasehold logs`. */
  readonly logTailBytes?: number;
}

/** A workload running in a claimed member; `run` while this replica holds the exec of its command. */
interface Claimed extends PoolClaim {
  readonly pool: WarmPool | undefined;
  /** A run claimed here whose command is being started. */
  starting?: boolean;
  run?: ClaimedRun;
  /**
   * What the control plane gave the workload at provision (its heartbeat URL and token), which a
   * cold start puts in the sandbox's own environment; known only to the replica that claimed.
   */
  controlEnv?: Readonly<Record<string, string>>;
}

const FINISHED_LOGS_KEPT = 1_000;
const STARTED_COLD_KEPT = 100_000;

/**
 * A runtime with warm pools in front: the same port (runtime.ts) over the same runtime. A workload
 * whose spec matches a pool's template claims one of its ready members instead of being
 * provisioned; every other call, and every miss, goes to the runtime as before.
 *
 * A member is a session the pool made under a member id (warm-pool.ts), never a workload: it is
 * not recorded, leased or announced. A claimed session simply is the member. A claimed run starts
 * its `cmd` in the member through the runtime's exec, with its env and its own workload id, and
 * ends when that command ends; then the member is torn down with the workload. A member is used
 * once: no state passes from one workload to the next.
 *
 * Members belong to the replica that made them (their ids carry its tag): it adopts its idle ones
 * again after a restart, where the runtime keeps them (Pods), and removes any other replica's
 * idle members once that replica is gone. Claims are kept in Redis, so that the next owner of a
 * workload finds its member.
 */
export class PooledRuntime implements WorkloadRuntime {
  readonly name: string;
  readonly isolated: boolean;
  readonly adoptable: boolean | undefined;
  readonly pools: readonly WarmPool[];
  private readonly claimed = new Map<string, Claimed>();
  private readonly finishedLogs = new Map<string, OutputTail>();
  /**
   * Workloads this process started without a member: their status, exec and teardown go straight
   * to the runtime, with no claims lookup in Redis (which, paused, held up every exec into them).
   */
  private readonly startedCold = new Set<string>();
  private readonly listeners = new Set<RuntimeListener>();
  private readonly unwatch: () => void;
  private readonly now: () => number;
  private readonly replicaTag: string;
  private timers: NodeJS.Timeout[] = [];
  private tickQueued = false;
  private sweeping: Promise<void> | null = null;

  constructor(
    private readonly inner: WorkloadRuntime,
    private readonly options: PooledRuntimeOptions,
  ) {
    for (const template of options.templates) {
      if (template.type === 'untrusted' && !inner.isolated) {
        throw new ConfigError(`the warm pool for untrusted ${template.image} cannot be made: the ${inner.name} runtime does not isolate`);
      }
    }
    this.name = inner.name;
    this.isolated = inner.isolated;
    this.adoptable = inner.adoptable;
    this.now = options.now ?? Date.now;
    this.replicaTag = tagOf(options.replicaId);
    const host = { provision: (id: string, spec: WorkloadSpec) => inner.provision(id, spec), teardown: (id: string) => inner.teardown(id) };
    this.pools = options.templates.map((template) => new WarmPool(template, host, this.replicaTag, this.now, options.log));
    this.unwatch = inner.watch((id, event) => this.onInnerEvent(id, event));
  }

  unavailableReason(): string | null {
    return this.inner.unavailableReason();
  }

  async start(): Promise<void> {
    await this.inner.start();
    // Claims made before this start are recalled one by one, as their workloads' owners ask
    // (status at restore, teardown, exec): many belong to other replicas' workloads.
    await this.sweep(true);
    this.tick();
    this.timers = [setInterval(() => this.tick(), this.options.tickMs ?? 1_000), setInterval(() => void this.sweep(false), this.options.sweepMs ?? 30_000)];
    for (const timer of this.timers) timer.unref();
  }

  async provision(id: string, spec: WorkloadSpec, context: ProvisionContext = {}): Promise<ProvisionResult> {
    if (this.claimed.has(id)) return { state: 'running' };
    // A run's end is its exec's, which only the replica holding the exec sees. Where workloads
    // outlive a replica (Pods: restarts, shard moves), a run stays its own Pod and starts cold.
    const claimable = spec.cmd === undefined || !this.adoptable;
    const pool = claimable ? this.pools.find((candidate) => matches(candidate.template, spec)) : undefined;
    const member = pool?.claim() ?? null;
    this.queueTick();
    if (!pool || member === null) return this.provisionCold(id, spec, context);
    const kind = spec.cmd === undefined ? 'session' : 'run';
    // The member was made before this workload, with neither its env nor its id: every command run
    // in it gets them (see exec), as a cold workload's commands get them from its sandbox.
    const env = spec.env;
    // Known here before it is recorded, so that a sweep meanwhile never takes it for an idle one.
    const claim: Claimed = { member, kind, pool, env, controlEnv: this.controlEnvFor(id, context), starting: kind === 'run' };
    this.startedCold.delete(id);
    this.claimed.set(id, claim);
    try {
      await this.options.claims.record(id, { member, kind, env });
    } catch (error) {
      this.claimed.delete(id);
      pool.unclaim(member);
      this.options.log.warn({ workload: id, pool: pool.name, err: error }, 'could not record a warm pool claim; starting the workload cold');
      return this.provisionCold(id, spec, context);
    }
    if (kind === 'run') {
      try {
        claim.run = await this.startRun(id, member, spec, context);
      } catch (error) {
        claim.starting = false;
        // The member could not run it (it died, or its runtime cannot exec): never reuse it, start cold.
        this.options.log.warn({ workload: id, pool: pool.name, member, err: error }, 'a claimed warm pool member could not start the command; starting the workload cold');
        await this.release(id, claim);
        pool.fellBack();
        return this.provisionCold(id, spec, context);
      }
      claim.starting = false;
      const { run } = claim;
      // Told after `provision` has answered, as a cold workload's exit always is.
      void run.ended.then((result) =>
        setImmediate(() => {
          if (this.claimed.get(id) !== claim || run.abort.signal.aborted) return;
          this.emit(id, claimedRunEnd(result));
        }),
      );
    }
    this.options.log.debug({ workload: id, pool: pool.name, member }, 'claimed a warm pool member');
    return { state: 'running' };
  }

  async status(id: string): Promise<ObservedStatus> {
    const claim = this.claimed.get(id) ?? (await this.recall(id));
    if (!claim) return this.inner.status(id);
    if (claim.kind === 'session') return this.inner.status(claim.member);
    if (claim.starting) return { state: 'pending', detail: 'starting its command in a warm pool member' };
    if (!claim.run) {
      return { state: 'exited', detail: 'its command ran in a warm pool member through an exec held by a control plane that has stopped; how it ended is not known' };
    }
    const { result } = claim.run;
    if (!result) return { state: 'running', adoptable: false };
    return result.exitCode === null ? { state: 'exited', detail: result.reason ?? 'the command ended' } : { state: 'exited', exitCode: result.exitCode };
  }

  async teardown(id: string): Promise<void> {
    const claim = this.claimed.get(id) ?? (await this.recall(id));
    if (!claim) {
      await this.inner.teardown(id);
      this.startedCold.delete(id);
      return;
    }
    if (claim.run && !claim.run.result && this.inner.exec) await stopClaimedRun(this.inner.exec.bind(this.inner), claim.member, claim.run, this.options.graceMs ?? 5_000);
    await this.release(id, claim);
  }

  watch(listener: RuntimeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async list(): Promise<string[]> {
    const byMember = new Map([...this.claimed].map(([id, claim]) => [claim.member, id]));
    const ids: string[] = [];
    for (const id of await this.inner.list()) {
      if (!isMemberId(id)) ids.push(id);
      else if (byMember.has(id)) ids.push(byMember.get(id)!);
    }
    return ids;
  }

  async logs(id: string): Promise<string | null> {
    // A member is no workload: asked by its id (which its own environment shows), it has no output.
    if (isMemberId(id)) return null;
    const claim = this.claimed.get(id);
    if (claim?.run) return claim.run.tail.text();
    if (claim) return this.inner.logs(claim.member);
    return this.finishedLogs.get(id)?.text() ?? this.inner.logs(id);
  }

  async logsFrom(id: string, from: number): Promise<LogWindow | null> {
    if (isMemberId(id)) return null;
    const claim = this.claimed.get(id);
    if (claim?.run) return claim.run.tail.window(from, claim.run.result !== null);
    const finished = this.finishedLogs.get(id);
    if (finished) return finished.window(from, true);
    const member = claim?.member ?? id;
    return this.inner.logsFrom ? this.inner.logsFrom(member, from) : null;
  }

  stats(): Readonly<Record<string, number>> {
    return this.inner.stats?.() ?? {};
  }

  poolStats(): PoolStats[] {
    return this.pools.map((pool) => pool.stats());
  }

  async exec(id: string, request: ExecRequest, output: ExecOutput, signal: AbortSignal): Promise<ExecResult> {
    if (!this.inner.exec) throw new RuntimeError('EXEC_UNSUPPORTED', `the ${this.name} runtime cannot run a command inside a running workload`);
    const claim = this.claimed.get(id) ?? (await this.recall(id));
    if (!claim) return this.inner.exec(id, request, output, signal);
    // The member's own environment holds its `wp-` id and nothing of the workload's.
    const own: ExecRequest = {
      ...request,
      env: { ...claim.env, ...request.env },
      controlEnv: { ...claim.controlEnv, ...request.controlEnv, LEASEHOLD_WORKLOAD_ID: id },
    };
    return this.inner.exec(claim.member, own, output, signal);
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.unwatch();
    // Pods outlive us, and this replica adopts its idle members when it comes back; local
    // processes would only be stopped by the next start, so they go now.
    await Promise.all(this.pools.map((pool) => pool.close(!this.adoptable)));
    this.listeners.clear();
    await this.inner.close();
  }

  /** Starts the claimed run's command in its member; resolves once it runs, rejects when it could not start. */
  private async startRun(id: string, member: string, spec: WorkloadSpec, context: ProvisionContext): Promise<ClaimedRun> {
    if (!this.inner.exec) throw new RuntimeError('EXEC_UNSUPPORTED', `the ${this.name} runtime cannot run a command inside a running workload`);
    const request: ExecRequest = { cmd: workloadArgv(spec), env: spec.env, controlEnv: this.controlEnvFor(id, context) };
    return startClaimedRun(this.inner.exec.bind(this.inner), member, request, this.options.logTailBytes ?? 64 * 1024);
  }

  /** A workload that claimed nothing: provisioned as without a pool, and known never to need a claims lookup. */
  private provisionCold(id: string, spec: WorkloadSpec, context: ProvisionContext): Promise<ProvisionResult> {
    this.startedCold.add(id);
    // Forgotten at teardown; a workload handed to another replica never is, so the oldest go
    // first past a bound (one of them asked about again is only looked up, as after a restart).
    if (this.startedCold.size > STARTED_COLD_KEPT) this.startedCold.delete(this.startedCold.values().next().value!);
    return this.inner.provision(id, spec, context);
  }

  /** The control plane's variables for a workload in a member: as at a cold start, its id included. */
  private controlEnvFor(id: string, context: ProvisionContext): Record<string, string> {
    const controlEnv: Record<string, string> = { ...context.env, LEASEHOLD_WORKLOAD_ID: id };
    // The member's sandbox was made before this workload existed: no heartbeat socket is bound into it.
    if (this.isolated) delete controlEnv[HEARTBEAT_ENV.socket];
    return controlEnv;
  }

  /** A claim made before this process started, or by another replica: the member a workload runs in. */
  private async recall(id: string): Promise<Claimed | undefined> {
    if (this.startedCold.has(id)) return undefined;
    const claim = await this.options.claims.lookup(id);
    return claim ? this.remember(id, claim) : undefined;
  }

  private remember(id: string, claim: PoolClaim): Claimed {
    const tags = memberTags(claim.member);
    const pool = this.pools.find((candidate) => candidate.tag === tags?.pool);
    pool?.claimedElsewhere();
    const known: Claimed = { ...claim, pool };
    this.claimed.set(id, known);
    return known;
  }

  /** The workload is over: its member goes, never back to the pool, then its claim. */
  private async release(id: string, claim: Claimed): Promise<void> {
    await this.inner.teardown(claim.member);
    if (this.claimed.get(id) === claim) {
      this.claimed.delete(id);
      claim.pool?.released();
      if (claim.run) this.keepFinishedLog(id, claim.run.tail);
    }
    await this.options.claims.forget(id);
  }

  private keepFinishedLog(id: string, tail: OutputTail): void {
    tail.compact();
    this.finishedLogs.set(id, tail);
    if (this.finishedLogs.size > FINISHED_LOGS_KEPT) this.finishedLogs.delete(this.finishedLogs.keys().next().value!);
  }

  private onInnerEvent(id: string, event: RuntimeEvent): void {
    if (!isMemberId(id)) return this.emit(id, event);
    const owner = this.pools.find((pool) => pool.owns(id));
    if (owner) {
      if (event.type === 'runtime.running') owner.running(id);
      else if (event.type === 'runtime.exited') owner.gone(id, event.detail ?? `exited with ${event.exitCode ?? 'no code'}`);
      this.queueTick();
      return;
    }
    // A claimed session is its member: what happens to the member happens to the workload. A
    // claimed run's end is its command's, told when the exec ends.
    for (const [workload, claim] of this.claimed) {
      if (claim.member === id && claim.kind === 'session') return this.emit(workload, event);
    }
  }

  private isClaimedHere(memberId: string): boolean {
    for (const claim of this.claimed.values()) if (claim.member === memberId) return true;
    return false;
  }

  private emit(id: string, event: RuntimeEvent): void {
    for (const listener of this.listeners) listener(id, event);
  }

  private queueTick(): void {
    if (this.tickQueued) return;
    this.tickQueued = true;
    setImmediate(() => {
      this.tickQueued = false;
      this.tick();
    });
  }

  private tick(): void {
    for (const pool of this.pools) pool.tick();
  }

  /**
   * Members the runtime holds that no pool here knows and no workload claims: this replica's own
   * from before a restart (adopted once, at start, when still running), or a gone replica's (removed).
   */
  private sweep(atStart: boolean): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        const [ids, recorded, live] = await Promise.all([this.inner.list(), this.options.claims.all(), this.options.liveReplicas()]);
        const recordedMembers = new Set([...recorded.values()].map((claim) => claim.member));
        const liveTags = new Set([...live.map(tagOf), this.replicaTag]);
        for (const id of ids) {
          const tags = memberTags(id);
          // Claims made here are checked as each member comes up, not once before the loop: a
          // removal awaited below can take seconds (a Pod's delete), and a member claimed meanwhile
          // is neither in the pool nor in that snapshot any more.
          if (!tags || recordedMembers.has(id) || this.isClaimedHere(id) || this.pools.some((pool) => pool.owns(id))) continue;
          if (tags.replica !== this.replicaTag && liveTags.has(tags.replica)) continue;
          const pool = this.pools.find((candidate) => candidate.tag === tags.pool);
          if (atStart && pool && tags.replica === this.replicaTag && this.adoptable && (await this.inner.status(id)).state === 'running') pool.adopt(id);
          else await this.inner.teardown(id).catch((error: unknown) => this.options.log.warn({ member: id, err: error }, 'could not remove a stray warm pool member'));
        }
      } catch (error) {
        this.options.log.warn({ err: error }, 'could not sweep warm pool members');
      } finally {
        this.sweeping = null;
      }
    })();
    return this.sweeping;
  }
}
