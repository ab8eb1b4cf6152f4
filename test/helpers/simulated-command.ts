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
  if ((base === 'sh' || base === 'bash') && args[0] === '-c') return sequence((args[1] ?? '').split(/;|&&/));
  if (base === 'echo') return { runMs: undefined, exitCode: 0, output: `${args.join(' ')}\n` };
  if (base === 'true') return { runMs: undefined, exitCode: 0 };
  if (base === 'false') return { runMs: undefined, exitCode: 1 };
  if (base === 'exit') return { runMs: undefined, exitCode: Number(args[0] ?? 0) };
  if (base === 'sleep') return { runMs: Number(args[0] ?? 0) * 1000, exitCode: 0 };
  return { runMs: null, exitCode: 0 };
}

/** `echo hi; sleep 5; exit 2`: outputs add up, times add up, the last command (or `exit`) decides. */
function sequence(commands: string[]): SimulatedRun {
  let output = '';
  let runMs: number | null | undefined;
  let exitCode = 0;
  for (const command of commands.map((c) => c.trim()).filter(Boolean)) {
    const step = simulate(shellWords(command));
    output += step.output ?? '';
    runMs = runMs === null || step.runMs === null ? null : step.runMs === undefined ? runMs : (runMs ?? 0) + step.runMs;
    exitCode = step.exitCode;
    if (command.startsWith('exit')) break;
  }
  return { runMs, exitCode, ...(output ? { output } : {}) };
}

function shellWords(script: string): string[] {
  return script.match(/"[^"]*"|'[^']*'|\S+/g)?.map((w) => w.replace(/^["']|["']$/g, '')) ?? [];
}
