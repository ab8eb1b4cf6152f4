import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { ConfigError } from '../../errors.js';

/**
 * client-node 1.x gives every API call a new https.Agent, so every Pod create and delete paid for
 * a TCP connection and a TLS handshake (measured: 200 creates opened 200 connections). This keeps
 * one keep-alive agent per set of TLS options and hands it to every call.
 */
class KeepAliveKubeConfig extends KubeConfig {
  private readonly agents = new Map<string, Agent>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getAgent();
    if (!(fresh instanceof Agent) || fresh.constructor !== Agent) return; // a proxy agent: leave it be
    const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = fresh.options;
    // Credentials that rotate (exec plugins, projected tokens) give new options, hence a new agent.
    const id = JSON.stringify([ca, cert, key, pfx, passphrase, rejectUnauthorized, servername].map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : v)));
    let agent = this.agents.get(id);
    if (!agent) {
      if (this.agents.size >= 8) {
        for (const old of this.agents.values()) old.destroy();
        this.agents.clear();
      }
      agent = new Agent({ ...fresh.options, keepAlive: true, maxSockets: 32 });
      this.agents.set(id, agent);
    }
    fresh.destroy();
    context.setAgent(agent);
  }
}

const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * Kubernetes credentials from the standard places: `--kubeconfig`, else `KUBECONFIG` or
 * `~/.kube/config`, else the in-cluster service account (client-node's own search order).
 */
export function loadKubeConfig(path: string | null): KubeConfig {
  const config = new KeepAliveKubeConfig();
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
