/**
 * The seccomp filter every bubblewrap sandbox runs under, as a classic-BPF program that bwrap
 * loads with `--seccomp FD` right before it executes the workload. Written out here rather than
 * compiled by libseccomp so that the control plane needs no native module.
 *
 * It is a deny list on top of what bwrap already takes away (capabilities, namespaces): the system
 * calls that reach the kernel's most exposed surfaces (ptrace, mounts, keyrings, BPF, perf, new
 * namespaces, modules, the clock) fail with EPERM, as under Docker's default profile. Any ABI other
 * than x86_64 and aarch64 (the 32-bit i386 ABI on an x86_64 host, for one, whose system call
 * numbers differ) kills the process: a deny list only holds for the numbers it was written for.
 */

/** `struct sock_filter`: what one instruction is made of. */
interface Instruction {
  readonly code: number;
  readonly k: number;
  /** Labels to jump to when the condition holds / does not; omitted: the next instruction. */
  readonly jt?: string;
  readonly jf?: string;
}

type Line = Instruction | { readonly label: string };

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;

const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;

/**
 * The only socket families a sandbox may create: AF_UNIX, AF_INET, AF_INET6 (in its own network
 * namespace, so only its own loopback) and AF_NETLINK (which `ip` and glibc's getaddrinfo use).
 * Every other family either reaches past the network namespace (AF_VSOCK shares the host's vsock
 * port space and reaches the hypervisor) or is a large kernel surface (AF_PACKET, AF_ALG, …).
 */
export const ALLOWED_SOCKET_FAMILIES = [1, 2, 10, 16] as const;

/** Offsets in `struct seccomp_data`; arguments are 64-bit, and both architectures are little-endian. */
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0_LOW = 16;

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
/** x32 system calls arrive as x86_64 ones with this bit set; they would bypass the numbers below. */
const X32_SYSCALL_BIT = 0x40000000;

/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET: a new namespace from inside. */
const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;
/** PER_LINUX, PER_LINUX32, UNAME26, both, and the query: Docker's list. ADDR_NO_RANDOMIZE is not on it. */
const ALLOWED_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** System calls refused with EPERM. Names absent from an architecture are skipped for it. */
export const DENIED_SYSCALLS = [
  // looking into or steering another process
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd',
  // the mount table
  'mount', 'umount2', 'pivot_root', 'chroot', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr',
  // kernel keyrings, BPF, perf, fanotify
  'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'fanotify_init',
  // namespaces (clone with namespace flags is checked by argument; clone3 is answered ENOSYS)
  'unshare', 'setns',
  // the kernel itself
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'create_module', 'get_kernel_syms', 'query_module',
  'swapon', 'swapoff', 'reboot', 'acct', 'syslog', 'vhangup', 'nfsservctl', 'uselib', '_sysctl', 'lookup_dcookie', 'quotactl', 'quotactl_fd',
  'iopl', 'ioperm', 'sethostname', 'setdomainname',
  // file handles go around the mount namespace
  'open_by_handle_at', 'name_to_handle_at',
  // page-fault handling from user space is a favourite of kernel exploits
  'userfaultfd',
  // io_uring: a large attack surface, and its operations are invisible to this filter
  'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  // the clock of the whole host
  'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex',
  // memory placement on the host's NUMA nodes
  'mbind', 'set_mempolicy', 'migrate_pages', 'move_pages',
] as const;

type SyscallTable = Readonly<Record<string, number>>;

/** From the kernel's unistd_64.h. */
const X86_64: SyscallTable = {
  ptrace: 101, process_vm_readv: 310, process_vm_writev: 311, kcmp: 312, pidfd_getfd: 438,
  mount: 165, umount2: 166, pivot_root: 155, chroot: 161, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428, mount_setattr: 442,
  keyctl: 250, add_key: 248, request_key: 249, bpf: 321, perf_event_open: 298, fanotify_init: 300,
  unshare: 272, setns: 308,
  kexec_load: 246, kexec_file_load: 320, init_module: 175, finit_module: 313, delete_module: 176, create_module: 174, get_kernel_syms: 177, query_module: 178,
  swapon: 167, swapoff: 168, reboot: 169, acct: 163, syslog: 103, vhangup: 153, nfsservctl: 180, uselib: 134, _sysctl: 156, lookup_dcookie: 212, quotactl: 179, quotactl_fd: 443,
  iopl: 172, ioperm: 173, sethostname: 170, setdomainname: 171,
  open_by_handle_at: 304, name_to_handle_at: 303,
  userfaultfd: 323,
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
  settimeofday: 164, clock_settime: 227, clock_adjtime: 305, adjtimex: 159,
  mbind: 237, set_mempolicy: 238, migrate_pages: 256, move_pages: 279,
  clone: 56, clone3: 435, personality: 135, socket: 41, socketpair: 53,
};

