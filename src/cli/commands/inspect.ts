import { Option, type Command } from 'commander';
import { createWorkloadMachine } from '../../../machines/index.js';
import { parseLogsReply, parseStatusReply, parseTransition, type Reply } from '../../events/messages.js';
import { redactNatsUrl } from '../../events/nats-auth.js';
import { trackConnection } from '../../events/nats-bus.js';
import { replayTransitions } from '../../events/transition-history.js';
import { SUBJECTS, type TransitionMessage } from '../../events/transition.js';
import { chartOf } from '../../inspector/chart.js';
import { HttpServer } from '../../inspector/http-server.js';
import { inspectorRoutes } from '../../inspector/inspector-routes.js';
import { InspectorModel } from '../../inspector/model.js';
import { createLogger } from '../../log.js';
import { openNats } from '../clients.js';
import { natsTargetOf, positiveInt, withNatsAuth, type NatsAuthOptions } from '../options.js';

/**
 * The inspector built from NATS alone: it runs anywhere the bus reaches, without Redis or the
 * control plane's process. It sees transitions from the moment it starts, and with `--replay` the
 * ones kept in history before that; status and logs are asked of the control plane over NATS.
 */
export function registerInspect(program: Command): void {
  withNatsAuth(program.command('inspect'))
    .description('serve the live state-chart inspector, built from NATS alone')
    .addOption(new Option('--nats <url>', 'NATS URL').env('NATS_URL').default('nats://127.0.0.1:4222'))
    .addOption(new Option('--http-host <host>', 'address to serve on').default('127.0.0.1'))
    .addOption(new Option('--http-port <port>', 'port to serve on; 0 picks one').argParser(positiveInt).default(8090))
    .option('--replay', 'start from the transitions kept in history (control plane started with --history)')
    .action(async (options: NatsAuthOptions & { httpHost: string; httpPort: number; replay?: boolean }) => {
      const log = createLogger({ name: 'leasehold-inspect' });
      const nc = await openNats(natsTargetOf(options), { name: 'leasehold-inspect', reconnect: true });
      const nats = trackConnection(nc, log);
      const model = new InspectorModel();
      // During a replay, live messages wait: the model keeps each workload's timeline in seq order
      // and ignores anything older than what it has, so history must go in first.
      let held: TransitionMessage[] | null = options.replay ? [] : null;
      nc.subscribe(SUBJECTS.watch(), {
        callback: (error, msg) => {
          if (error) return;
          const message = parseTransition(msg.data, msg.subject);
          if (!message) return;
          if (held) held.push(message);
          else model.apply(message);
        },
      });
      if (held) {
        const replayed = await replayTransitions(nc, SUBJECTS.watch(), (message) => model.apply(message));
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
          inspectorRoutes({
            model,
            chart: chartOf(createWorkloadMachine()),
            connected: nats.isUp,
            status: (id) => ask(SUBJECTS.status(id), (data) => parseStatusReply(data, id)),
            logs: async (id) => (await ask(SUBJECTS.logs(id), (data) => parseLogsReply(data, id)))?.logs ?? null,
          }),
        ],
        log,
      );
      const port = await http.listen(options.httpPort, options.httpHost);
      process.stdout.write(`inspector: http://${options.httpHost}:${port}/  (from ${redactNatsUrl(options.nats)})\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await http.close();
      await nc.close();
    });
}
