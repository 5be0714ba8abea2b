// Issue #20 rows 1, 2 and 6 as an attacker tries them: request targets sent byte for byte through
// a real proxy (the shipped NGINX config, the Caddy recipe of docs/caddy.md), RTI blocking everything. A request the app would route
// to a protected path must be refused or checked by RTI, never allowed as excluded.
// Table-driven over proxies and exclusion lists, so another proxy plugs in as one more entry.

import { strict as assert } from 'node:assert';
import { canonicalPath, unambiguousPath } from '../../src/core/canonical-path';
import { appBehindProxy, type ProxyRecipe, type RunningProxy } from '../helpers/behind-proxy';
import { findCaddy, startRecipeCaddy } from '../helpers/caddy';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { findNginx, startNginx, startNginxWith, type RunningNginx } from '../helpers/nginx';
import { startService, type TestService } from '../helpers/start-service';
import { requireProxy } from '../helpers/require-proxy';
import { RawUpstreamApp, sendRaw } from '../helpers/upstream-app';

const NGINX = findNginx();

type ProxyKind = ProxyRecipe<RunningProxy>['pkg'];

interface ProxyUnderTest extends ProxyRecipe<RunningProxy> {
  readonly name: string;
  /** An origin-form target as the proxy hands it to us (and RTI gets it). */
  forwarded(target: string): string;
}

const PROXIES: readonly ProxyUnderTest[] = [
  {
    name: 'NGINX, proxy_pass http://app (the URI as the client sent it)',
    pkg: 'nginx',
    binary: NGINX,
    start: (nginx, authz, app) => startNginx(nginx, authz, app),
    forwarded: target => target,
  },
  {
    name: 'NGINX, proxy_pass http://app/ (NGINX passes its decoded, normalised path)',
    pkg: 'nginx',
    binary: NGINX,
    start: (nginx, authz, app) => startNginx(nginx, authz, app, { proxyPass: 'http://app/' }),
    forwarded: target => target,
  },
  {
    name: 'Caddy, the forward_auth recipe of docs/caddy.md (the same URI to us and to the app)',
    pkg: 'caddy',
    binary: findCaddy(),
    start: startRecipeCaddy,
    // Go keeps a validly escaped path as sent and re-escapes one it cannot: `\` and `#`.
    forwarded: target => target.replaceAll('\\', '%5C').replaceAll('#', '%23'),
  },
];

const EXCLUSION_LISTS = {
  /** The config file example of docs/configuration.md. */
  documented: '/healthz,/robots.txt,^/static/,/assets/**/*.css',
  /** The issue's example (the documentation's before): `.*\.css` matches below any path. */
  issue: '/healthz,^/static/,.*\\.(css|js|png|svg|woff2)',
} as const;

/**
 * What a request comes to: `excluded`, allowed without RTI and the app told so; `checked`, RTI
 * asked and its block answered (403); `refused`, the proxy answers 400 itself (405 to a method
 * it does not proxy); `unserved`, the proxy has no site for the request's host. In all but
 * `excluded` the app is never reached.
 */
type Outcome = 'excluded' | 'checked' | 'refused' | 'unserved';

interface Case {
  /** The request target exactly as sent (`{site}`: the proxy's host); `METHOD target` when not GET. */
  readonly request: string;
  /** The outcome, or per proxy where they read the request differently. */
  readonly expect: Outcome | Readonly<Record<ProxyKind, Outcome>>;
  /** Exclusion lists the case applies to; all when absent. */
  readonly only?: keyof typeof EXCLUSION_LISTS;
}

