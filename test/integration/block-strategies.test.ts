// Block and challenge strategies over real sockets (issue #22): the block page with its ids and
// a template, the stealth 404 byte for byte like any 404 of ours, redirects for navigations only,
// on gRPC, Envoy HTTP, forward auth and NGINX (whose page endpoint renders the page from the
// X-Cheq-Page ticket without asking RTI).

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BROWSER_HEADERS, envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { metricValue, startService, type TestService } from '../helpers/start-service';
import { get, type HttpAnswer } from '../helpers/upstream-app';

const BROWSER = {
  'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0 bot',
  Accept: 'text/html,application/xhtml+xml',
  'Sec-Fetch-Mode': 'navigate',
  Cookie: '_cq_duid=duid-42; _cheq_rti=visitor',
  'X-Request-ID': 'req-77',
};
const API_CLIENT = { 'User-Agent': 'curl/8 bot', Accept: 'application/json' };

/** Every header name of an answer, without the ones any Node answer has. */
function headerNames(answer: HttpAnswer): string[] {
  return Object.keys(answer.headers)
    .filter(name => !['date', 'connection', 'keep-alive'].includes(name))
    .sort();
}

describe('block strategies and the block page (integration)', () => {
  let rti: FakeRti;
  let dir: string;

  before(async () => {
    rti = await FakeRti.start();
    // Every visitor whose User-Agent says bot is blocked (code 2), else a VPN (14) challenged.
    rti.behaviour = form =>
      (form.get('UserAgent') ?? '').includes('bot')
        ? verdict({ isInvalid: true, threatTypeCode: 2 })
        : verdict({ isInvalid: true, threatTypeCode: 14 });
    dir = mkdtempSync(join(tmpdir(), 'cheq-block-page-'));
  });
  after(async () => {
    await rti.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    rti.calls.length = 0;
  });

  describe('access_denied with a block page template', () => {
    let service: TestService;
    before(async () => {
      const template = join(dir, 'blocked.html');
      writeFileSync(
        template,
        '<html><body><h1>Blocked ({{status}})</h1><p id="r">{{request_id}}</p>' +
          '<p id="s">{{session_id}}</p><p id="y">{{ray_id}}</p></body></html>',
      );
      service = await startService(rti.url, {
        CHEQ_MODE: 'blocking',
        CHEQ_BLOCK_PAGE_TEMPLATE: template,
      });
    });
    after(() => service.close());

    it('gives a browser the template, its values escaped, with page headers (gRPC)', async () => {
      const response = await service.check(
        envoyCheckRequest({
          headers: {
            ...BROWSER_HEADERS,
            'user-agent': 'bot',
            cookie: '_cq_duid=<script>alert(1)</script>',
          },
          // No safe id: treated as absent, so Envoy's own id is shown.
          requestId: 'req-"1"',
        }),
      );
      const denied = response.denied_response;
      assert.equal(denied?.status?.code, 403);
      assert.equal(
        denied?.body,
        '<html><body><h1>Blocked (403)</h1><p id="r">13371337</p>' +
          '<p id="s">&#60;script&#62;alert(1)&#60;/script&#62;</p><p id="y"></p></body></html>',
      );
      const headers = new Map((denied?.headers ?? []).map(h => [h.header?.key, h.header?.value]));
      assert.equal(headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(headers.get('cache-control'), 'no-store');
      assert.equal(headers.get('x-frame-options'), 'DENY');
      assert.equal(headers.get('x-content-type-options'), 'nosniff');
      assert.match(headers.get('content-security-policy') ?? '', /script-src 'none'/);
    });

    it('keeps JSON for an API client', async () => {
      const answer = await get(`${service.httpUrl}/api/authz/forward-auth`, {
        ...API_CLIENT,
        'X-Forwarded-Method': 'GET',
        'X-Forwarded-Uri': '/api/items',
        'X-Forwarded-Host': 'shop.example.com',
        'X-Request-ID': 'req-9',
      });
      assert.equal(answer.status, 403);
      assert.deepEqual(JSON.parse(answer.body), { error: 'access_denied', requestId: 'req-9' });
    });

    it('NGINX: 403 with a ticket; the page endpoint renders it without asking RTI', async () => {
      const original = {
        'X-Original-URI': '/account',
        'X-Original-Method': 'GET',
        'X-Original-Host': 'shop.example.com',
        'X-Real-IP': '203.0.113.9',
      };
      const auth = await get(`${service.httpUrl}/api/authz/auth-request`, {
        ...original,
        ...BROWSER,
      });
      assert.equal(auth.status, 403);
      assert.equal(auth.body, '', 'NGINX drops the body: none is sent');
      const ticket = auth.headers['x-cheq-page'];
      assert.equal(typeof ticket, 'string');
      assert.ok((ticket as string).length <= 2048);
      assert.equal(rti.calls.length, 1);

      const page = await get(`${service.httpUrl}/api/authz/page`, {
        ...original,
        ...BROWSER,
        'X-Cheq-Page': ticket as string,
      });
      assert.equal(rti.calls.length, 1, 'the page endpoint never asks RTI');
      assert.equal(page.status, 403);
      assert.match(page.body, /<p id="r">req-77<\/p><p id="s">duid-42<\/p>/);
      assert.equal(page.headers['x-frame-options'], 'DENY');
      const metrics = await service.metrics();
      assert.equal(
        metricValue(metrics, 'cheq_authz_decisions_total', {
          transport: 'nginx',
          action: 'deny',
          reason: 'threat_block',
        }),
        1,
        'the page is not counted as a second decision',
      );
    });

    it('NGINX page endpoint: a missing or forged ticket gets a plain 403', async () => {
      for (const ticket of [undefined, 'x', 'c.forged.token', `b.${'A'.repeat(3000)}`]) {
        const page = await get(`${service.httpUrl}/api/authz/page`, {
          'X-Original-URI': '/',
          'X-Original-Method': 'GET',
          'X-Original-Host': 'shop.example.com',
          ...(ticket === undefined ? {} : { 'X-Cheq-Page': ticket }),
        });
        assert.equal(page.status, 403, String(ticket));
        assert.equal(page.body, 'Forbidden\n', String(ticket));
      }
      assert.equal(rti.calls.length, 0);
    });
  });

  describe('not_found (stealth 404)', () => {
    let service: TestService;
    before(async () => {
      service = await startService(rti.url, {
        CHEQ_MODE: 'blocking',
        CHEQ_BLOCK_STRATEGY: 'not_found',
      });
    });
    after(() => service.close());

    it('answers exactly as an unknown path of ours does: no-store, no ids, cookie or verdict header', async () => {
      const ordinary = await get(`${service.httpUrl}/no-such-path`, {});
      const forward = await get(`${service.httpUrl}/api/authz/forward-auth`, {
        ...BROWSER,
        'X-Forwarded-Method': 'GET',
        'X-Forwarded-Uri': '/account',
        'X-Forwarded-Host': 'shop.example.com',
      });
      const envoy = await get(`${service.httpUrl}/api/authz/ext-authz/account`, {
        ...BROWSER,
        Host: 'shop.example.com',
      });
      for (const answer of [forward, envoy]) {
        assert.equal(answer.status, 404);
        assert.equal(answer.body, ordinary.body);
        assert.deepEqual(headerNames(answer), headerNames(ordinary));
        assert.equal(answer.headers['content-type'], ordinary.headers['content-type']);
      }
      assert.equal(ordinary.body, 'Not Found\n');
      // A CDN in front must not keep a bot's 404 for everyone.
      assert.equal(ordinary.headers['cache-control'], 'no-store');
    });

    it('gRPC: a 404 denied_response with only no-store and its content type', async () => {
      const response = await service.check(
        envoyCheckRequest({ headers: { ...BROWSER_HEADERS, 'user-agent': 'bot' } }),
      );
      assert.equal(response.denied_response?.status?.code, 404);
      assert.equal(response.denied_response?.body, 'Not Found\n');
      assert.deepEqual(
        response.denied_response?.headers?.map(h => [h.header?.key, h.header?.value]),
        [
          ['cache-control', 'no-store'],
          ['content-type', 'text/plain'],
        ],
      );
    });

    it('NGINX: the ticket renders the same plain 404', async () => {
      const original = {
        'X-Original-URI': '/account',
        'X-Original-Method': 'GET',
        'X-Original-Host': 'shop.example.com',
      };
      const auth = await get(`${service.httpUrl}/api/authz/auth-request`, {
        ...original,
        ...BROWSER,
      });
      assert.equal(auth.status, 403);
      assert.equal(auth.headers['set-cookie'], undefined);
      const page = await get(`${service.httpUrl}/api/authz/page`, {
        ...original,
        ...BROWSER,
        'X-Cheq-Page': auth.headers['x-cheq-page'] as string,
      });
      assert.equal(page.status, 404);
      assert.equal(page.body, 'Not Found\n');
      assert.equal(page.headers['set-cookie'], undefined);
      assert.equal(page.headers['cache-control'], 'no-store');
    });
  });

  describe('redirect', () => {
    let service: TestService;
    before(async () => {
      service = await startService(rti.url, {
        CHEQ_MODE: 'blocking',
        CHEQ_BLOCK_STRATEGY: 'redirect',
        CHEQ_REDIRECT_URL: '/blocked',
        CHEQ_CHALLENGE_STRATEGY: 'access_denied',
      });
    });
    after(() => service.close());

    it('redirects a blocked navigation, and gives an API client the 403', async () => {
      const navigation = await service.check(
        envoyCheckRequest({ headers: { ...BROWSER_HEADERS, 'user-agent': 'bot' } }),
      );
      assert.equal(navigation.denied_response?.status?.code, 302);
      const api = await service.check(
        envoyCheckRequest({ headers: { 'user-agent': 'bot', accept: 'application/json' } }),
      );
      assert.equal(api.denied_response?.status?.code, 403);
    });

    it('challenge_strategy access_denied denies a challenged request', async () => {
      const response = await service.check(envoyCheckRequest({ headers: BROWSER_HEADERS }));
      assert.equal(response.denied_response?.status?.code, 403);
      assert.equal(response.status?.message, 'cheq-rti-authz: threat_challenge');
    });
  });

  describe('no challenge_secret', () => {
    let service: TestService;
    before(async () => {
      service = await startService(rti.url, { CHEQ_MODE: 'blocking' });
    });
    after(() => service.close());

    it('says the fallback once at start and allows a challenge with the upstream header', async () => {
      const said = service.logs.filter(
        line => typeof line['msg'] === 'string' && line['msg'].includes('no challenge_secret'),
      );
      assert.equal(said.length, 1);
      assert.equal(said[0]?.['level'], 'warn');
      const response = await service.check(envoyCheckRequest({ headers: BROWSER_HEADERS }));
      assert.equal(response.status?.code, 0);
      const upstream = new Map(
        (response.ok_response?.headers ?? []).map(h => [h.header?.key, h.header?.value]),
      );
      assert.equal(upstream.get('x-cheq-challenge'), '1');
      assert.equal(upstream.get('x-cheq-decision'), 'threat_challenge');
    });
  });
});
