import { assign, setup } from 'xstate';
import { backoffDelay } from './backoff.js';
import {
  DEFAULT_POLICY,
  type EndReason,
  type LifecyclePolicy,
  type LifecycleState,
  type MachineDeps,
  type MachineSpec,
  type ObservedStatus,
  type WorkloadContext,
  type WorkloadEvent,
  type WorkloadOutput,
} from './workload.types.js';

export interface WorkloadInput<S extends MachineSpec = MachineSpec> {
  readonly spec: S;
  readonly policy?: Partial<LifecyclePolicy>;
}

const realDeps: MachineDeps = { now: Date.now, random: Math.random };
type ExitedEvent = Extract<WorkloadEvent, { type: 'runtime.exited' }>;
type ReconcileEvent = Extract<WorkloadEvent, { type: 'workload.reconcile' }>;
const observed = (event: WorkloadEvent): ObservedStatus | null => (event.type === 'workload.reconcile' ? event.observed : null);

/**
 * Builds the workload lifecycle machine. It is pure: it names its effects — the actions
 * `provision` and `teardown`, `announce` for every state entered, `armRetry` for a retry after
 * a backoff — and the supervisor supplies them with `machine.provide({ actions: { … } })`;
 * their outcomes come back as `runtime.*` and `retry.*` events. Time and randomness are
 * injected, so every transition can be driven in a test with a simulated clock.
 *
 * Why actions and not invoked promise actors: an invoked actor costs a child actor, an abort
 * controller and scheduler bookkeeping per workload, which made XState three times slower on the
 * hot path (see README, Performance). Late results are harmless: an event a state does not
 * handle is ignored.
 *
 * Deadlines (provisioning timeout, maximum lifetime) are absolute times in context, because
 * XState does not restore `after` timers from a persisted snapshot, and because one scheduler for
 * all workloads is cheaper than a timer per workload. The `timer.*` events are guarded by the
 * deadline, so an early or stale one changes nothing.
 *
 * @example
 * const machine = createWorkloadMachine().provide({ actions: { provision, teardown } });
 * const actor = createActor(machine, { input: { spec } }).start();
 * actor.send({ type: 'workload.admit' });
 */
