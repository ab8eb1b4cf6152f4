import type { AnyStateMachine, StateNode } from 'xstate';
import { eventName } from '../../machines/index.js';

export interface ChartEdge {
  readonly from: string;
  readonly to: string;
  readonly events: string[];
}

export interface Chart {
  readonly initial: string;
  readonly states: string[];
  readonly finals: string[];
  readonly edges: ChartEdge[];
}

type AnyNode = StateNode<any, any>;

/**
 * The machine's top-level states and the events that move a workload between them, read from the
 * machine definition itself: change the machine and the picture follows. Transitions inside a
 * state (retries, backoff) are folded into it; self-loops (reconcile) are left out.
 */
export function chartOf(machine: AnyStateMachine): Chart {
  const root = machine.root as AnyNode;
  const tops = Object.values(root.states) as AnyNode[];
  const topOf = (node: AnyNode): AnyNode => {
    let current = node;
    while (current.parent && current.parent !== root) current = current.parent as AnyNode;
    return current;
  };
  const edges = new Map<string, ChartEdge>();
  const visit = (node: AnyNode) => {
    for (const [event, transitions] of node.transitions) {
      for (const transition of transitions) {
        for (const target of (transition.target ?? []) as AnyNode[]) {
          const from = topOf(node).key;
          const to = topOf(target).key;
          if (from === to) continue;
          const key = `${from}→${to}`;
          const edge = edges.get(key) ?? { from, to, events: [] };
          const name = eventName(event);
          if (!edge.events.includes(name)) edge.events.push(name);
          edges.set(key, edge);
        }
      }
    }
    for (const child of Object.values(node.states) as AnyNode[]) visit(child);
  };
  tops.forEach(visit);
  return {
    initial: String(root.config.initial),
    states: tops.map((s) => s.key),
    finals: tops.filter((s) => s.type === 'final').map((s) => s.key),
    edges: [...edges.values()],
  };
}

export function toMermaid(chart: Chart): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${chart.initial}`];
  for (const edge of chart.edges) lines.push(`  ${edge.from} --> ${edge.to}: ${edge.events.join(', ')}`);
  for (const final of chart.finals) lines.push(`  ${final} --> [*]`);
  return `${lines.join('\n')}\n`;
}

export function toDot(chart: Chart): string {
  const lines = ['digraph workload {', '  rankdir=LR;', '  node [shape=box, style=rounded];', '  start [shape=point];'];
  lines.push(`  start -> ${chart.initial};`);
  for (const final of chart.finals) lines.push(`  ${final} [peripheries=2];`);
  for (const edge of chart.edges) lines.push(`  ${edge.from} -> ${edge.to} [label="${edge.events.join('\\n')}"];`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
