import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNats, startRedis } from '../../src/dev/servers.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import type { Servers } from '../helpers/servers.js';
import { runCliWithin, secret } from '../security/nats-fixtures.js';

const SHIPPED_CONFIG = fileURLToPath(new URL('../../../manifests/nats.conf', import.meta.url));

/** manifests/nats.conf for installation `team-a`, made with the sed line its comment gives. */
function configFor(installation: string, dir: string): string {
  const text = execFileSync('sed', [
    '-e', `s/"workloads\\./"${installation}.workloads./`,
    '-e', `s/"leasehold\\./"${installation}.leasehold./`,
    '-e', `s/LEASEHOLD_TRANSITIONS/LEASEHOLD_TRANSITIONS_${installation}/`,
    SHIPPED_CONFIG,
  ]).toString();
  const path = join(dir, 'nats.conf');
  writeFileSync(path, text);
  return path;
}

describe('NATS permissions of a named installation (manifests/nats.conf, rewritten as its comment says)', () => {
  const passwords = { controlPlane: secret('control-plane'), operator: secret('operator'), watcher: secret('watcher') };
  const as = (who: 'operator' | 'watcher') => ({ NATS_USER: `leasehold-${who}`, NATS_PASSWORD: passwords[who] });
  let dir: string;
  let servers: Servers;
  let tp: TestPlane;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'leasehold-ns-perm-'));
    const [redis, nats] = await Promise.all([
      startRedis(),
      startNats({
        config: configFor('team-a', dir),
        env: {
          LEASEHOLD_NATS_CONTROL_PLANE_PASSWORD: passwords.controlPlane,
          LEASEHOLD_NATS_OPERATOR_PASSWORD: passwords.operator,
          LEASEHOLD_NATS_WATCHER_PASSWORD: passwords.watcher,
        },
      }),
    ]);
    servers = { redis, nats };
    // Its history stream too: creating LEASEHOLD_TRANSITIONS_team-a must be allowed.
    tp = await startTestPlane(servers, {
      installation: 'team-a',
      keyPrefix: 'team-a:',
      natsAuth: { user: 'leasehold-control-plane', password: passwords.controlPlane },
      historySeconds: 600,
      teardownGraceMs: 200,
    });
  });
  after(async () => {
    await tp.stop();
    await Promise.all([servers.redis.stop(), servers.nats.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets the control plane, an operator and a watcher of the installation do their jobs, and nothing in the default subjects', async () => {
    const nats = ['--nats', servers.nats.url];
    const run = await runCliWithin(30_000, ['submit', '--wait', '--installation', 'team-a', '--id', 'perm-1', '--redis', servers.redis.url, ...nats, '--', 'echo', 'ok'], as('operator'));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^ok$/m);
    const replayed = await runCliWithin(30_000, ['watch', 'perm-1', '--replay', '--installation', 'team-a', ...nats], as('watcher'));
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.match(replayed.stdout, /perm-1 .*→ tornDown/);
    const status = await runCliWithin(30_000, ['status', 'perm-1', '--installation', 'team-a', ...nats], as('watcher'));
    assert.equal(status.code, 0, status.stderr);

    const watcherCancels = await runCliWithin(30_000, ['cancel', 'perm-1', '--installation', 'team-a', ...nats], as('watcher'));
    assert.notEqual(watcherCancels.code, 0);
    assert.match(watcherCancels.stderr, /NATS refused this identity permission to publish on team-a\.leasehold\.cancel\.perm-1/);
    // Its users have no rights in the default installation's subjects.
    const outside = await runCliWithin(30_000, ['status', 'perm-1', ...nats], as('operator'));
    assert.notEqual(outside.code, 0);
    assert.match(outside.stderr, /NATS refused this identity permission to publish on leasehold\.status\.perm-1/);
    await eventually(async () => assert.equal(await tp.plane.supervisor.status('perm-1').then((s) => s?.state), 'tornDown'));
  });
});
