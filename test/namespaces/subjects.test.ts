import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsControlServer } from '../../src/events/nats-bus.js';
import { NatsPeers } from '../../src/events/nats-peers.js';
import { SUBJECTS, subjectsFor, type ControlHandlers, type Subjects } from '../../src/events/transition.js';
import { installationKeyPrefix, installationStateDir, parseInstallation } from '../../src/installation.js';
import { silentLogger } from '../../src/log.js';
import { parseNudge } from '../../src/queue/inbox-drainer.js';
import { runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { useServers } from '../helpers/servers.js';

const servers = useServers();

/** Every subject an installation uses for workload `id`, and the ones its replica `r1` serves. */
const everySubject = (s: Subjects, id: string) => [
  s.transition(id, 'running'),
  s.status(id),
  s.cancel(id),
  s.logs(id),
  s.replica('r1', 'cancel', id),
  s.replica('r1', 'logs', id),
  s.inboxNudge,
];

describe('installation names and subjects', () => {
  it("keeps the default installation's subjects exactly as the README promises, and puts a name in front of every other's", () => {
    assert.deepEqual(everySubject(SUBJECTS, 'test-1'), [
      'workloads.test-1.running',
      'leasehold.status.test-1',
      'leasehold.cancel.test-1',
      'leasehold.logs.test-1',
      'leasehold.replica.r1.cancel.test-1',
      'leasehold.replica.r1.logs.test-1',
      'leasehold.replicas.inbox',
    ]);
    assert.deepEqual([SUBJECTS.watch(), SUBJECTS.watch('test-1'), SUBJECTS.historyStream], ['workloads.>', 'workloads.test-1.>', 'LEASEHOLD_TRANSITIONS']);
    const alpha = subjectsFor('alpha');
    assert.deepEqual(everySubject(alpha, 'test-1'), everySubject(SUBJECTS, 'test-1').map((subject) => `alpha.${subject}`));
    assert.deepEqual([alpha.watch(), alpha.historyStream], ['alpha.workloads.>', 'LEASEHOLD_TRANSITIONS_alpha']);
    assert.equal(installationKeyPrefix('alpha'), 'alpha:');
    assert.equal(installationKeyPrefix(''), '');
    assert.equal(installationStateDir('/var/lib/leasehold', ''), '/var/lib/leasehold');
    assert.equal(installationStateDir('/var/lib/leasehold', 'alpha'), '/var/lib/leasehold/installations/alpha');
  });

  it('refuses a name that is not one safe token: wildcards, dots, spaces, control characters, paths, the default subjects', () => {
    for (const bad of ['a.b', '*', '>', 'a*', 'a>', 'a b', ' a', 'a\t', 'a\u0007', 'a\n', '../x', 'a/b', '$SYS', '_INBOX', 'Alpha', '-a', 'a-', 'x'.repeat(33), 'workloads', 'leasehold', 'é']) {
      assert.throws(() => parseInstallation(bad), /installation name .* (is not usable|is reserved)/, JSON.stringify(bad));
    }
    for (const good of ['alpha', 'team-a', 'prod_eu1', '0', 'x'.repeat(32)]) assert.equal(parseInstallation(good), good);
  });

  it('refuses a bad name from a flag or the environment in one line with exit 2, before connecting to anything', async () => {
    const fromFlag = await runCli(['status', 'x', '--installation', 'a.>', '--nats', 'nats://127.0.0.1:1']);
    assert.equal(fromFlag.code, 2);
    assert.match(fromFlag.stderr, /^leasehold: installation name "a\.>" is not usable: [^\n]*\n$/);
    const fromEnv = await runCli(['start', '--redis', 'redis://127.0.0.1:1', '--nats', 'nats://127.0.0.1:1'], { LEASEHOLD_INSTALLATION: 'workloads' });
    assert.equal(fromEnv.code, 2);
    assert.equal(fromEnv.stderr, 'leasehold: installation name "workloads" is reserved: the default installation\'s subjects begin with it; pick another\n');
  });

  it("no subscription of one installation, the default's wildcards included, receives another's messages", async () => {
    const nc = await connect({ servers: servers().nats.url });
    try {
      const installations = ['', 'alpha', 'beta'];
      const received = new Map<string, string[]>(installations.map((i) => [i, []]));
      for (const installation of installations) {
        const s = subjectsFor(installation);
        // What the control plane, a watcher and the history stream of each subscribe to.
        for (const subject of [s.watch(), s.status('*'), s.cancel('*'), s.logs('*'), s.replica('r1', 'cancel', '*'), s.replica('r1', 'logs', '*'), s.inboxNudge]) {
          nc.subscribe(subject, {
            callback: (_, msg) => {
              received.get(installation)!.push(msg.subject);
            },
          });
        }
      }
      await nc.flush();
      for (const installation of installations) for (const subject of everySubject(subjectsFor(installation), 'job-1')) nc.publish(subject, installation);
      await nc.flush();
      await eventually(() => assert.equal(received.get('beta')!.length, 7));
      for (const installation of installations) {
        assert.deepEqual(received.get(installation)!.sort(), everySubject(subjectsFor(installation), 'job-1').sort(), `installation "${installation}" heard another's`);
      }
    } finally {
      await nc.close();
    }
  });

  it("a request forwarded to replica r1, and an inbox nudge, reach only the own installation's r1, not another's of the same id", async () => {
    const calls: string[] = [];
    const handlers = (installation: string): ControlHandlers => ({
      status: async () => null,
      heartbeat: async () => false,
      cancel: async (id, options) => {
        calls.push(`${installation}:cancel:${id}:${options?.forwarded === true}`);
        return { ok: true, state: 'running' };
      },
      logs: async (id) => {
        calls.push(`${installation}:logs:${id}`);
        return `${installation} logs`;
      },
    });
    const connections: NatsConnection[] = [];
    const controlServers: NatsControlServer[] = [];
    try {
      for (const installation of ['alpha', 'beta']) {
        const nc = await connect({ servers: servers().nats.url });
        connections.push(nc);
        const server = new NatsControlServer(handlers(installation), silentLogger, 'r1', (data) => calls.push(`${installation}:nudge:${[...(parseNudge(data, 64) ?? [])].join(',')}`), subjectsFor(installation));
        server.start(nc);
        controlServers.push(server);
        await nc.flush();
      }
      const nc = await connect({ servers: servers().nats.url });
      connections.push(nc);
      const peers = new NatsPeers(silentLogger, subjectsFor('alpha'));
      peers.attach(nc);
      for (let i = 0; i < 10; i++) {
        assert.deepEqual(await peers.cancel('r1', `job-${i}`), { ok: true, state: 'running' });
        assert.equal(await peers.logs('r1', `job-${i}`), 'alpha logs');
      }
      peers.nudgeInbox([7]);
      await eventually(() => assert.ok(calls.includes('alpha:nudge:7')));
      await nc.flush();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(calls.filter((call) => !call.startsWith('alpha:')), [], "beta's replica r1 was reached");
      assert.equal(calls.filter((call) => call.startsWith('alpha:cancel:') && call.endsWith(':true')).length, 10);
    } finally {
      for (const server of controlServers) server.stop();
      for (const nc of connections) await nc.close();
    }
  });
});
