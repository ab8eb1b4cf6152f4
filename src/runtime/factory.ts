import type { ControlPlaneConfig } from '../config.js';
import type { Logger } from '../log.js';
import { bubblewrapLauncher } from './process/bubblewrap.js';
import { ProcessRuntime } from './process/process-runtime.js';
import type { WorkloadRuntime } from './runtime.js';

/** The runtimes a configuration asks for: which one takes trusted work, which one untrusted. */
export function createRuntimes(config: ControlPlaneConfig, log: Logger): { trusted: WorkloadRuntime; untrusted: WorkloadRuntime } {
  const common = { stateDir: config.stateDir, graceMs: config.teardownGraceMs, log };
  return {
    trusted: new ProcessRuntime(common),
    untrusted: new ProcessRuntime({ ...common, launcher: bubblewrapLauncher() }),
  };
}
