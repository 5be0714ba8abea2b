// The default ignore list (ignore_paths) as the configuration ships it, through the decision core:
// what is allowed without an RTI call, and the paths an attacker writes to get a page past it.

import { strict as assert } from 'node:assert';
import { loadConfig } from '../../../src/config/load-config';
import type { CoreConfig } from '../../../src/core/decide';
import { createDecide } from '../../../src/core/decide';
import type { Decision } from '../../../src/core/decision';
import type { RtiCheck, RtiInput, RtiVerdict } from '../../../src/core/rti-port';
import { rtiVerdict } from '../../helpers/verdicts';
import { makeAttributes } from './make-attributes';

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: 'test-api-key',
  CHEQ_TAG_HASH: 'tag-hash-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
  CHEQ_MODE: 'blocking',
  CHEQ_API_VERSION: 'v4',
};

function coreOf(env: Record<string, string> = {}): CoreConfig {
  const config = loadConfig({ env: { ...REQUIRED, ...env }, args: [] });
  assert.ok(config.defaultSite);
  return config.defaultSite.core;
}

/** RTI that calls everyone malicious, counting calls. */
class MaliciousRti implements RtiCheck {
  readonly inputs: RtiInput[] = [];
  check(input: RtiInput): Promise<RtiVerdict> {
    this.inputs.push(input);
    return Promise.resolve(rtiVerdict({ verdict: 'malicious', code: 2 }));
  }
}

async function decide(
  path: string,
  query = '',
  core = coreOf(),
): Promise<{ decision: Decision; rtiCalls: number }> {
  const rti = new MaliciousRti();
  const decision = await createDecide(core, rti)(makeAttributes({ path, query }));
  return { decision, rtiCalls: rti.inputs.length };
}

const IGNORED = [
  '/assets/app.min.js',
  '/static/css/site.css',
  '/static/v1/app.js',
  '/js/app.mjs',
  '/css/site.css',
  '/img/logo.png',
  '/images/photo.jpeg',
  '/fonts/inter.woff2',
  '/media/intro.mp4',
  '/dist/bundle.js.map',
  '/build/app.css',
  '/robots.txt',
  '/sitemap.xml',
  '/sitemap-products-1.xml',
  '/favicon.ico',
  '/.well-known/security.txt',
  '/.well-known/acme-challenge/tok',
  '/healthz',
  '/health',
  '/ready',
  '/livez',
  '/_next/static/chunks/main-abc.js',
  '/_next/static/media/x',
  // Canonical readings: dot segments resolved, unreserved escapes decoded, slashes merged.
  '//robots.txt',
  '/img/./logo.png',
  '/%61ssets/app.js',
  '/x/../static/app.css',
];

/** Each must be checked by RTI (and so, RTI calling it malicious, blocked). */
const CHECKED = [
  // Path parameters: Tomcat and Spring serve /admin for /admin;.css.
  '/admin;.css',
  '/admin;x=1/app.css',
  // An encoded slash: one hop reads /x.css/../admin, another /admin.
  '/x.css/..%2Fadmin',
  '/x.css/%2e%2e/admin',
  // Dot segments resolve to a protected page before matching.
  '/.well-known/../admin',
  '/_next/static/../../admin',
  '/healthz/../admin',
  // An asset name appended to a protected path: prefix-routing backends serve /checkout.
  '/checkout/x.css',
  '/admin/static/x.css',
  '/api/assets/x.png',
  // A format suffix: Spring MVC's suffix patterns serve /checkout for /checkout.css.
  '/checkout.css',
  '/app.js',
  // PATH_INFO: PHP and CGI run the script named before the asset name.
  '/static/index.php/x.css',
  '/assets/admin.php/logo.png',
  '/js/x.pl/a.js',
  // Not an asset extension, or not the whole name: pages stay checked.
  '/index.html',
  '/admin',
  '/robots.txt.php',
  '/robots.txt/x',
  '/static/app.js.php',
  '/static/app.jsx',
  '/static/',
  '/static',
  '/sitemap.xml.php',
  '/blog/sitemap.xml',
  '/healthzz',
  '/health/db',
  '/.well-known',
  '/_next/data/page.json',
  // Case differs from the list: checked (a miss is the safe direction).
  '/static/APP.JS',
  '/Static/app.js',
  '/Robots.txt',
  // A backslash, a NUL, non-ASCII: ambiguous, never ignored.
  '/static/x\\..\\..\\admin',
  '/static/x%00.css',
  '/static/caf\u00e9.css',
];

describe('the default ignore list (ignore_paths)', () => {
  for (const path of IGNORED) {
    it(`allows ${path} as ignored without asking RTI`, async () => {
      const { decision, rtiCalls } = await decide(path);
      assert.equal(rtiCalls, 0);
      assert.deepEqual([decision.action, decision.reason], ['allow', 'ignored']);
      assert.equal(decision.verdict, undefined);
    });
  }

  for (const path of CHECKED) {
    it(`asks RTI about ${JSON.stringify(path)} (and blocks it)`, async () => {
      const { decision, rtiCalls } = await decide(path);
      assert.equal(rtiCalls, 1);
      assert.equal(decision.action, 'deny');
    });
  }

  it('matches the path only: an asset extension in the query does not ignore /api/data', async () => {
    for (const query of ['x=.png', 'f=/app.js', 'a.css']) {
      const { decision, rtiCalls } = await decide('/api/data', query);
      assert.equal(rtiCalls, 1, query);
      assert.equal(decision.action, 'deny', query);
    }
  });

  it('is replaced by setting it: only the paths given are ignored', async () => {
    const core = coreOf({ CHEQ_IGNORE_PATHS: '/ping' });
    assert.equal((await decide('/ping', '', core)).decision.reason, 'ignored');
    assert.equal((await decide('/robots.txt', '', core)).rtiCalls, 1);
  });

  it('is turned off by setting it empty', async () => {
    const core = coreOf({ CHEQ_IGNORE_PATHS: '' });
    for (const path of ['/robots.txt', '/app.js', '/healthz']) {
      assert.equal((await decide(path, '', core)).rtiCalls, 1, path);
    }
  });

  it('is extended by uri_exclusion, which keeps its own reason', async () => {
    const core = coreOf({ CHEQ_URI_EXCLUSION: '/private-probe' });
    assert.equal((await decide('/private-probe', '', core)).decision.reason, 'excluded');
    assert.equal((await decide('/robots.txt', '', core)).decision.reason, 'ignored');
  });

  it('refuses an ignore_paths entry that would ignore every path', () => {
    assert.throws(() => coreOf({ CHEQ_IGNORE_PATHS: '/**' }), /ignore_paths.*every path/s);
  });
});