export function createWorkloadMachine(deps: MachineDeps = realDeps) {
  const due = (deadline: number | null) => deadline !== null && deps.now() >= deadline;
  // Every workload of a control plane gets the same policy: one object for all of them, not a
  // copy each (100,000 live workloads held 100,000 copies). Never mutated: context is replaced, not changed.
  const policies = new WeakMap<Partial<LifecyclePolicy>, LifecyclePolicy>();
  const policyOf = (overrides: Partial<LifecyclePolicy> | undefined): LifecyclePolicy => {
    if (!overrides) return DEFAULT_POLICY;
    let policy = policies.get(overrides);
    if (!policy) policies.set(overrides, (policy = Object.freeze({ ...DEFAULT_POLICY, ...overrides })));
    return policy;
  };

  return setup({
    types: {
      context: {} as WorkloadContext,
      events: {} as WorkloadEvent,
      input: {} as WorkloadInput,
      output: {} as WorkloadOutput,
    },
    guards: {
      provisionedRunning: ({ event }) => event.type === 'runtime.provisioned' && event.result.state === 'running',
      retryProvision: ({ context, event }) =>
        event.type === 'runtime.provisionFailed' && event.transient && context.provisionAttempts < context.policy.maxProvisionAttempts,
      retryTeardown: ({ context }) => context.teardownAttempts < context.policy.maxTeardownAttempts,
      retryDue: ({ context }) => due(context.retryDueAt ?? null),
      provisionDeadlinePassed: ({ context }) => due(context.provisionDeadlineAt),
      lifetimeDeadlinePassed: ({ context }) => due(context.lifetimeDeadlineAt),
      observedNotFound: ({ event }) => observed(event)?.state === 'notFound',
      observedPending: ({ event }) => observed(event)?.state === 'pending',
      observedExited: ({ event }) => observed(event)?.state === 'exited',
      observedAlive: ({ event }) => {
        const o = observed(event);
        return (o?.state === 'running' && o.adoptable) || o?.state === 'pending';
      },
      observedAdoptable: ({ event }) => {
        const o = observed(event);
        return o?.state === 'running' && o.adoptable;
      },
    },
    actions: {
      // Effects: the defaults do nothing; the supervisor provides the real ones.
      provision: () => undefined,
      teardown: () => undefined,
      /**
       * Tells the supervisor that a state was entered, with the context that entry made. It runs
       * after the entry bookkeeping and before the state's effect, so that whatever the
       * supervisor does for the transition (save it, arm a deadline) is done before the runtime
       * is called. Cheaper than a subscription per actor, which is told after the effects.
       */
      announce: () => undefined,
      /**
       * Bookkeeping for entering a state, in one assign (each assign copies the context): a
       * re-entry of the same state (a retry, a reconcile) counts one more attempt of the state's
       * runtime call and changes nothing else.
       */
      enter: assign(({ context, event }, params: { state: LifecycleState }) => {
        // A retry made (or overtaken by a reconcile) is due no more: a late `retry.*` finds none.
        const attempt: Partial<WorkloadContext> =
          params.state === 'provisioning'
            ? { provisionAttempts: context.provisionAttempts + 1, retryDueAt: null }
            : params.state === 'expiring'
              ? { teardownAttempts: context.teardownAttempts + 1, retryDueAt: null }
              : {};
        if (context.phase === params.state) return attempt;
        const at = deps.now();
        const patch: Partial<WorkloadContext> = {
          ...attempt,
          phase: params.state,
          seq: context.seq + 1,
          lastEvent: eventName(event.type),
          timings: { ...context.timings, [params.state]: at },
        };
        if (params.state === 'provisioning') patch.provisionDeadlineAt = at + context.policy.provisionTimeoutMs;
        if (params.state === 'running') patch.lifetimeDeadlineAt = at + context.spec.maxLifetimeSeconds * 1000;
        return patch;
      }),
      /**
       * A retry after a backoff: when it is due goes in context (`retryDueAt`), and the supervisor
       * is told (`armRetry`) to send `retry.*` then, from the one scheduler that keeps every
       * workload's deadlines. Not an XState delayed event: those live in the actor system's
       * scheduler, which every workload actor shares, and stopping any actor walks all of them.
       * The wait is at least what the runtime asked for (Retry-After), else the backoff.
       */
      scheduleRetry: assign(({ context, event }) => {
        const retryAfterMs =
          (event.type === 'runtime.provisionFailed' || event.type === 'runtime.teardownFailed') && event.retryAfterMs !== undefined ? event.retryAfterMs : null;
        const attempts = context.phase === 'expiring' ? context.teardownAttempts : context.provisionAttempts;
        const backoff = backoffDelay(attempts, context.policy.backoffBaseMs, context.policy.backoffMaxMs, deps.random);
        return { retryAfterMs, retryDueAt: deps.now() + Math.max(retryAfterMs ?? 0, backoff) };
      }),
      armRetry: () => undefined,
      endWith: assign((_, params: { reason: EndReason }) => ({ reason: params.reason })),
      recordWaiting: assign(({ event }) => ({ waiting: event.type === 'runtime.waiting' ? event.detail : null })),
      recordProvisionTimeout: assign(({ context }) => ({
        reason: 'provisionTimeout' as EndReason,
        error: `not running after ${context.policy.provisionTimeoutMs / 1000}s${context.waiting ? `: ${context.waiting}` : ''}`,
      })),
      recordExit: assign(({ event }) => exitOutcome(event as ExitedEvent)),
      recordObservedExit: assign(({ event }) => observedExitOutcome(event as ReconcileEvent)),
      recordFailure: assign(({ event }) => ({
        reason: 'failed' as EndReason,
        error:
          event.type === 'runtime.failed'
            ? event.error
            : event.type === 'runtime.provisionFailed'
              ? `provisioning failed: ${event.error}`
              : 'failed',
      })),
      recordLost: assign(({ event }) => ({
        reason: 'lost' as EndReason,
        error:
          event.type === 'runtime.lost'
            ? (event.detail ?? 'the runtime no longer knows this workload')
            : 'the runtime could not re-adopt this workload after a restart',
      })),
      recordRejection: assign(({ event }) => ({
        reason: 'rejected' as EndReason,
        error: event.type === 'workload.reject' ? event.reason : 'rejected',
      })),
      recordTeardownFailure: assign(({ context, event }) => ({
        error: [context.error, `teardown failed: ${event.type === 'runtime.teardownFailed' ? event.error : 'unknown'}`]
          .filter(Boolean)
          .join('; '),
      })),
      recordExitWhileExpiring: assign(({ context, event }) =>
        // The exit a graceful stop provokes says nothing new about why the workload ended.
        event.type === 'runtime.exited' && context.exitCode === null && context.reason !== 'cancelled' ? { exitCode: event.exitCode } : {},
      ),
    },
  }).createMachine({
    id: 'workload',
    context: ({ input }) => ({
      id: input.spec.id,
      spec: input.spec,
      policy: policyOf(input.policy),
      phase: null,
      seq: 0,
      lastEvent: 'workload.submitted',
      timings: {},
      provisionDeadlineAt: null,
      lifetimeDeadlineAt: null,
      provisionAttempts: 0,
      teardownAttempts: 0,
      reason: null,
      exitCode: null,
      error: null,
    }),
    initial: 'queued',
    output: ({ context }) => toOutput(context),
    states: {
      queued: {
        entry: [{ type: 'enter', params: { state: 'queued' } }, 'announce'],
        on: {
          'workload.admit': 'provisioning',
          'workload.reject': { target: 'tornDown', actions: 'recordRejection' },
          'workload.cancel': { target: 'tornDown', actions: { type: 'endWith', params: { reason: 'cancelled' } } },
        },
      },
      // Flat states: one per lifecycle state. Substates (creating, backoff, starting; tearingDown,
      // retryWait) cost XState an entry and exit set to compute on every transition, and told
      // nothing the context does not: the attempt counts and the pending retry are there.
      provisioning: {
        entry: [{ type: 'enter', params: { state: 'provisioning' } }, 'announce', 'provision'],
        on: {
          'runtime.provisioned': { guard: 'provisionedRunning', target: 'running' },
          'runtime.provisionFailed': [
            { guard: 'retryProvision', actions: ['scheduleRetry', 'armRetry'] },
            { target: 'expiring', actions: 'recordFailure' },
          ],
          'retry.provision': { guard: 'retryDue', target: 'provisioning', reenter: true },
          'timer.provisionTimeout': {
            guard: 'provisionDeadlinePassed',
            target: 'expiring',
            actions: 'recordProvisionTimeout',
          },
          'runtime.waiting': { actions: 'recordWaiting' },
          'runtime.running': 'running',
          'runtime.exited': { target: 'expiring', actions: 'recordExit' },
          'runtime.failed': { target: 'expiring', actions: 'recordFailure' },
          'runtime.lost': { target: 'expiring', actions: 'recordLost' },
          'workload.cancel': { target: 'expiring', actions: { type: 'endWith', params: { reason: 'cancelled' } } },
          'workload.reconcile': [
            // Never created (the crash came before provision): create it now, exactly once.
            { guard: 'observedNotFound', target: 'provisioning', reenter: true },
            // Accepted by the runtime and still starting (a Pod pulling its image): wait for it.
            { guard: 'observedPending' },
            { guard: 'observedAdoptable', target: 'running' },
            { guard: 'observedExited', target: 'expiring', actions: 'recordObservedExit' },
            { target: 'expiring', actions: 'recordLost' },
          ],
        },
      },
      running: {
        entry: [{ type: 'enter', params: { state: 'running' } }, 'announce'],
        on: {
          'timer.lifetime': {
            guard: 'lifetimeDeadlinePassed',
            target: 'expiring',
            actions: { type: 'endWith', params: { reason: 'deadline' } },
          },
          'lease.expired': { target: 'expiring', actions: { type: 'endWith', params: { reason: 'leaseExpired' } } },
          'runtime.exited': { target: 'expiring', actions: 'recordExit' },
          'runtime.lost': { target: 'expiring', actions: 'recordLost' },
          'runtime.failed': { target: 'expiring', actions: 'recordFailure' },
          'workload.cancel': { target: 'expiring', actions: { type: 'endWith', params: { reason: 'cancelled' } } },
          'workload.reconcile': [
            // Still there and ours: stay. Its deadline lives in context, so nothing needs re-arming here.
            { guard: 'observedAlive' },
            { guard: 'observedExited', target: 'expiring', actions: 'recordObservedExit' },
            { target: 'expiring', actions: 'recordLost' },
          ],
        },
      },
      // Graceful stop, then removal, both inside the runtime's teardown.
      expiring: {
        entry: [{ type: 'enter', params: { state: 'expiring' } }, 'announce', 'teardown'],
        on: {
          'runtime.tornDown': 'tornDown',
          'runtime.teardownFailed': [
            { guard: 'retryTeardown', actions: ['scheduleRetry', 'armRetry'] },
            { target: 'tornDown', actions: 'recordTeardownFailure' },
          ],
          'retry.teardown': { guard: 'retryDue', target: 'expiring', reenter: true },
          // Teardown is idempotent: after a restart, simply do it again.
          'workload.reconcile': { target: 'expiring', reenter: true },
          'runtime.exited': { actions: 'recordExitWhileExpiring' },
        },
      },
      tornDown: {
        type: 'final',
        entry: [{ type: 'enter', params: { state: 'tornDown' } }, 'announce'],
      },
    },
  });
}

