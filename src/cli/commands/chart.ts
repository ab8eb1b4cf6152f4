import { Option, type Command } from 'commander';
import { createWorkloadMachine } from '../../../machines/index.js';
import { chartOf, toDot, toMermaid } from '../../inspector/chart.js';
import { examples } from '../help.js';
import { toJson, toYaml } from '../output.js';

type ChartFormat = 'mermaid' | 'dot' | 'json' | 'yaml';

export function registerChart(program: Command): void {
  const command = program
    .command('chart')
    .description('print the workload state chart, drawn from the machine definition')
    .addOption(new Option('-o, --output <format>', 'mermaid (stateDiagram-v2), dot, json or yaml').choices(['mermaid', 'dot', 'json', 'yaml']))
    // The name it had first; -o is what every other command takes.
    .addOption(new Option('--format <format>').choices(['mermaid', 'dot', 'json', 'yaml']).hideHelp())
    .action((options: { output?: ChartFormat; format?: ChartFormat }) => {
      const format = options.output ?? options.format ?? 'mermaid';
      const chart = chartOf(createWorkloadMachine());
      const text = format === 'dot' ? toDot(chart) : format === 'json' ? `${toJson(chart)}\n` : format === 'yaml' ? toYaml(chart) : toMermaid(chart);
      process.stdout.write(text);
    });
  examples(command, [
    ['the chart as Mermaid, to paste into Markdown', 'leasehold chart'],
    ['as Graphviz, drawn to SVG', 'leasehold chart -o dot | dot -Tsvg > chart.svg'],
    ['as data', 'leasehold chart -o json'],
  ]);
}
