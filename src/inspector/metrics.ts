import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PoolStats } from '../pool/warm-pool.js';
import type { LifecycleState, Timings, WorkloadType } from '../../machines/index.js';
import type { TransitionMessage } from '../events/transition.js';
import type { RefusalKind } from '../spec/index.js';
import type { SupervisorObserver } from '../supervisor/ports.js';

/** Prometheus metrics; the supervisor reports through the observer port, gauges are read on scrape. */
export class Metrics implements SupervisorObserver {
  readonly registry = new Registry();
  private readonly transitions: Counter<'from' | 'to'>;
  private readonly timeInState: Histogram<'state' | 'type'>;
  private readonly submitToRunning: Histogram<'type'>;
  private readonly leaseExpirations: Counter<'type'>;
  private readonly deadLetters: Counter<'reason'>;
  private readonly runtimeErrors: Counter<'runtime'>;
  private readonly ended: Counter<'type' | 'reason'>;

  constructor(source: {
    counts(): Record<LifecycleState, Record<WorkloadType, number>>;
    queueDepth(): Promise<number>;
    /** Each runtime's own counters (the Kubernetes watch: lists, watches, stalls, relists, errors). */
    runtimeStats?(): { runtime: string; stats: Readonly<Record<string, number>> }[];
    /** Whether the NATS connection is up: an outage shows here, not as unreadiness. */
    natsConnected?(): boolean;
    /** The warm pools, where any are declared. */
    pools?(): readonly PoolStats[];
  }) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    new Gauge({
      name: 'leasehold_workloads',
      // A live workload is never tornDown: ended ones are counted by leasehold_workloads_ended_total.
      help: 'Live workloads by state and type',
      labelNames: ['state', 'type'],
      registers,
      collect() {
        for (const [state, byType] of Object.entries(source.counts())) {
          if (state === 'tornDown') continue;
          for (const [type, n] of Object.entries(byType)) this.set({ state, type }, n);
        }
      },
    });
    new Counter({
      name: 'leasehold_runtime_events_total',
      help: "Runtimes' own counters since start, such as how often the Kubernetes watch listed, watched, stalled or got 410 Gone",
      labelNames: ['runtime', 'event'],
      registers,
      collect() {
        // The runtimes keep the counts; a scrape shows them as they are.
        this.reset();
        for (const { runtime, stats } of source.runtimeStats?.() ?? []) {
          for (const [event, n] of Object.entries(stats)) this.inc({ runtime, event }, n);
        }
      },
    });
    new Gauge({
      name: 'leasehold_pool_members',
      help: 'Warm pool members by state: ready (idle, claimable), starting, claimed (in use by a workload)',
      labelNames: ['pool', 'state'],
      registers,
      collect() {
        this.reset();
        for (const pool of source.pools?.() ?? []) {
          this.set({ pool: pool.name, state: 'ready' }, pool.ready);
          this.set({ pool: pool.name, state: 'starting' }, pool.starting);
          this.set({ pool: pool.name, state: 'claimed' }, pool.inUse);
        }
      },
    });
    new Gauge({
      name: 'leasehold_pool_target_size',
      help: 'Ready members each warm pool aims for now: its size in use, more under demand, its min when idle',
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset();
        for (const pool of source.pools?.() ?? []) this.set({ pool: pool.name }, pool.target);
      },
    });
    new Counter({
      name: 'leasehold_pool_claims_total',
      help: 'Workloads that matched a warm pool: hit (started in a ready member) or miss (none ready, started cold)',
      labelNames: ['pool', 'result'],
      registers,
      collect() {
        this.reset();
        for (const pool of source.pools?.() ?? []) {
          this.inc({ pool: pool.name, result: 'hit' }, pool.hits);
          this.inc({ pool: pool.name, result: 'miss' }, pool.misses);
        }
      },
    });
    new Gauge({
      name: 'leasehold_nats_connected',
      help: '1 while the control plane is connected to NATS; transitions wait in a bounded outbox while it is 0',
      registers,
      collect() {
        this.set(source.natsConnected?.() === false ? 0 : 1);
      },
    });
    new Gauge({
      name: 'leasehold_queue_depth',
      help: 'Entries waiting in workload_queue',
      registers,
      async collect() {
        this.set(await source.queueDepth());
      },
    });
    this.transitions = new Counter({ name: 'leasehold_transitions_total', help: 'State transitions', labelNames: ['from', 'to'], registers });
    const buckets = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800];
    this.timeInState = new Histogram({ name: 'leasehold_state_seconds', help: 'Time spent in each state', labelNames: ['state', 'type'], buckets, registers });
    this.submitToRunning = new Histogram({ name: 'leasehold_submit_to_running_seconds', help: 'From queued to running', labelNames: ['type'], buckets, registers });
    this.leaseExpirations = new Counter({ name: 'leasehold_lease_expirations_total', help: 'Leases that lapsed while running', labelNames: ['type'], registers });
    this.deadLetters = new Counter({ name: 'leasehold_dead_letters_total', help: 'Queue entries refused', labelNames: ['reason'], registers });
    this.runtimeErrors = new Counter({ name: 'leasehold_runtime_errors_total', help: 'Errors from runtimes', labelNames: ['runtime'], registers });
    this.ended = new Counter({ name: 'leasehold_workloads_ended_total', help: 'Workloads torn down, by why they ended', labelNames: ['type', 'reason'], registers });
  }

  transition(message: TransitionMessage, timings: Timings): void {
    this.transitions.inc({ from: message.from ?? 'none', to: message.to });
    if (message.to === 'tornDown') this.ended.inc({ type: message.type, reason: message.reason ?? 'unknown' });
    const entered = timings[message.to];
    const left = message.from ? timings[message.from] : undefined;
    if (message.from && entered !== undefined && left !== undefined) {
      this.timeInState.observe({ state: message.from, type: message.type }, (entered - left) / 1000);
    }
    if (message.to === 'running' && entered !== undefined && timings.queued !== undefined) {
      this.submitToRunning.observe({ type: message.type }, (entered - timings.queued) / 1000);
    }
  }

  runtimeError(runtime: string): void {
    this.runtimeErrors.inc({ runtime });
  }

  leaseExpired(_id: string, type: WorkloadType): void {
    this.leaseExpirations.inc({ type });
  }

  deadLetter(kind: RefusalKind): void {
    this.deadLetters.inc({ reason: kind });
  }
}
