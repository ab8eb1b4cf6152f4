import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = new URL('../../../', import.meta.url).pathname;
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * npm as a user would run it, with this test's Node first on PATH (npm's shebang and our bin's
 * find `node` there), and without the npm_* variables of the `npm test` we may be running under.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) || name === 'npm_config_cache'));
  return { ...env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };
}

describe('the npm package', () => {
  let work: string;
  let tarball: string;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'leasehold-pack-'));
    // --ignore-scripts: `npm test` has just built dist/, so prepack's build would only repeat it.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, env: npmEnv() });
    tarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('ships the CLI, the compiled code and the licence, and no tests, sources or fetched Node', async () => {
    const { stdout } = await run('tar', ['tzf', tarball]);
    const files = stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const wanted of ['package.json', 'LICENSE', 'README.md', 'CHANGELOG.md', 'bin/leasehold.js', 'dist/src/cli/main.js', 'dist/machines/index.js']) {
      assert.ok(files.includes(wanted), `${wanted} is in the package`);
    }
    const stray = files.filter((f) => /^(dist\/test|dist\/bench|test|\.node|node_modules|scripts)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
    assert.deepEqual(stray, []);
  });

  it('installs into an empty directory with its runtime dependencies only, and `leasehold --help` runs there', async () => {
    const app = join(work, 'app');
    rmSync(app, { recursive: true, force: true });
    await run('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), '{"private": true}\n');
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', tarball], { cwd: app, env: npmEnv() });
    for (const devOnly of ['typescript', 'eslint', 'bullmq']) {
      assert.throws(() => readFileSync(join(app, 'node_modules', devOnly, 'package.json')), `${devOnly} is a development dependency, not installed`);
    }
    const bin = join(app, 'node_modules/.bin/leasehold');
    const help = await run(bin, ['--help'], { cwd: app, env: npmEnv() });
    assert.match(help.stdout, /^Usage: leasehold \[options\] \[command\]/m);
    for (const command of ['start', 'dev', 'submit', 'watch', 'status', 'cancel', 'chart']) assert.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'));
    assert.equal((await run(bin, ['--version'], { cwd: app, env: npmEnv() })).stdout.trim(), version);
    // A command that loads the machine definition, not only the option parser.
    assert.match((await run(bin, ['chart'], { cwd: app, env: npmEnv() })).stdout, /^stateDiagram-v2/);
  });
});
