import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../../src/cli/main.js';
import { BIN, shellQuote } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { useServers } from '../helpers/servers.js';

const servers = useServers();
const DOC = fileURLToPath(new URL('../../../README.md', import.meta.url));

interface Example {
  readonly script: string;
  readonly exit: number;
  readonly line: number;
}

/** Every ```sh cli-example [exit=N] block of the doc, in order. */
function examplesOf(markdown: string): Example[] {
  const examples: Example[] = [];
  const fence = /^```sh cli-example(?: exit=(\d+))?\n([\s\S]*?)^```$/gm;
  for (let match = fence.exec(markdown); match; match = fence.exec(markdown)) {
    examples.push({ script: match[2]!, exit: Number(match[1] ?? 0), line: markdown.slice(0, match.index).split('\n').length });
  }
  return examples;
}

function runBash(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

describe('the README\'s CLI section and the CLI stay in step', () => {
  const markdown = readFileSync(DOC, 'utf8');
  let tp: TestPlane;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    // The doc's examples use the default (empty) key prefix, as a reader's would; this Redis is the test's own.
    tp = await startTestPlane(servers(), { keyPrefix: '' });
    dir = mkdtempSync(join(tmpdir(), 'leasehold-docs-'));
    // `leasehold` on the PATH, as `npm install -g` would put it.
    const bin = join(dir, 'bin');
    const shim = join(bin, 'leasehold');
    mkdirSync(bin);
    writeFileSync(shim, `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(BIN)} "$@"\n`);
    chmodSync(shim, 0o755);
    env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`, REDIS_URL: servers().redis.url, NATS_URL: servers().nats.url };
    delete env.LEASEHOLD_KEY_PREFIX;
  });
  after(async () => {
    await tp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every cli-example block runs against a control plane and ends with the exit code it states', async () => {
    const examples = examplesOf(markdown);
    assert.ok(examples.length >= 10, `only ${examples.length} examples found`);
    for (const example of examples) {
      const result = await runBash(example.script, dir, env);
      assert.equal(result.code, example.exit, `the example at README.md:${example.line} exited ${result.code}:\n${example.script}\n${result.output}`);
    }
  });

  it("the doc's command table names every command the CLI has, and no other", () => {
    const table = [...markdown.matchAll(/^\| `leasehold ([a-z-]+)/gm)].map((m) => m[1]!);
    const commands = buildProgram().commands.map((c) => c.name());
    assert.deepEqual([...table].sort(), [...commands].sort());
  });
});
