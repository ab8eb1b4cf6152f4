import { rmSync } from 'node:fs';
import { loadKubeConfig } from '../../src/runtime/kubernetes/kube-config.js';
import { KubernetesRuntime, type KubernetesRuntimeOptions } from '../../src/runtime/kubernetes/kubernetes-runtime.js';
import { FakeKubeApiServer, type FakeApiServerOptions } from './fake-api-server.js';

export interface KubeHarness {
  api: FakeKubeApiServer;
  kubeconfig: string;
  runtime(options?: Partial<KubernetesRuntimeOptions>): KubernetesRuntime;
  /** A runtime that has listed and is watching. */
  startedRuntime(options?: Partial<KubernetesRuntimeOptions>): Promise<KubernetesRuntime>;
  stop(): Promise<void>;
}

/** A fake API server, a kubeconfig for it, and runtimes on it that are closed with it. */
export async function startKube(options: FakeApiServerOptions = {}): Promise<KubeHarness> {
  const api = new FakeKubeApiServer(options);
  await api.start();
  const kubeconfig = api.writeKubeconfig('jobs');
  const runtimes: KubernetesRuntime[] = [];
  const harness: KubeHarness = {
    api,
    kubeconfig,
    runtime(overrides = {}) {
      const runtime = new KubernetesRuntime({
        kubeConfig: loadKubeConfig(kubeconfig),
        namespace: 'jobs',
        sandbox: null,
        graceSeconds: 1,
        backoffBaseMs: 20,
        ...overrides,
      });
      runtimes.push(runtime);
      return runtime;
    },
    async startedRuntime(overrides = {}) {
      const runtime = harness.runtime(overrides);
      await runtime.start();
      return runtime;
    },
    async stop() {
      for (const runtime of runtimes) await runtime.close();
      await api.stop();
      rmSync(kubeconfig, { force: true });
    },
  };
  return harness;
}
