import { join } from 'node:path';
import { DEFAULT_CONFIG, type ControlPlaneConfig } from './config.js';
import { defaultReplicaId } from './ownership/options.js';

/** Who this replica is, and where its local state lives. */
export interface ReplicaIdentity {
  /** Names its membership, its processing list and its local state. */
  readonly id: string;
  /** `<state-dir>/replicas/<id>`: pid files and work dirs of the workloads it runs. */
  readonly stateDir: string;
}

/**
 * The replica id: `--replica-id` (LEASEHOLD_REPLICA_ID); else `--consumer` when one was given
 * (its former name); else the Pod name (POD_NAME, from the downward API), stable across restarts
 * of a container in its Pod; else `<hostname>-<pid>`. An id that changes at a restart leaves a
 * processing list behind, which a live replica adopts once the old id's membership has expired.
 */
export function replicaIdentity(config: ControlPlaneConfig, env: NodeJS.ProcessEnv = process.env): ReplicaIdentity {
  const consumer = config.consumer !== DEFAULT_CONFIG.consumer ? config.consumer : undefined;
  const id = config.replicaId ?? consumer ?? (env.POD_NAME || undefined) ?? defaultReplicaId();
  return { id, stateDir: join(config.stateDir, 'replicas', id) };
}