const CASES: readonly Case[] = [
  // Excluded as intended: plain, and readings every proxy and backend agree on.
  { request: '/static/app.css', expect: 'excluded' },
  { request: '/healthz', expect: 'excluded' },
  { request: '/static//app.css', expect: 'excluded' },
  { request: '/static/./app.css', expect: 'excluded' },
  { request: '/st%61tic/app.css', expect: 'excluded' },
  { request: 'http://{site}/static/app.css', expect: 'excluded' },
  { request: '/robots.txt', expect: 'excluded', only: 'documented' },
  { request: '/assets/css/site.css', expect: 'excluded', only: 'documented' },
  // Row 1: an encoded slash or dot that NGINX decodes when it normalises.
  { request: '/checkout', expect: 'checked' },
  { request: '/static/..%2fcheckout', expect: 'checked' },
  { request: '/static/..%2Fcheckout', expect: 'checked' },
  { request: '/static%2f..%2fcheckout', expect: 'checked' },
  { request: '/static/%2e%2e/checkout', expect: 'checked' },
  { request: '/static/%2E%2e/checkout', expect: 'checked' },
  { request: '/static/.%2e/checkout', expect: 'checked' },
  { request: '/static/..%252fcheckout', expect: 'checked' },
  { request: '/static/%252e%252e/checkout', expect: 'checked' },
  { request: '/static/..%5ccheckout', expect: 'checked' },
  { request: '/static/..\\checkout', expect: 'checked' },
  { request: '/static/%c0%ae%c0%ae/checkout', expect: 'checked' },
  // NGINX refuses an encoded NUL and `..` above the root; Go's parser passes both on.
  { request: '/static/%00/../../checkout', expect: { nginx: 'refused', caddy: 'checked' } },
  { request: '/../checkout', expect: { nginx: 'refused', caddy: 'checked' } },
  { request: '/static/\x00/../../checkout', expect: 'refused' },
  { request: '/static/%zz/../../checkout', expect: 'refused' },
  { request: '/static/../checkout', expect: 'checked' },
  { request: '/static/x#/../../checkout', expect: 'checked' },
  // Row 2: path parameters and suffixes that Java/Spring-style backends strip or ignore.
  { request: '/checkout;x.css', expect: 'checked' },
  { request: '/checkout%3bx.css', expect: 'checked' },
  { request: '/checkout%3Bx.css', expect: 'checked' },
  { request: '/static/..;/checkout', expect: 'checked' },
  { request: '/static;/../checkout', expect: 'checked' },
  { request: '/checkout#x.css', expect: 'checked' },
  // An entry matching below any path excludes this one: check-config warns about it.
  { request: '/checkout/x.css', expect: 'checked', only: 'documented' },
  // Absolute-form targets: the proxies pass on their path and query only.
  { request: 'http://{site}/static/..%2fcheckout', expect: 'checked' },
  { request: 'http://{site}/checkout', expect: 'checked' },
  { request: 'http://{site}?x=1', expect: 'checked' },
  // NGINX's test server is the default one, for any host; Caddy serves only the recipe's site.
  { request: 'http://other.example/checkout', expect: { nginx: 'checked', caddy: 'unserved' } },
  // Targets and methods NGINX refuses and Go passes on: we decide them (an odd path is ambiguous).
  { request: '*', expect: { nginx: 'refused', caddy: 'checked' } },
  { request: 'CONNECT /checkout', expect: { nginx: 'refused', caddy: 'checked' } },
  // A method our parser does not know: both proxies pass it to the app.
  { request: 'GET_ /checkout', expect: 'checked' },
];

/** Everything is a bot to this RTI: any request it is asked about is denied. */
const BLOCK_ALL = verdict({ isInvalid: true, threatTypeCode: 2 });

