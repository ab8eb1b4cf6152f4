import { request } from 'node:http';
import { RuntimeError } from '../../errors.js';

/**
 * Firecracker's REST API on its Unix socket. Every call is a PUT of a JSON body answered 204, or
 * an error answered with `{"fault_message": …}`; the message is passed on as it is.
 */
export class FirecrackerApi {
  constructor(private readonly socketPath: string) {}

  put(path: string, body: unknown): Promise<void> {
    return this.call('PUT', path, body).then(() => undefined);
  }

  async describe(): Promise<{ state: string; id: string }> {
    return JSON.parse(await this.call('GET', '/', undefined)) as { state: string; id: string };
  }

  private call(method: string, path: string, body: unknown): Promise<string> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          path,
          method,
          headers: {
            Accept: 'application/json',
            ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 500) < 300) return resolve(text);
            let fault = text;
            try {
              fault = (JSON.parse(text) as { fault_message?: string }).fault_message ?? text;
            } catch {
              // not JSON: keep the text
            }
            reject(new RuntimeError('FIRECRACKER_API', `Firecracker refused ${method} ${path}: ${fault}`));
          });
        },
      );
      req.on('error', (error) =>
        reject(new RuntimeError('FIRECRACKER_UNREACHABLE', `cannot reach Firecracker at ${this.socketPath}: ${error.message}`, { cause: error, transient: true })),
      );
      req.end(payload);
    });
  }
}
