import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLogLine } from '../../src/cli/log-format.js';
import { BIN, shellQuote } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient } from '../helpers/servers.js';

/**
 * `leasehold dev` as a person runs it: on a terminal (a pseudo-terminal from util-linux
 * `script`), or with its stderr piped. It starts its own Redis and NATS; each test stops it with
 * SIGINT, as Ctrl-C would, and waits until it (and so what it started) has exited.
 */
interface Dev {
  output(): string;
  /** Its Redis, as its banner prints it. */
  redisUrl(): Promise<string>;
  stop(): Promise<void>;
}

const stateDirs: string[] = [];
after(() => {
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

function startDev(args: string[], terminal: boolean): Dev {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-dev-logs-'));
  stateDirs.push(stateDir);
  const argv = [process.execPath, BIN, 'dev', '--ephemeral', '--http-port', '0', '--state-dir', stateDir, ...args];
  const { CI: _ci, LEASEHOLD_LOG_FORMAT: _format, ...env } = process.env;
  // On the terminal, the shell says its pid before exec-ing dev in its place: that is who gets SIGINT.
  const child = terminal
    ? spawn('script', ['--quiet', '--return', '--command', `stty -onlcr; echo "PID=$$"; exec ${argv.map(shellQuote).join(' ')}`, '/dev/null'], {
        env: { ...env, TERM: 'xterm-256color' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const pid = () => (terminal ? Number(/PID=(\d+)/.exec(output)?.[1]) : child.pid!);
  return {
    output: () => output,
    async redisUrl() {
      let url = '';
      await eventually(() => {
        url = /Redis {2}(redis:\/\/\S+)/.exec(output)?.[1] ?? '';
        assert.ok(url && output.includes('control plane started'), `dev did not start:\n${output}`);
      }, 30_000);
      return url;
    },
    async stop() {
      if (child.exitCode === null && pid()) process.kill(pid(), 'SIGINT');
      await exited;
    },
  };
}

/** Escape sequences the CLI itself writes on a terminal: SGR colours. */
const OURS = /\x1b\[(?:\d+(?:;\d+)*)?m/g;

/** A refused payload whose reason carries the key it named: OSC 0 (retitle the window) and OSC 52 (the clipboard). */
const HOSTILE = JSON.stringify({ id: 'hostile', type: 'trusted', image: 'alpine', cmd: 'true', '\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4K\x07': 1 });

describe('leasehold dev: logs for people on a terminal, JSON for programs', () => {
  it('on a terminal it prints readable lines, and a payload cannot drive the terminal through them', async () => {
    const dev = startDev([], true);
    try {
      const redis = redisClient(await dev.redisUrl());
      await redis.lpush('workload_queue', HOSTILE).finally(() => redis.disconnect());
      await eventually(() => assert.match(dev.output(), /queue entry refused/), 10_000);
    } finally {
      await dev.stop();
    }
    const plain = dev.output().replace(OURS, '');
    assert.match(plain, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}control plane started {2}\S/m);
    assert.doesNotMatch(plain, /^\{"level"/m, 'no JSON line on the terminal');
    const refused = plain.split('\n').find((line) => line.includes('queue entry refused'))!;
    assert.match(refused, /^\d\d:\d\d:\d\d\.\d{3} WARN {2}queue entry refused; see the dead-letter list {2}kind=invalidSpec reason="unknown field \\u001b\]0;pwned\\u0007\\u001b\]52;c;cm0gLXJmIH4K\\u0007"$/);
    assert.doesNotMatch(plain, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/, 'a control character reached the terminal raw');
    assert.match(dev.output(), /\x1b\[33mWARN/, 'levels are coloured on a terminal');
  });

  it('--log-format json on a terminal, and a pipe without it, get JSON lines', async () => {
    for (const [args, terminal] of [[['--log-format', 'json'], true], [[], false]] as const) {
      const dev = startDev([...args], terminal);
      try {
        await dev.redisUrl();
      } finally {
        await dev.stop();
      }
      const logLines = dev.output().split('\n').filter((line) => line.startsWith('{'));
      const started = logLines.map((line) => JSON.parse(line) as { msg?: string; level?: number }).find((entry) => entry.msg === 'control plane started');
      assert.equal(started?.level, 30, `${args.join(' ') || 'piped'}:\n${dev.output()}`);
      assert.doesNotMatch(dev.output(), /^\d\d:\d\d:\d\d\.\d{3} /m, 'no readable line where JSON was asked for');
    }
  });

  it("an error's stack is indented under its entry, so none of its lines poses as an entry", () => {
    const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n12:00:00.000 INFO  forged entry\n    at x (y.js:1:1)' };
    const line = JSON.stringify({ level: 50, time: Date.UTC(2026, 0, 1), pid: 1, hostname: 'h', name: 'leasehold', msg: 'provisioning failed', id: 'job-1', err });
    const text = formatLogLine(line);
    const [head, ...stack] = text.trimEnd().split('\n');
    assert.match(head!, /^\d\d:\d\d:\d\d\.000 ERROR provisioning failed {2}id=job-1$/);
    assert.deepEqual(stack, ['    Error: boom', '    12:00:00.000 INFO  forged entry', '        at x (y.js:1:1)']);
  });
});
