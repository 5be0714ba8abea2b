// A visitor in a real browser (headless chromium) through a real NGINX and a real Caddy running the
// shipped recipes: our server in blocking mode, an RTI stand-in that calls the visitor what its
// User-Agent says, and an app behind the proxy that records what reaches it.

import { strict as assert } from 'node:assert';
import type { Browser, Page } from 'puppeteer-core';
import {
  appBehindProxy,
  byUserAgent,
  serviceBehindProxy,
  type ProxyRecipe,
  type RunningProxy,
} from '../helpers/behind-proxy';
import { launchBrowser } from '../helpers/browser';
import { findCaddy, startRecipeCaddy } from '../helpers/caddy';
import { FakeRti } from '../helpers/fake-rti-server';
import { findNginx, startNginx } from '../helpers/nginx';
import { UpstreamApp } from '../helpers/upstream-app';

/** byUserAgent's words: `bot` is blocked (threat 2), `vpn` is suspicious (threat 14). */
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156';
const BLOCKED = `${CHROME} bot`;

const SETTINGS = {
  CHEQ_MODE: 'blocking',
};

const PROXIES: readonly ProxyRecipe<RunningProxy>[] = [
  { pkg: 'nginx', binary: findNginx(), start: startNginx },
  { pkg: 'caddy', binary: findCaddy(), start: startRecipeCaddy },
];

describe('a visitor in a real browser (headless chromium)', function () {
  let browser: Browser;
  before(async function () {
    this.timeout(20_000);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  /** A tab in a fresh browser context (no cookies from other tests), as `userAgent`. */
  async function visitor(userAgent: string): Promise<Page> {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setUserAgent({ userAgent });
    return page;
  }

  for (const proxy of PROXIES) {
    describe(`through ${proxy.pkg} with the shipped recipe`, function () {
      this.timeout(20_000);
      const rti = new FakeRti();
      rti.behaviour = byUserAgent;
      const app = new UpstreamApp();
      const site = appBehindProxy(rti, app);
      const front = serviceBehindProxy(site, SETTINGS, proxy);

      /** The paths RTI was asked about (the browser's own /favicon.ico among them). */
      const askedPaths = (): string[] =>
        rti.calls.map(call => new URL(call.form.get('RequestURL') ?? '', 'http://x').pathname);

      it('shows a blocked visitor a 403; the app is never called', async () => {
        const page = await visitor(BLOCKED);
        const answer = await page.goto(`${front.url}/products`);
        assert.equal(answer?.status(), 403);
        assert.equal(app.seen.length, 0);
        assert.ok(askedPaths().includes('/products'), askedPaths().join());
        await page.browserContext().close();
      });
    });
  }
});
