import { chromium, type Browser, type Page } from 'playwright-core';

/** Headless Chromium as the inspector tests drive it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * Waits until `expression`, evaluated in the page, is truthy: the page updating itself. Polled
 * through page.evaluate, which DevTools runs outside the page's CSP; waitForFunction with a
 * string would eval inside the page, which the inspector's policy (rightly) forbids.
 */
export async function untilInPage(page: Page, expression: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`the page never got to: ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
