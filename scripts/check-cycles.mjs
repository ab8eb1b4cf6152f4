// Fails on an import cycle, or on an import that points the wrong way: the machine imports
// nothing of ours but itself, the supervisor never imports a client library, and the Kubernetes
// adapter is loaded only on demand (client-node costs 0.7 s and 70 MiB to import).
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const files = ['src', 'machines']
  .flatMap((dir) => readdirSync(join(root, dir), { recursive: true }).map((f) => join(root, dir, String(f))))
  .filter((f) => f.endsWith('.ts'));
const graph = new Map();
const problems = [];
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const deps = [];
  for (const [statement, spec] of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
    const rel = relative(root, file);
    const typeOnly = new RegExp(`import type [^;]*from '${spec.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}'`).test(text);
    const dynamic = statement.startsWith('import');
    if (spec.startsWith('.')) {
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      deps.push(target);
      const intoKubernetes = relative(root, target).startsWith('src/runtime/kubernetes/');
      if (intoKubernetes && !rel.startsWith('src/runtime/kubernetes/') && !dynamic && !typeOnly) {
        problems.push(`${rel} imports ${spec} statically: load the Kubernetes adapter with import() (see runtime/factory.ts)`);
      }
      if (rel.startsWith('machines') && !relative(root, target).startsWith('machines')) problems.push(`${rel} imports ${spec}: machines/ must stay pure`);
      // The core sees ports only: not the Redis, NATS or Kubernetes adapters, not even their types.
      if (rel.startsWith('src/supervisor') && /(^|\/)(redis-[^/]*|nats-[^/]*|kubernetes\/[^/]*|process\/[^/]*)\.ts$/.test(relative(root, target))) {
        problems.push(`${rel} imports ${spec}: the supervisor depends on ports, never on an adapter's file (move the type to its port)`);
      }
    } else if (rel.startsWith('src/supervisor') && /^(ioredis|@nats-io|nats|@kubernetes)/.test(spec)) {
      problems.push(`${rel} imports ${spec}: the supervisor talks to the outside only through ports`);
    } else if (rel.startsWith('machines') && spec !== 'xstate') {
      problems.push(`${rel} imports ${spec}: machines/ may import only xstate`);
    }
  }
  graph.set(file, deps);
}
const state = new Map();
const stack = [];
function visit(node) {
  if (state.get(node) === 'done') return;
  if (state.get(node) === 'active') {
    const cycle = stack.slice(stack.indexOf(node)).concat(node).map((f) => relative(root, f));
    problems.push(`import cycle: ${cycle.join(' → ')}`);
    return;
  }
  state.set(node, 'active');
  stack.push(node);
  for (const dep of graph.get(node) ?? []) visit(dep);
  stack.pop();
  state.set(node, 'done');
}
for (const file of graph.keys()) visit(file);
if (problems.length > 0) {
  for (const problem of new Set(problems)) process.stderr.write(`${problem}\n`);
  process.exit(1);
}
process.stdout.write(`imports: ${graph.size} modules, no cycles, layering respected\n`);
