/**
 * Chunks of bytes handed from a push source (NATS messages) to a pull reader (`for await`), in
 * order, ended once. What is pushed and not yet read waits here; `pendingBytes` says how much, so
 * that the pusher can bound it (a command that does not read its stdin must not make this grow
 * without end). `taken`, given with a chunk, is called when the reader takes it.
 */
export class ByteQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: { chunk: Uint8Array; taken: (() => void) | undefined }[] = [];
  private ended = false;
  private wake: (() => void) | null = null;
  private pending = 0;

  /** Bytes pushed and not yet taken by the reader. */
  get pendingBytes(): number {
    return this.pending;
  }

  push(chunk: Uint8Array, taken?: () => void): void {
    if (this.ended) return;
    this.chunks.push({ chunk, taken });
    this.pending += chunk.length;
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const next = this.chunks.shift();
      if (next) {
        this.pending -= next.chunk.length;
        next.taken?.();
        yield next.chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
