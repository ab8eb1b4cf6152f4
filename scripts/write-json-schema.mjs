// Writes schema/workload.schema.json, the JSON Schema of a workload payload, from the built zod
// schema (run the build first). `--check` only compares, and fails when the file is stale.
// The package ships the file; test/client/json-schema.test.ts keeps it equal to what this writes.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { workloadJsonSchema } = await import(join(root, 'dist/src/client/json-schema.js'));
const file = join(root, 'schema/workload.schema.json');
const text = `${JSON.stringify(workloadJsonSchema(), null, 2)}\n`;
if (process.argv.includes('--check')) {
  const current = readFileSync(file, 'utf8');
  if (current !== text) {
    process.stderr.write('schema/workload.schema.json is stale: run `node scripts/with-node.mjs scripts/write-json-schema.mjs`\n');
    process.exit(1);
  }
} else {
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}\n`);
}
