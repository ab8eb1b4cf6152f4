/**
 * A test double of the `firecracker` binary (and of the `jailer` in front of it). It serves the
 * API on the Unix socket it is given, checks every request against Firecracker's own API
 * description, refuses what the real API refuses (unknown fields, wrong types, pre-boot calls after
 * InstanceStart, InstanceStart with no boot source, drives whose backing file is missing), and then
 * "boots": it reads the spec drive the way the guest's init would and simulates the command,
 * printing its output and the `LEASEHOLD_EXIT=<code>` line on "the serial console" (stdout).
 *
 * With a vsock device (PUT /vsock), it listens on the device's `uds_path` once the VM starts and
 * answers host-initiated connections as Firecracker does: `CONNECT <port>\n`, then `OK <hostport>\n`
 * when something in the guest listens on that port, or a hang-up. What listens is the guest's exec
 * agent, when the root drive "has" it: the double reads a root drive as a list of the files in the
 * image, and the agent is there when it lists /sbin/leasehold-exec-agent. Each connection then runs
 * the real agent script (guest/leasehold-exec-agent) on this host with the connection on its stdin
 * and stdout, as socat does in the guest, with the workload's environment in the file the guest's
 * init would write. What the agent starts is killed when the "VM" stops, as a real VM's would be.
 *
 * Every request is appended to $FAKE_FIRECRACKER_LOG as a JSON line, for tests to read.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createSocketServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { simulate } from '../helpers/simulated-command.js';
import { FirecrackerSpec } from './firecracker-spec.js';

const args = process.argv.slice(2);
const flag = (list: string[], name: string) => {
  const i = list.indexOf(name);
  return i >= 0 ? list[i + 1] : undefined;
};

// As the jailer: make the chroot, then serve the socket inside it; paths the API is given are
// relative to that root.
let root = '/';
let vmArgs = args;
if (args.includes('--exec-file')) {
  const id = flag(args, '--id')!;
  const exec = flag(args, '--exec-file')!;
  const base = flag(args, '--chroot-base-dir') ?? '/srv/jailer';
  root = join(base, basename(exec), id, 'root');
  if (existsSync(root)) fail(`jailer: chroot ${root} already exists`);
  mkdirSync(root, { recursive: true });
  vmArgs = args.slice(args.indexOf('--') + 1);
}
const socketPath = join(root, flag(vmArgs, '--api-sock') ?? fail('--api-sock is required'));
const instanceId = flag(vmArgs, '--id') ?? flag(args, '--id') ?? 'anonymous-instance';
mkdirSync(join(socketPath, '..'), { recursive: true });

const spec = new FirecrackerSpec();
let state: 'Not started' | 'Running' = 'Not started';
let bootSource: { kernel_image_path: string } | null = null;
const drives = new Map<string, { path_on_host?: string; is_root_device: boolean }>();
let vsock: { guest_cid: number; uds_path: string } | null = null;
const onHost = (path: string) => join(root, path);

const server = createServer((req, res) => {
  void handle(req, res);
});
server.listen(socketPath);

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const text = await new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
  const path = req.url ?? '/';
  let body: unknown = undefined;
  const answer = (code: number, fault?: string) => {
    log({ method: req.method, path, body, status: code, ...(fault ? { fault } : {}) });
    if (fault) {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ fault_message: fault }));
    } else {
      res.writeHead(code);
      res.end();
    }
  };

  const route = spec.route(req.method ?? 'GET', path);
  if (!route) return answer(400, `Invalid request method and/or path: ${req.method} ${path}.`);
  if (req.method === 'GET' && route.template === '/') {
    log({ method: 'GET', path, status: 200 });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return void res.end(JSON.stringify({ app_name: 'Firecracker', id: instanceId, state, vmm_version: '1.17.0-dev' }));
  }
  if (route.validate) {
    try {
      body = JSON.parse(text);
    } catch {
      return answer(400, `An error occurred when deserializing the json body of a request: not JSON.`);
    }
    if (!route.validate(body)) {
      const errors = (route.validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` "${String(e.params.additionalProperty)}"` : ''}`);
      return answer(400, `An error occurred when deserializing the json body of a request: ${errors.join('; ')}.`);
    }
  }
  if (route.preBootOnly && state !== 'Not started') {
    return answer(400, 'The requested operation is not supported after starting the microVM.');
  }
  const b = body as Record<string, unknown>;
  switch (route.template) {
    case '/boot-source':
      bootSource = b as { kernel_image_path: string };
      return answer(204);
    case '/drives/{drive_id}':
      if (b.drive_id !== route.params.drive_id) return answer(400, 'The id from the path does not match the id from the body!');
      if (typeof b.path_on_host === 'string' && !existsSync(onHost(b.path_on_host))) {
        return answer(400, `Unable to create the block device: open ${b.path_on_host}: No such file or directory (os error 2)`);
      }
      drives.set(String(b.drive_id), b as { path_on_host?: string; is_root_device: boolean });
      return answer(204);
    case '/vsock':
      vsock = b as { guest_cid: number; uds_path: string };
      return answer(204);
    case '/network-interfaces/{iface_id}':
      if (b.iface_id !== route.params.iface_id) return answer(400, 'The id from the path does not match the id from the body!');
      return answer(204);
    case '/actions':
      return action(String(b.action_type), answer);
    default:
      return answer(204);
  }
}

function action(type: string, answer: (code: number, fault?: string) => void): void {
  if (type === 'InstanceStart') {
    if (state !== 'Not started') return answer(400, 'The requested operation is not supported after starting the microVM.');
    if (!bootSource) return answer(400, 'Cannot start microvm without kernel configuration.');
    if (!existsSync(onHost(bootSource.kernel_image_path))) return answer(400, 'Cannot start microvm: the kernel file cannot be opened.');
    state = 'Running';
    // The device's socket is there when InstanceStart returns: a host may connect at once.
    if (vsock) startVsock(vsock.uds_path, specEnv());
    answer(204);
    return boot();
  }
  if (type === 'SendCtrlAltDel') {
    if (state !== 'Running') return answer(400, 'The requested operation is not supported before starting the microVM.');
    answer(204);
    return void setTimeout(() => powerOff(0), 10); // the guest's init shuts down; the VMM exits with it
  }
  return answer(204);
}

/** The guest: read the spec drive as init.sh does, run the command (simulated), report, power off. */
function specLines(): string[] {
  const specDrive = [...drives.values()].find((d) => !d.is_root_device && d.path_on_host);
  return specDrive ? readFileSync(onHost(specDrive.path_on_host!), 'utf8').replace(/\0+$/, '').split('\n') : [];
}

