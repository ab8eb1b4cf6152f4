import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startNats, startRedis, type OwnedServer } from '../../src/dev/servers.js';
import { redactUrl, redactUrlsIn } from '../../src/redact.js';
import { runCli, startCliControlPlane } from '../helpers/cli.js';

const PASSWORD = 'hunter2-s3cret';
const WRONG = 'wr0ng-guess-42';

describe('credentials never reach a log line or an error message', () => {
  let redis: OwnedServer;
  let nats: OwnedServer;
  let stateDir: string;
  let port: number;
  before(async () => {
    [redis, nats] = await Promise.all([startRedis({ password: PASSWORD }), startNats()]);
    port = redis.port;
    stateDir = mkdtempSync(join(tmpdir(), 'leasehold-secrets-'));
  });
  after(async () => {
    await Promise.all([redis.stop(), nats.stop()]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  const redisUrlWith = (password: string) => `redis://:${password}@127.0.0.1:${port}`;
  const start = (redisUrl: string) => ['start', '--redis', redisUrl, '--nats', nats.url, '--http-port', '0', '--state-dir', stateDir];

  it('a wrong Redis password is one line naming the server, with neither password, and a non-zero exit', async () => {
    const result = await runCli(start(redisUrlWith(WRONG)), { LOG_LEVEL: 'debug' });
    assert.equal(result.code, 2);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line, not one per retry:\n${result.stderr}`);
    assert.match(lines[0]!, new RegExp(`Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port} refused the credentials \\(WRONGPASS`));
    assert.ok(!result.stderr.includes(WRONG) && !result.stdout.includes(WRONG), 'the wrong password is not echoed');
    assert.ok(!result.stderr.includes(PASSWORD));
  });

  it('a CLI command that cannot use Redis names the server without its password', async () => {
    const payload = JSON.stringify({ id: 'x', type: 'trusted', image: 'alpine', cmd: ['true'] });
    const result = await runCli(['submit', '--redis', redisUrlWith(WRONG), payload]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, new RegExp(`redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}`));
    assert.ok(!result.stderr.includes(WRONG) && !result.stdout.includes(WRONG), 'the password is not echoed');
  });

  it('a missing password says so (NOAUTH), once', async () => {
    const result = await runCli(start(`redis://127.0.0.1:${port}`));
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /refused the credentials \(NOAUTH/);
  });

  it("with the right password, no log line of a running control plane holds it, nor a refused entry's env", async () => {
    const plane = await startCliControlPlane(start(redisUrlWith(PASSWORD)).slice(1));
    const redis = new Redis(redisUrlWith(PASSWORD), { maxRetriesPerRequest: 2 });
    try {
      assert.match(plane.logs(), /"redis":"redis:\/\/:\*\*\*@127\.0\.0\.1:\d+"/, 'the start line names the server, redacted');
      // Refused (no image, no cmd), with a secret in its env: the log says why, not what it held.
      await redis.lpush('workload_queue', JSON.stringify({ id: 'leaky', type: 'trusted', env: { API_TOKEN: 'submitter-secret-9' } }));
      for (let tries = 0; !plane.logs().includes('queue entry refused'); tries++) {
        assert.ok(tries < 200, 'the refusal is logged');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.ok(!plane.logs().includes('submitter-secret-9'), plane.logs());
    } finally {
      redis.disconnect();
      plane.child.kill('SIGTERM');
      await plane.exited;
    }
    assert.ok(!plane.logs().includes(PASSWORD), plane.logs());
  });
});

describe('redactUrl', () => {
  const cases: [string, string][] = [
    ['redis://:hunter2@127.0.0.1:6379', 'redis://:***@127.0.0.1:6379'],
    ['redis://app:hunter2@redis:6379/0', 'redis://app:***@redis:6379/0'],
    ['rediss://default:p%40ss@cache.example:6380', 'rediss://default:***@cache.example:6380'],
    // NATS reads a lone user part as a token.
    ['nats://s3cr3t-token@nats:4222', 'nats://***@nats:4222'],
    ['nats://user:hunter2@nats:4222', 'nats://user:***@nats:4222'],
    ['redis://cache:6379/?password=hunter2&db=1', 'redis://cache:6379/?password=***&db=1'],
    ['nats://nats:4222?token=abc&name=x', 'nats://nats:4222?token=***&name=x'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    // Not one URL (a NATS server list): the user parts are cut all the same.
    ['nats://a:4222,nats://u:hunter2@b:4222', 'nats://a:4222,nats://u:***@b:4222'],
  ];
  for (const [url, expected] of cases) {
    it(`keeps the secret of ${expected} out`, () => {
      assert.equal(redactUrl(url), expected);
    });
  }

  it('redacts every URL inside a sentence', () => {
    assert.equal(
      redactUrlsIn('cannot reach nats://tok@h:4222 or redis://u:pw@h:6379 (ECONNREFUSED)'),
      'cannot reach nats://***@h:4222 or redis://u:***@h:6379 (ECONNREFUSED)',
    );
  });
});
