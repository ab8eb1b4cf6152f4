/**
 * What the test doubles (the fake kubelet, the fake Firecracker guest) do for a command, without
 * running it: `echo …` prints and succeeds; `true`, `false`; `exit N` (also as `sh -c "exit N"`);
 * `sleep N` runs N seconds; anything else runs until stopped (`runMs: null`).
 */
export interface SimulatedRun {
  /** undefined: the double's quick default; null: until stopped. */
  readonly runMs: number | null | undefined;
  readonly exitCode: number;
  readonly output?: string;
}

export function simulate(argv: readonly string[]): SimulatedRun {
  const [program, ...args] = argv;
  const base = program?.split('/').at(-1);
  if ((base === 'sh' || base === 'bash') && args[0] === '-c') return simulate(shellWords(args[1] ?? ''));
  if (base === 'echo') return { runMs: undefined, exitCode: 0, output: `${args.join(' ')}\n` };
  if (base === 'true') return { runMs: undefined, exitCode: 0 };
  if (base === 'false') return { runMs: undefined, exitCode: 1 };
  if (base === 'exit') return { runMs: undefined, exitCode: Number(args[0] ?? 0) };
  if (base === 'sleep') return { runMs: Number(args[0] ?? 0) * 1000, exitCode: 0 };
  return { runMs: null, exitCode: 0 };
}

function shellWords(script: string): string[] {
  return script.match(/"[^"]*"|'[^']*'|\S+/g)?.map((w) => w.replace(/^["']|["']$/g, '')) ?? [];
}
