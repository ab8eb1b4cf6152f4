import type { WorkloadSpec } from '../../spec/index.js';

/** Request bodies, field for field as ../shared/specs/firecracker-api.yaml defines them. */
export interface MachineConfiguration {
  vcpu_count: number;
  mem_size_mib: number;
  smt?: boolean;
}
export interface BootSource {
  kernel_image_path: string;
  boot_args?: string;
}
export interface Drive {
  drive_id: string;
  is_root_device: boolean;
  is_read_only?: boolean;
  path_on_host?: string;
}
export interface Vsock {
  guest_cid: number;
  uds_path: string;
}
export interface NetworkInterface {
  iface_id: string;
  host_dev_name: string;
  guest_mac?: string;
}

export interface VmPlan {
  readonly machine: MachineConfiguration;
  readonly boot: BootSource;
  readonly drives: Drive[];
  readonly network: NetworkInterface | null;
  readonly vsock: Vsock;
}

export interface VmFiles {
  readonly kernel: string;
  readonly rootfs: string;
  /** The workload's command and environment, as a read-only raw drive the guest's init reads. */
  readonly specDrive: string;
  /** Where the VMM listens for host-initiated vsock connections (the exec agent's way in). */
  readonly vsockSocket: string;
}

const MIB = 1024 * 1024;
/**
 * Every VM may use the same CID: Firecracker's vsock is its own device model behind a Unix socket
 * per VM, not the host kernel's vhost-vsock, so CIDs are never compared across VMs. 3 is the first
 * one not reserved (0-2 are the hypervisor, local and the host).
 */
const GUEST_CID = 3;
const DEFAULT_MEMORY_MIB = 256;
const MAX_VCPUS = 32;
/** A spec's memory is a request, not a say over the host: past this it is clamped, as vCPUs are. */
export const MAX_MEMORY_MIB = 8 * 1024;

/**
 * The guest's kernel command line. `reboot=k panic=1` turns the guest's shutdown (or a kernel panic)
 * into the Firecracker process exiting, which is how the runtime learns that the workload ended;
 * init is ours (see guest/init.sh), and it reads the spec drive.
 */
export const BOOT_ARGS = 'console=ttyS0 reboot=k panic=1 pci=off ro init=/sbin/leasehold-init';

/** Machine, boot source and drives for one workload. The VM gets no network unless `tap` is given. */
export function planVm(spec: WorkloadSpec, files: VmFiles, tap: string | null): VmPlan {
  return {
    machine: {
      vcpu_count: Math.min(MAX_VCPUS, Math.max(1, Math.ceil(quantityToNumber(spec.resources.cpu ?? '1')))),
      mem_size_mib: spec.resources.memory ? Math.min(MAX_MEMORY_MIB, Math.max(32, Math.ceil(quantityToNumber(spec.resources.memory) / MIB))) : DEFAULT_MEMORY_MIB,
      smt: false,
    },
    boot: { kernel_image_path: files.kernel, boot_args: BOOT_ARGS },
    drives: [
      // Read-only: the image is shared by every VM of that image; /tmp is a tmpfs inside the guest.
      { drive_id: 'rootfs', path_on_host: files.rootfs, is_root_device: true, is_read_only: true },
      { drive_id: 'spec', path_on_host: files.specDrive, is_root_device: false, is_read_only: true },
    ],
    network: tap ? { iface_id: 'eth0', host_dev_name: tap } : null,
    vsock: { guest_cid: GUEST_CID, uds_path: files.vsockSocket },
  };
}

/**
 * The spec drive: a line format a busybox shell can read without a JSON parser. Values are base64
 * so that no byte of a command can break the framing. Padded to whole 512-byte sectors.
 */
export function specDriveContent(argv: readonly string[], env: Readonly<Record<string, string>>): Buffer {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  const lines = [
    'leasehold-spec 1',
    ...Object.entries(env).map(([name, value]) => `env ${name} ${b64(value)}`),
    ...argv.map((arg) => `arg ${b64(arg)}`),
    'end',
    '',
  ];
  const text = Buffer.from(lines.join('\n'), 'utf8');
  const size = Math.ceil((text.length + 1) / 512) * 512;
  const padded = Buffer.alloc(size);
  text.copy(padded);
  return padded;
}

/** The line the guest's init prints on the serial console as its last word. */
export const EXIT_MARKER = /^LEASEHOLD_EXIT=(\d+)\s*$/m;

/** `python:3.12` → `python_3.12`: the file name of an image's root filesystem. */
export function rootfsName(image: string): string {
  return `${image.replace(/[^A-Za-z0-9._-]/g, '_')}.ext4`;
}

function quantityToNumber(quantity: string): number {
  const match = /^([0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(quantity);
  if (!match) return Number.NaN;
  const units: Record<string, number> = {
    m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  };
  return Number(match[1]) * (match[2] ? units[match[2]]! : 1);
}
