import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ChildLine {
  event: 'started' | 'acquired' | 'releasing' | 'lost' | 'write';
  shard?: number;
  epoch?: number;
  reason?: string;
  round?: number;
  believed?: number | null;
  outcome?: string;
  /** performance.now() in the test process when the line arrived. */
  at: number;
}

/** A replica running replica-child.js in its own process, and everything it said. */
export class ChildReplica {
  readonly lines: ChildLine[] = [];
  private readonly exited: Promise<void>;

  private constructor(readonly process: ChildProcess) {
    createInterface({ input: process.stdout! }).on('line', (line) => {
      this.lines.push({ ...(JSON.parse(line) as Omit<ChildLine, 'at'>), at: performance.now() });
    });
    this.exited = new Promise((resolve) => process.once('exit', () => resolve()));
  }

  static async start(options: { url: string; prefix: string; id: string; ttlMs: number }): Promise<ChildReplica> {
    const script = fileURLToPath(new URL('./replica-child.js', import.meta.url));
    const child = new ChildReplica(spawn(process.execPath, [script, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const deadline = Date.now() + 10_000;
    while (!child.lines.some((line) => line.event === 'started')) {
      if (child.process.exitCode !== null || Date.now() > deadline) throw new Error('the child replica did not start');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return child;
  }

  /** The shards it holds by what it was told: acquired and not released or lost since. */
  held(): Map<number, number> {
    const held = new Map<number, number>();
    for (const line of this.lines) {
      if (line.event === 'acquired') held.set(line.shard!, line.epoch!);
      if ((line.event === 'releasing' || line.event === 'lost') && held.get(line.shard!) === line.epoch) held.delete(line.shard!);
    }
    return held;
  }

  signal(signal: NodeJS.Signals): void {
    this.process.kill(signal);
  }

  async close(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill('SIGCONT');
      this.process.kill('SIGKILL');
    }
    await this.exited;
  }
}