/** From the kernel's asm-generic/unistd.h, which aarch64 uses. */
const AARCH64: SyscallTable = {
  ptrace: 117, process_vm_readv: 270, process_vm_writev: 271, kcmp: 272, pidfd_getfd: 438,
  mount: 40, umount2: 39, pivot_root: 41, chroot: 51, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428, mount_setattr: 442,
  keyctl: 219, add_key: 217, request_key: 218, bpf: 280, perf_event_open: 241, fanotify_init: 262,
  unshare: 97, setns: 268,
  kexec_load: 104, kexec_file_load: 294, init_module: 105, finit_module: 273, delete_module: 106,
  swapon: 224, swapoff: 225, reboot: 142, acct: 89, syslog: 116, vhangup: 58, nfsservctl: 42, lookup_dcookie: 18, quotactl: 60, quotactl_fd: 443,
  sethostname: 161, setdomainname: 162,
  open_by_handle_at: 265, name_to_handle_at: 264,
  userfaultfd: 282,
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
  settimeofday: 170, clock_settime: 112, clock_adjtime: 266, adjtimex: 171,
  mbind: 235, set_mempolicy: 237, migrate_pages: 238, move_pages: 239,
  clone: 220, clone3: 435, personality: 92, socket: 198, socketpair: 199,
};

export const SECCOMP_ARCHITECTURES = { x86_64: { audit: AUDIT_ARCH_X86_64, table: X86_64 }, aarch64: { audit: AUDIT_ARCH_AARCH64, table: AARCH64 } } as const;

const ret = (k: number): Instruction => ({ code: BPF_RET_K, k });
const load = (offset: number): Instruction => ({ code: BPF_LD_W_ABS, k: offset });
const jumpIfEqual = (k: number, jt: string, jf?: string): Instruction => ({ code: BPF_JEQ_K, k, jt, ...(jf ? { jf } : {}) });
const jumpIfAnyBit = (k: number, jt: string): Instruction => ({ code: BPF_JSET_K, k, jt });

function archSection(prefix: string, table: SyscallTable, x32: boolean): Line[] {
  const l = (name: string) => `${prefix}.${name}`;
  const lines: Line[] = [{ label: l('start') }, load(OFFSET_NR)];
  if (x32) lines.push(jumpIfAnyBit(X32_SYSCALL_BIT, l('eperm')));
  for (const name of DENIED_SYSCALLS) {
    const nr = table[name];
    if (nr !== undefined) lines.push(jumpIfEqual(nr, l('eperm')));
  }
  // ENOSYS, not EPERM: glibc then falls back to clone, whose flags this filter can read (clone3
  // passes them in memory, out of a BPF filter's reach).
  lines.push(jumpIfEqual(table.clone3!, l('enosys')));
  lines.push(jumpIfEqual(table.clone!, l('clone')));
  lines.push(jumpIfEqual(table.personality!, l('personality')));
  lines.push(jumpIfEqual(table.socket!, l('socket')));
  lines.push(jumpIfEqual(table.socketpair!, l('socket')));
  lines.push(ret(SECCOMP_RET_ALLOW));
  // The family is the first argument of both; the type and protocol do not matter here.
  lines.push({ label: l('socket') }, load(OFFSET_ARG0_LOW));
  for (const family of ALLOWED_SOCKET_FAMILIES) lines.push(jumpIfEqual(family, l('allow')));
  lines.push(ret(SECCOMP_RET_ERRNO | EAFNOSUPPORT));
  lines.push({ label: l('clone') }, load(OFFSET_ARG0_LOW), jumpIfAnyBit(CLONE_NAMESPACE_FLAGS, l('eperm')), ret(SECCOMP_RET_ALLOW));
  lines.push({ label: l('personality') }, load(OFFSET_ARG0_LOW));
  for (const persona of ALLOWED_PERSONALITIES) lines.push(jumpIfEqual(persona, l('allow')));
  lines.push({ label: l('eperm') }, ret(SECCOMP_RET_ERRNO | EPERM));
  lines.push({ label: l('enosys') }, ret(SECCOMP_RET_ERRNO | ENOSYS));
  lines.push({ label: l('allow') }, ret(SECCOMP_RET_ALLOW));
  return lines;
}

/** The filter as bwrap reads it: `struct sock_filter[]`, 8 bytes an instruction, host byte order. */
export function seccompProgram(): Buffer {
  const lines: Line[] = [
    load(OFFSET_ARCH),
    jumpIfEqual(AUDIT_ARCH_X86_64, 'x86_64.start'),
    jumpIfEqual(AUDIT_ARCH_AARCH64, 'aarch64.start'),
    ret(SECCOMP_RET_KILL_PROCESS),
    ...archSection('x86_64', X86_64, true),
    ...archSection('aarch64', AARCH64, false),
  ];
  return assemble(lines);
}

/** Resolves labels into the relative 8-bit jump offsets classic BPF has. */
function assemble(lines: readonly Line[]): Buffer {
  const instructions: Instruction[] = [];
  const labels = new Map<string, number>();
  for (const line of lines) {
    if ('label' in line) labels.set(line.label, instructions.length);
    else instructions.push(line);
  }
  const out = Buffer.alloc(instructions.length * 8);
  instructions.forEach((instruction, index) => {
    const offset = (label: string | undefined) => {
      if (label === undefined) return 0;
      const target = labels.get(label);
      if (target === undefined) throw new Error(`seccomp: no label ${label}`);
      const distance = target - index - 1;
      if (distance < 0 || distance > 255) throw new Error(`seccomp: jump to ${label} out of range (${distance})`);
      return distance;
    };
    const at = index * 8;
    out.writeUInt16LE(instruction.code, at);
    out.writeUInt8(offset(instruction.jt), at + 2);
    out.writeUInt8(offset(instruction.jf), at + 3);
    out.writeUInt32LE(instruction.k >>> 0, at + 4);
  });
  return out;
}
