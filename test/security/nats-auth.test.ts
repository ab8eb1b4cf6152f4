import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startNats, startRedis, type OwnedServer } from '../../src/dev/servers.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { uniquePrefix } from '../helpers/servers.js';
import { jwtMaterial, nkeyUser, runCliWithin, secret, startPlaneWithEnv, tlsMaterial } from './nats-fixtures.js';

/** How one auth method is set up on the server, and what a client gives (right, and wrong). */
interface Method {
  name: string;
  serverConfig: string;
  good: { env: NodeJS.ProcessEnv; url?: (port: number) => string };
  bad: { env: NodeJS.ProcessEnv; url?: (port: number) => string };
  /** Strings that must never be printed: the secrets of both attempts. */
  secrets: string[];
}

const dir = mkdtempSync(join(tmpdir(), 'leasehold-nats-auth-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
};

function methods(): Method[] {
  const password = secret('pw');
  const wrongPassword = secret('wrong-pw');
  const token = secret('token');
  const wrongToken = secret('wrong-token');
  const nkey = nkeyUser();
  const strangerKey = nkeyUser();
  const jwt = jwtMaterial();
  const tls = tlsMaterial(dir);
  const userPass = `authorization { users: [ { user: leasehold, password: "${password}" } ] }\n`;
  return [
    {
      name: 'user and password (NATS_USER, NATS_PASSWORD)',
      serverConfig: userPass,
      good: { env: { NATS_USER: 'leasehold', NATS_PASSWORD: password } },
      bad: { env: { NATS_USER: 'leasehold', NATS_PASSWORD: wrongPassword } },
      secrets: [password, wrongPassword],
    },
    {
      name: 'user and password in the URL (nats://user:pass@host)',
      serverConfig: userPass,
      good: { env: {}, url: (port) => `nats://leasehold:${password}@127.0.0.1:${port}` },
      bad: { env: {}, url: (port) => `nats://leasehold:${wrongPassword}@127.0.0.1:${port}` },
      secrets: [password, wrongPassword],
    },
    {
      name: 'token (NATS_TOKEN)',
      serverConfig: `authorization { token: "${token}" }\n`,
      good: { env: { NATS_TOKEN: token } },
      bad: { env: { NATS_TOKEN: wrongToken } },
      secrets: [token, wrongToken],
    },
    {
      name: 'nkey seed file (NATS_NKEY_FILE)',
      serverConfig: `authorization { users: [ { nkey: ${nkey.publicKey} } ] }\n`,
      good: { env: { NATS_NKEY_FILE: file('user.nk', `${nkey.seed}\n`) } },
      bad: { env: { NATS_NKEY_FILE: file('stranger.nk', `${strangerKey.seed}\n`) } },
      secrets: [nkey.seed, strangerKey.seed],
    },
    {
      name: 'creds file, JWT operator mode (NATS_CREDS)',
      serverConfig: jwt.serverConfig,
      good: { env: { NATS_CREDS: file('user.creds', jwt.creds) } },
      bad: { env: { NATS_CREDS: file('stranger.creds', jwt.stranger) } },
      secrets: [jwt.creds.split('\n')[5]!, jwt.stranger.split('\n')[5]!],
    },
    {
      name: 'TLS with a client certificate (NATS_CA, NATS_CERT, NATS_KEY)',
      serverConfig: `tls { cert_file: "${tls.server.cert}", key_file: "${tls.server.key}", ca_file: "${tls.ca}", verify: true, timeout: 2 }\n`,
      good: { env: { NATS_CA: tls.ca, NATS_CERT: tls.client.cert, NATS_KEY: tls.client.key } },
      bad: { env: { NATS_CA: tls.ca, NATS_CERT: tls.stranger.cert, NATS_KEY: tls.stranger.key } },
      secrets: ['PRIVATE KEY'],
    },
  ];
}

/** One line for the person at the terminal: `leasehold: …`, no stack trace, no secret. */
function assertOneLineRefusal(result: CliResult, secrets: string[], what: string): void {
  assert.notEqual(result.code, 0, `${what} exits non-zero`);
  const lines = result.stderr.split('\n').filter((line) => line.startsWith('leasehold:'));
  assert.equal(lines.length, 1, `${what}: one error line\n${result.stderr}`);
  assert.match(lines[0]!, /NATS at nats:\/\/([a-z]*:?\*\*\*@)?127\.0\.0\.1:\d+ refused our credentials|TLS with NATS at .* failed/, what);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `${what}: no stack trace`);
  for (const s of secrets) {
    assert.ok(!result.stdout.includes(s) && !result.stderr.includes(s), `${what}: the secret is not printed`);
  }
}

