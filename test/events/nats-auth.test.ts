import { describe, it } from 'node:test';
import { redactUrl } from '../../src/redact.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { natsConnectionOptions } from '../../src/events/nats-auth.js';

describe('NATS connection options from flags, environment and URL', () => {
  it('redacts every user, password and token of a URL list, even a password holding @ or :', () => {
    assert.equal(redactUrl('nats://u:p@ss:w@rd@10.0.0.1:4222,tls://tok3n@b:4222,c:4222'), 'nats://u:***@10.0.0.1:4222,tls://***@b:4222,c:4222');
    assert.equal(redactUrl('nats://127.0.0.1:4222'), 'nats://127.0.0.1:4222');
  });

  it('takes credentials out of the URL (nats.js would ignore them), percent-decoded, and the servers without them', () => {
    const options = natsConnectionOptions({ url: 'nats://leasehold:p%40ss%3Aword@127.0.0.1:4222', auth: {} });
    assert.deepEqual(options.servers, ['nats://127.0.0.1:4222']);
    assert.equal(Array.isArray(options.authenticator) && options.authenticator.length, 1);
    const auth = (options.authenticator as ((nonce?: string) => unknown)[])[0]!();
    assert.deepEqual(auth, { user: 'leasehold', pass: 'p@ss:word' });
    assert.deepEqual((natsConnectionOptions({ url: 'nats://s3cret@h:1', auth: {} }).authenticator as ((n?: string) => unknown)[])[0]!(), { auth_token: 's3cret' });
  });

  it('refuses contradictory or incomplete settings with a one-line reason that names no secret', () => {
    const refused = (url: string, auth: object) => {
      try {
        natsConnectionOptions({ url, auth });
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        assert.ok(!error.message.includes('hunter2'), error.message);
        assert.ok(!error.message.includes('\n'));
        return error.message;
      }
      assert.fail('accepted');
    };
    assert.match(refused('nats://u:hunter2@h:1', { token: 'hunter2' }), /both in the URL and as/);
    assert.match(refused('nats://h:1', { user: 'u' }), /needs a password/);
    assert.match(refused('nats://h:1', { password: 'hunter2' }), /needs a user/);
    assert.match(refused('nats://h:1', { user: 'u', password: 'hunter2', token: 'hunter2' }), /either a user and password or a token/);
    assert.match(refused('nats://h:1', { certFile: '/x.crt' }), /both --nats-cert and --nats-key/);
    assert.match(refused('nats://a:hunter2@h:1,nats://b:other@h:2', {}), /same credentials/);
  });

  it('reads key files at once: a missing or malformed one is named, its content is not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-nats-auth-'));
    try {
      const notASeed = join(dir, 'bad.nk');
      writeFileSync(notASeed, 'hunter2\n');
      assert.throws(() => natsConnectionOptions({ url: 'nats://h:1', auth: { nkeyFile: notASeed } }), (e: Error) => /does not hold an nkey seed/.test(e.message) && !e.message.includes('hunter2'));
      assert.throws(() => natsConnectionOptions({ url: 'nats://h:1', auth: { credsFile: notASeed } }), /is not a NATS creds file/);
      assert.throws(() => natsConnectionOptions({ url: 'nats://h:1', auth: { caFile: join(dir, 'none.crt') } }), /cannot read the --nats-ca file .*none\.crt \(ENOENT\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
