import { Argument, type Command } from 'commander';
import { bashCompletion, fishCompletion, zshCompletion } from '../completion.js';
import { examples } from '../help.js';

export function registerCompletion(program: Command): void {
  const command = program
    .command('completion')
    .description('print a shell completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .action((shell: 'bash' | 'zsh' | 'fish') => {
      const script = shell === 'bash' ? bashCompletion(program) : shell === 'zsh' ? zshCompletion(program) : fishCompletion(program);
      process.stdout.write(script);
    });
  examples(command, [
    ['complete leasehold commands and flags in this bash', 'source <(leasehold completion bash)'],
    ['for good, in zsh', 'leasehold completion zsh > "${fpath[1]}/_leasehold"'],
    ['for good, in fish', 'leasehold completion fish > ~/.config/fish/completions/leasehold.fish'],
  ]);
}
