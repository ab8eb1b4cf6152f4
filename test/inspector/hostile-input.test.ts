import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Browser, Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import { launchChromium, untilInPage } from '../helpers/browser.js';
import { startCliInspector } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { generatedToken } from '../helpers/http-api.js';
import { redisClient, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();

/** Each one runs script if it reaches the DOM as markup; each sets window.__pwned if it runs. */
const HOSTILE = [
  '<img src=x onerror="window.__pwned=(window.__pwned||0)+1">',
  '</script><script>window.__pwned=2</script>',
  '"><svg onload="window.__pwned=3"></svg>',
  "' onmouseover='window.__pwned=4",
  'javascript:window.__pwned=5',
  '<iframe srcdoc="<script>parent.__pwned=6</script>"></iframe>',
] as const;
const HUGE = `<b>${'A'.repeat(400_000)}</b>`;

/**
 * Records, from before the page's own script runs, what an attacker would hope for: a dialog, a
 * flag set by injected script, and what the CSP had to block (when escaping held, nothing).
 */
async function watchedPage(browser: Browser): Promise<{ page: Page; dialogs: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.addInitScript(`
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
  `);
  return { page, dialogs };
}

/** What the attacker got: nothing, if the page held. */
async function harm(page: Page): Promise<{ pwned: unknown; violations: string[]; markup: number }> {
  return (await page.evaluate(`({
    pwned: window.__pwned ?? null,
    violations: window.__violations,
    markup: document.querySelectorAll('main img, main iframe, main script, main svg:not(#chart), main b').length,
  })`)) as { pwned: unknown; violations: string[]; markup: number };
}

describe('the inspector against hostile input, in a real browser', () => {
  let browser: Browser;
  let nc: NatsConnection;
  let inspector: Awaited<ReturnType<typeof startCliInspector>>;

  before(async () => {
    browser = await launchChromium();
    nc = await connect({ servers: servers().nats.url });
    inspector = await startCliInspector(['--nats', servers().nats.url]);
  });
  after(async () => {
    await inspector?.stop();
    await nc?.close();
    await browser?.close();
  });

  it('shows forged NATS transitions as text, drops the malformed ones, and runs none of their script', async () => {
    // A rogue responder too: status and logs are asked over NATS, and anyone may answer there.
    const rogue = nc.subscribe('leasehold.>', {
      callback: (_error, msg) => {
        const id = msg.subject.split('.').at(-1);
        if (msg.subject.startsWith('leasehold.logs.')) msg.respond(JSON.stringify({ id, logs: HOSTILE.join('\n') }));
        else msg.respond(JSON.stringify({ id, type: HOSTILE[0], state: HOSTILE[1], seq: 9, error: HOSTILE[2], waiting: HOSTILE[3], timings: {} }));
      },
    });
    const at = new Date().toISOString();
    const base = { id: 'victim', type: 'untrusted', at };
    // One workload whose free-text fields are hostile; these must show, as text.
    nc.publish('workloads.victim.queued', JSON.stringify({ ...base, from: null, to: 'queued', event: HOSTILE[0], seq: 1 }));
    nc.publish('workloads.victim.provisioning', JSON.stringify({ ...base, from: 'queued', to: 'provisioning', event: HOSTILE[1], error: HOSTILE[2], exitCode: HOSTILE[3], seq: 2 }));
    nc.publish('workloads.victim.running', JSON.stringify({ ...base, from: 'provisioning', to: 'running', event: HUGE, error: HUGE, seq: 3 }));
    // Messages whose structural fields are hostile; none of these may get in.
    const forged: Record<string, unknown>[] = [
      { id: 'forged-type', type: HOSTILE[0], from: null, to: 'queued', event: 'x', at, seq: 1 },
      { id: 'forged-to', type: 'trusted', from: null, to: HOSTILE[0], event: 'x', at, seq: 1 },
      { id: 'forged-from', type: 'trusted', from: HOSTILE[5], to: 'queued', event: 'x', at, seq: 1 },
      { id: 'forged-reason', type: 'trusted', from: null, to: 'queued', reason: HOSTILE[1], event: 'x', at, seq: 1 },
      { id: 'forged-at', type: 'trusted', from: null, to: 'queued', event: 'x', at: HOSTILE[2], seq: 1 },
      { id: 'forged-seq', type: 'trusted', from: null, to: 'queued', event: 'x', at, seq: HOSTILE[3] },
      { id: HOSTILE[0], type: 'trusted', from: null, to: 'queued', event: 'x', at, seq: 1 },
      // Honest fields on a subject that names another workload: a spoof of someone else's state.
      { id: 'forged-subject', type: 'trusted', from: null, to: 'queued', event: 'x', at, seq: 1, subject: 'workloads.victim.tornDown' },
    ];
    for (const { subject, ...message } of forged) {
      nc.publish((subject as string | undefined) ?? `workloads.${String(message['id']).replace(/[^a-z-]/g, 'x')}.${String(message['to']).replace(/[^a-zA-Z]/g, 'x')}`, JSON.stringify(message));
    }
    nc.publish('workloads.forged-json.queued', '{"id": "forged-json", "type": <img src=x onerror=alert(1)>');
    await nc.flush();

    const { page, dialogs } = await watchedPage(browser);
    try {
      await page.goto(`${inspector.url}/#token=${inspector.token}`);
      await untilInPage(page, `document.querySelector('#rows tr[data-id="victim"]') !== null`);
      assert.deepEqual(await page.locator('#rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id'))), ['victim'], 'no malformed message became a row');
      assert.equal(await page.locator('[data-count="running"]').textContent(), '1');
      await page.click('#rows tr[data-id="victim"]');
      await untilInPage(page, `document.querySelectorAll('#timeline tr').length === 3`);
      await untilInPage(page, `document.querySelector('#logs') !== null || document.querySelector('#selected-error') !== null`).catch(() => undefined);

      const cells = await page.locator('#timeline tr').evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll('td') as ArrayLike<{ textContent: string | null }>, (td) => td.textContent ?? '')));
      assert.equal(cells[0]![2], HOSTILE[0], 'the event shows as the text it is');
      assert.equal(cells[1]![2], HOSTILE[1]);
      assert.ok(cells[1]![3]!.includes(HOSTILE[2]), 'the error shows as text');
      assert.equal(cells[1]![4], '', 'an exit code that is not a number is dropped');
      assert.ok(cells[2]![2]!.length <= 100 && cells[2]![2]!.startsWith('<b>AAA'), 'a huge event is cut short, as text');
      assert.ok(cells[2]![3]!.trim().length <= 2_000, 'a huge error is cut short');
      const logs = await page.locator('#logs').textContent().catch(() => null);
      if (logs !== null) assert.equal(logs, HOSTILE.join('\n'), 'logs from a rogue responder, if shown, are text');

      await page.mouse.move(700, 600);
      const { pwned, violations, markup } = await harm(page);
      assert.equal(pwned, null, 'no injected script ran');
      assert.deepEqual(dialogs, []);
      assert.equal(markup, 0, 'no hostile string became an element');
      assert.deepEqual(violations, [], 'escaping held on its own: the CSP had nothing to block');
    } finally {
      await page.close();
      rogue.unsubscribe();
    }
  });

  it('is served with a strict CSP that blocks an inline script injected into the page', async () => {
    const { page } = await watchedPage(browser);
    try {
      const response = await page.goto(`${inspector.url}/#token=${inspector.token}`);
      const headers = response!.headers();
      const csp = headers['content-security-policy'] ?? '';
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(headers['x-content-type-options'], 'nosniff');
      assert.equal(headers['referrer-policy'], 'no-referrer');
      await page.locator('g.state').first().waitFor();
      // What a missed escape would amount to: markup with script, put into the live page.
      await page.evaluate(`(() => {
        const script = document.createElement('script');
        script.textContent = 'window.__pwned = "inline script"';
        document.body.append(script);
        const div = document.createElement('div');
        div.innerHTML = '<img src="data:," onerror="window.__pwned = \\'inline handler\\'">';
        document.body.append(div);
      })()`);
      await untilInPage(page, 'window.__violations.length >= 2');
      const { pwned, violations } = await harm(page);
      assert.equal(pwned, null);
      assert.ok(violations.some((v) => v.startsWith('script-src-elem inline')), violations.join('; '));
      assert.ok(violations.some((v) => v.startsWith('script-src-attr inline')), violations.join('; '));
    } finally {
      await page.close();
    }
  });
});

