import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { buildProgram } from '../../src/cli/main.js';
import { bashCompletes, runCli } from '../helpers/cli.js';

/** Every command a user can run, as `['dead-letters', 'retry']`. */
function commandPaths(command: Command = buildProgram(), path: string[] = []): string[][] {
  return command.commands.flatMap((c) => [[...path, c.name()], ...commandPaths(c, [...path, c.name()])]);
}


describe('the CLI explains itself: help, examples, completion', () => {
  it('every command prints examples in --help', async () => {
    for (const path of [[], ...commandPaths()]) {
      const help = await runCli([...path, '--help']);
      assert.equal(help.code, 0, path.join(' '));
      assert.match(help.stdout, /\nExamples:\n {2}# .+\n {2}\$ .*leasehold /, `${path.join(' ')} --help has no examples`);
    }
  });

  it('watch, status, cancel and logs no longer advertise --redis or --key-prefix; submit and dead-letters do', async () => {
    for (const command of ['watch', 'status', 'cancel', 'logs']) {
      const help = await runCli([command, '--help']);
      assert.doesNotMatch(help.stdout, /--redis|--key-prefix/, command);
      assert.match(help.stdout, /--nats <url>/, command);
    }
    for (const path of [['submit'], ['dead-letters', 'list']]) assert.match((await runCli([...path, '--help'])).stdout, /--redis <url>[\s\S]*--key-prefix/);
    assert.doesNotMatch((await runCli(['dead-letters', 'list', '--help'])).stdout, /--nats/);
  });

  it('chart -o json and -o yaml print the chart as data', async () => {
    const json = await runCli(['chart', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const chart = JSON.parse(json.stdout) as { states: unknown[] };
    assert.ok(Array.isArray(chart.states) && chart.states.length > 0);
    const yaml = await runCli(['chart', '-o', 'yaml']);
    assert.deepEqual(parseYaml(yaml.stdout), chart);
    assert.equal((await runCli(['chart', '--format', 'dot'])).code, 0, 'the old --format still works');
  });

  it('a wrong command line is a usage error: exit 2', async () => {
    assert.equal((await runCli(['status'])).code, 2);
    assert.equal((await runCli(['chart', '-o', 'png'])).code, 2);
    assert.equal((await runCli(['no-such-command'])).code, 2);
    assert.equal((await runCli(['--version'])).code, 0);
  });

  it('completion bash completes commands, subcommands, flags and their choices from the command tree', () => {
    assert.deepEqual(bashCompletes('leasehold wa'), ['watch']);
    assert.deepEqual(bashCompletes('leasehold dead-letters r'), ['retry']);
    assert.deepEqual(bashCompletes('leasehold status x -o '), ['text', 'json', 'yaml']);
    assert.ok(bashCompletes('leasehold submit --fo').includes('--follow'));
    assert.ok(bashCompletes('leasehold logs --').includes('--tail'));
    assert.ok(!bashCompletes('leasehold logs --').includes('--redis'), 'hidden flags are not offered');
    assert.deepEqual(bashCompletes('leasehold completion '), []);
  });

  it('completion zsh and fish cover every command', async () => {
    const zsh = await runCli(['completion', 'zsh']);
    assert.match(zsh.stdout, /^#compdef leasehold\n/);
    assert.match(zsh.stdout, /bashcompinit/);
    const fish = await runCli(['completion', 'fish']);
    for (const path of commandPaths()) assert.ok(fish.stdout.includes(`-a '${path.at(-1)!}'`), `fish lacks ${path.join(' ')}`);
    assert.match(fish.stdout, /complete -c leasehold -n '__fish_seen_subcommand_from status' -s o -l output|complete -c leasehold -n '__fish_seen_subcommand_from status' -l output -s o -x -a 'text json yaml'/);
    assert.equal((await runCli(['completion', 'tcsh'])).code, 2);
  });
});
