import type { ControlPlaneConfig } from '../config.js';
import type { Logger } from '../log.js';
import { firecrackerLauncher } from './firecracker/firecracker-launcher.js';
import { bubblewrapLauncher } from './process/bubblewrap.js';
import { cgroupScope } from './process/cgroups.js';
import { ProcessRuntime } from './process/process-runtime.js';
import type { WorkloadRuntime } from './runtime.js';

/**
 * The runtimes a configuration asks for: one takes trusted work, the other untrusted. Untrusted
 * work only ever goes to an isolating runtime; `--sandbox none` refuses it.
 *
 * The Kubernetes adapter is imported only when asked for: @kubernetes/client-node takes about
 * 0.7 s and 70 MiB to load, which every other configuration (and every CLI command) would pay.
 */
export async function createRuntimes(config: ControlPlaneConfig, log: Logger): Promise<{ trusted: WorkloadRuntime; untrusted: WorkloadRuntime | null }> {
  const common = { stateDir: config.stateDir, graceMs: config.teardownGraceMs, log };
  const sandbox = config.sandbox ?? (config.runtime === 'kubernetes' ? 'kubernetes' : 'bubblewrap');
  const kubernetes = config.runtime === 'kubernetes' || sandbox === 'kubernetes' ? await kubernetesRuntimes(config, log) : null;

  const trusted = config.runtime === 'kubernetes' ? kubernetes!.trusted() : new ProcessRuntime(common);
  let untrusted: WorkloadRuntime | null;
  switch (sandbox) {
    case 'bubblewrap':
      untrusted = new ProcessRuntime({
        ...common,
        launcher: bubblewrapLauncher({ limits: config.sandboxLimits, cgroupScope: cgroupScope(config.stateDir), log }),
      });
      break;
    case 'kubernetes':
      untrusted = kubernetes!.sandbox();
      break;
    case 'firecracker':
      untrusted = new ProcessRuntime({ ...common, launcher: firecrackerLauncher(config.firecracker) });
      break;
    case 'none':
      untrusted = null;
  }
  return { trusted, untrusted };
}

async function kubernetesRuntimes(config: ControlPlaneConfig, log: Logger) {
  const [{ loadKubeConfig, defaultNamespace }, { KubernetesRuntime }, { DEFAULT_SANDBOX }] = await Promise.all([
    import('./kubernetes/kube-config.js'),
    import('./kubernetes/kubernetes-runtime.js'),
    import('./kubernetes/pod-manifest.js'),
  ]);
  const kubeConfig = loadKubeConfig(config.kubernetes.kubeconfig);
  const graceSeconds = Math.ceil(config.teardownGraceMs / 1000);
  return {
    trusted: () =>
      new KubernetesRuntime({
        kubeConfig,
        namespace: config.kubernetes.namespace ?? defaultNamespace(kubeConfig),
        sandbox: null,
        graceSeconds,
        log,
      }),
    sandbox: () =>
      new KubernetesRuntime({
        kubeConfig,
        namespace: config.kubernetes.sandboxNamespace,
        sandbox: { ...DEFAULT_SANDBOX, runtimeClassName: config.kubernetes.runtimeClass },
        graceSeconds,
        log,
      }),
  };
}
