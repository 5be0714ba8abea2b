// `npm run screenshots`: docs/img/block-page.png and docs/img/challenge-page.png, what a visitor
// sees, taken in headless chromium through the Caddy recipe of docs/caddy.md (as the browser
// tests run it). The challenge page is served at the highest difficulty, so that it is pictured
// while it works rather than after it has passed.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import { byUserAgent } from '../helpers/behind-proxy';
import { launchBrowser } from '../helpers/browser';
import { findCaddy, startRecipeCaddy } from '../helpers/caddy';
import { BLOCKED_BROWSER, CHALLENGE_SETTINGS, SUSPICIOUS_BROWSER } from '../helpers/challenge-site';
import { REPO_ROOT } from '../helpers/doc-recipes';
import { FakeRti } from '../helpers/fake-rti-server';
import { requireProxy } from '../helpers/require-proxy';
import { startService } from '../helpers/start-service';
import { UpstreamApp } from '../helpers/upstream-app';
import { MAX_DIFFICULTY } from '../../src/challenge/proof-of-work';

const IMAGES = join(REPO_ROOT, 'docs', 'img');

/** Opens `url` as `userAgent` and writes what the window shows to docs/img/`file`. */
async function screenshot(browser: Browser, userAgent: string, url: string, file: string) {
  const context = await browser.createBrowserContext();
  try {
    const page = await context.newPage();
    await page.setViewport({ width: 800, height: 480 });
    await page.setUserAgent({ userAgent });
    const answer = await page.goto(url, { waitUntil: 'load' });
    if (answer?.status() !== 403) throw new Error(`${url}: ${answer?.status()}, not the 403 page`);
    await page.screenshot({ path: join(IMAGES, file) });
    console.log(`docs/img/${file}`);
  } finally {
    await context.close();
  }
}

async function main(): Promise<void> {
  const caddyBinary = requireProxy('caddy', findCaddy());
  mkdirSync(IMAGES, { recursive: true });
  const rti = new FakeRti();
  rti.behaviour = byUserAgent;
  await rti.listen();
  const app = new UpstreamApp();
  const appAddress = await app.start();
  const service = await startService(rti.url, {
    ...CHALLENGE_SETTINGS,
    CHEQ_CHALLENGE_DIFFICULTY: String(MAX_DIFFICULTY),
  });
  const caddy = await startRecipeCaddy(
    caddyBinary,
    `127.0.0.1:${service.app.httpPort}`,
    appAddress,
  );
  const browser = await launchBrowser();
  try {
    await screenshot(browser, BLOCKED_BROWSER, `${caddy.url}/checkout`, 'block-page.png');
    await screenshot(browser, SUSPICIOUS_BROWSER, `${caddy.url}/checkout`, 'challenge-page.png');
  } finally {
    await browser.close();
    await caddy.stop();
    await service.close();
    await app.close();
    await rti.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
