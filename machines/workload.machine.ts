import { assign, fromPromise, setup, type DoneActorEvent, type ErrorActorEvent } from 'xstate';
import { backoffDelay, isTransient, describeError } from './backoff.js';
import {
  DEFAULT_POLICY,
  type EndReason,
  type LifecyclePolicy,
  type LifecycleState,
  type MachineDeps,
  type MachineSpec,
  type ProvisionInput,
  type ProvisionResult,
  type TeardownInput,
  type WorkloadContext,
  type WorkloadEvent,
  type WorkloadOutput,
} from './workload.types.js';

export interface WorkloadInput<S extends MachineSpec = MachineSpec> {
  readonly spec: S;
  readonly policy?: Partial<LifecyclePolicy>;
}

const realDeps: MachineDeps = { now: Date.now, random: Math.random };

/**
 * Builds the workload lifecycle machine. It is pure: provisioning and teardown are invoked actors
 * whose default implementations refuse to run; the supervisor supplies real ones with
 * `machine.provide({ actors: { provision, teardown } })`. Time and randomness are injected so that
 * every transition can be driven in a test with a simulated clock.
 *
 * @example
 * const machine = createWorkloadMachine().provide({ actors: { provision, teardown } });
 * const actor = createActor(machine, { input: { spec } }).start();
 * actor.send({ type: 'workload.admit' });
 */
