#!/usr/bin/env node
// The CLI runs the compiled output; `npm run build` (run by `npm run dev` and `npm test`) makes it.
import { existsSync } from 'node:fs';

// Checked before anything of ours loads, so that an old Node says why in one line rather than
// with a stack trace from a dependency. Keep in step with `engines` in package.json.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`leasehold: Node.js ${process.version} is too old; Leasehold needs Node.js 22.19 or newer (24 LTS recommended)\n`);
  process.exit(2);
}
const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('leasehold: not built yet; run `npm run build` first\n');
  process.exit(2);
}
const { main } = await import(entry.href);
await main(process.argv);
