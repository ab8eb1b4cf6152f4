export { createWorkloadMachine, toOutput, eventName, restorable, type WorkloadMachine, type WorkloadInput } from './workload.machine.js';
export { backoffDelay, isTransient, retryAfterMs, describeError } from './backoff.js';
export * from './workload.types.js';
