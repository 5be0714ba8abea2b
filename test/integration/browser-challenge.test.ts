// A visitor in a real browser (headless chromium) through a real NGINX and a real Caddy running the
// shipped recipes: our server in blocking mode with the served challenge (provider `browser`), an
// RTI stand-in that calls the visitor what its User-Agent says, and an app behind the proxy that
// records what reaches it.

import { strict as assert } from 'node:assert';
import type { Browser, BrowserContext, HTTPResponse, Page } from 'puppeteer-core';
import {
  appBehindProxy,
  byUserAgent,
  serviceBehindProxy,
  type ProxyRecipe,
  type RunningProxy,
} from '../helpers/behind-proxy';
import { launchBrowser } from '../helpers/browser';
import { findCaddy, startRecipeCaddy } from '../helpers/caddy';
import {
  BLOCKED_BROWSER,
  CHALLENGE_SETTINGS,
  SUSPICIOUS_BROWSER,
  tokenIn,
  VERIFY_PATH,
  wrongSolution,
} from '../helpers/challenge-site';
import { FakeRti } from '../helpers/fake-rti-server';
import { findNginx, startNginx } from '../helpers/nginx';
import { get, UpstreamApp } from '../helpers/upstream-app';
import { DEFAULT_DIFFICULTY } from '../../src/challenge/proof-of-work';

const PROXIES: readonly ProxyRecipe<RunningProxy>[] = [
  { pkg: 'nginx', binary: findNginx(), start: startNginx },
  { pkg: 'caddy', binary: findCaddy(), start: startRecipeCaddy },
];

/** A hang guard only: the browser provider passes in well under a second here. */
const PASS_WITHIN_MS = 20_000;

/** The headers of a browser's navigation, sent by a client that runs no JavaScript. */
const NO_JAVASCRIPT = {
  'User-Agent': 'curl/8.5.0 (vpn)', // suspicious to the RTI stand-in, like SUSPICIOUS_BROWSER
  Accept: 'text/html,application/xhtml+xml',
  'Sec-Fetch-Mode': 'navigate',
};

function pathOf(url: string): string {
  return new URL(url).pathname;
}

