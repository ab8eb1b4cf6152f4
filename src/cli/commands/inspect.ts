import { Option, type Command } from 'commander';
import { redactUrl } from '../../redact.js';
import { checkNatsUrl } from '../../server-urls.js';
import { createWorkloadMachine } from '../../../machines/index.js';
import { parseLogsReply, parseStatusReply, parseTransition, type Reply } from '../../events/messages.js';
import { trackConnection } from '../../events/nats-bus.js';
import { replayTransitions } from '../../events/transition-history.js';
import type { TransitionMessage } from '../../events/transition.js';
import { chartOf } from '../../inspector/chart.js';
import { HttpServer } from '../../inspector/http-server.js';
import { inspectorRoutes } from '../../inspector/inspector-routes.js';
import { InspectorModel } from '../../inspector/model.js';
import { DEFAULT_CONFIG, parseHostList } from '../../config.js';
import { HttpTokens } from '../../inspector/http-auth.js';
import { HostAllowList } from '../../inspector/host-allow-list.js';
import { createLogger } from '../../log.js';
import { openNats } from '../clients.js';
import { examples } from '../help.js';
import { natsTargetOf, positiveInt, subjectsOf, withInstallation, withNatsAuth, type InstallationOptions, type NatsAuthOptions } from '../options.js';

/** The tail of a workload's logs the inspector shows. */
const MAX_LOGS_LENGTH = 64 * 1024;

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
  const command = withInstallation(withNatsAuth(program.command('inspect')), { keyPrefix: false });
  examples(command, [
    ['the live state chart, from a laptop that reaches the bus', 'leasehold inspect --nats nats://10.0.0.6:4222'],
    ['including workloads that ended before it started (control plane with --history)', 'leasehold inspect --replay --http-port 8091'],
  ]);
  command
    .description('serve the live state-chart inspector, built from NATS alone')
    .addOption(new Option('--nats <url>', 'NATS URL').env('NATS_URL').argParser(checkNatsUrl).default('nats://127.0.0.1:4222'))
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
    .action(async (options: InspectOptions & NatsAuthOptions & InstallationOptions) => {
      const subjects = subjectsOf(options);
      const log = createLogger({ name: 'leasehold-inspect' });
      // Before connecting, so that a bad tokens file or host list is a one-line error.
      const generated = options.httpTokens ? null : HttpTokens.generate('generated');
      const tokens = generated?.tokens ?? HttpTokens.fromFile(options.httpTokens!);
      const allowedHosts = options.httpAllowedHosts ? parseHostList(options.httpAllowedHosts) : null;
      HostAllowList.forBind(options.httpHost, options.httpPort, { configured: allowedHosts });
      const nc = await openNats(natsTargetOf(options), { name: 'leasehold-inspect', reconnect: true });
      const nats = trackConnection(nc, log);
      const model = new InspectorModel();
      // During a replay, live messages wait: the model keeps each workload's timeline in seq order
      // and ignores anything older than what it has, so history must go in first.
      let held: TransitionMessage[] | null = options.replay ? [] : null;
      // Anyone who may publish on workloads.> writes into this model: only well-formed messages,
      // about the workload and state their subject names, get in.
      let refused = 0;
      const admit = (data: Uint8Array, subject: string): TransitionMessage | null => {
        const message = parseTransition(data, subject, subjects);
        if (!message && refused++ % 1_000 === 0) log.warn({ subject, refused }, 'ignored a malformed transition message');
        return message;
      };
      nc.subscribe(subjects.watch(), {
        callback: (error, msg) => {
          if (error) return;
          const message = admit(msg.data, msg.subject);
          if (!message) return;
          if (held) held.push(message);
          else model.apply(message);
        },
      });
      if (held) {
        const replayed = await replayTransitions(nc, subjects.watch(), (message) => model.apply(message), subjects);
        for (const message of held) model.apply(message);
        held = null;
        if (replayed === null) log.warn('no transition history on this NATS (start the control plane with --history); showing live transitions only');
        else log.info({ replayed }, 'replayed transition history');
      }
      // Only a well-formed answer about the workload asked for is shown; anything else is "unknown".
      const ask = async <T>(subject: string, parse: (data: Uint8Array) => Reply<T> | null): Promise<T | null> => {
        const reply = await nc.request(subject, '', { timeout: 2_000 }).catch(() => null);
        const body = reply ? parse(reply.data) : null;
        return body?.ok ? body.value : null;
      };
      const http = new HttpServer(
        [
          inspectorRoutes(
            {
              model,
              chart: chartOf(createWorkloadMachine()),
              connected: nats.isUp,
              status: (id) => ask(subjects.status(id), (data) => parseStatusReply(data, id)),
              logs: async (id) => lastChars((await ask(subjects.logs(id), (data) => parseLogsReply(data, id)))?.logs ?? null, MAX_LOGS_LENGTH),
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
      process.stdout.write(`inspector: ${link}  (from ${redactUrl(options.nats)})\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await http.close();
      await nc.close();
    });
}

function lastChars(text: string | null, max: number): string | null {
  return text !== null && text.length > max ? text.slice(-max) : text;
}
