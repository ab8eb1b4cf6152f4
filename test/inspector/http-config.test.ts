import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { HttpTokens } from '../../src/inspector/http-auth.js';
import { HostAllowList } from '../../src/inspector/host-allow-list.js';
import { runCli } from '../helpers/cli.js';

const SECRET = 'correct-horse-battery-staple';

describe('HTTP tokens file', () => {
  it('takes "token scope [name]" lines, comments and blank lines, and knows each holder', () => {
    const tokens = HttpTokens.parse(`# who may look\n\n${SECRET} read grafana dashboards\n  ${SECRET}-2   operator  \n`, 'tokens');
    assert.deepEqual(tokens.verify(SECRET), { scope: 'read', name: 'grafana dashboards' });
    assert.deepEqual(tokens.verify(`${SECRET}-2`), { scope: 'operator', name: 'line 4' });
    for (const wrong of ['', SECRET.slice(0, -1), `${SECRET} `, SECRET.toUpperCase(), `${SECRET}-3`]) assert.equal(tokens.verify(wrong), null, JSON.stringify(wrong));
  });

  it('refuses a weak, unscoped, duplicated or empty list, naming the line but never the token', () => {
    const cases: [string, RegExp][] = [
      ['short-token read', /line 1: a token must be at least 16 characters/],
      [`${SECRET}`, /line 1: the scope must be one of read, operator/],
      [`${SECRET} admin`, /line 1: the scope must be one of read, operator/],
      [`# ok\n${SECRET} read\n${SECRET} operator`, /line 3: this token is already listed/],
      ['# nothing here\n', /lists no tokens/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => HttpTokens.parse(text, 'tokens'),
        (error: unknown) => error instanceof ConfigError && message.test(error.message) && !error.message.includes(SECRET) && !error.message.includes('short-token'),
        text,
      );
    }
  });

  it('makes `leasehold start` stop with one line, before connecting, on a bad or missing tokens file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-tokens-'));
    const bad = join(dir, 'tokens');
    writeFileSync(bad, `${SECRET} superuser\n`);
    for (const [file, message] of [
      [bad, /tokens, line 1: the scope must be one of read, operator/],
      [join(dir, 'missing'), /cannot read the HTTP tokens file .*missing: ENOENT/],
    ] as const) {
      // Unreachable Redis and NATS: the tokens file is read first, so neither is waited for.
      const result = await runCli(['start', '--http-tokens', file, '--redis', 'redis://127.0.0.1:1', '--nats', 'nats://127.0.0.1:1', '--http-port', '0', '--state-dir', dir]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
      assert.ok(!result.stderr.includes(SECRET), 'the token is not echoed');
    }
  });
});

describe('Host allow-list', () => {
  it('defaults to the loopback names and port of a loopback bind, plus the public URL', () => {
    const list = HostAllowList.forBind('127.0.0.1', 8080, { publicUrl: 'https://leasehold.example.com' })!;
    for (const host of ['localhost:8080', '127.0.0.1:8080', '[::1]:8080', 'leasehold.example.com', 'leasehold.example.com:443']) assert.ok(list.allows(host), host);
    for (const host of ['localhost:8081', 'localhost', 'evil.example:8080', '127.0.0.2:8080', 'localhost:8080.evil.example', 'localhost:8080:80', '', undefined]) {
      assert.ok(!list.allows(host), String(host));
    }
  });

  it('answers any Host on a non-loopback bind unless told otherwise; * turns the check off', () => {
    assert.equal(HostAllowList.forBind('0.0.0.0', 8080, {}), null);
    assert.equal(HostAllowList.forBind('127.0.0.1', 8080, { configured: ['*'] }), null);
    const configured = HostAllowList.forBind('0.0.0.0', 8080, { configured: ['leasehold.internal:8080', 'cp.example'] })!;
    assert.ok(configured.allows('leasehold.internal:8080'));
    assert.ok(configured.allows('cp.example:9999'), 'a name without a port allows any port');
    assert.ok(!configured.allows('leasehold.internal:8081'));
    assert.ok(!configured.allows('10.0.0.1:8080'));
    const withPublic = HostAllowList.forBind('0.0.0.0', 8080, { configured: ['cp.example'], publicUrl: 'http://127.0.0.1:8080' })!;
    assert.ok(withPublic.allows('127.0.0.1:8080'), 'workloads keep reaching the heartbeat endpoint by the URL they were given');
    assert.throws(() => HostAllowList.forBind('127.0.0.1', 8080, { publicUrl: 'leasehold:8080/x y' }), /--public-url/);
  });

  it('refuses an entry it cannot read', () => {
    assert.throws(() => new HostAllowList(['http://localhost:8080']), ConfigError);
    assert.throws(() => new HostAllowList(['local host']), ConfigError);
  });
});
