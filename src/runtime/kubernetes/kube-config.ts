import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError } from '../../errors.js';

const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * Kubernetes credentials from the standard places: `--kubeconfig`, else `KUBECONFIG` or
 * `~/.kube/config`, else the in-cluster service account (client-node's own search order).
 */
export function loadKubeConfig(path: string | null): KubeConfig {
  const config = new KubeConfig();
  try {
    if (path) config.loadFromFile(path);
    else config.loadFromDefault();
  } catch (error) {
    throw new ConfigError(`cannot read the kubeconfig${path ? ` ${path}` : ''}: ${(error as Error).message}`);
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) {
    throw new ConfigError('no Kubernetes cluster is configured: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
  }
  // client-node throws this from deep inside a request, where it would take the process down.
  if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
    throw new ConfigError(`the cluster ${cluster.server} is plain HTTP; client-node only allows that with insecure-skip-tls-verify: true`);
  }
  return config;
}

/** The namespace of the current context, else the service account's, else `default`. */
export function defaultNamespace(config: KubeConfig): string {
  const fromContext = config.getContextObject(config.getCurrentContext())?.namespace;
  if (fromContext) return fromContext;
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}
