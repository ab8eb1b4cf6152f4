import { Option, type Command } from 'commander';
import { createWorkloadMachine } from '../../../machines/index.js';
import { connectNats, trackConnection } from '../../events/nats-bus.js';
import { replayTransitions } from '../../events/transition-history.js';
import { SUBJECTS, type TransitionMessage, type WorkloadStatus } from '../../events/transition.js';
import { chartOf } from '../../inspector/chart.js';
import { HttpServer } from '../../inspector/http-server.js';
import { inspectorRoutes } from '../../inspector/inspector-routes.js';
import { InspectorModel } from '../../inspector/model.js';
import { DEFAULT_CONFIG, parseHostList } from '../../config.js';
import { HttpTokens } from '../../inspector/http-auth.js';
import { HostAllowList } from '../../inspector/host-allow-list.js';
import { shapeLogs, shapeStatus, shapeTransition } from '../../inspector/message-shape.js';
import { createLogger } from '../../log.js';
import { positiveInt } from '../options.js';

interface InspectOptions {
  nats: string;
  httpHost: string;
  httpPort: number;
  replay?: boolean;
  httpTokens?: string;
  httpAllowedHosts?: string;
  httpMaxConnections: number;
}

/**
 * The inspector built from NATS alone: it runs anywhere the bus reaches, without Redis or the
 * control plane's process. It sees transitions from the moment it starts, and with `--replay` the
 * ones kept in history before that; status and logs are asked of the control plane over NATS.
 */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('serve the live state-chart inspector, built from NATS alone')
    .addOption(new Option('--nats <url>', 'NATS URL').env('NATS_URL').default('nats://127.0.0.1:4222'))
    .addOption(new Option('--http-host <host>', 'address to serve on').default('127.0.0.1'))
    .addOption(new Option('--http-port <port>', 'port to serve on; 0 picks one').argParser(positiveInt).default(8090))
    .option('--replay', 'start from the transitions kept in history (control plane started with --history)')
    .addOption(
      new Option('--http-tokens <file>', 'bearer tokens, one "token scope [name]" a line; default: one operator token, printed in the link').env(
        'LEASEHOLD_HTTP_TOKENS_FILE',
      ),
    )
    .addOption(new Option('--http-allowed-hosts <hosts>', 'Host headers to answer (* for any); default: loopback names for a loopback bind').env('LEASEHOLD_HTTP_ALLOWED_HOSTS'))
    .addOption(
      new Option('--http-max-connections <n>', 'HTTP connections held at once')
        .env('LEASEHOLD_HTTP_MAX_CONNECTIONS')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.httpMaxConnections),
    )
    .action(async (options: InspectOptions) => {
      const log = createLogger({ name: 'leasehold-inspect' });
      // Before connecting, so that a bad tokens file or host list is a one-line error.
      const generated = options.httpTokens ? null : HttpTokens.generate('generated');
      const tokens = generated?.tokens ?? HttpTokens.fromFile(options.httpTokens!);
      const allowedHosts = options.httpAllowedHosts ? parseHostList(options.httpAllowedHosts) : null;
      HostAllowList.forBind(options.httpHost, options.httpPort, { configured: allowedHosts });
      const nc = await connectNats(options.nats, 'leasehold-inspect');
      const nats = trackConnection(nc, log);
      const model = new InspectorModel();
      // During a replay, live messages wait: the model keeps each workload's timeline in seq order
      // and ignores anything older than what it has, so history must go in first.
      let held: TransitionMessage[] | null = options.replay ? [] : null;
      // Anyone who may publish on workloads.> writes into this model: only well-formed messages,
      // about the workload and state their subject names, get in.
      let refused = 0;
      const admit = (raw: unknown, subject?: string): TransitionMessage | null => {
        const shaped = shapeTransition(raw, subject);
        if (shaped.ok) return shaped.value;
        if (refused++ % 1_000 === 0) log.warn({ subject, why: shaped.why, refused }, 'ignored a malformed transition message');
        return null;
      };
      nc.subscribe(SUBJECTS.watch(), {
        callback: (error, msg) => {
          if (error) return;
          let raw: unknown;
          try {
            raw = msg.json();
          } catch {
            raw = undefined;
          }
          const message = admit(raw, msg.subject);
          if (!message) return;
          if (held) held.push(message);
          else model.apply(message);
        },
      });
      if (held) {
        const replayed = await replayTransitions(nc, SUBJECTS.watch(), (raw) => {
          const message = admit(raw);
          if (message) model.apply(message);
        });
        for (const message of held) model.apply(message);
        held = null;
        if (replayed === null) log.warn('no transition history on this NATS (start the control plane with --history); showing live transitions only');
        else log.info({ replayed }, 'replayed transition history');
      }
      const ask = async (subject: string): Promise<unknown> => {
        const reply = await nc.request(subject, '', { timeout: 2_000 }).catch(() => null);
        try {
          const body = reply?.json<{ error?: unknown }>();
          return body && !body.error ? body : null;
        } catch {
          return null;
        }
      };
      const http = new HttpServer(
        [
          inspectorRoutes(
            {
              model,
              chart: chartOf(createWorkloadMachine()),
              connected: nats.isUp,
              status: async (id): Promise<WorkloadStatus | null> => shapeStatus(await ask(SUBJECTS.status(id)), id),
              logs: async (id) => shapeLogs(await ask(SUBJECTS.logs(id))),
            },
            { tokens },
          ),
        ],
        log,
        {
          limits: { maxConnections: options.httpMaxConnections },
          allowedHosts: (port) => HostAllowList.forBind(options.httpHost, port, { configured: allowedHosts }),
        },
      );
      const port = await http.listen(options.httpPort, options.httpHost);
      // The generated token rides in the link's fragment: the browser keeps it and never sends it.
      const link = `http://${options.httpHost}:${port}/${generated ? `#token=${generated.token}` : ''}`;
      process.stdout.write(`inspector: ${link}  (from ${options.nats})\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await http.close();
      await nc.close();
    });
}
