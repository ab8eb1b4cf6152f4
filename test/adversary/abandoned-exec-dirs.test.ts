import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SANDBOX_EXEC = new URL('../../src/runtime/process/sandbox-exec.js', import.meta.url).href;
const HEARTBEAT_DIR = new URL('../../src/heartbeat-socket-dir.js', import.meta.url).href;
const NOBODY = 65534;
const root = process.getuid?.() === 0;

/** Makes the exec (or heartbeat) directory in `parent` as the user `uid`, as a control plane that is not root; resolves with what it printed. */
function makeDirsAs(uid: number, parent: string, what: 'exec' | 'heartbeat'): Promise<string> {
  const make =
    what === 'exec'
      ? `const { ExecDirs } = await import(${JSON.stringify(SANDBOX_EXEC)}); new ExecDirs(${JSON.stringify(parent)}).remove();`
      : `const { makeHeartbeatSocketDir } = await import(${JSON.stringify(HEARTBEAT_DIR)}); makeHeartbeatSocketDir(${JSON.stringify(parent)});`;
  const script = `try { ${make} console.log('ok'); } catch (error) { console.log('failed: ' + error.message); }`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { uid, gid: uid, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('close', () => resolve(out.trim()));
  });
}

/**
 * The sandboxes' exec directories live in the shared temporary directory, and each start removes
 * `leasehold-exec-<pid>-…` whose pid is not alive (what a control plane killed with -9 left). Any
 * other user of the host can make such a name. A control plane that is not root (the image runs
 * as uid 10001) cannot remove another user's directory: the removal threw, so no sandbox started
 * (the exec directories are made at the first untrusted provision) until someone deleted it.
 */
describe('adversary: another user of the host plants a stale-looking exec directory', { skip: root ? false : 'needs root to act as two users' }, () => {
  const parent = mkdtempSync(join(tmpdir(), 'leasehold-shared-tmp-'));
  after(() => rmSync(parent, { recursive: true, force: true }));

  for (const [what, prefix] of [['exec', 'leasehold-exec-'], ['heartbeat', 'leasehold-hb-']] as const) {
    it(`still makes its ${what} directory, and leaves the other user's alone`, async () => {
      chmodSync(parent, 0o1777); // as /tmp is
      const planted = join(parent, `${prefix}999999999-planted`);
      mkdirSync(planted, { mode: 0o755 });
      writeFileSync(join(planted, 'not-yours'), 'x');
      assert.equal(await makeDirsAs(NOBODY, parent, what), 'ok');
      assert.ok(existsSync(join(planted, 'not-yours')), "another user's directory is not the control plane's to remove");
    });
  }
});
