import { Option, type Command } from 'commander';
import { createWorkloadMachine } from '../../../machines/index.js';
import { chartOf, toDot, toMermaid } from '../../inspector/chart.js';

export function registerChart(program: Command): void {
  program
    .command('chart')
    .description('print the workload state chart, drawn from the machine definition')
    .addOption(new Option('--format <format>', 'mermaid (stateDiagram-v2), dot or json').choices(['mermaid', 'dot', 'json']).default('mermaid'))
    .action((options: { format: 'mermaid' | 'dot' | 'json' }) => {
      const chart = chartOf(createWorkloadMachine());
      const text = options.format === 'dot' ? toDot(chart) : options.format === 'json' ? `${JSON.stringify(chart, null, 2)}\n` : toMermaid(chart);
      process.stdout.write(text);
    });
}
