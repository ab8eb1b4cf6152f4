// Fails on an import cycle, or on an import that points the wrong way: the machine imports
// nothing of ours but itself, the core (the supervisor and the ports it talks through) imports no
// adapter and no client library, and the Kubernetes adapter is loaded only on demand (client-node
// costs 0.7 s and 70 MiB to import).
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The core sees ports only: not the Redis, NATS or Kubernetes adapters (nor src/store, src/lease,
// src/queue), not even their types. What it may import is listed, rather than what it may not, so
// that a new adapter file is refused without anyone remembering to name it here.
const PORTS = ['src/supervisor/ports.ts', 'src/ownership/ownership.ts', 'src/runtime/runtime.ts', 'src/events/transition.ts'];
PORTS.push('src/runtime/exec.ts'); // running a command in a running workload (issue 14)
const SEAMS = ['src/clock.ts', 'src/log.ts', 'src/errors.ts'];
const isCore = (rel) => rel.startsWith('src/supervisor/') || PORTS.includes(rel);
const coreMayImport = (rel) => isCore(rel) || SEAMS.includes(rel) || rel.startsWith('machines/') || rel.startsWith('src/spec/');
const CORE_PACKAGES = ['xstate'];
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
      if (isCore(rel) && !coreMayImport(relative(root, target))) {
        problems.push(
          `${rel} imports ${spec}: the core (src/supervisor/ and ${PORTS.filter((p) => !p.startsWith('src/supervisor/')).join(', ')}) depends on ports, never on an adapter's file, types included (move the type to its port); it may import the core, machines/, src/spec/ and ${SEAMS.join(', ')}`,
        );
      }
    } else if (isCore(rel) && /^(ioredis|@nats-io|nats|@kubernetes)/.test(spec)) {
      problems.push(`${rel} imports ${spec}: the core talks to the outside only through ports`);
    } else if (isCore(rel) && !CORE_PACKAGES.includes(spec)) {
      problems.push(`${rel} imports ${spec}: the core may import only ${CORE_PACKAGES.join(', ')} (anything else belongs in an adapter)`);
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
