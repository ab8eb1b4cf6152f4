import { ApiException } from '@kubernetes/client-node';
import { RuntimeError } from '../../errors.js';

/** The parts of a Kubernetes `Status` body we act on. */
export interface KubeStatus {
  readonly code: number | null;
  readonly message: string | null;
  /** Seconds the server asked us to wait (429, and some 5xx), from Retry-After or details. */
  readonly retryAfterSeconds: number | null;
}

/** Reads what the API server said, whether the error came from a typed call or from a watch. */
export function kubeStatus(error: unknown): KubeStatus {
  if (error instanceof ApiException) {
    const body = parseBody(error.body);
    const header = Number(error.headers?.['retry-after']);
    const retryAfter = Number.isFinite(header) && header > 0 ? header : (body?.details?.retryAfterSeconds ?? null);
    return { code: error.code, message: body?.message ?? null, retryAfterSeconds: retryAfter };
  }
  const code = (error as { statusCode?: unknown; code?: unknown } | null)?.statusCode;
  return { code: typeof code === 'number' ? code : null, message: null, retryAfterSeconds: null };
}

/** Throttling, server trouble and network failures may pass; everything else will not. */
export function isTransientStatus(status: KubeStatus): boolean {
  return status.code === null || status.code === 429 || status.code >= 500;
}

/**
 * A RuntimeError that says what went wrong in Kubernetes terms. A 403 names the RBAC verb and
 * resource the service account lacks, which is what someone fixing the Role needs.
 */
export function toRuntimeError(error: unknown, what: { verb: string; resource: string; namespace: string }): RuntimeError {
  const status = kubeStatus(error);
  const detail = status.message ?? (error instanceof Error ? error.message : String(error));
  if (status.code === 403) {
    return new RuntimeError(
      'KUBERNETES_FORBIDDEN',
      `Kubernetes refused to ${what.verb} ${what.resource} in namespace ${what.namespace}: the service account needs RBAC verb "${what.verb}" on resource "${what.resource}" (see manifests/rbac.yaml). Server said: ${detail}`,
      { cause: error },
    );
  }
  const transient = isTransientStatus(status);
  const code = status.code === null ? 'KUBERNETES_UNREACHABLE' : `KUBERNETES_${status.code}`;
  return new RuntimeError(code, `cannot ${what.verb} ${what.resource} in namespace ${what.namespace}: ${status.code ?? 'no response'} ${detail}`, {
    cause: error,
    transient,
    ...(status.retryAfterSeconds !== null ? { retryAfterMs: status.retryAfterSeconds * 1000 } : {}),
  });
}

function parseBody(body: unknown): { message?: string; details?: { retryAfterSeconds?: number } } | null {
  if (typeof body === 'object' && body !== null) return body as never;
  if (typeof body !== 'string') return null;
  try {
    return JSON.parse(body) as never;
  } catch {
    return null;
  }
}