describe("the control plane's inspector against a workload's hostile output", () => {
  let browser: Browser;
  let tp: TestPlane;
  let redis: Redis;
  let recorder: TransitionRecorder;

  before(async () => {
    browser = await launchChromium();
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
    tp = await startTestPlane(servers());
  });
  after(async () => {
    await browser?.close();
    await tp?.stop();
    await recorder?.close();
    await redis?.quit();
  });

  it('shows logs full of markup as text, and runs none of it', async () => {
    await redis.lpush(
      tp.plane.keys.queue,
      JSON.stringify({ id: 'noisy', type: 'trusted', image: 'alpine', cmd: ['sh', '-c', 'printf "%s" "$OUT"; exit 7'], env: { OUT: HOSTILE.join('\n') } }),
    );
    await recorder.untilEnded(['noisy']);
    const { page, dialogs } = await watchedPage(browser);
    try {
      await page.goto(`http://127.0.0.1:${tp.plane.httpPort}/#token=${generatedToken(tp.plane)}`);
      await untilInPage(page, `document.querySelector('#rows tr[data-id="noisy"]') !== null`);
      await page.click('#rows tr[data-id="noisy"]');
      await untilInPage(page, `document.querySelector('#logs') !== null`);
      assert.equal(await page.locator('#logs').textContent(), HOSTILE.join('\n'));
      const { pwned, violations, markup } = await harm(page);
      assert.equal(pwned, null);
      assert.deepEqual(dialogs, []);
      assert.equal(markup, 0);
      assert.deepEqual(violations, []);
    } finally {
      await page.close();
    }
  });

  it('asks for a token before it shows anything, and refuses a wrong one', async () => {
    const { page } = await watchedPage(browser);
    try {
      await page.goto(`http://127.0.0.1:${tp.plane.httpPort}/`);
      await page.locator('#signin').waitFor();
      assert.equal(await page.locator('#rows tr').count(), 0, 'nothing is shown before signing in');
      await page.fill('#token', 'not-the-token-at-all');
      await page.click('#signin button');
      await untilInPage(page, `document.querySelector('#signin-why').textContent.includes('not accepted')`);
      await page.fill('#token', generatedToken(tp.plane));
      await page.click('#signin button');
      await untilInPage(page, `document.querySelector('#rows tr[data-id="noisy"]') !== null`);
      assert.equal(await page.locator('#signin').isVisible(), false);
      assert.equal(await page.evaluate('location.hash'), '', 'no token is left in the address');
    } finally {
      await page.close();
    }
  });
});
