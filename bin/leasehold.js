#!/usr/bin/env node
// The CLI runs the compiled output; `npm run build` (run by `npm run dev` and `npm test`) makes it.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('leasehold: not built yet; run `npm run build` first\n');
  process.exit(2);
}
const { main } = await import(entry.href);
await main(process.argv);
