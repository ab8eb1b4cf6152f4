import { readFileSync } from 'node:fs';

/**
 * Lua scripts are source files beside the code that runs them (each opens with a header naming
 * KEYS, ARGV and the reply). The build copies them next to the compiled JavaScript.
 */
export function loadLua(moduleUrl: string, name: string): string {
  return readFileSync(new URL(`./${name}`, moduleUrl), 'utf8');
}
