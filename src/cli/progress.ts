/**
 * One line at the bottom of a terminal that rewrites itself ("test-1  running  12s"), for
 * `submit --wait`. Only on a terminal: piped, it would be noise in a file. Whoever prints a real
 * line first calls `clear()`, so that the line never lands in the middle of the output.
 */
export class ProgressLine {
  private shown = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly enabled: boolean,
  ) {}

  /** Redraws `render()` now and every second until `stop()`. */
  start(render: () => string): void {
    if (!this.enabled) return;
    const draw = () => {
      this.stream.write(`\r\x1b[2K${render()}`);
      this.shown = true;
    };
    draw();
    this.timer = setInterval(draw, 1_000);
    this.timer.unref();
  }

  clear(): void {
    if (!this.shown) return;
    this.stream.write('\r\x1b[2K');
    this.shown = false;
  }

  stop(): void {
    clearInterval(this.timer);
    this.clear();
  }
}

export function elapsed(since: number, now = Date.now()): string {
  const seconds = Math.floor((now - since) / 1000);
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}