function specEnv(): [string, string][] {
  return specLines()
    .filter((l) => l.startsWith('env '))
    .map((l) => l.split(' '))
    .map(([, name, value]) => [name!, Buffer.from(value ?? '', 'base64').toString('utf8')]);
}

function boot(): void {
  const lines = specLines();
  if (lines[0] !== 'leasehold-spec 1') {
    process.stdout.write('leasehold-init: no spec drive; idle\n');
    return; // like a guest that booted something else: it runs until stopped
  }
  const argv = lines.filter((l) => l.startsWith('arg ')).map((l) => Buffer.from(l.slice(4), 'base64').toString('utf8'));
  const run = simulate(argv);
  if (run.output) process.stdout.write(run.output);
  if (run.runMs === null) return; // runs until Ctrl-Alt-Del or a signal
  setTimeout(() => {
    process.stdout.write(`LEASEHOLD_EXIT=${run.exitCode}\n`);
    powerOff(0);
  }, run.runMs ?? 20);
}

/** As the guest's init starts it: on vsock port 10240, when the image has it. */
const AGENT_PORT = 10240;
const AGENT = new URL('../../../src/runtime/firecracker/guest/leasehold-exec-agent', import.meta.url).pathname;
let guestDir: string | null = null;

function startVsock(udsPath: string, env: [string, string][]): void {
  const rootDrive = [...drives.values()].find((d) => d.is_root_device && d.path_on_host);
  const imageFiles = rootDrive ? readFileSync(onHost(rootDrive.path_on_host!), 'utf8').split('\n') : [];
  const hasAgent = imageFiles.includes('/sbin/leasehold-exec-agent');
  // The file init writes: readable by the workload's user (the agent runs commands as that user).
  // The guest's /tmp: the agent's pipes go there too, and all of it goes when the "VM" stops.
  const guestTmp = mkdtempSync(join(tmpdir(), 'fc-guest-'));
  guestDir = guestTmp;
  chmodSync(guestTmp, 0o755);
  const envFile = join(guestTmp, 'env');
  const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
  writeFileSync(envFile, env.map(([name, value]) => `export ${name}=${quote(value)}\n`).join(''), { mode: 0o644 });
  let hostPort = 1073741824; // Firecracker numbers host-side ports from 2^30
  createSocketServer((connection) => {
    connection.on('error', () => undefined);
    readConnectLine(connection, (port) => {
      if (port !== AGENT_PORT || !hasAgent) return void connection.destroy(); // no listener in the guest: Firecracker hangs up
      connection.write(`OK ${hostPort++}\n`);
      // socat's part: a handler per connection, bytes copied both ways.
      const agent = spawn('sh', [AGENT], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LEASEHOLD_ENV_FILE: envFile, TMPDIR: guestTmp }, stdio: ['pipe', 'pipe', 'ignore'] });
      agent.stdin.on('error', () => undefined);
      connection.pipe(agent.stdin);
      agent.stdout.pipe(connection);
      connection.on('close', () => agent.stdin.destroy());
    });
  }).listen(onHost(udsPath));
}

/** Firecracker's side of a host-initiated connection: the first line, `CONNECT <port>`, and nothing more. */
function readConnectLine(connection: Socket, then: (port: number | null) => void): void {
  let text = '';
  const onData = (chunk: Buffer) => {
    text += chunk.toString('latin1');
    const end = text.indexOf('\n');
    if (end < 0) return void (text.length > 32 && connection.destroy());
    connection.off('data', onData);
    connection.pause();
    const rest = Buffer.from(text.slice(end + 1), 'latin1');
    if (rest.length > 0) connection.unshift(rest);
    const match = /^CONNECT (\d+)$/.exec(text.slice(0, end));
    then(match ? Number(match[1]) : null);
  };
  connection.on('data', onData);
}

/** The VM stops: whatever ran in it stops too, also what the agent started in sessions of their own. */
function powerOff(code: number): never {
  killDescendants();
  process.exit(code);
}

function killDescendants(): void {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const pending = [...(children.get(process.pid) ?? [])];
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    pending.push(...(children.get(pid) ?? []));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (guestDir) rmSync(guestDir, { recursive: true, force: true });
}

process.once('SIGTERM', () => {
  killDescendants();
  process.kill(process.pid, 'SIGTERM'); // and die of it, as the real VMM does
});

function log(entry: object): void {
  const file = process.env.FAKE_FIRECRACKER_LOG;
  if (file) appendFileSync(file, `${JSON.stringify({ vm: instanceId, ...entry })}\n`);
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
