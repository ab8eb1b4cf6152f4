/**
 * The public surface of the `leasehold` package. Everything not exported here is internal and
 * may change without notice.
 */
export { startControlPlane, type ControlPlane, type ControlPlaneDeps } from './app.js';
export { DEFAULT_CONFIG, type ControlPlaneConfig } from './config.js';
export { workloadSpecSchema, parseSubmission, type WorkloadSpec, type WorkloadSubmission } from './spec/index.js';
export { SUBJECTS, subjectsFor, type Subjects, type TransitionMessage, type WorkloadStatus } from './events/transition.js';
export type { WorkloadRuntime, RuntimeEvent, ProvisionContext } from './runtime/runtime.js';
export { ProcessRuntime } from './runtime/process/process-runtime.js';
export { bubblewrapLauncher } from './runtime/process/bubblewrap.js';
export { LeaseholdError, RuntimeError, ConfigError } from './errors.js';
export { createWorkloadMachine, LIFECYCLE_STATES, type LifecycleState, type EndReason } from '../machines/index.js';
export { shardOf, DEFAULT_SHARD_COUNT } from './ownership/shards.js';
export type { ShardOwnership, ShardGrant, ShardOwner, ShardCallbacks, LossReason } from './ownership/ownership.js';
export { FencedError } from './ownership/fencing.js';
export * from './client/index.js';
