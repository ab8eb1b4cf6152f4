import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeError } from '../../src/errors.js';
import type { ExecOutput, ExecRequest } from '../../src/runtime/exec.js';
import { ExecEnding } from '../../src/runtime/process/exec-ending.js';
import { AGENT_PORT, execOverVsock } from '../../src/runtime/firecracker/vsock-exec.js';

/**
 * The control plane's side of a Firecracker exec against a guest that does not play by the rules:
 * a VM's guest is untrusted (its kernel too), so whatever comes back over vsock must cost at most
 * that exec, never the control plane. Each "guest" here is a Unix socket that answers CONNECT as
 * Firecracker does and then behaves as the test says.
 */
describe('exec over vsock against a hostile or broken guest', () => {
  let dir: string;
  let server: Server;
  let behave: (connection: Socket, request: string) => void = () => undefined;
  let answer: (port: number) => string | null = (port) => (port === AGENT_PORT ? 'OK 1073741824\n' : null);
  const received: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vsock-'));
    server = createServer((connection) => {
      connection.on('error', () => undefined);
      let text = '';
      let connected = false;
      connection.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (!connected) {
          const end = text.indexOf('\n');
          if (end < 0) return;
          const reply = answer(Number(/^CONNECT (\d+)$/.exec(text.slice(0, end))?.[1]));
          if (reply === null) return void connection.destroy();
          connected = true;
          text = text.slice(end + 1);
          connection.write(reply);
        }
        received.push(text);
        if (text.includes('run\n')) behave(connection, text);
        text = '';
      });
    });
    await new Promise<void>((resolve) => server.listen(join(dir, 'v.sock'), resolve));
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const output = (): ExecOutput & { out: Buffer[] } => {
    const out: Buffer[] = [];
    return { out, stdout: (c) => out.push(Buffer.from(c)), stderr: () => undefined };
  };
  const exec = (request: ExecRequest, signal = new AbortController().signal, sink = output()) => {
    const ending = new ExecEnding(request.timeoutMs, signal);
    return execOverVsock({ socketPath: join(dir, 'v.sock') }, request, sink, ending).finally(() => ending.dispose());
  };

  it('a line that never ends ends its exec, holding no more than a bounded line in memory', async () => {
    behave = (connection) => {
      const flood = 'A'.repeat(64 * 1024);
      for (let i = 0; i < 32 && !connection.destroyed; i++) connection.write(flood);
    };
    const result = await exec({ cmd: ['true'] });
    assert.deepEqual(result, { exitCode: null, reason: 'the guest agent sent a line of more than 8 KiB; the exec was ended' });
  });

  it('an answer outside the protocol ends the exec, and the agent is told to kill the command', async () => {
    received.length = 0;
    behave = (connection) => connection.write('out aGk=\nLEASEHOLD_EXIT=0\n');
    const sink = output();
    const result = await exec({ cmd: ['true'] }, undefined, sink);
    assert.equal(result.exitCode, null);
    assert.match(result.reason ?? '', /outside its protocol/);
    assert.equal(Buffer.concat(sink.out).toString(), 'hi', 'what came before, in the protocol, was delivered');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(received.join('').includes('kill\n'));
  });

  it('an exit status that is not one is no exit code', async () => {
    for (const status of ['999', '-1', '1e2', '']) {
      behave = (connection) => connection.write(`exit ${status}\n`);
      const result = await exec({ cmd: ['true'] });
      assert.equal(result.exitCode, null, `exit ${JSON.stringify(status)}`);
    }
  });

  it('a guest that ignores kill: a cancel still returns, soon, with its reason', async () => {
    behave = () => undefined; // accepts the request, then says nothing, ever
    const cancel = new AbortController();
    const running = exec({ cmd: ['sleep', '600'] }, cancel.signal);
    setTimeout(() => cancel.abort(), 50);
    assert.deepEqual(await running, { exitCode: null, reason: 'cancelled' });
    const timedOut = await exec({ cmd: ['sleep', '600'], timeoutMs: 50 });
    assert.deepEqual(timedOut, { exitCode: null, reason: 'timeout' });
  });

  it('a refusal from the agent is a refused exec, with its words', async () => {
    behave = (connection) => connection.write(`refused ${Buffer.from('not a variable name: 1x').toString('base64')}\n`);
    await assert.rejects(exec({ cmd: ['true'] }), (error: unknown) => error instanceof RuntimeError && error.code === 'EXEC_REFUSED' && /not a variable name: 1x/.test(error.message));
  });

  it('the VMM answering CONNECT with something else than OK, or hanging up, is an unavailable agent', async () => {
    answer = () => 'NOPE\n';
    await assert.rejects(exec({ cmd: ['true'] }), (error: unknown) => error instanceof RuntimeError && error.code === 'EXEC_UNAVAILABLE' && /answered CONNECT 10240 with "NOPE"/.test(error.message));
    answer = () => null;
    await assert.rejects(exec({ cmd: ['true'] }), /nothing in the guest answers on vsock port 10240/);
    answer = (port) => (port === AGENT_PORT ? 'OK 1073741824\n' : null);
  });

  it('sends env names only when they are variable names, the control plane’s own included', async () => {
    await assert.rejects(exec({ cmd: ['true'], controlEnv: { 'A B': 'x' } }), (error: unknown) => error instanceof RuntimeError && error.code === 'INVALID_EXEC');
  });
});
