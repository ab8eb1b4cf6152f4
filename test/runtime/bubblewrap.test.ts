import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bubblewrapLauncher, DEFAULT_SANDBOX_LIMITS } from '../../src/runtime/process/bubblewrap.js';
import { cgroupScope } from '../../src/runtime/process/cgroups.js';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { processesWith } from '../helpers/processes.js';
import { redisClient, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { listen, runtimeConformance, spec } from './conformance.js';

const servers = useServers();
const LIMITS = { ...DEFAULT_SANDBOX_LIMITS, pids: 48 };

function sandbox() {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-bwrap-'));
  const runtime = new ProcessRuntime({ stateDir, graceMs: 500, launcher: bubblewrapLauncher({ limits: LIMITS, cgroupScope: cgroupScope(stateDir) }) });
  return {
    runtime,
    cleanup: async () => {
      for (const id of await runtime.list()) await runtime.teardown(id);
      await runtime.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Runs `script` in the sandbox to its end; returns its exit code and output. */
async function attempt(id: string, script: string, env: Record<string, string> = {}): Promise<{ exitCode: number | null; output: string }> {
  const { runtime, cleanup } = sandbox();
  const events = listen(runtime);
  try {
    await runtime.provision(id, { ...spec(id, script, { env }), type: 'untrusted' });
    const exit = await events.exitOf(id, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { exitCode: exit.exitCode, output: (await runtime.logs(id)) ?? '' };
  } finally {
    events.stop();
    await cleanup();
  }
}

runtimeConformance('bubblewrap', async () => {
  const { runtime, cleanup } = sandbox();
  await runtime.start();
  return { runtime, cleanup };
});

describe('bubblewrap sandbox: escape attempts fail', () => {
  let listener: Server;
  let port: number;
  before(async () => {
    // Something listening on the host's loopback, as the control plane's Redis would be.
    listener = createServer((socket) => socket.end('reached the host\n'));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => listener.close(() => resolve())));

  it('cannot write outside its private /tmp', async () => {
    const { exitCode, output } = await attempt(
      'esc-write',
      'for f in /usr/pwned /etc/pwned /pwned /home/pwned; do touch $f 2>/dev/null && echo "WROTE $f"; done; touch /tmp/ok && echo tmp-ok',
    );
    assert.equal(exitCode, 0);
    assert.doesNotMatch(output, /WROTE/);
    assert.match(output, /tmp-ok/);
  });

  it("cannot read the control plane's environment, only its own", async () => {
    process.env.LEASEHOLD_CONTROL_PLANE_SECRET = 's3cret-from-the-host';
    try {
      const { output } = await attempt(
        'esc-env',
        'env; cat /proc/1/environ /proc/$PPID/environ 2>/dev/null | tr "\\0" "\\n"; echo "host-pid-visible=$(test -e /proc/' + process.pid + '/environ && echo yes || echo no)"',
        { GIVEN: 'by-the-spec' },
      );
      assert.match(output, /GIVEN=by-the-spec/);
      assert.doesNotMatch(output, /s3cret-from-the-host/);
      assert.doesNotMatch(output, /REDIS_URL|NATS_URL/);
    } finally {
      delete process.env.LEASEHOLD_CONTROL_PLANE_SECRET;
    }
  });

  it("cannot connect to a port on the host's loopback", async () => {
    const { exitCode, output } = await attempt(
      'esc-net',
      `python3 -c "import socket; s = socket.create_connection(('127.0.0.1', ${port}), timeout=3); print(s.recv(100))"`,
    );
    assert.notEqual(exitCode, 0);
    assert.doesNotMatch(output, /reached the host/);
    assert.match(output, /Connection refused|Network is unreachable/);
  });

  it('cannot see host processes', async () => {
    const { output } = await attempt('esc-ps', 'ls /proc | grep -c "^[0-9][0-9]*$"');
    // The sandbox's init, its exec server (sandbox-exec-server.ts), the shell and ls: nothing of
    // the host's dozens of processes.
    assert.ok(Number(output.trim()) <= 5, `saw ${output.trim()} processes`);
  });

  it('cannot fork without bound', async () => {
    const { output } = await attempt('esc-fork', 'n=0; while [ $n -lt 200 ]; do sleep 30 & n=$((n+1)); done 2>&1 | head -1; echo "jobs=$(jobs -p | wc -l)"');
    assert.match(output, /fork|Resource temporarily unavailable/i);
  });

  it('does not outlive its teardown, not even a child that left its session', async () => {
    const { runtime, cleanup } = sandbox();
    const marker = `sleep 305.${process.pid}`;
    try {
      await runtime.provision('esc-daemon', { ...spec('esc-daemon', `setsid ${marker} & nohup ${marker} & sleep 300`), type: 'untrusted' });
      for (let i = 0; processesWith(marker).length < 2; i++) {
        assert.ok(i < 100, 'the daemons never started');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await runtime.teardown('esc-daemon');
      for (let i = 0; processesWith(marker).length > 0; i++) {
        assert.ok(i < 40, `left behind: ${processesWith(marker).join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await cleanup();
    }
  });
});

describe('untrusted work through the control plane', () => {
  it('runs the issue\'s agent-1 payload inside bubblewrap with the local defaults', async () => {
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    const tp = await startTestPlane(servers());
    try {
      await redis.lpush(
        tp.plane.keys.queue,
        JSON.stringify({ id: 'agent-1', type: 'untrusted', image: 'python', cmd: ['sh', '-c', 'id -u; hostname; python3 -c "print(6*7)"'] }),
      );
      await recorder.untilEnded(['agent-1'], 20_000);
      assert.equal(recorder.ended('agent-1')!.reason, 'completed');
      const logs = (await tp.plane.supervisor.logs('agent-1')) ?? '';
      assert.deepEqual(logs.trim().split('\n'), [process.getuid?.() === 0 ? '65534' : String(process.getuid?.()), 'sandbox', '42']);
    } finally {
      await tp.stop();
      await recorder.close();
      await redis.quit();
    }
  });
});

describe('after every sandbox above was torn down', () => {
  it('leaves no bubblewrap process behind', async () => {
    for (let i = 0; processesWith('bwrap --unshare-all').length > 0; i++) {
      assert.ok(i < 40, `left behind: ${processesWith('bwrap --unshare-all').join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
