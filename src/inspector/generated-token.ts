import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpTokens } from './http-auth.js';

export const GENERATED_TOKEN_FILE = 'http-token';

/**
 * With no tokens file, the API is still never open: like Jupyter, we make one operator token per
 * start and leave it where only this user can read it. The old file is removed first and the new
 * one created exclusively (O_EXCL), so a symlink planted in a shared state directory cannot make
 * us write the token somewhere else, and the file is 0600 from its first byte.
 */
export function generateTokenFile(dir: string): { tokens: HttpTokens; path: string; token: string } {
  mkdirSync(dir, { recursive: true }); // its mode is the runtimes' business; the file is 0600
  const path = join(dir, GENERATED_TOKEN_FILE);
  const { tokens, token } = HttpTokens.generate('generated');
  rmSync(path, { force: true });
  writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return { tokens, path, token };
}