export function createWorkloadMachine(deps: MachineDeps = realDeps) {
  return setup({
    types: {
      context: {} as WorkloadContext,
      events: {} as WorkloadEvent,
      input: {} as WorkloadInput,
      output: {} as WorkloadOutput,
    },
    actors: {
      provision: fromPromise<ProvisionResult, ProvisionInput>(async () => {
        throw new Error('provision is not provided: use machine.provide({ actors: { provision } })');
      }),
      teardown: fromPromise<void, TeardownInput>(async () => {
        throw new Error('teardown is not provided: use machine.provide({ actors: { teardown } })');
      }),
    },
    guards: {
      provisionedRunning: ({ event }) => (event as unknown as DoneActorEvent<ProvisionResult>).output.state === 'running',
      retryProvision: ({ context, event }) =>
        isTransient((event as unknown as ErrorActorEvent).error) && context.provisionAttempts < context.policy.maxProvisionAttempts,
      retryTeardown: ({ context }) => context.teardownAttempts < context.policy.maxTeardownAttempts,
    },
    delays: {
      provisionTimeout: ({ context }) => Math.max(0, (context.provisionDeadlineAt ?? 0) - deps.now()),
      lifetimeLeft: ({ context }) => Math.max(0, (context.lifetimeDeadlineAt ?? 0) - deps.now()),
      provisionRetry: ({ context }) =>
        backoffDelay(context.provisionAttempts, context.policy.backoffBaseMs, context.policy.backoffMaxMs, deps.random),
      teardownRetry: ({ context }) =>
        backoffDelay(context.teardownAttempts, context.policy.backoffBaseMs, context.policy.backoffMaxMs, deps.random),
    },
    actions: {
      /** Bookkeeping for entering a top-level state; a re-entry of the same state (reconcile) changes nothing. */
      enter: assign(({ context, event }, params: { state: LifecycleState }) => {
        if (context.phase === params.state) return {};
        const at = deps.now();
        const patch: Partial<WorkloadContext> = {
          phase: params.state,
          seq: context.seq + 1,
          lastEvent: eventName(event.type),
          timings: { ...context.timings, [params.state]: at },
        };
        if (params.state === 'provisioning') patch.provisionDeadlineAt = at + context.policy.provisionTimeoutMs;
        if (params.state === 'running') patch.lifetimeDeadlineAt = at + context.spec.maxLifetimeSeconds * 1000;
        return patch;
      }),
      endWith: assign((_, params: { reason: EndReason }) => ({ reason: params.reason })),
      recordExit: assign(({ event }) => {
        if (event.type !== 'runtime.exited') return {};
        const failed = event.exitCode !== 0;
        return {
          reason: (event.exitCode === null && event.signal == null ? 'lost' : failed ? 'failed' : 'completed') as EndReason,
          exitCode: event.exitCode,
          error: failed ? (event.detail ?? (event.signal ? `killed by ${event.signal}` : null)) : null,
        };
      }),
      recordFailure: assign(({ event }) => ({
        reason: 'failed' as EndReason,
        error:
          event.type === 'runtime.failed'
            ? event.error
            : `provisioning failed: ${describeError((event as unknown as ErrorActorEvent).error)}`,
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
    },
  }).createMachine({
    id: 'workload',
    context: ({ input }) => ({
      id: input.spec.id,
      spec: input.spec,
      policy: { ...DEFAULT_POLICY, ...input.policy },
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
        entry: { type: 'enter', params: { state: 'queued' } },
        on: {
          'workload.admit': 'provisioning',
          'workload.reject': { target: 'tornDown', actions: 'recordRejection' },
          'workload.cancel': { target: 'tornDown', actions: { type: 'endWith', params: { reason: 'cancelled' } } },
        },
      },
      provisioning: {
        entry: { type: 'enter', params: { state: 'provisioning' } },
        initial: 'creating',
        after: { provisionTimeout: { target: 'expiring', actions: { type: 'endWith', params: { reason: 'provisionTimeout' } } } },
        on: {
          'runtime.running': 'running',
          'runtime.exited': { target: 'expiring', actions: 'recordExit' },
          'runtime.failed': { target: 'expiring', actions: 'recordFailure' },
          'runtime.lost': { target: 'expiring', actions: 'recordLost' },
          'workload.cancel': { target: 'expiring', actions: { type: 'endWith', params: { reason: 'cancelled' } } },
          'workload.reconcile': [
            // Never created (the crash came before provision): create it now, exactly once.
            { guard: ({ event }) => event.observed.state === 'notFound', target: 'provisioning', reenter: true },
            { guard: ({ event }) => event.observed.state === 'pending', target: '.starting', reenter: true },
            {
              guard: ({ event }) => event.observed.state === 'running' && event.observed.adoptable,
              target: 'running',
            },
            {
              guard: ({ event }) => event.observed.state === 'exited',
              target: 'expiring',
              actions: assign(({ event }) => exitFromObserved(event)),
            },
            { target: 'expiring', actions: 'recordLost' },
          ],
        },
        states: {
          creating: {
            entry: assign({ provisionAttempts: ({ context }) => context.provisionAttempts + 1 }),
            invoke: {
              id: 'provision',
              src: 'provision',
              input: ({ context }) => ({ id: context.id, spec: context.spec, attempt: context.provisionAttempts }),
              onDone: [{ guard: 'provisionedRunning', target: '#workload.running' }, { target: 'starting' }],
              onError: [
                { guard: 'retryProvision', target: 'backoff' },
                { target: '#workload.expiring', actions: 'recordFailure' },
              ],
            },
          },
          backoff: { after: { provisionRetry: 'creating' } },
          // Accepted by the runtime, waiting for it to report the workload running (a Pod pulling its image).
          starting: {},
        },
      },
      running: {
        entry: { type: 'enter', params: { state: 'running' } },
        after: { lifetimeLeft: { target: 'expiring', actions: { type: 'endWith', params: { reason: 'deadline' } } } },
        on: {
          'lease.expired': { target: 'expiring', actions: { type: 'endWith', params: { reason: 'leaseExpired' } } },
          'runtime.exited': { target: 'expiring', actions: 'recordExit' },
          'runtime.lost': { target: 'expiring', actions: 'recordLost' },
          'runtime.failed': { target: 'expiring', actions: 'recordFailure' },
          'workload.cancel': { target: 'expiring', actions: { type: 'endWith', params: { reason: 'cancelled' } } },
          'workload.reconcile': [
            // Re-entering re-arms the lifetime timer from the absolute deadline kept in context.
            {
              guard: ({ event }) =>
                (event.observed.state === 'running' && event.observed.adoptable) || event.observed.state === 'pending',
              target: 'running',
              reenter: true,
            },
            {
              guard: ({ event }) => event.observed.state === 'exited',
              target: 'expiring',
              actions: assign(({ event }) => exitFromObserved(event)),
            },
            { target: 'expiring', actions: 'recordLost' },
          ],
        },
      },
      expiring: {
        entry: { type: 'enter', params: { state: 'expiring' } },
        initial: 'tearingDown',
        on: {
          // Teardown is idempotent: after a restart, simply do it again.
          'workload.reconcile': { target: 'expiring', reenter: true },
          // The exit that a graceful stop provokes says nothing new about why the workload ended.
          'runtime.exited': {
            guard: ({ context }) => context.exitCode === null && context.reason !== 'cancelled',
            actions: assign({ exitCode: ({ event }) => event.exitCode }),
          },
        },
        states: {
          tearingDown: {
            entry: assign({ teardownAttempts: ({ context }) => context.teardownAttempts + 1 }),
            invoke: {
              id: 'teardown',
              src: 'teardown',
              input: ({ context }) => ({ id: context.id, type: context.spec.type }),
              onDone: '#workload.tornDown',
              onError: [
                { guard: 'retryTeardown', target: 'retryWait' },
                {
                  target: '#workload.tornDown',
                  actions: assign({
                    error: ({ context, event }) =>
                      [context.error, `teardown failed: ${describeError(event.error)}`].filter(Boolean).join('; '),
                  }),
                },
              ],
            },
          },
          retryWait: { after: { teardownRetry: 'tearingDown' } },
        },
      },
      tornDown: {
        type: 'final',
        entry: [{ type: 'enter', params: { state: 'tornDown' } }, assign({ reason: ({ context }) => context.reason ?? 'completed' })],
      },
    },
  });
}

export type WorkloadMachine = ReturnType<typeof createWorkloadMachine>;

function exitFromObserved(event: WorkloadEvent): Partial<WorkloadContext> {
  if (event.type !== 'workload.reconcile' || event.observed.state !== 'exited') return {};
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

/** Names XState's internal events the way a person reading the NATS stream would. */
export function eventName(type: string): string {
  if (type.startsWith('xstate.done.actor.')) return `${type.split('.')[3]}.done`;
  if (type.startsWith('xstate.error.actor.')) return `${type.split('.')[3]}.error`;
  if (type.startsWith('xstate.after.')) return `timeout.${type.split('.')[2]}`;
  if (type === 'xstate.init') return 'workload.submitted';
  return type;
}
