import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nkeys } from '@nats-io/transport-node';
import { startNats, startRedis } from '../../src/dev/servers.js';
import { BIN, type CliResult } from '../helpers/cli.js';
import type { Servers } from '../helpers/servers.js';

/** A random password or token, long enough that a test never guesses it by accident. */
export const secret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;

/**
 * Certificates for TLS with client verification, made now with Debian's openssl: a CA, a server
 * certificate for 127.0.0.1, a client certificate it signed, and a client certificate from
 * another CA (the one the server must refuse).
 */
export function tlsMaterial(dir: string) {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  const ca = (name: string) => {
    key(name);
    openssl('req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-days', '1', '-subj', `/CN=${name}`);
  };
  const signed = (name: string, by: string, extensions: string) => {
    key(name);
    openssl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.crt`, '-CAkey', `${by}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  };
  ca('ca');
  ca('other-ca');
  signed('server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  signed('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  signed('stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  const path = (file: string) => join(dir, file);
  return {
    ca: path('ca.crt'),
    server: { cert: path('server.crt'), key: path('server.key') },
    client: { cert: path('client.crt'), key: path('client.key') },
    stranger: { cert: path('stranger.crt'), key: path('stranger.key') },
  };
}

type KeyPair = ReturnType<typeof nkeys.createUser>;

const base64url = (data: string | Uint8Array) => Buffer.from(data).toString('base64url');

/** A NATS JWT, signed the way `nsc` signs them (ed25519 over header.payload). */
function jwt(claims: Record<string, unknown>, signer: KeyPair): string {
  const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const body: Record<string, unknown> = { ...claims, iat: Math.floor(Date.now() / 1000) };
  body.jti = createHash('sha256').update(JSON.stringify(body)).digest('hex').toUpperCase();
  const payload = base64url(JSON.stringify(body));
  return `${header}.${payload}.${base64url(signer.sign(new TextEncoder().encode(`${header}.${payload}`)))}`;
}

function credsFile(userJwt: string, user: KeyPair): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    userJwt,
    '------END NATS USER JWT------',
    '',
    '-----BEGIN USER NKEY SEED-----',
    new TextDecoder().decode(user.getSeed()),
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
}

/**
 * Operator (JWT) mode without `nsc`: an operator, an account it signed, and a user the account
 * signed, with the server configuration that trusts them (a memory resolver). `stranger` is a
 * creds file of a user signed by an account the operator never signed.
 */
export function jwtMaterial() {
  const operator = nkeys.createOperator();
  const system = nkeys.createAccount();
  const account = nkeys.createAccount();
  const user = nkeys.createUser();
  const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const operatorJwt = jwt({ iss: operator.getPublicKey(), sub: operator.getPublicKey(), name: 'test-operator', nats: { type: 'operator', version: 2 } }, operator);
  const accountJwt = jwt(
    { iss: operator.getPublicKey(), sub: account.getPublicKey(), name: 'leasehold', nats: { type: 'account', version: 2, limits: { ...unlimited, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } } },
    operator,
  );
  // JetStream needs a system account in operator mode.
  const systemJwt = jwt({ iss: operator.getPublicKey(), sub: system.getPublicKey(), name: 'SYS', nats: { type: 'account', version: 2, limits: unlimited } }, operator);
  const userClaims = (issuer: KeyPair, subject: KeyPair) =>
    jwt({ iss: issuer.getPublicKey(), sub: subject.getPublicKey(), name: 'leasehold', nats: { type: 'user', version: 2, pub: {}, sub: {}, subs: -1, data: -1, payload: -1 } }, issuer);
  const otherAccount = nkeys.createAccount();
  const stranger = nkeys.createUser();
  return {
    serverConfig: [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      'resolver: MEMORY',
      `resolver_preload: { ${system.getPublicKey()}: ${systemJwt}, ${account.getPublicKey()}: ${accountJwt} }`,
      '',
    ].join('\n'),
    creds: credsFile(userClaims(account, user), user),
    stranger: credsFile(userClaims(otherAccount, stranger), stranger),
  };
}

/** An nkey user: its seed (the secret, for the client's file) and public key (for the server's config). */
export function nkeyUser() {
  const user = nkeys.createUser();
  return { seed: new TextDecoder().decode(user.getSeed()), publicKey: user.getPublicKey() };
}

/**
 * `leasehold start …` with its own environment (credentials are given the way a user should give
 * them: in variables). Resolves once it logs that it started; `stop` ends it.
 */
export async function startPlaneWithEnv(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; logs: () => string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'start', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`control plane did not start:\n${logs}`)), 20_000);
      const read = (chunk: Buffer) => {
        logs += chunk.toString();
        if (logs.includes('control plane started')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`control plane exited with ${code}:\n${logs}`));
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { child, logs: () => logs, stop };
}

/**
 * `leasehold <args>` to completion, killed after `limitMs`: a command that should fail and hangs
 * instead must fail the test, not hold the test process open for ever.
 */
export function runCliWithin(limitMs: number, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult & { killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed });
    });
  });
}

/** The NATS configuration shipped in manifests/, run as is. */
export const SHIPPED_NATS_CONFIG = fileURLToPath(new URL('../../../manifests/nats.conf', import.meta.url));

/** A Redis and a NATS under the shipped configuration, with these passwords for its three users. */
export async function startShippedServers(passwords: { controlPlane: string; operator: string; watcher: string }): Promise<Servers> {
  const [redis, nats] = await Promise.all([
    startRedis(),
    startNats({
      config: SHIPPED_NATS_CONFIG,
      env: {
        LEASEHOLD_NATS_CONTROL_PLANE_PASSWORD: passwords.controlPlane,
        LEASEHOLD_NATS_OPERATOR_PASSWORD: passwords.operator,
        LEASEHOLD_NATS_WATCHER_PASSWORD: passwords.watcher,
      },
    }),
  ]);
  return { redis, nats };
}
