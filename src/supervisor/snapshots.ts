import type { Actor } from 'xstate';
import type { LifecycleState, WorkloadContext, WorkloadMachine } from '../../machines/index.js';
import type { TransitionMessage, WorkloadStatus } from '../events/transition.js';
import type { ShardGrant } from '../ownership/ownership.js';
import { isoTime } from '../clock.js';

/**
 * Pure translations of an actor's state: into what is persisted, what is published, and what a
 * status request answers.
 */

/**
 * The actor's state in the shape `getPersistedSnapshot()` produces, minus its children: in-flight
 * invocations are never resumed from a snapshot (reconciliation decides instead), so persisting
 * them would only cost time. Cheaper than `getPersistedSnapshot()`, which deep-walks the context,
 * and half the size without the spec. `seq` goes beside it: the store refuses an older one.
 */
export function persisted(actor: Actor<WorkloadMachine>): { state: LifecycleState; snapshot: unknown; seq: number } {
  const snapshot = actor.getSnapshot();
  return {
    state: snapshot.context.phase ?? 'queued',
    seq: snapshot.context.seq,
    snapshot: {
      status: snapshot.status,
      value: snapshot.value,
      // The spec is stored once, beside the snapshot; the store puts it back on load.
      context: { ...snapshot.context, spec: undefined },
      historyValue: {},
      children: {},
      ...(snapshot.output ? { output: snapshot.output } : {}),
    },
  };
}

/** The message of one top-level transition, stamped with the epoch of the owner that made it. */
export function transitionMessage(from: LifecycleState | null, to: LifecycleState, context: WorkloadContext, grant: ShardGrant, now: number): TransitionMessage {
  const ending = to === 'expiring' || to === 'tornDown';
  return {
    id: context.id,
    type: context.spec.type,
    from,
    to,
    event: context.lastEvent,
    ...(ending && context.reason ? { reason: context.reason } : {}),
    ...(ending && context.exitCode !== null ? { exitCode: context.exitCode } : {}),
    ...(ending && context.error ? { error: context.error } : {}),
    at: isoTime(context.timings[to] ?? now),
    seq: context.seq,
    epoch: grant.epoch,
  };
}

export function toStatus(context: WorkloadContext): WorkloadStatus {
  const timings: Partial<Record<LifecycleState, string>> = {};
  for (const [state, at] of Object.entries(context.timings)) timings[state as LifecycleState] = new Date(at).toISOString();
  return {
    id: context.id,
    type: context.spec.type,
    state: context.phase ?? 'queued',
    seq: context.seq,
    ...(context.reason ? { reason: context.reason } : {}),
    ...(context.exitCode !== null ? { exitCode: context.exitCode } : {}),
    ...(context.error ? { error: context.error } : {}),
    ...(context.phase === 'provisioning' && context.waiting ? { waiting: context.waiting } : {}),
    timings,
  };
}

/**
 * The state a restored workload came from into its current one, from the times it entered each:
 * the last one entered before it. Used to announce again an end its previous owner may not have.
 */
export function previousState(context: WorkloadContext): LifecycleState | null {
  const to = context.phase;
  if (to === null) return null;
  const at = context.timings[to];
  let previous: LifecycleState | null = null;
  let latest = -Infinity;
  for (const [state, entered] of Object.entries(context.timings) as [LifecycleState, number][]) {
    if (state === to || entered === undefined || (at !== undefined && entered > at)) continue;
    if (entered >= latest) {
      latest = entered;
      previous = state;
    }
  }
  return previous;
}
