import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FirecrackerConfig } from '../../src/runtime/firecracker/firecracker-launcher.js';

export interface FakeFirecrackerHost {
  readonly dir: string;
  /** Config for the firecracker launcher that runs the test double instead of firecracker. */
  config(options?: { jailer?: boolean; agentBootMs?: number }): FirecrackerConfig;
  /** Every API request the doubles answered, in order. */
  requests(): { vm: string; method: string; path: string; body?: Record<string, unknown>; status: number; fault?: string }[];
  cleanup(): void;
}

/**
 * A host as the firecracker runtime expects one: a kernel, root filesystems for `alpine` and
 * `python` (with the exec agent installed) and `bare` (without it), and `firecracker` and `jailer`
 * executables, which here are the test double. The double reads a root filesystem as the list of
 * files in the image.
 */
export function fakeFirecrackerHost(): FakeFirecrackerHost {
  const dir = mkdtempSync(join(tmpdir(), 'fc-'));
  const log = join(dir, 'requests.jsonl');
  writeFileSync(join(dir, 'vmlinux'), 'not a kernel: the double only checks that it exists');
  mkdirSync(join(dir, 'rootfs'));
  const withAgent = '/sbin/leasehold-init\n/sbin/leasehold-exec-agent\n/usr/bin/socat\n';
  for (const image of ['alpine', 'python']) writeFileSync(join(dir, 'rootfs', `${image}.ext4`), withAgent);
  writeFileSync(join(dir, 'rootfs', 'bare.ext4'), '/sbin/leasehold-init\n');
  const double = new URL('fake-firecracker.js', import.meta.url).pathname;
  for (const name of ['firecracker', 'jailer']) {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\nFAKE_FIRECRACKER_LOG='${log}' exec '${process.execPath}' '${double}' "$@"\n`);
    chmodSync(path, 0o755);
  }
  return {
    dir,
    config: (options = {}) => ({
      binary: join(dir, 'firecracker'),
      kernel: join(dir, 'vmlinux'),
      rootfsDir: join(dir, 'rootfs'),
      tap: null,
      jailer: options.jailer ? { binary: join(dir, 'jailer'), chrootBase: join(dir, 'jail'), uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 } : null,
      kvmDevice: null,
      ...(options.agentBootMs !== undefined ? { agentBootMs: options.agentBootMs } : {}),
    }),
    requests() {
      try {
        return readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as never);
      } catch {
        return [];
      }
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
