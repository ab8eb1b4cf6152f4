import { AuthorizationError, UserAuthenticationExpiredError, connect, type NatsConnection } from '@nats-io/transport-node';
import { redactUrl } from '../redact.js';
import { LeaseholdError } from '../errors.js';
import { natsConnectionOptions, type NatsTarget } from './nats-auth.js';

/** Why a connection to NATS failed, as a stable code: scripts and the control plane branch on it. */
export type NatsFailure = 'NATS_AUTH' | 'NATS_TLS' | 'NATS_UNREACHABLE';

/**
 * A connection to NATS failed. The message is one line, names the server with its credentials
 * redacted, and says what to check; it never carries a secret.
 */
export class NatsConnectError extends LeaseholdError {
  declare readonly code: NatsFailure;
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|ERR_OSSL|HOSTNAME|ALTNAME/;

/**
 * Turns whatever nats.js threw into one line that names the server and what to check. With a
 * client certificate, a server that resets the connection is one that refused the certificate:
 * under TLS 1.3 the client learns of it only as a reset after the handshake.
 */
export function describeNatsFailure(error: unknown, url: string, clientCertificate = false): NatsConnectError {
  const where = redactUrl(url);
  if (error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError) {
    return new NatsConnectError(
      'NATS_AUTH',
      `NATS at ${where} refused our credentials (${error.message}); check --nats-user/NATS_USER and NATS_PASSWORD, NATS_TOKEN, --nats-nkey, --nats-creds or the client certificate`,
      { cause: error },
    );
  }
  const causes: unknown[] = [error, (error as { cause?: unknown } | null)?.cause];
  const code = causes.map((c) => (c as NodeJS.ErrnoException | null)?.code).find((c): c is string => typeof c === 'string');
  const text = causes.map((c) => (c instanceof Error ? c.message : '')).join(' ');
  const resetWithCertificate = clientCertificate && (code === 'ECONNRESET' || code === 'EPIPE');
  if ((code && TLS_CODES.test(code)) || /tls|certificate|ssl/i.test(text) || resetWithCertificate) {
    const reason = resetWithCertificate
      ? 'the server closed the connection during the handshake: is the client certificate signed by a CA it trusts?'
      : firstLine(error instanceof Error && /tls|cert/i.test(error.message) ? error.message : text);
    return new NatsConnectError('NATS_TLS', `TLS with NATS at ${where} failed (${reason}); check --nats-ca, --nats-cert and --nats-key`, { cause: error, transient: false });
  }
  const reason = firstLine(error instanceof Error ? error.message : String(error));
  return new NatsConnectError('NATS_UNREACHABLE', `cannot reach NATS at ${where} (${reason}${code && !reason.includes(code) ? `, ${code}` : ''})`, {
    cause: error,
    transient: true,
  });
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim().slice(0, 200);
}

export interface DialOptions {
  /** Shown by the server's monitoring pages. */
  readonly name: string;
  /** Keep reconnecting for ever once connected (the control plane, the inspector); off for one CLI command. */
  readonly reconnect: boolean;
  /** How long one attempt may take, handshake included. */
  readonly timeoutMs?: number;
}

/**
 * One attempt to connect, failing within `timeoutMs` with a {@link NatsConnectError}: never the
 * silent wait of `waitOnFirstConnect`. Once connected, a `reconnect` connection retries for ever.
 */
export async function dialNats(target: NatsTarget, options: DialOptions): Promise<NatsConnection> {
  const connectionOptions = natsConnectionOptions(target);
  const attempt = (reconnect: boolean) =>
    connect({
      ...connectionOptions,
      name: options.name,
      timeout: options.timeoutMs ?? 5_000,
      reconnect,
      maxReconnectAttempts: reconnect ? -1 : 0,
      reconnectTimeWait: 500,
    });
  try {
    return await attempt(options.reconnect);
  } catch (error) {
    if (!options.reconnect) throw describeNatsFailure(error, target.url, target.auth.certFile !== undefined);
    // A reconnecting client retries some refusals (a certificate reset, for one) until its
    // timeout and then only says "timeout"; one attempt that does not retry tells why.
    const reason = await attempt(false).then(
      async (probe) => {
        await probe.close();
        return error;
      },
      (probeError: unknown) => probeError,
    );
    throw describeNatsFailure(reason, target.url, target.auth.certFile !== undefined);
  }
}