export type WorkloadMachine = ReturnType<typeof createWorkloadMachine>;

function exitOutcome(event: ExitedEvent): Partial<WorkloadContext> {
  const failed = event.exitCode !== 0;
  return {
    reason: event.exitCode === null && event.signal == null ? 'lost' : failed ? 'failed' : 'completed',
    exitCode: event.exitCode,
    error: failed ? (event.detail ?? (event.signal ? `killed by ${event.signal}` : null)) : null,
  };
}

function observedExitOutcome(event: ReconcileEvent): Partial<WorkloadContext> {
  if (event.observed.state !== 'exited') return {};
  const code = event.observed.exitCode;
  if (code === undefined) {
    return { reason: 'lost', error: event.observed.detail ?? 'exited while the control plane was away; exit code unknown' };
  }
  return { reason: code === 0 ? 'completed' : 'failed', exitCode: code, error: event.observed.detail ?? null };
}

/** The final output, also used for status answers before the end. */
export function toOutput(context: WorkloadContext): WorkloadOutput {
  const durations: Partial<Record<LifecycleState, number>> = {};
  const order: LifecycleState[] = ['queued', 'provisioning', 'running', 'expiring', 'tornDown'];
  const visited = order.filter((s) => context.timings[s] !== undefined);
  for (let i = 0; i < visited.length - 1; i++) {
    const from = visited[i]!;
    const to = visited[i + 1]!;
    durations[from] = context.timings[to]! - context.timings[from]!;
  }
  return {
    id: context.id,
    type: context.spec.type,
    reason: context.reason ?? 'completed',
    exitCode: context.exitCode,
    error: context.error,
    timings: context.timings,
    durations,
  };
}

/**
 * A persisted snapshot in the shape this machine restores. Snapshots written before the states
 * were made flat (0.1) hold a nested value (`{ provisioning: 'creating' }`); each becomes its
 * top-level state, whose context already says everything the substate did.
 */
export function restorable<T extends { value?: unknown }>(snapshot: T): T {
  const { value } = snapshot;
  if (value === null || typeof value !== 'object') return snapshot;
  const [top] = Object.keys(value);
  return top === undefined ? snapshot : { ...snapshot, value: top };
}

/** Names XState's internal events the way a person reading the NATS stream would. */
export function eventName(type: string): string {
  if (type.startsWith('xstate.after.')) return `timeout.${type.split('.')[2]}`;
  if (type === 'xstate.init') return 'workload.submitted';
  return type;
}
