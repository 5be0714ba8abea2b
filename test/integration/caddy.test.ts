// End to end through a real Caddy running the Caddy recipe of docs/caddy.md, as written there
// (only its addresses swapped for loopback ones): Caddy → our forward-auth endpoint → fake RTI, in
// front of a tiny upstream app that records what reaches it.

import { strict as assert } from 'node:assert';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { verdictHeaderNames } from '../../src/core/verdict-headers';
import { appBehindProxy, BROWSER, byUserAgent, serviceBehindProxy } from '../helpers/behind-proxy';
import { findCaddy, startRecipeCaddy } from '../helpers/caddy';
import { FakeRti, v4Verdict } from '../helpers/fake-rti-server';
import { freePort } from '../helpers/nginx';
import { startService } from '../helpers/start-service';
import { get, UpstreamApp } from '../helpers/upstream-app';

const CADDY = findCaddy();
const COOKIE = '_cheq_rti=fake-cookie; Path=/; Max-Age=3600';
const VERDICT_HEADERS: string[] = Object.values<string>({ ...verdictHeaderNames('x-cheq-') });
/**
 * Every verdict header name, one we do not send and an underscore look-alike (CGI-style apps read
 * x-cheq_decision as x-cheq-decision), each forged by the client.
 */
const FORGED: Record<string, string> = Object.fromEntries(
  [...VERDICT_HEADERS, 'x-cheq-rti-result', 'x-cheq-anything', 'x-cheq_decision'].map(name => [
    name,
    'FORGED',
  ]),
);

/** The x-cheq-* headers the app received with a value (empty ones say "does not apply"). */
function verdictSeen(seen: IncomingHttpHeaders | undefined): Record<string, unknown> {
  assert.ok(seen, 'the app was not called');
  return Object.fromEntries(
    Object.entries(seen).filter(([name, value]) => name.startsWith('x-cheq-') && value !== ''),
  );
}

