import type { KubeConfig } from '@kubernetes/client-node';
import type { ControlPlaneConfig } from '../config.js';
import type { Logger } from '../log.js';
import { firecrackerLauncher } from './firecracker/firecracker-launcher.js';
import { loadKubeConfig, defaultNamespace } from './kubernetes/kube-config.js';
import { KubernetesRuntime } from './kubernetes/kubernetes-runtime.js';
import { DEFAULT_SANDBOX } from './kubernetes/pod-manifest.js';
import { bubblewrapLauncher } from './process/bubblewrap.js';
import { ProcessRuntime } from './process/process-runtime.js';
import type { WorkloadRuntime } from './runtime.js';

/**
 * The runtimes a configuration asks for: one takes trusted work, the other untrusted. Untrusted
 * work only ever goes to an isolating runtime; `--sandbox none` refuses it.
 */
export function createRuntimes(config: ControlPlaneConfig, log: Logger): { trusted: WorkloadRuntime; untrusted: WorkloadRuntime | null } {
  const common = { stateDir: config.stateDir, graceMs: config.teardownGraceMs, log };
  let kubeConfig: KubeConfig | null = null;
  const kube = () => (kubeConfig ??= loadKubeConfig(config.kubernetes.kubeconfig));
  const graceSeconds = Math.ceil(config.teardownGraceMs / 1000);

  const trusted =
    config.runtime === 'kubernetes'
      ? new KubernetesRuntime({
          kubeConfig: kube(),
          namespace: config.kubernetes.namespace ?? defaultNamespace(kube()),
          sandbox: null,
          graceSeconds,
          log,
        })
      : new ProcessRuntime(common);

  const sandbox = config.sandbox ?? (config.runtime === 'kubernetes' ? 'kubernetes' : 'bubblewrap');
  let untrusted: WorkloadRuntime | null;
  switch (sandbox) {
    case 'bubblewrap':
      untrusted = new ProcessRuntime({ ...common, launcher: bubblewrapLauncher() });
      break;
    case 'kubernetes':
      untrusted = new KubernetesRuntime({
        kubeConfig: kube(),
        namespace: config.kubernetes.sandboxNamespace,
        sandbox: { ...DEFAULT_SANDBOX, runtimeClassName: config.kubernetes.runtimeClass },
        graceSeconds,
        log,
      });
      break;
    case 'firecracker':
      untrusted = new ProcessRuntime({ ...common, launcher: firecrackerLauncher(config.firecracker) });
      break;
    case 'none':
      untrusted = null;
  }
  return { trusted, untrusted };
}
