import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { checkPools, parsePoolOption, readPoolFile } from '../../src/pool/pool-template.js';

/** An operator's mistakes in a pool declaration: each one stops the start with a line that says what is wrong, never a pool that silently does nothing. */
const refused = (what: () => unknown, pattern: RegExp, label: string) =>
  assert.throws(what, (error: unknown) => error instanceof ConfigError && pattern.test(error.message), label);

describe('hostile warm pool declarations', () => {
  it('refuses idle=0, which would shrink the pool to min before a member could be claimed, instead of holding a pool that never fills', () => {
    // What idle=0 did: `target()` was `min` at every tick after the first millisecond, so a pool
    // of size 4 that nobody had claimed from yet never made a member, and said nothing.
    refused(() => parsePoolOption('trusted:alpine:size=4:idle=0'), /idle/, '--pool idle=0');
  });

  it('refuses an option given twice rather than keeping one of them silently', () => {
    refused(() => parsePoolOption('trusted:alpine:size=20:size=2'), /size.*twice|twice.*size/, 'size twice');
  });

  it('refuses a pool file that is not YAML, or not a list of pools, with one line naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-pools-'));
    try {
      const file = join(dir, 'pools.yaml');
      for (const [content, pattern] of [
        [Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x7b, 0x5b]), /pools\.yaml/],
        ['pools: [unclosed', /cannot read the pool file/],
        ['just a string', /must hold a list/],
        ['- type: trusted\n  image: alpine\n  size: 2\n  replicas: 3\n', /pool 1/],
        ['- &a {type: trusted, image: alpine, size: 2}\n- *a\n', /two pools are declared/],
      ] as const) {
        writeFileSync(file, content);
        refused(() => checkPools(readPoolFile(file)), pattern, String(content));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
