import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * The server side of RFC 6455, as much as the exec protocol needs: the handshake with subprotocol
 * negotiation, binary and text messages (fragmented or not), ping, close. Written by hand so the
 * fake API server needs no WebSocket dependency, and so the bytes on the wire are the ones a
 * reader of this file sees.
 */
export class ServerWebSocket {
  private buffered = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private closed = false;
  onMessage: (data: Buffer) => void = () => {};
  onClose: () => void = () => {};

  constructor(
    private readonly socket: Duplex,
    readonly protocol: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.finish());
  }

  /** A binary message. */
  send(data: Buffer): void {
    if (this.closed) return;
    this.socket.write(frame(0x2, data));
  }

  /** Sends a close frame and ends the connection once it is written. */
  close(code = 1000): void {
    if (this.closed) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.socket.end(frame(0x8, payload));
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }

  private receive(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const parsed = parseFrame(this.buffered);
      if (!parsed) return;
      this.buffered = this.buffered.subarray(parsed.length);
      const { fin, opcode, payload } = parsed;
      if (opcode === 0x8) return this.close();
      if (opcode === 0x9) {
        this.socket.write(frame(0xa, payload));
        continue;
      }
      if (opcode === 0xa) continue;
      this.fragments.push(payload);
      if (!fin) continue;
      const message = Buffer.concat(this.fragments);
      this.fragments = [];
      this.onMessage(message);
    }
  }
}

/**
 * Answers a WebSocket upgrade with 101 and the first subprotocol in `supported` (the server's order
 * of preference) that the client offered; null when the request is not a WebSocket upgrade or
 * shares no subprotocol (the caller answers with an HTTP error).
 */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, supported: readonly string[]): ServerWebSocket | null {
  const key = req.headers['sec-websocket-key'];
  if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string') return null;
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const protocol = supported.find((p) => offered.includes(p));
  if (!protocol) return null;
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  socket.write(
    [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${accept}`,
      `Sec-WebSocket-Protocol: ${protocol}`,
      '',
      '',
    ].join('\r\n'),
  );
  const ws = new ServerWebSocket(socket, protocol);
  if (head.length > 0) socket.unshift(head);
  return ws;
}

/** An HTTP answer on a socket that asked for an upgrade and will not get one. */
export function refuseUpgrade(socket: Duplex, code: number, reason: string, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    [
      `HTTP/1.1 ${code} ${reason}`,
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(text)}`,
      'Connection: close',
      '',
      text,
    ].join('\r\n'),
  );
}

function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const header = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  header[0] = 0x80 | opcode; // FIN, no extensions; a server never masks
  if (length < 126) header[1] = length;
  else if (length < 65536) {
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}

function parseFrame(data: Buffer): { fin: boolean; opcode: number; payload: Buffer; length: number } | null {
  if (data.length < 2) return null;
  const fin = (data[0]! & 0x80) !== 0;
  const opcode = data[0]! & 0x0f;
  const masked = (data[1]! & 0x80) !== 0;
  let length = data[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (data.length < 4) return null;
    length = data.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (data.length < 10) return null;
    length = Number(data.readBigUInt64BE(2));
    offset = 10;
  }
  const maskOffset = offset;
  if (masked) offset += 4;
  if (data.length < offset + length) return null;
  const payload = Buffer.from(data.subarray(offset, offset + length));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ data[maskOffset + (i % 4)]!;
  return { fin, opcode, payload, length: offset + length };
}
