// Compiles TypeScript and copies the Lua scripts beside the JavaScript that loads them.
// `node scripts/build.mjs tsconfig.build.json` builds only what ships (the Dockerfile does).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// A fresh clone compiles for half a minute; say so rather than sit silent.
if (!existsSync(join(root, 'dist'))) process.stderr.write('build: compiling TypeScript into dist/ (about 30 s the first time)\n');
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, process.argv[2] ?? 'tsconfig.json')], { stdio: 'inherit' });
// tsc has said what is wrong; a stack trace of this script would only bury it.
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
for (const entry of readdirSync(join(root, 'src'), { recursive: true })) {
  if (String(entry).endsWith('.lua')) cpSync(join(root, 'src', String(entry)), join(root, 'dist/src', String(entry)));
}