describe('Caddy forward_auth with the docs/caddy.md recipe (real Caddy)', function () {
  this.timeout(20_000);
  const rti = new FakeRti();
  rti.behaviour = byUserAgent;
  const app = new UpstreamApp();
  const site = appBehindProxy(rti, app);
  const caddy = serviceBehindProxy(
    site,
    {
      CHEQ_MODE: 'blocking',
      CHEQ_TIMEOUT_MS: '100',
      CHEQ_URI_EXCLUSION: '/excluded',
      CHEQ_CHALLENGE_ACTION: 'allow',
      CHEQ_REDIRECT_URL: 'https://www.example.com/blocked?from=caddy',
    },
    { pkg: 'caddy', binary: CADDY, start: startRecipeCaddy },
  );

  it('serves a valid visitor; the app gets the verdict headers; the browser gets the cookie', async () => {
    const answer = await get(`${caddy.url}/products?id=7`, BROWSER);
    assert.equal(answer.status, 200, caddy.proxy.output());
    assert.equal(answer.body, 'app /products?id=7');
    assert.deepEqual(answer.headers['set-cookie'], [COOKIE]);
    assert.deepEqual(verdictSeen(app.seen[0]), {
      'x-cheq-decision': 'valid',
      'x-cheq-threat-type': '0',
      'x-cheq-invalid': 'false',
      'x-cheq-rti-request-id': 'rti-req-1',
      'x-cheq-verdict': 'benign',
    });
    assert.equal(rti.calls[0]?.form.get('RequestURL'), `${caddy.url}/products?id=7`);
  });

  it('tells the app to challenge (challenge_action allow): x-cheq-challenge reaches it', async () => {
    const answer = await get(`${caddy.url}/`, { ...BROWSER, 'User-Agent': 'Mozilla/5.0 vpn' });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.headers['set-cookie'], [COOKIE]);
    assert.deepEqual(verdictSeen(app.seen[0]), {
      'x-cheq-decision': 'threat_challenge',
      'x-cheq-threat-type': '14',
      'x-cheq-invalid': 'true',
      'x-cheq-rti-request-id': 'rti-req-1',
      'x-cheq-challenge': '1',
      'x-cheq-verdict': 'suspicious',
    });
  });

  it('never lets client-sent x-cheq-* headers reach the app', async () => {
    const cases = [
      { path: '/', ua: BROWSER['User-Agent'], decision: 'valid' },
      { path: '/', ua: 'Mozilla/5.0 vpn', decision: 'threat_challenge' },
      { path: '/excluded', ua: 'price-bot', decision: 'excluded' },
      { path: '/', ua: 'slow-client', decision: 'fail_open' },
    ];
    for (const { path, ua, decision } of cases) {
      app.seen.length = 0;
      const answer = await get(`${caddy.url}${path}`, { ...BROWSER, ...FORGED, 'User-Agent': ua });
      assert.equal(answer.status, 200, `${path} ${ua}`);
      const seen = verdictSeen(app.seen[0]);
      assert.equal(seen['x-cheq-decision'], decision, `${path} ${ua}`);
      for (const name of Object.keys(FORGED)) {
        assert.notEqual(seen[name], 'FORGED', `${name} forged through (${path} ${ua})`);
      }
      assert.equal(seen['x-cheq-anything'], undefined);
      assert.equal(app.seen[0]?.['x-cheq_decision'], undefined);
    }
  });

  it('checks the path Caddy serves, not a client-sent X-Forwarded-Uri/-Method/-Host', async () => {
    const answer = await get(`${caddy.url}/products`, {
      ...BROWSER,
      'User-Agent': 'price-bot',
      'X-Forwarded-Uri': '/excluded',
      'X-Forwarded-Method': 'OPTIONS',
      'X-Forwarded-Host': 'other.example',
    });
    assert.equal(answer.status, 302);
    assert.equal(rti.calls[0]?.form.get('RequestURL'), `${caddy.url}/products`);
    assert.equal(app.seen.length, 0);
  });

  it('serves an excluded path without calling RTI, and sets no cookie', async () => {
    const answer = await get(`${caddy.url}/excluded`, { ...BROWSER, 'User-Agent': 'price-bot' });
    assert.equal(answer.status, 200);
    assert.equal(rti.calls.length, 0);
    assert.equal(answer.headers['set-cookie'], undefined);
    assert.deepEqual(verdictSeen(app.seen[0]), { 'x-cheq-decision': 'excluded' });
  });

  it('serves the visitor when RTI hangs (fail open)', async () => {
    const answer = await get(`${caddy.url}/slow`, { ...BROWSER, 'User-Agent': 'slow-client' });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'app /slow');
    assert.deepEqual(verdictSeen(app.seen[0]), { 'x-cheq-decision': 'fail_open' });
  });

  it('denies a bot with 403, the cookie and no-store; the app is never called', async () => {
    const answer = await get(`${caddy.url}/products`, {
      'User-Agent': 'price-bot',
      Accept: 'application/json',
      'Sec-Fetch-Mode': 'cors',
    });
    assert.equal(answer.status, 403);
    assert.deepEqual(answer.headers['set-cookie'], [COOKIE]);
    assert.equal(answer.headers['cache-control'], 'no-store');
    assert.match(answer.body, /access_denied/);
    assert.equal(app.seen.length, 0);
  });

  it('redirects a bot navigation with 302, Location and the cookie', async () => {
    const answer = await get(`${caddy.url}/products`, { ...BROWSER, 'User-Agent': 'price-bot' });
    assert.equal(answer.status, 302);
    assert.equal(answer.headers['location'], 'https://www.example.com/blocked?from=caddy');
    assert.deepEqual(answer.headers['set-cookie'], [COOKIE]);
    assert.equal(app.seen.length, 0);
  });

  it("passes the app's own 5xx through: not mistaken for an authz failure", async () => {
    const answer = await get(`${caddy.url}/app-error`, BROWSER);
    assert.equal(answer.status, 502);
    assert.equal(answer.body, 'app /app-error');
    assert.equal(app.seen.length, 1);
    assert.equal(rti.calls.length, 1);
  });

  it('passes the v4 verdict headers (verdict, risk score, ray id)', async () => {
    const rtiV4 = await FakeRti.start();
    rtiV4.behaviour = () => v4Verdict({});
    const serviceV4 = await startService(rtiV4.url, {
      CHEQ_MODE: 'blocking',
      CHEQ_API_VERSION: 'v4',
    });
    const caddyV4 = await startRecipeCaddy(
      CADDY!,
      `127.0.0.1:${serviceV4.app.httpPort}`,
      site.appAddress,
    );
    try {
      const answer = await get(`${caddyV4.url}/`, { ...BROWSER, ...FORGED });
      assert.equal(answer.status, 200);
      assert.deepEqual(verdictSeen(app.seen[0]), {
        'x-cheq-decision': 'valid',
        'x-cheq-verdict': 'benign',
        'x-cheq-threat-type': '0',
        'x-cheq-invalid': 'false',
        'x-cheq-risk-score': '4',
        'x-cheq-ray-id': 'rti-ray-1',
        // CHEQ's own, beside ours; the client's forged one never arrives.
        'x-cheq-rti-result':
          'version=4.0;verdict=benign;threat-type-code=0;' +
          'ids={"rayId":"rti-ray-1","pageViewId":"pvid-1","duid":"duid-1","uniqueVisitId":"visit-1"}',
      });
    } finally {
      await caddyV4.stop();
      await serviceV4.close();
      await rtiV4.close();
    }
  });

  describe('when the authz service itself fails', () => {
    let sockets: Socket[];
    let silent: Server;
    beforeEach(() => {
      sockets = [];
      silent = createServer(socket => sockets.push(socket));
    });
    afterEach(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise(resolve => silent.close(resolve));
    });

    async function assertServedWithoutVerdict(authz: string): Promise<void> {
      const down = await startRecipeCaddy(CADDY!, authz, site.appAddress);
      try {
        const answer = await get(`${down.url}/products`, { ...BROWSER, ...FORGED });
        assert.equal(answer.status, 200, down.output());
        assert.equal(answer.body, 'app /products');
        assert.equal(answer.headers['set-cookie'], undefined);
        assert.deepEqual(verdictSeen(app.seen[0]), {}, 'no verdict, and no forged one');
      } finally {
        await down.stop();
      }
    }

    it('serves the site when the authz service is down (fail open)', async () => {
      await assertServedWithoutVerdict(`127.0.0.1:${await freePort()}`);
    });

    it('serves the site when the authz service accepts but never answers (fail open)', async () => {
      await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve));
      await assertServedWithoutVerdict(`127.0.0.1:${(silent.address() as AddressInfo).port}`);
      assert.ok(sockets.length > 0, 'Caddy connected to the silent service');
    });
  });
});
