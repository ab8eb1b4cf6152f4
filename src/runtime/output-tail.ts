import type { LogWindow } from './runtime.js';

/**
 * Keeps the last `limit` bytes of a stream: enough to say why something failed, bounded in memory.
 * It also counts every byte it was given, so a reader can ask for what follows an offset and get
 * each byte once (`window`), however fast the stream grows between reads, as long as it reads
 * again before `limit` more bytes arrive.
 */
export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes pushed so far: the offset just past the last one. */
  private total = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.total += chunk.length;
    while (this.size - this.chunks[0]!.length >= this.limit) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    return this.kept().toString('utf8');
  }

  /**
   * The kept bytes from offset `from` on (from the first kept byte when `from` is older). The
   * window starts and ends between UTF-8 characters, so that two windows never split one: a
   * character cut by the tail's own start is skipped, and one whose last bytes have not arrived
   * yet is left for the next read, unless the stream has `ended`.
   */
  window(from: number, ended: boolean): LogWindow {
    const kept = this.kept();
    const keptStart = this.total - kept.length;
    let at = Math.min(Math.max(from, keptStart), this.total) - keptStart;
    // Where the tail's own start cut a character, its remains are skipped; an offset this tail
    // answered with before is always between characters, and is taken as it is.
    if (from < keptStart) for (let n = 0; n < 3 && at < kept.length && isContinuation(kept[at]!); n++) at++;
    let end = kept.length;
    if (!ended) end -= incompleteTail(kept.subarray(at));
    return { start: keptStart + at, end: keptStart + end, text: kept.subarray(at, end).toString('utf8') };
  }

  /** Keeps only the kept bytes, in one buffer: for a tail that will not grow again. */
  compact(): void {
    const kept = Buffer.from(this.kept()); // a copy: a view would hold on to all it was cut from
    this.chunks = [kept];
    this.size = kept.length;
  }

  private kept(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit));
  }
}

const isContinuation = (byte: number) => (byte & 0xc0) === 0x80;

/** How many bytes at the end of `bytes` are the start of a UTF-8 character whose rest has not come. */
function incompleteTail(bytes: Buffer): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back]!;
    if (isContinuation(byte)) continue;
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}
