import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { PermissionViolationError } from '@nats-io/transport-node';
import { startNats } from '../../src/dev/servers.js';
import { dialNats } from '../../src/events/nats-connect.js';
import { SUBJECTS } from '../../src/events/transition.js';
import { resolveOwnershipOptions } from '../../src/ownership/options.js';
import { secret } from '../security/nats-fixtures.js';

const SHIPPED_CONFIG = fileURLToPath(new URL('../../../manifests/nats.conf', import.meta.url));

// Replica ids may contain '.' (the default id is `<hostname>-<pid>`, so an FQDN hostname has
// dots), and a dot split the forwarding subject `leasehold.replica.<id>.cancel.<wid>` into more
// tokens than manifests/nats.conf allows (`leasehold.replica.*.cancel.*`): every cancel or logs
// request forwarded to such a replica was a permissions violation. The id is one token now.
void it('a replica id the validator accepts can be forwarded to under the shipped NATS permissions', async () => {
  const replicaId = 'ip-10-0-0-1.ec2.internal-4242';
  assert.doesNotThrow(() => resolveOwnershipOptions({ replicaId }), 'the id is accepted');
  const password = secret('control-plane');
  const nats = await startNats({
    config: SHIPPED_CONFIG,
    env: { LEASEHOLD_NATS_CONTROL_PLANE_PASSWORD: password, LEASEHOLD_NATS_OPERATOR_PASSWORD: secret('operator'), LEASEHOLD_NATS_WATCHER_PASSWORD: secret('watcher') },
  });
  const nc = await dialNats({ url: nats.url, auth: { user: 'leasehold-control-plane', password } }, { name: 'peer', reconnect: false });
  const refused: string[] = [];
  void (async () => {
    for await (const status of nc.status()) if (status.type === 'error' && status.error instanceof PermissionViolationError) refused.push(status.error.subject);
  })();
  try {
    for (const op of ['cancel', 'logs'] as const) {
      const subject = SUBJECTS.replica(replicaId, op, 'w1');
      const owner = nc.subscribe(subject, {
        callback: (_error, msg) => {
          msg.respond('{"ok":true}');
        },
      });
      const answer = await nc.request(subject, '', { timeout: 2_000 }).then((msg) => msg.string(), (error: Error) => `refused: ${error.message}`);
      owner.unsubscribe();
      assert.equal(answer, '{"ok":true}', `${op} forwarded to ${replicaId}`);
    }
    assert.deepEqual(refused, []);
  } finally {
    await nc.close().catch(() => undefined);
    await nats.stop();
  }
});