describe('NATS authentication: every method the server supports', () => {
  let redis: OwnedServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const method of methods()) {
    it(`${method.name}: leasehold start and leasehold status connect; a wrong credential is one line, exit non-zero, no secret`, { timeout: 90_000 }, async () => {
      const nats = await startNats({ config: file(`${method.name.replace(/\W+/g, '-')}.conf`, method.serverConfig) });
      const url = (side: Method['good']) => side.url?.(nats.port) ?? nats.url;
      const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-nats-auth-state-'));
      const common = ['--redis', redis.url, '--key-prefix', uniquePrefix(), '--state-dir', stateDir];
      const plane = await startPlaneWithEnv([...common, '--nats', url(method.good), '--http-port', '0'], method.good.env);
      try {
        // The control plane's own answer ("no workload …") proves the request went there and back.
        const status = await runCli(['status', 'nobody-here', '--nats', url(method.good)], method.good.env);
        assert.equal(status.code, 1, status.stderr);
        assert.equal(status.stderr, 'leasehold: no workload nobody-here\n');

        assertOneLineRefusal(await runCliWithin(30_000, ['status', 'nobody-here', '--nats', url(method.bad)], method.bad.env), method.secrets, 'status with a wrong credential');
        const refusedStart = await runCliWithin(30_000, ['start', ...common, '--nats', url(method.bad), '--http-port', '0'], method.bad.env);
        assert.equal(refusedStart.killed, false, 'start with a wrong credential ends by itself');
        assertOneLineRefusal(refusedStart, method.secrets, 'start with a wrong credential');
        assert.equal(refusedStart.code, 2);
        for (const s of method.secrets) assert.ok(!plane.logs().includes(s), 'the running control plane never logs the secret');
      } finally {
        await plane.stop();
        await nats.stop();
        rmSync(stateDir, { recursive: true, force: true });
      }
    });
  }

  it('a NATS that is unreachable at start is reported at once, by its redacted URL, and joined once it is up', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const httpPort = await freePort();
    const password = secret('pw');
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-nats-auth-state-'));
    const url = `nats://leasehold:${password}@127.0.0.1:${port}`;
    // Resolves only once the control plane has started: with nothing listening, that is the
    // proof that it did not sit waiting for NATS.
    const plane = await startPlaneWithEnv(['--redis', redis.url, '--nats', url, '--key-prefix', uniquePrefix(), '--state-dir', stateDir, '--http-port', String(httpPort)], {});
    let nats: OwnedServer | null = null;
    try {
      assert.match(plane.logs(), new RegExp(`cannot reach NATS at nats://leasehold:\\*\\*\\*@127\\.0\\.0\\.1:${port} .*keeps trying`));
      assert.ok(!plane.logs().includes(password), 'the password is not logged');
      const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      assert.equal(ready.status, 200, 'without NATS it still takes work');
      assert.equal(((await ready.json()) as { checks: { nats: boolean } }).checks.nats, false);

      nats = await startNats({ port, config: file('late.conf', `authorization { users: [ { user: leasehold, password: "${password}" } ] }\n`) });
      // The control plane joins NATS once it is up.
      await eventually(
        async () => assert.equal(((await (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).json()) as { checks: { nats: boolean } }).checks.nats, true),
        20_000,
      );
      const status = await runCli(['status', 'nobody-here', '--nats', url]);
      assert.equal(status.stderr, 'leasehold: no workload nobody-here\n');
    } finally {
      await plane.stop();
      await nats?.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
