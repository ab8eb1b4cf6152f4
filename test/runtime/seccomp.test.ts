import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DENIED_SYSCALLS, SECCOMP_ARCHITECTURES, seccompProgram } from '../../src/runtime/process/seccomp.js';

/**
 * The sandbox tests run the filter on this host's architecture only; this reads the program the
 * way the kernel does, so that the other architecture's half (aarch64 on an x86 host, or the
 * reverse) is checked too. A classic-BPF interpreter for the few instructions the filter uses.
 */
function decide(program: Buffer, data: { arch: number; nr: number; args?: number[] }): string {
  const word = (offset: number): number => {
    if (offset === 0) return data.nr >>> 0;
    if (offset === 4) return data.arch >>> 0;
    const arg = (offset - 16) / 8;
    if (Number.isInteger(arg)) return (data.args?.[arg] ?? 0) >>> 0;
    throw new Error(`load of offset ${offset}`);
  };
  let a = 0;
  for (let pc = 0; pc < program.length / 8; pc++) {
    const at = pc * 8;
    const [code, jt, jf, k] = [program.readUInt16LE(at), program.readUInt8(at + 2), program.readUInt8(at + 3), program.readUInt32LE(at + 4)];
    if (code === 0x20) a = word(k);
    else if (code === 0x15) pc += a === k ? jt : jf;
    else if (code === 0x45) pc += (a & k) !== 0 ? jt : jf;
    else if (code === 0x06) {
      if (k === 0x7fff0000) return 'allow';
      if (k === 0x80000000) return 'kill';
      if ((k & 0xffff0000) === 0x00050000) return `errno ${k & 0xffff}`;
      return `action ${k.toString(16)}`;
    } else throw new Error(`unknown instruction ${code.toString(16)} at ${pc}`);
  }
  throw new Error('ran off the end of the program');
}

const program = seccompProgram();
const CLONE_NEWUSER = 0x10000000;
/** What glibc's pthread_create passes to clone. */
const THREAD_FLAGS = 0x3d0f00;

describe('seccomp filter', () => {
  for (const [name, { audit, table }] of Object.entries(SECCOMP_ARCHITECTURES)) {
    it(`on ${name}, refuses ptrace and the rest of the deny list with EPERM, and lets ordinary calls through`, () => {
      for (const call of DENIED_SYSCALLS) {
        const nr = table[call];
        if (nr !== undefined) assert.equal(decide(program, { arch: audit, nr }), 'errno 1', call);
      }
      assert.equal(decide(program, { arch: audit, nr: table.ptrace! }), 'errno 1');
      // read, write, exit_group, execve: numbers outside the list
      const ordinary = name === 'x86_64' ? [0, 1, 231, 59] : [63, 64, 94, 221];
      for (const nr of ordinary) assert.equal(decide(program, { arch: audit, nr }), 'allow', `syscall ${nr}`);
    });

    it(`on ${name}, refuses clone into a new user namespace but not a thread, and sends clone3 back to clone`, () => {
      assert.equal(decide(program, { arch: audit, nr: table.clone!, args: [CLONE_NEWUSER] }), 'errno 1');
      assert.equal(decide(program, { arch: audit, nr: table.clone!, args: [0x20000 /* CLONE_NEWNS */] }), 'errno 1');
      assert.equal(decide(program, { arch: audit, nr: table.clone!, args: [THREAD_FLAGS] }), 'allow');
      assert.equal(decide(program, { arch: audit, nr: table.clone!, args: [17 /* SIGCHLD: fork */] }), 'allow');
      assert.equal(decide(program, { arch: audit, nr: table.clone3! }), 'errno 38');
    });

    it(`on ${name}, lets personality query but not turn off address-space randomisation`, () => {
      assert.equal(decide(program, { arch: audit, nr: table.personality!, args: [0xffffffff] }), 'allow');
      assert.equal(decide(program, { arch: audit, nr: table.personality!, args: [0] }), 'allow');
      assert.equal(decide(program, { arch: audit, nr: table.personality!, args: [0x0040000 /* ADDR_NO_RANDOMIZE */] }), 'errno 1');
    });

    it(`on ${name}, lets socket and socketpair make unix, inet, inet6 and netlink sockets only (no vsock to the hypervisor)`, () => {
      for (const call of ['socket', 'socketpair']) {
        const nr = table[call as keyof typeof table]!;
        for (const family of [1 /* AF_UNIX */, 2 /* AF_INET */, 10 /* AF_INET6 */, 16 /* AF_NETLINK */]) {
          assert.equal(decide(program, { arch: audit, nr, args: [family] }), 'allow', `${call}(${family})`);
        }
        for (const family of [40 /* AF_VSOCK */, 17 /* AF_PACKET */, 38 /* AF_ALG */, 0, 45 /* AF_MAX */, 0x10001]) {
          assert.equal(decide(program, { arch: audit, nr, args: [family] }), 'errno 97', `${call}(${family})`);
        }
      }
    });
  }

  it('kills a process that uses another ABI, whose numbers the deny list does not cover', () => {
    assert.equal(decide(program, { arch: 0x40000003 /* i386 */, nr: 26 /* ptrace there */ }), 'kill');
    assert.equal(decide(program, { arch: 0x40000028 /* 32-bit ARM */, nr: 26 }), 'kill');
    // x32 calls come in as x86_64 ones with bit 30 set.
    assert.equal(decide(program, { arch: SECCOMP_ARCHITECTURES.x86_64.audit, nr: 0x40000000 + 521 /* x32 ptrace */ }), 'errno 1');
  });
});
