import type { ControlPlaneConfig } from '../../src/config.js';
import { bubblewrapLauncher } from '../../src/runtime/process/bubblewrap.js';
import type { KubeHarness } from '../kubernetes/kube-harness.js';

/** Where a test's workloads run: the same test, once per runtime a user can pick. */
export interface RuntimeFlavour {
  /** As in "a session in a local process". */
  readonly one: string;
  /** As in "a warm pool of local processes". */
  readonly many: string;
  readonly type: 'trusted' | 'untrusted';
  /** Why this machine cannot run it (bubblewrap unusable), or false. */
  readonly skip: string | false;
  /** Runs on the Kubernetes runtime: the test starts a fake API server and passes it to `config`. */
  readonly kube: boolean;
  config(kube: KubeHarness | null): Partial<ControlPlaneConfig>;
}

const bwrapUnavailable = bubblewrapLauncher().unavailableReason();

export const RUNTIME_FLAVOURS: readonly RuntimeFlavour[] = [
  { one: 'a local process', many: 'local processes', type: 'trusted', skip: false, kube: false, config: () => ({}) },
  {
    one: 'a bubblewrap sandbox',
    many: 'bubblewrap sandboxes',
    type: 'untrusted',
    skip: bwrapUnavailable ? `bubblewrap cannot create a sandbox here: ${bwrapUnavailable}` : false,
    kube: false,
    config: () => ({}),
  },
  {
    one: 'a Pod (Kubernetes runtime, fake API server)',
    many: 'Pods (Kubernetes runtime, fake API server)',
    type: 'untrusted',
    skip: false,
    kube: true,
    config: (kube) => ({
      runtime: 'kubernetes',
      kubernetes: { kubeconfig: kube!.kubeconfig, namespace: 'jobs', sandboxNamespace: 'sandbox', runtimeClass: 'gvisor' },
    }),
  },
];

/** The runtimes on this host: processes and bubblewrap sandboxes. */
export const LOCAL_FLAVOURS: readonly RuntimeFlavour[] = RUNTIME_FLAVOURS.filter((flavour) => !flavour.kube);