/** A response as the browser received it. */
interface CaughtResponse {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/**
 * Once resolved, `response` is the next response the tab gets for `path`, taken as it arrives:
 * a page that passes at once is gone before its body could be asked for afterwards.
 */
async function catchResponse(
  page: Page,
  path: string,
): Promise<{ response: Promise<CaughtResponse> }> {
  const cdp = await page.createCDPSession();
  const response = new Promise<CaughtResponse>((resolve, reject) => {
    cdp.once('Fetch.requestPaused', ({ requestId, responseStatusCode, responseHeaders }) => {
      cdp
        .send('Fetch.getResponseBody', { requestId })
        .then(async ({ body, base64Encoded }) => {
          resolve({
            status: responseStatusCode ?? 0,
            headers: new Map(responseHeaders?.map(h => [h.name.toLowerCase(), h.value])),
            body: base64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body,
          });
          await cdp.send('Fetch.continueResponse', { requestId });
          await cdp.detach();
        })
        .catch(reject);
    });
  });
  const urlPattern = `*${path}*`;
  await cdp.send('Fetch.enable', { patterns: [{ urlPattern, requestStage: 'Response' }] });
  return { response };
}

function isPageNavigation(response: HTTPResponse, page: Page): boolean {
  const request = response.request();
  return request.isNavigationRequest() && request.frame() === page.mainFrame();
}

describe('a visitor in a real browser (headless chromium)', function () {
  let browser: Browser;
  before(async function () {
    this.timeout(20_000);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  /** Browser contexts opened by the current test, closed after it whatever its outcome. */
  const contexts: BrowserContext[] = [];
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map(context => context.close()));
  });

  /** A tab in a fresh browser context (no cookies from other tests), as `userAgent`. */
  async function visitor(userAgent: string): Promise<Page> {
    const context = await browser.createBrowserContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.setUserAgent({ userAgent });
    return page;
  }

  for (const proxy of PROXIES) {
    describe(`through ${proxy.pkg} with the shipped recipe`, function () {
      this.timeout(30_000);
      const rti = new FakeRti();
      rti.behaviour = byUserAgent;
      const app = new UpstreamApp();
      const site = appBehindProxy(rti, app);
      const front = serviceBehindProxy(site, CHALLENGE_SETTINGS, proxy);

      /**
       * How many navigations from `userAgent` reached the app. The browser's own /favicon.ico is
       * on the ignore list, so it reaches the app for anyone, even after its test has ended.
       */
      const reachedApp = (userAgent: string): number =>
        app.seen.filter(
          headers =>
            headers['user-agent'] === userAgent && headers['sec-fetch-mode'] === 'navigate',
        ).length;

      /** The paths RTI was asked about (the browser's own /favicon.ico is on the ignore list). */
      const askedPaths = (): string[] =>
        rti.calls.map(call => pathOf(new URL(call.form.get('RequestURL') ?? '', front.url).href));

      it('challenges a suspicious navigation; the browser provider passes by itself; the pass cookie lets the next navigation through', async () => {
        const page = await visitor(SUSPICIOUS_BROWSER);
        const navigations: HTTPResponse[] = [];
        page.on('response', response => {
          if (isPageNavigation(response, page)) navigations.push(response);
        });
        const caught = await catchResponse(page, '/products');
        const reached = page.waitForResponse(
          response =>
            isPageNavigation(response, page) &&
            pathOf(response.url()) === '/products' &&
            response.status() === 200,
          { timeout: PASS_WITHIN_MS },
        );
        // goto settles with whichever navigation it sees last: the page may pass before it loads.
        const navigated = page.goto(`${front.url}/products?id=7`).catch((err: unknown) => err);
        const challenged = await caught.response;
        assert.equal(challenged.status, 403);
        assert.match(challenged.headers.get('content-type') ?? '', /^text\/html/);
        assert.match(
          challenged.headers.get('content-security-policy') ?? '',
          /script-src 'sha256-/,
        );
        assert.equal(challenged.headers.get('cache-control'), 'no-store');
        assert.match(challenged.body, /<title>Checking your browser<\/title>/);

        const passed = await reached;
        await navigated;
        // The app gets the page asked for (with the landing grant, for proxies that drop cookies).
        assert.match(await passed.text(), /^app \/products\?id=7&cq_ok=[\w.-]+$/);
        assert.deepEqual(
          navigations.slice(-2).map(response => [pathOf(response.url()), response.status()]),
          [
            [VERIFY_PATH, 302],
            ['/products', 200],
          ],
        );
        const pass = (await page.browserContext().cookies()).find(c => c.name === '_cq_se');
        assert.ok(pass, 'the pass cookie is set');
        assert.equal(pass.httpOnly, true);
        assert.equal(pass.sameSite, 'Lax');
        assert.equal(pass.path, '/');

        const next = await page.goto(`${front.url}/cart`);
        assert.equal(next?.status(), 200);
        assert.equal(await next.text(), 'app /cart');
        // RTI was asked about every page (the passed ones too), never about the verify request.
        assert.deepEqual(askedPaths(), ['/products', '/products', '/cart']);
      });

      it('never lets a client without JavaScript through (plain HTTP following the page)', async () => {
        const first = await get(`${front.url}/products`, NO_JAVASCRIPT);
        assert.equal(first.status, 403);
        const token = tokenIn(first.body);
        assert.ok(token, 'the page carries the challenge token');
        for (const query of [
          `t=${token}`,
          `t=${token}&s=`,
          `t=${token}&s=${wrongSolution(token, DEFAULT_DIFFICULTY)}`,
        ]) {
          const answer = await get(`${front.url}${VERIFY_PATH}?${query}`, NO_JAVASCRIPT);
          const cookies = (answer.headers['set-cookie'] ?? []).map(c => c.replace(/;.*$/, ''));
          assert.ok(!cookies.some(cookie => cookie.startsWith('_cq_se=')), query);
          assert.equal(answer.headers['location'], undefined, query);
          const again = await get(`${front.url}/products`, {
            ...NO_JAVASCRIPT,
            Cookie: cookies.join('; '),
          });
          assert.equal(again.status, 403, query);
        }
        assert.equal(reachedApp(NO_JAVASCRIPT['User-Agent']), 0);
      });

      it('challenges a navigation to a 4 KB client-chosen URL too (its ticket fits the proxy)', async () => {
        const answer = await get(`${front.url}/products?q=${'a'.repeat(4000)}`, NO_JAVASCRIPT);
        assert.equal(answer.status, 403);
        assert.ok(tokenIn(answer.body), 'the challenge page');
        assert.equal(reachedApp(NO_JAVASCRIPT['User-Agent']), 0);
      });

      it('shows a blocked visitor the block page with its request id', async () => {
        const page = await visitor(BLOCKED_BROWSER);
        const answer = await page.goto(`${front.url}/products`);
        assert.equal(answer?.status(), 403);
        assert.match(answer.headers()['content-security-policy'] ?? '', /default-src 'none'/);
        const decided = front.service.logs.find(
          line => line['action'] === 'deny' && line['path'] === '/products',
        );
        const requestId = decided?.['requestId'];
        assert.equal(typeof requestId, 'string', 'the decision was logged');
        const text = String(await page.evaluate('document.body.innerText'));
        assert.ok(text.includes(requestId as string), text);
        assert.equal(reachedApp(BLOCKED_BROWSER), 0);
      });
    });
  }
});
