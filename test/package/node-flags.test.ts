import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROL_PLANE_NODE_FLAGS } from '../../src/node-flags.js';

const root = new URL('../../../', import.meta.url).pathname;
const read = (file: string) => readFileSync(join(root, file), 'utf8');

/** The Node flags on a command line, in order, up to the script it runs. */
function flagsBefore(words: readonly string[], script: string): string[] {
  const at = words.indexOf(script);
  assert.notEqual(at, -1, `${script} in ${words.join(' ')}`);
  return words.slice(words.indexOf('node') + 1, at);
}

describe("the control plane's Node flags", () => {
  it('are on the image entrypoint, ahead of the CLI', () => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'))?.[1];
    assert.ok(entrypoint, 'Dockerfile has an exec-form ENTRYPOINT');
    assert.deepEqual(flagsBefore(JSON.parse(entrypoint) as string[], '/app/bin/leasehold.js'), [...CONTROL_PLANE_NODE_FLAGS]);
  });

  it('are on `npm start` and `npm run dev`, the commands that run a control plane', () => {
    const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    for (const name of ['start', 'dev']) {
      const line = scripts[name]!.split('&&').at(-1)!.trim().split(/\s+/);
      assert.deepEqual(flagsBefore(line, 'scripts/with-node.mjs'), [...CONTROL_PLANE_NODE_FLAGS], `npm run ${name}`);
    }
  });

  it('reach the script that scripts/with-node.mjs runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-flags-'));
    try {
      const probe = join(dir, 'probe.mjs');
      writeFileSync(probe, 'process.stdout.write(JSON.stringify(process.execArgv));\n');
      const out = execFileSync(process.execPath, [...CONTROL_PLANE_NODE_FLAGS, join(root, 'scripts/with-node.mjs'), probe], { encoding: 'utf8' });
      for (const flag of CONTROL_PLANE_NODE_FLAGS) assert.ok((JSON.parse(out) as string[]).includes(flag), `${flag} in ${out}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
