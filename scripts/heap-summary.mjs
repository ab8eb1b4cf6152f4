// Sums a .heapsnapshot's self sizes by constructor name: what the heap is made of.
// node scripts/heap-summary.mjs FILE [rows] [perN]  (perN: also print bytes per N, e.g. live workloads)
import { readFileSync } from 'node:fs';
const snapshot = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const {
  node_fields: fields,
  node_types: [types],
} = snapshot.snapshot.meta;
const width = fields.length;
const at = (name) => fields.indexOf(name);
const [TYPE, NAME, SIZE] = [at('type'), at('name'), at('self_size')];
const totals = new Map();
let total = 0;
for (let i = 0; i < snapshot.nodes.length; i += width) {
  const type = types[snapshot.nodes[i + TYPE]];
  const name = type === 'object' || type === 'native' ? snapshot.strings[snapshot.nodes[i + NAME]] : `(${type})`;
  const size = snapshot.nodes[i + SIZE];
  const row = totals.get(name) ?? { size: 0, count: 0 };
  row.size += size;
  row.count += 1;
  totals.set(name, row);
  total += size;
}
const per = Number(process.argv[4] ?? 0);
console.log(`total ${(total / 2 ** 20).toFixed(1)} MiB${per ? `, ${Math.round(total / per)} B per ${per}` : ''}`);
for (const [name, { size, count }] of [...totals].sort((a, b) => b[1].size - a[1].size).slice(0, Number(process.argv[3] ?? 40))) {
  console.log(
    `${(size / 2 ** 20).toFixed(1).padStart(7)} MiB ${String(count).padStart(9)}  ${per ? `${Math.round(size / per)} B `.padStart(8) : ''}${name.slice(0, 90)}`,
  );
}
