import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { useServers } from '../helpers/servers.js';
import { runCliWithin } from '../security/nats-fixtures.js';

const servers = useServers();
const PASSWORD = 'hunter2pw';

/** One line on stderr, exit 2, no stack trace, no password; and it ended by itself. */
function assertConfigError(result: Awaited<ReturnType<typeof runCliWithin>>, expected: RegExp): void {
  assert.equal(result.killed, false, 'it ended by itself instead of retrying');
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stderr.split('\n').filter(Boolean).length, 1, result.stderr);
  assert.match(result.stderr, expected);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
  assert.ok(!result.stderr.includes(PASSWORD) && !result.stdout.includes(PASSWORD), 'the password is not echoed');
}

describe('a malformed server URL is a one-line configuration error', () => {
  const badRedis = [`redis://:${PASSWORD}@[::1`, `redis://:${PASSWORD}@127.0.0.1:46371:99`];

  for (const url of badRedis) {
    it(`leasehold start --redis ${url.replace(PASSWORD, '…')}: exit 2, the URL redacted, no TypeError`, async () => {
      const result = await runCliWithin(20_000, ['start', '--redis', url, '--nats', servers().nats.url, '--http-port', '0']);
      assertConfigError(result, /^leasehold: the Redis URL redis:\/\/:\*\*\*@\S+ is not a valid URL .*; set --redis or REDIS_URL$/m);
    });

    it(`leasehold submit with REDIS_URL=${url.replace(PASSWORD, '…')} or --redis: the same line`, async () => {
      const fromFlag = await runCliWithin(20_000, ['submit', '--redis', url, '--', 'true']);
      assertConfigError(fromFlag, /^leasehold: the Redis URL redis:\/\/:\*\*\*@\S+ is not a valid URL/);
      const fromEnv = await runCliWithin(20_000, ['submit', '--', 'true'], { REDIS_URL: url });
      assert.equal(fromEnv.stderr, fromFlag.stderr);
      assert.equal(fromEnv.code, 2);
    });
  }

  it('a password with a stray % in a Redis URL is named as bad percent-encoding, not thrown as a URIError', async () => {
    const result = await runCliWithin(20_000, ['submit', '--redis', `redis://:${PASSWORD}100%@127.0.0.1:1`, '--', 'true']);
    assertConfigError(result, /credentials that are not valid percent-encoding/);
  });

  it('leasehold start with an invalid NATS URL ends at once with exit 2, instead of retrying it for ever as an outage', async () => {
    for (const url of [`nats://:${PASSWORD}@[::1`, `nats://127.0.0.1:4222,nats://u:${PASSWORD}@127.0.0.1:4222:99`]) {
      const result = await runCliWithin(20_000, ['start', '--redis', servers().redis.url, '--nats', url, '--http-port', '0']);
      assertConfigError(result, /^leasehold: the NATS URL nats:\/\/\S*\*\*\*@\S+ is not a valid URL .*; set --nats or NATS_URL$/m);
    }
    const status = await runCliWithin(20_000, ['status', 'x'], { NATS_URL: 'nats://[::1' });
    assertConfigError(status, /^leasehold: the NATS URL nats:\/\/\[::1 is not a valid URL/);
  });

  it('a control plane started from code refuses an invalid NATS URL with a ConfigError, not an endless retry', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-urls-'));
    try {
      let outcome: unknown = 'started';
      try {
        await (await startTestPlane(servers(), { natsUrl: `nats://:${PASSWORD}@[::1`, stateDir })).stop();
      } catch (error) {
        outcome = error;
      }
      assert.ok(outcome instanceof ConfigError, String(outcome));
      assert.ok(!outcome.message.includes(PASSWORD));
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
