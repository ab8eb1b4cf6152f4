/**
 * A test double of the `firecracker` binary (and of the `jailer` in front of it). It serves the
 * API on the Unix socket it is given, checks every request against Firecracker's own API
 * description, refuses what the real API refuses (unknown fields, wrong types, pre-boot calls after
 * InstanceStart, InstanceStart with no boot source, drives whose backing file is missing), and then
 * "boots": it reads the spec drive the way the guest's init would and simulates the command,
 * printing its output and the `LEASEHOLD_EXIT=<code>` line on "the serial console" (stdout).
 *
 * Every request is appended to $FAKE_FIRECRACKER_LOG as a JSON line, for tests to read.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
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
    answer(204);
    return boot();
  }
  if (type === 'SendCtrlAltDel') {
    if (state !== 'Running') return answer(400, 'The requested operation is not supported before starting the microVM.');
    answer(204);
    return void setTimeout(() => process.exit(0), 10); // the guest's init shuts down; the VMM exits with it
  }
  return answer(204);
}

/** The guest: read the spec drive as init.sh does, run the command (simulated), report, power off. */
function boot(): void {
  const specDrive = [...drives.values()].find((d) => !d.is_root_device && d.path_on_host);
  const lines = specDrive ? readFileSync(onHost(specDrive.path_on_host!), 'utf8').replace(/\0+$/, '').split('\n') : [];
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
    process.exit(0);
  }, run.runMs ?? 20);
}

function log(entry: object): void {
  const file = process.env.FAKE_FIRECRACKER_LOG;
  if (file) appendFileSync(file, `${JSON.stringify({ vm: instanceId, ...entry })}\n`);
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
