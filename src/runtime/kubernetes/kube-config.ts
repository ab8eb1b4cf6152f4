import { readFileSync } from 'node:fs';
import { KubeConfig, Watch, type Cluster, type DispatcherOptions, type RequestContext } from '@kubernetes/client-node';
import { Agent, type Dispatcher } from 'undici';
import { ConfigError } from '../../errors.js';

/**
 * client-node 2.x sends every API call through undici with a new Agent per call, so every Pod
 * create and delete paid for a TCP connection and a TLS handshake (measured: 20 creates and 20
 * deletes opened 42 connections). This keeps one keep-alive Agent per set of TLS options and hands
 * it to every call, the watch's included.
 *
 * undici also closes a connection after any DELETE that has a body, in case the server does not
 * read one; an API server does (DeleteOptions: our uid precondition), so DELETEs keep theirs.
 */
class KeepAliveKubeConfig extends KubeConfig {
  private readonly agents = new Map<string, Dispatcher>();
  /** What client-node chose for the call being authenticated (see applySecurityAuthentication). */
  private chosen: DispatcherOptions | null = null;

  override createDispatcherOptions(cluster: Cluster | null, agentOptions: Parameters<KubeConfig['createDispatcherOptions']>[1]): DispatcherOptions {
    this.chosen = super.createDispatcherOptions(cluster, agentOptions);
    return this.chosen;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    // client-node computes the options, builds an Agent from them and sets it on the context in one
    // synchronous step, so when setDispatcher is called `chosen` is this call's: we swap its Agent
    // (which has opened nothing yet) for the shared one.
    const setDispatcher = context.setDispatcher.bind(context);
    context.setDispatcher = (fresh: Dispatcher) => setDispatcher(this.shared(this.chosen, fresh));
    try {
      await super.applySecurityAuthentication(context);
    } finally {
      context.setDispatcher = setDispatcher;
    }
  }

  private shared(options: DispatcherOptions | null, fresh: Dispatcher): Dispatcher {
    if (options?.type !== 'agent') return fresh; // a proxy: client-node's own dispatcher, as it made it
    const { connect } = options;
    // Credentials that rotate (client certificates from exec plugins or files) give new options,
    // hence a new Agent; the old ones are closed once they have finished what they carry.
    const id = JSON.stringify(
      [connect.ca, connect.cert, connect.key, connect.pfx, connect.passphrase, connect.rejectUnauthorized, connect.servername].map((v) =>
        Buffer.isBuffer(v) ? v.toString('base64') : v,
      ),
    );
    let agent = this.agents.get(id);
    if (!agent) {
      if (this.agents.size >= 8) {
        for (const old of this.agents.values()) void old.close();
        this.agents.clear();
      }
      // Idle connections are kept 30 s (undici's default is 4 s, and the API server sends no
      // Keep-Alive hint), under the usual 60 s idle timeout of cloud load balancers.
      agent = new Agent({ connect, connections: 32, keepAliveTimeout: 30_000 }).compose(
        (dispatch) => (request, handler) => dispatch(request.method === 'DELETE' ? { ...request, reset: false } : request, handler),
      );
      this.agents.set(id, agent);
    }
    return agent;
  }
}

/**
 * client-node's Watch aborts a watch after 30 s without a byte, but an API server sends a bookmark
 * only about once a minute, so every quiet watch would end in an error twice a minute. PodWatcher
 * detects stalls itself (`stallMs`); this moves client-node's timer past it.
 */
export function makeWatch(config: KubeConfig, inactivityTimeoutMs: number): Watch {
  const watch = new Watch(config);
  // A private field in client-node's types: test/kubernetes/quiet-watch.test.ts notices if it goes.
  Object.assign(watch, { requestTimeoutMs: inactivityTimeoutMs });
  return watch;
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
