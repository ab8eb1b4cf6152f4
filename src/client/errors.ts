import { LeaseholdError } from '../errors.js';
import type { LifecycleState } from '../../machines/index.js';
import { MAX_ID_LENGTH, type RefusalKind } from '../spec/index.js';

/**
 * What the client throws. Each is a {@link LeaseholdError}: `code` is stable for programs to branch
 * on, `transient` says whether the same call may succeed later, `cause` keeps what went wrong below.
 * Misuse (a call after `close()`) is a plain `Error`, as it is a bug in the caller, not an outage.
 */

/** The spec would be refused by intake, for the same reason, in the same words. Nothing was pushed. */
export class InvalidSpecError extends LeaseholdError {
  constructor(
    /** Intake's label for the refusal (`invalidSpec`, `oversized`, …). */
    readonly kind: RefusalKind,
    /** Intake's sentence: `id: must be a DNS-1123 label; cmd: is required`. */
    readonly reason: string,
  ) {
    super('INVALID_SPEC', `the workload spec is invalid: ${reason}`);
  }
}

/** The id is already recorded with a different spec; submitting again will not change that. */
export class DuplicateIdError extends LeaseholdError {
  constructor(readonly id: string) {
    super('DUPLICATE_ID', `workload ${id} is already recorded with a different spec; pick another id (or wait until its record expires)`);
  }
}

/** The control plane refused the entry into its dead-letter list (a limit of its own, a newer schema). */
export class SubmissionRefusedError extends LeaseholdError {
  constructor(
    readonly id: string,
    readonly reason: string,
  ) {
    super('REFUSED', `the control plane refused workload ${id}: ${reason}`);
  }
}

/** No workload of that id is known to the control plane (never submitted, or its record expired). */
export class WorkloadNotFoundError extends LeaseholdError {
  constructor(readonly id: string) {
    super('NOT_FOUND', `no workload ${id}`);
  }
}

/** The control plane answered a cancel with no: the workload has ended, or is changing owner (transient). */
export class CancelRefusedError extends LeaseholdError {
  constructor(
    readonly id: string,
    message: string,
    /** Where the workload was, when the control plane said. */
    readonly state: LifecycleState | undefined,
  ) {
    super('CANCEL_REFUSED', message, { transient: state !== undefined && state !== 'tornDown' });
  }
}

/** A call's deadline (`timeoutMs`) passed; what it started may still go on (see the message). */
export class ClientTimeoutError extends LeaseholdError {
  constructor(message: string) {
    super('TIMEOUT', message, { transient: true });
  }
}

/** No control plane answered a request on NATS, or its answer was not a well-formed reply. */
export class ControlPlaneUnavailableError extends LeaseholdError {
  constructor(message: string, cause?: unknown) {
    super('NO_CONTROL_PLANE', message, { transient: true, cause });
  }
}

/** NATS refused this identity a subject the call needs (see the README's NATS permissions). */
export class NatsPermissionError extends LeaseholdError {
  constructor(
    readonly subject: string,
    readonly operation: 'publish' | 'subscribe',
  ) {
    super('NATS_PERMISSION', `NATS refused this identity permission to ${operation} on ${subject} (see the NATS permissions in the README)`);
  }
}

/**
 * Not a workload id (a DNS-1123 label of at most 59 characters). Refused before anything is sent:
 * an id is a NATS subject token, and `a.*` or `>` would ask about, wait for or watch other workloads.
 */
export class InvalidIdError extends LeaseholdError {
  constructor(readonly id: string) {
    super('INVALID_ID', `${JSON.stringify(id.slice(0, 100))} is not a workload id: a DNS-1123 label of at most ${MAX_ID_LENGTH} characters`);
  }
}

/**
 * A session ended, or was never running, when it was needed running: it reached `expiring` or
 * `tornDown` before `running`, or a heartbeat found it no longer running. `reason` is its end
 * reason where known (`leaseExpired`, `cancelled`, `deadline`, …).
 */
export class SessionEndedError extends LeaseholdError {
  constructor(
    readonly id: string,
    message: string,
    readonly state: LifecycleState | undefined,
    readonly reason?: string,
  ) {
    super('SESSION_ENDED', message);
  }
}
