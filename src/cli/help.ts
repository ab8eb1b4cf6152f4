import type { Command } from 'commander';

/**
 * Examples under a command's `--help`, as kubectl prints them: what it does, then the line.
 * Every line is a command a reader can paste; the README (The CLI) runs the same kind of lines
 * in a test, so keep these to flags that exist.
 */
export function examples(command: Command, lines: ReadonlyArray<readonly [what: string, line: string]>): Command {
  const text = lines.map(([what, line]) => `  # ${what}\n  $ ${line}`).join('\n\n');
  return command.addHelpText('after', `\nExamples:\n${text}\n`);
}
