// Runs every compiled test file with Node's built-in runner; its summary is what CI reads.
// Files run two at a time (this is a 2-core machine); each starts its own servers on free ports.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2);
const files = readdirSync(join(root, 'dist/test'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => join('dist/test', f));
// With no file named, `node --test` would go looking for tests itself (Node 24 finds the .ts sources too).
if (files.length === 0) {
  process.stderr.write(`run-tests: no compiled test file matches ${only.join(' or ')} (paths are relative to dist/test)\n`);
  process.exit(1);
}
// A test that hangs fails after three minutes instead of holding CI until its limit.
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', '--test-reporter=spec', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
