import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { generatedToken } from '../helpers/http-api.js';
import { untilInPage } from '../helpers/browser.js';
import { redisClient, useServers } from '../helpers/servers.js';

const servers = useServers();
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const workload = (id: string, cmd: string[], type = 'trusted') => JSON.stringify({ id, type, image: 'alpine', cmd });

describe('the inspector shows warm pools', () => {
  let browser: Browser;
  let tp: TestPlane;
  let redis: Redis;

  before(async () => {
    redis = redisClient(servers().redis.url);
    tp = await startTestPlane(servers(), { pools: [parsePoolOption('trusted:alpine:size=2')] });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  after(async () => {
    await browser?.close();
    await tp?.stop();
    await redis?.quit();
  });

  it("with each pool's ready and in-use members and its hit rate, live", async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${tp.plane.httpPort}/#token=${generatedToken(tp.plane)}`);
    const row = page.locator('#pool-rows tr[data-pool="trusted:alpine"]');
    const cells = () => row.locator('td').allTextContents();
    await untilInPage(page, `document.querySelector('#pool-rows tr[data-pool="trusted:alpine"] td:nth-child(2)')?.textContent === '2'`);
    assert.deepEqual(await cells(), ['trusted:alpine', '2', '0', '0', '2', '–'], 'full, nothing claimed yet');
    await redis.lpush(tp.plane.keys.queue, JSON.stringify({ id: 'pooled-session', type: 'trusted', image: 'alpine' }));
    await untilInPage(page, `document.querySelector('#pool-rows tr[data-pool="trusted:alpine"] td:nth-child(4)')?.textContent === '1'`);
    assert.equal((await cells())[5], '100% of 1', 'one claim, a hit');
  });
});

describe('the inspector in a real browser', () => {
  let browser: Browser;
  let page: Page;
  let tp: TestPlane;
  let redis: Redis;
  const userDataDir = mkdtempSync(join(tmpdir(), 'leasehold-chromium-'));

  before(async () => {
    redis = redisClient(servers().redis.url);
    tp = await startTestPlane(servers());
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  });
  after(async () => {
    await browser?.close();
    await tp?.stop();
    await redis?.quit();
    rmSync(userDataDir, { recursive: true, force: true });
  });

  const count = (state: string) => page.locator(`[data-count="${state}"]`).textContent();
  const until = (expression: string) => untilInPage(page, expression);

  it('draws the chart from the machine, with an honest empty state', async () => {
    await page.goto(`http://127.0.0.1:${tp.plane.httpPort}/#token=${generatedToken(tp.plane)}`);
    await page.locator('g.state').first().waitFor();
    assert.deepEqual(await page.locator('g.state').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-state'))), [
      'queued',
      'provisioning',
      'running',
      'expiring',
      'tornDown',
    ]);
    assert.ok((await page.locator('g.edge[data-from="running"][data-to="expiring"] title').textContent())?.includes('lease.expired'));
    assert.equal(await page.locator('#empty').isVisible(), true);
    assert.equal(await page.locator('#conn').textContent(), 'live');
  });

  it('updates counts, the list and the selected workload live, without a reload', async () => {
    const queue = tp.plane.keys.queue;
    await redis.lpush(queue, workload('quick-1', ['true']), workload('quick-2', ['sh', '-c', 'exit 3']), workload('long-1', ['sleep', '30']));
    await until(`document.querySelector('[data-count="running"]')?.textContent === '1'`);
    await until(`document.querySelector('[data-count="tornDown"]')?.textContent === '2'`);
    assert.equal(await page.locator('#empty').isVisible(), false);
    assert.equal(await page.locator('#rows tr').count(), 3);

    await page.fill('#q', 'long');
    await until("document.querySelectorAll('#rows tr').length === 1");
    await page.click('#rows tr[data-id="long-1"]');
    await until("document.querySelector('#selected-state')?.textContent === 'running'");
    assert.equal(await page.locator('g.state.current').getAttribute('data-state'), 'running');
    assert.equal(await page.locator('#timeline tr').count(), 3);

    await tp.plane.supervisor.cancel('long-1');
    await until("document.querySelector('#selected-state')?.textContent === 'tornDown'");
    assert.equal(await page.locator('g.state.current').getAttribute('data-state'), 'tornDown');
    const lastRow = await page.locator('#timeline tr').last().textContent();
    assert.match(lastRow ?? '', /expiring → tornDown.*cancelled/);
    assert.equal(await count('running'), '0');

    await page.fill('#q', '');
    await page.selectOption('#state', 'tornDown');
    await until("document.querySelectorAll('#rows tr').length === 3");
    await page.click('#rows tr[data-id="quick-2"]');
    await until("document.querySelector('#timeline')?.textContent?.includes('failed')");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'inspector.png'), fullPage: true });
  });

  it('shows that it is disconnected when NATS stops', async () => {
    await servers().nats.kill('SIGKILL');
    await until("document.querySelector('#conn')?.classList.contains('down')");
    assert.match((await page.locator('#conn').textContent()) ?? '', /disconnected/);
  });
});
