import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, runCliInTerminal } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { useServers } from '../helpers/servers.js';

const servers = useServers();

/**
 * A workload's output, as an attacker would write it: OSC 0 retitles the window, OSC 52 puts a
 * command on the clipboard, `\r` rewrites the start of a line (a forged verdict), CSI 2J clears
 * the screen, U+009B is a one-byte CSI, U+202E reverses what follows.
 */
const HOSTILE_STDOUT = String.raw`printf 'a\033]0;pwned\007b\033]52;c;cm0gLXJmIH4K\007\nreal\rreason=completed\n\033[2J\302\23331mC1\n\342\200\256evil\n'`;
const HOSTILE_STDERR = String.raw`printf 'err\033]0;pwned\007\rreason=completed' >&2`;
const EXPECTED_BYTES = 'a\x1b]0;pwned\x07b\x1b]52;c;cm0gLXJmIH4K\x07\nreal\rreason=completed\n\x1b[2J\u009b31mC1\n\u202eevil\n';

/** Escape sequences the CLI itself writes on a terminal: SGR colours, and the progress line's erase. */
const OURS = /\x1b\[(?:\d+(?:;\d+)*)?m|\r\x1b\[2K/g;

function assertInert(output: string, what: string): void {
  const foreign = output.replace(OURS, '');
  assert.doesNotMatch(foreign, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/, `${what} passed a control character through raw:\n${JSON.stringify(foreign)}`);
}

describe('what a workload or the bus writes never reaches a terminal raw', () => {
  let tp: TestPlane;
  let nats: string[];
  before(async () => {
    tp = await startTestPlane(servers());
    nats = ['--nats', servers().nats.url];
    const conn = ['--redis', servers().redis.url, ...nats, '--key-prefix', tp.config.keyPrefix];
    const submitted = await runCli(['submit', '--wait', '--id', 'hostile', ...conn, '--cmd', `${HOSTILE_STDOUT}; ${HOSTILE_STDERR}; exit 1`]);
    assert.equal(submitted.code, 1, submitted.stderr);
  });
  after(() => tp.stop());

  it('logs on a terminal shows escapes, title/clipboard sequences and forged \\r lines as text', async () => {
    const result = await runCliInTerminal(['logs', 'hostile', ...nats]);
    assert.equal(result.code, 0, result.stdout);
    assertInert(result.stdout, 'logs');
    assert.match(result.stdout, /a\\x1b\]0;pwned\\x07b\\x1b\]52;c;cm0gLXJmIH4K\\x07\nreal\\rreason=completed\n\\x1b\[2J\\x9b31mC1\n\\u202eevil\n/);
  });

  it('logs to a pipe is the output byte for byte: it is data there', async () => {
    const result = await runCli(['logs', 'hostile', ...nats]);
    assert.equal(result.stdout, `${EXPECTED_BYTES}err\x1b]0;pwned\x07\rreason=completed`);
  });

  it("status and watch escape the workload's error on a terminal, and so does submit --wait with its progress line", async () => {
    for (const args of [['status', 'hostile'], ['watch', 'hostile'], ['status', 'hostile', '-o', 'json'], ['status', 'hostile', '-o', 'yaml']]) {
      const result = await runCliInTerminal([...args, ...nats]);
      assert.equal(result.code, 0, result.stdout);
      assertInert(result.stdout, args.join(' '));
      assert.match(result.stdout, /err\\(?:x1b|u001b|e)\]0;pwned\\(?:x07|u0007|a)\\rreason=completed/, args.join(' '));
    }
    const conn = ['--redis', servers().redis.url, ...nats, '--key-prefix', tp.config.keyPrefix];
    const waited = await runCliInTerminal(['submit', '--wait', '--id', 'hostile-2', ...conn, '--cmd', `${HOSTILE_STDOUT}; ${HOSTILE_STDERR}; exit 1`]);
    assert.equal(waited.code, 1, waited.stdout);
    assertInert(waited.stdout, 'submit --wait');
    assert.match(waited.stdout, /a\\x1b\]0;pwned\\x07b/);
    // The progress line: the id, where it is, and the time waited, redrawn in place.
    assert.match(waited.stdout, /\r\x1b\[2K\x1b\[36mhostile-2\x1b\[39m {2}(?:in the queue|queued|provisioning|running|expiring) {2}\d+s/);
  });

  it('human output is coloured on a terminal, plain with NO_COLOR or when piped', async () => {
    const coloured = await runCliInTerminal(['status', 'hostile', ...nats]);
    assert.match(coloured.stdout, /\x1b\[31mfailed\x1b\[39m/);
    const noColor = await runCliInTerminal(['status', 'hostile', ...nats], { NO_COLOR: '1' });
    assert.equal(noColor.code, 0);
    assert.doesNotMatch(noColor.stdout, /\x1b\[/);
    assert.match(noColor.stdout, /reason: {3}failed/);
    const piped = await runCli(['status', 'hostile', ...nats]);
    assert.doesNotMatch(piped.stdout, /\x1b/);
  });
});