describe('bypass suite: excluded paths through real proxies (issue #20 rows 1, 2, 6)', function () {
  this.timeout(30_000);
  const rti = new FakeRti();
  rti.behaviour = () => BLOCK_ALL;
  const app = new RawUpstreamApp();
  const site = appBehindProxy(rti, app);

  for (const [listName, exclusions] of Object.entries(EXCLUSION_LISTS)) {
    describe(`uri_exclusion ${exclusions}`, () => {
      let service: TestService;
      before(async () => {
        service = await startService(rti.url, {
          CHEQ_MODE: 'blocking',
          CHEQ_URI_EXCLUSION: exclusions,
        });
      });
      after(async () => service?.close());

      for (const proxy of PROXIES) {
        describe(proxy.name, () => {
          let running: RunningProxy;
          before(async function () {
            const binary = requireProxy(proxy.pkg, proxy.binary);
            const authz = `127.0.0.1:${service.app.httpPort}`;
            running = await proxy.start(binary, authz, site.appAddress);
          });
          after(async () => running?.stop());

          for (const c of CASES.filter(c => c.only === undefined || c.only === listName)) {
            const outcome = typeof c.expect === 'string' ? c.expect : c.expect[proxy.pkg];
            it(`${outcome}: ${JSON.stringify(c.request)}`, async () => {
              const [method, target] = c.request.includes(' ')
                ? (c.request.split(' ') as [string, string])
                : ['GET', c.request];
              const site = new URL(running.url).host;
              const answer = await sendRaw(running.url, target.replace('{site}', site), method);
              switch (outcome) {
                case 'excluded':
                  assert.equal(answer.status, 200, answer.body);
                  assert.equal(rti.calls.length, 0, 'RTI not asked');
                  break;
                case 'checked': {
                  assert.equal(answer.status, 403, answer.body);
                  assert.equal(rti.calls.length, 1);
                  const url = rti.calls[0]?.form.get('RequestURL') ?? '';
                  const forwarded = proxy.forwarded(target);
                  if (target.startsWith('/')) assert.ok(url.endsWith(forwarded), `RTI got ${url}`);
                  break;
                }
                case 'refused':
                  assert.ok([400, 405].includes(answer.status), answer.body);
                  assert.equal(rti.calls.length, 0, 'the proxy answered without asking us');
                  break;
                case 'unserved':
                  assert.equal(answer.status, 200, answer.body);
                  assert.equal(rti.calls.length, 0, 'the proxy answered without asking us');
                  break;
              }
              assert.deepEqual(
                app.seen.map(seen => seen.decision),
                outcome === 'excluded' ? ['excluded'] : [],
                'what reached the app',
              );
            });
          }
        });
      }
    });
  }
});

describe('a uri_exclusion pattern that backtracks catastrophically in JavaScript (issue #20 row 6)', function () {
  this.timeout(30_000);
  let rti: FakeRti;
  let service: TestService;

  before(async () => {
    rti = await FakeRti.start();
    rti.behaviour = () => BLOCK_ALL;
    service = await startService(rti.url, {
      CHEQ_MODE: 'blocking',
      CHEQ_URI_EXCLUSION: '^/static/([a-z0-9]+-?)+\\.css$',
    });
  });
  after(async () => {
    await service?.close();
    await rti?.close();
  });

  // A backtracking engine takes seconds at 32 letters and would never finish at 1,000: the
  // test would hang, and /healthz with it.
  it('decides a 1,000-letter near miss and keeps answering /healthz', async () => {
    const check = (path: string): Promise<Response> =>
      fetch(`${service.httpUrl}/api/authz/auth-request`, {
        headers: { 'X-Original-URI': path, 'X-Original-Method': 'GET', 'X-Original-Host': 'shop' },
      });
    const [nearMiss, health, match] = await Promise.all([
      check(`/static/${'a'.repeat(1000)}!`),
      fetch(`${service.metricsUrl}/healthz`),
      check(`/static/${'a-'.repeat(500)}.css`),
    ]);
    assert.equal(nearMiss.status, 403, 'not excluded: RTI asked and blocked');
    assert.equal(health.status, 200);
    assert.equal(match.status, 200, 'excluded');
    assert.equal(rti.calls.length, 1);
  });
});

// Differential: where a path has one reading, ours is the one NGINX routes on ($uri).
describe("the canonical path is NGINX's reading of an unambiguous path (real NGINX)", function () {
  this.timeout(20_000);
  let nginx: RunningNginx;

  before(async function () {
    nginx = await startNginxWith(
      requireProxy('nginx', NGINX),
      (_prefix, port) => `server { listen 127.0.0.1:${port}; location / { return 200 "$uri"; } }`,
    );
  });
  after(async () => nginx?.stop());

  const paths: readonly string[] = [
    '/',
    '/a/b',
    '//a//b/',
    '/a/./b',
    '/a/../b',
    '/a/b/..',
    '/a/b/.',
    '/a//..//b',
    '/a/b/./../c',
    '/a/..b/c',
    '/.../x',
    '/.well-known/x',
    '/st%61tic/x',
    '/x%41%42%43',
    '/%7Euser',
    '/caf%C3%A9',
    '/%e2%82%ac',
    '/my%20file',
    '/%5e%7b%7d%7c',
  ];
  for (const path of paths) {
    it(`reads ${path} as NGINX does`, async () => {
      assert.notEqual(unambiguousPath(path), undefined, 'unambiguous');
      const answer = await sendRaw(nginx.url, path);
      assert.equal(answer.status, 200);
      assert.equal(Buffer.from(answer.body, 'latin1').toString('utf8'), canonicalPath(path));
    });
  }
});
