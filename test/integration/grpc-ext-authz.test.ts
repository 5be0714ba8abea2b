// The real server over a real socket: a grpc-js client built from the upstream Envoy protos,
// our gRPC listener, and a fake RTI on loopback that records what it receives.

import { performance } from 'node:perf_hooks';
import { strict as assert } from 'node:assert';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';
import { okHeaders } from '../helpers/check-response';
import { BROWSER_HEADERS, envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { rtiPerSuite } from '../helpers/rti-per-test';
import {
  metricValue,
  startService,
  TEST_API_KEY,
  type TestService,
} from '../helpers/start-service';

const BOT_HEADERS = { 'user-agent': 'price-bot/2.1', accept: 'application/json' };

function deniedHeaders(response: CheckResponse__Output): Record<string, string> {
  return Object.fromEntries(
    (response.denied_response?.headers ?? []).map(h => [
      h.header?.key ?? '',
      h.header?.value ?? '',
    ]),
  );
}

function expectAllow(response: CheckResponse__Output): void {
  assert.equal(response.status?.code ?? 0, 0, 'status.code OK');
  assert.equal(response.http_response, 'ok_response');
}

describe('gRPC ext_authz Check (integration)', function () {
  const suite = rtiPerSuite();

  beforeEach(() => suite.rti.reset());

  async function start(env: Record<string, string> = {}): Promise<TestService> {
    suite.service = await startService(suite.rti.url, env);
    return suite.service;
  }

  describe('allow', () => {
    it('allows a valid visitor with verdict headers upstream and the CHEQ cookie for the browser', async () => {
      const svc = await start({ CHEQ_MODE: 'blocking' });
      const response = await svc.check(envoyCheckRequest());
      expectAllow(response);
      assert.deepEqual(okHeaders(response), {
        'x-cheq-decision': 'valid',
        'x-cheq-threat-type': '0',
        'x-cheq-invalid': 'false',
        'x-cheq-rti-request-id': 'rti-req-1',
        'x-cheq-verdict': 'benign',
      });
      for (const h of response.ok_response?.headers ?? [])
        assert.equal(h.append?.value ?? false, false);
      assert.deepEqual(response.ok_response?.headers_to_remove, [
        'x-cheq-challenge',
        'x-cheq-risk-score',
        'x-cheq-ray-id',
        'x-cheq-rti-result',
      ]);
      const cookies = response.ok_response?.response_headers_to_add ?? [];
      assert.equal(cookies.length, 1);
      assert.equal(cookies[0]?.header?.key, 'set-cookie');
      assert.equal(cookies[0]?.header?.value, '_cheq_rti=fake-cookie; Path=/; Max-Age=3600');
      assert.equal(cookies[0]?.append?.value, true);
    });

    it('sends RTI every v1 form field, exactly', async () => {
      const svc = await start({ CHEQ_TRUSTED_PROXIES: '10.0.0.0/8' });
      await svc.check(
        envoyCheckRequest({
          url: 'https://shop.example.com/cart?item=7&q=a%20b',
          headers: {
            'user-agent': 'Mozilla/5.0 Test',
            accept: 'text/html,*/*;q=0.8',
            'accept-language': 'fr-FR',
            'accept-encoding': 'gzip',
            'accept-charset': 'utf-8',
            referer: 'https://shop.example.com/',
            origin: 'https://shop.example.com',
            'x-requested-with': 'XMLHttpRequest',
            connection: 'keep-alive',
            pragma: 'no-cache',
            'cache-control': 'no-cache',
            'content-type': 'text/plain',
            'true-client-ip': '192.0.2.1',
            'x-real-ip': '192.0.2.2',
            'remote-addr': '192.0.2.3',
            forwarded: 'for=192.0.2.4',
            'x-forwarded-for': '203.0.113.50, 10.0.0.1',
            'x-envoy-external-address': '203.0.113.50',
            cookie: 'a=1; _cheq_rti=visitor-cookie; b=2',
          },
          peer: '10.0.0.1',
        }),
      );
      assert.equal(suite.rti.calls.length, 1);
      const call = suite.rti.calls[0]!;
      assert.equal(call.method, 'POST');
      assert.equal(call.path, '/v1/realtime-interception');
      assert.equal(call.headers['content-type'], 'application/x-www-form-urlencoded');
      const form = Object.fromEntries(call.form);
      assert.match(form['MiddlewareVersion'] ?? '', /^cheq-rti-authz_\d+\.\d+\.\d+/);
      delete form['MiddlewareVersion'];
      assert.deepEqual(form, {
        ApiKey: TEST_API_KEY,
        TagHash: 'test-tag-hash',
        EventType: 'page_load',
        ClientIP: '203.0.113.50',
        RequestURL: 'https://shop.example.com/cart?item=7&q=a%20b',
        RequestTime: '1764000000250',
        Method: 'GET',
        HeaderNames:
          'host,user-agent,accept,accept-language,accept-encoding,accept-charset,referer,origin,' +
          'x-requested-with,connection,pragma,cache-control,content-type,true-client-ip,' +
          'x-real-ip,remote-addr,forwarded,x-forwarded-for,cookie',
        Host: 'shop.example.com',
        UserAgent: 'Mozilla/5.0 Test',
        XForwardedFor: '203.0.113.50, 10.0.0.1',
        Referer: 'https://shop.example.com/',
        Accept: 'text/html,*/*;q=0.8',
        AcceptEncoding: 'gzip',
        AcceptLanguage: 'fr-FR',
        AcceptCharset: 'utf-8',
        Origin: 'https://shop.example.com',
        XRequestedWith: 'XMLHttpRequest',
        Connection: 'keep-alive',
        Pragma: 'no-cache',
        CacheControl: 'no-cache',
        ContentType: 'text/plain',
        TrueClientIP: '192.0.2.1',
        XRealIP: '192.0.2.2',
        RemoteAddr: '192.0.2.3',
        Forwarded: 'for=192.0.2.4',
        CheqCookie: 'visitor-cookie',
        ResourceType: 'text/html',
      });
    });

    it("takes ClientIP from a listed peer's header, else x-envoy-external-address, else the peer", async () => {
      const svc = await start({
        CHEQ_TRUSTED_IP_HEADER: 'CF-Connecting-IP',
        CHEQ_TRUSTED_PROXIES: '10.0.0.0/8',
      });
      await svc.check(
        envoyCheckRequest({
          headers: { 'cf-connecting-ip': '192.0.2.77', 'x-envoy-external-address': '10.0.0.9' },
          peer: '10.0.0.2',
        }),
      );
      await svc.check(
        envoyCheckRequest({
          headers: { 'x-envoy-external-address': '203.0.113.1' },
          peer: '10.0.0.2',
        }),
      );
      await svc.check(envoyCheckRequest({ headers: {}, peer: '198.51.100.99' }));
      assert.deepEqual(
        suite.rti.calls.map(c => c.form.get('ClientIP')),
        ['192.0.2.77', '203.0.113.1', '198.51.100.99'],
      );
    });

    it('reads header_map with raw bytes (encode_raw_headers) like the headers map', async () => {
      const svc = await start();
      const request = envoyCheckRequest();
      const http = (request['attributes'] as { request: { http: Record<string, unknown> } }).request
        .http;
      const headers = http['headers'] as Record<string, string>;
      http['header_map'] = {
        headers: [
          ...Object.entries(headers).map(([key, value]) => ({
            key,
            raw_value: Buffer.from(value),
          })),
          { key: 'cookie', raw_value: Buffer.from('_cheq_rti=crumb-cookie') },
          { key: 'cookie', raw_value: Buffer.from('other=1') },
        ],
      };
      delete http['headers'];
      await svc.check(request);
      const form = suite.rti.calls[0]!.form;
      assert.equal(form.get('UserAgent'), BROWSER_HEADERS['user-agent']);
      assert.equal(form.get('CheqCookie'), 'crumb-cookie');
      assert.equal(form.get('Host'), 'shop.example.com');
    });
  });

  describe('deny and redirect (blocking mode)', () => {
    it('denies a bot with 403, a JSON body for an API client, no-store and the cookie', async () => {
      suite.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
      const svc = await start({ CHEQ_MODE: 'blocking' });
      const response = await svc.check(envoyCheckRequest({ headers: BOT_HEADERS }));
      assert.equal(response.status?.code, 7);
      assert.equal(response.denied_response?.status?.code, 403);
      const headers = deniedHeaders(response);
      assert.equal(headers['cache-control'], 'no-store');
      assert.equal(headers['content-type'], 'application/json');
      assert.equal(headers['set-cookie'], '_cheq_rti=fake-cookie; Path=/; Max-Age=3600');
      for (const h of response.denied_response?.headers ?? []) assert.equal(h.append, undefined);
      assert.deepEqual(JSON.parse(response.denied_response?.body ?? ''), {
        error: 'access_denied',
        requestId: 'req-0001',
      });
    });

    it('sends an HTML deny page to a browser', async () => {
      suite.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 10 });
      const svc = await start({ CHEQ_MODE: 'blocking' });
      const response = await svc.check(envoyCheckRequest());
      assert.equal(response.denied_response?.status?.code, 403);
      assert.match(deniedHeaders(response)['content-type'] ?? '', /^text\/html/);
      assert.match(response.denied_response?.body ?? '', /Access denied/);
    });

    it('redirects a blocked page navigation with 302, Location and no-store', async () => {
      suite.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 3 });
      const svc = await start({
        CHEQ_MODE: 'blocking',
        CHEQ_REDIRECT_URL: 'https://www.example.com/blocked',
      });
      const response = await svc.check(envoyCheckRequest());
      assert.equal(response.status?.code, 7);
      assert.equal(response.denied_response?.status?.code, 302);
      const headers = deniedHeaders(response);
      assert.equal(headers['location'], 'https://www.example.com/blocked');
      assert.equal(headers['cache-control'], 'no-store');
      assert.equal(headers['set-cookie'], '_cheq_rti=fake-cookie; Path=/; Max-Age=3600');
      const location = response.denied_response?.headers?.find(h => h.header?.key === 'location');
      assert.equal(location?.append_action, 2);
    });

    it('denies instead of redirecting XHR, CORS, WebSocket and gRPC requests', async () => {
      suite.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 3 });
      const svc = await start({
        CHEQ_MODE: 'blocking',
        CHEQ_REDIRECT_URL: 'https://www.example.com/blocked',
      });
      const cases: Record<string, string>[] = [
        { ...BROWSER_HEADERS, 'sec-fetch-mode': 'cors' },
        { accept: 'text/html', 'x-requested-with': 'XMLHttpRequest' },
        { accept: 'text/html', upgrade: 'websocket', 'sec-websocket-key': 'abc' },
        { accept: 'text/html', 'content-type': 'application/grpc' },
      ];
      for (const headers of cases) {
        const response = await svc.check(envoyCheckRequest({ headers }));
        assert.equal(response.denied_response?.status?.code, 403, JSON.stringify(headers));
      }
      const post = await svc.check(envoyCheckRequest({ method: 'POST' }));
      assert.equal(post.denied_response?.status?.code, 403);
    });

    it('applies challenge_action allow, deny and redirect to challenge codes', async () => {
      suite.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 14 });
      let svc = await start({ CHEQ_MODE: 'blocking' });
      let response = await svc.check(envoyCheckRequest());
      expectAllow(response);
      assert.equal(okHeaders(response)['x-cheq-challenge'], '1');
      assert.equal(okHeaders(response)['x-cheq-decision'], 'threat_challenge');
      await svc.close();

      svc = await start({ CHEQ_MODE: 'blocking', CHEQ_CHALLENGE_ACTION: 'deny' });
      response = await svc.check(envoyCheckRequest());
      assert.equal(response.denied_response?.status?.code, 403);
      await svc.close();

      svc = await start({
        CHEQ_MODE: 'blocking',
        CHEQ_CHALLENGE_ACTION: 'redirect',
        CHEQ_CHALLENGE_URL: '/challenge',
      });
      response = await svc.check(envoyCheckRequest());
      assert.equal(response.denied_response?.status?.code, 302);
      assert.equal(deniedHeaders(response)['location'], '/challenge');
    });

    it('allows invalid traffic whose code is in neither group', async () => {
      suite.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 9 });
      const svc = await start({ CHEQ_MODE: 'blocking' });
      const response = await svc.check(envoyCheckRequest());
      expectAllow(response);
      assert.equal(okHeaders(response)['x-cheq-decision'], 'threat_unlisted');
      assert.equal(okHeaders(response)['x-cheq-invalid'], 'true');
    });
  });

  describe('monitoring mode', () => {
    it('never acts but counts what it would have done', async () => {
      suite.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
      const svc = await start();
      const response = await svc.check(envoyCheckRequest({ headers: BOT_HEADERS }));
      expectAllow(response);
      assert.equal(okHeaders(response)['x-cheq-decision'], 'monitoring');
      assert.equal(okHeaders(response)['x-cheq-threat-type'], '2');
      const metrics = await svc.metrics();
      assert.equal(
        metricValue(metrics, 'cheq_authz_monitoring_would_act_total', {
          action: 'deny',
          reason: 'threat_block',
        }),
        1,
      );
      assert.equal(
        metricValue(metrics, 'cheq_authz_decisions_total', {
          action: 'allow',
          reason: 'monitoring',
        }),
        1,
      );
    });

    it('lets a route switch blocking on through context_extensions cheq_mode', async () => {
      suite.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
      const svc = await start();
      const response = await svc.check(
        envoyCheckRequest({ headers: BOT_HEADERS, contextExtensions: { cheq_mode: 'blocking' } }),
      );
      assert.equal(response.denied_response?.status?.code, 403);
    });
  });

  describe('routes', () => {
    it('allows excluded paths without calling RTI', async () => {
      const svc = await start({ CHEQ_MODE: 'blocking', CHEQ_URI_EXCLUSION: '/healthz,^/static/' });
      for (const url of ['https://a.example/healthz', 'https://a.example/static/app.js?v=3']) {
        const response = await svc.check(envoyCheckRequest({ url, headers: BOT_HEADERS }));
        expectAllow(response);
        assert.equal(okHeaders(response)['x-cheq-decision'], 'excluded');
      }
      assert.equal(suite.rti.calls.length, 0);
      await svc.check(envoyCheckRequest({ url: 'https://a.example/healthz/x' }));
      assert.equal(suite.rti.calls.length, 1);
    });

    it('maps the event type from the path, and context_extensions override it', async () => {
      const svc = await start({
        CHEQ_ROUTE_TO_EVENT_TYPE: JSON.stringify({
          '/checkout': 'purchase',
          '/cart/.*': 'add_to_cart',
        }),
      });
      await svc.check(envoyCheckRequest({ url: 'https://a.example/checkout?step=2' }));
      await svc.check(envoyCheckRequest({ url: 'https://a.example/cart/add' }));
      await svc.check(envoyCheckRequest({ url: 'https://a.example/' }));
      await svc.check(
        envoyCheckRequest({
          url: 'https://a.example/checkout',
          contextExtensions: { cheq_event_type: 'registration' },
        }),
      );
      assert.deepEqual(
        suite.rti.calls.map(c => c.form.get('EventType')),
        ['purchase', 'add_to_cart', 'page_load', 'registration'],
      );
    });

    it('maps a path written with ; parameters or escapes as the backend reads it', async () => {
      const svc = await start({
        CHEQ_ROUTE_TO_EVENT_TYPE: JSON.stringify({ '/checkout/**': 'purchase' }),
      });
      for (const path of ['/checkout;jsessionid=1/pay', '/checkout%3Bx/pay', '/checkout/pay']) {
        await svc.check(envoyCheckRequest({ url: `https://a.example${path}` }));
      }
      assert.deepEqual(
        suite.rti.calls.map(c => c.form.get('EventType')),
        ['purchase', 'purchase', 'purchase'],
      );
    });

    it('sends Channel for custom events from the configured query parameter', async () => {
      const svc = await start({ CHEQ_CHANNEL_PARAM: 'evt' });
      await svc.check(
        envoyCheckRequest({
          url: 'https://a.example/track?evt=newsletter',
          contextExtensions: { cheq_event_type: 'custom' },
        }),
      );
      assert.equal(suite.rti.calls[0]?.form.get('EventType'), 'custom');
      assert.equal(suite.rti.calls[0]?.form.get('Channel'), 'newsletter');
    });
  });

  describe('forged verdict headers', () => {
    const FORGED = {
      ...BROWSER_HEADERS,
      'x-cheq-decision': 'valid',
      'x-cheq-invalid': 'false',
      'x-cheq-challenge': '0',
      'x-cheq-threat-type': '0',
      'x-cheq-rti-request-id': 'forged',
      'x-cheq-verdict': 'benign',
      'x-cheq-risk-score': '0',
      'x-cheq-ray-id': 'forged',
      'x-cheq-rti-result': 'version=4.1;verdict=benign;threat-type-code=0;ids={}',
      'x-cheq-added-later': 'forged',
      'x-cheq_decision': 'valid',
    };
    const ALL = [
      'x-cheq-threat-type',
      'x-cheq-invalid',
      'x-cheq-rti-request-id',
      'x-cheq-challenge',
      'x-cheq-verdict',
      'x-cheq-risk-score',
      'x-cheq-ray-id',
      'x-cheq-rti-result',
      'x-cheq-added-later',
      'x-cheq_decision',
    ];

    function assertNoForgedValueSurvives(response: CheckResponse__Output): void {
      const set = okHeaders(response);
      const removed = new Set(response.ok_response?.headers_to_remove ?? []);
      assert.ok(set['x-cheq-decision'], 'decision header overwritten');
      for (const name of ALL) {
        assert.notEqual(name in set, removed.has(name), `${name}: overwritten or removed`);
      }
      assert.notEqual(set['x-cheq-rti-request-id'], 'forged');
    }

    it('are overwritten or removed on allow, exclusion and fail-open', async () => {
      const svc = await start({ CHEQ_URI_EXCLUSION: '/static/.*' });
      assertNoForgedValueSurvives(await svc.check(envoyCheckRequest({ headers: FORGED })));
      assertNoForgedValueSurvives(
        await svc.check(
          envoyCheckRequest({ url: 'https://a.example/static/x.css', headers: FORGED }),
        ),
      );
      suite.rti.behaviour = () => ({ kind: 'raw', status: 503, body: 'down' });
      const failOpen = await svc.check(envoyCheckRequest({ headers: FORGED }));
      assertNoForgedValueSurvives(failOpen);
      assert.deepEqual(failOpen.ok_response?.headers_to_remove, ALL);
      assert.equal(okHeaders(failOpen)['x-cheq-decision'], 'fail_open');
    });
  });

  describe('fail open', () => {
    /** One check failed open on `failure`: the RTI call's result and the fail-open cause. */
    async function assertFailOpen(svc: TestService, failure: string): Promise<void> {
      const response = await svc.check(envoyCheckRequest({ headers: BOT_HEADERS }));
      expectAllow(response);
      assert.equal(okHeaders(response)['x-cheq-decision'], 'fail_open');
      const metrics = await svc.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_rti_requests_total', { result: failure }), 1);
      assert.equal(metricValue(metrics, 'cheq_authz_fail_open_total', { cause: failure }), 1);
      assert.equal(
        metricValue(metrics, 'cheq_authz_decisions_total', {
          action: 'allow',
          reason: 'fail_open',
        }),
        1,
      );
    }

    // RTI hangs forever: any answer at all shows the timeout cut the call.
    it('allows when RTI does not answer within timeout_ms, and not before it', async () => {
      suite.rti.behaviour = () => ({ kind: 'hang' });
      const svc = await start({ CHEQ_MODE: 'blocking', CHEQ_TIMEOUT_MS: '100' });
      const started = Date.now();
      await assertFailOpen(svc, 'rti_timeout');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 95, `answered after ${elapsed} ms, before the timeout`);
      const warning = svc.logs.find(l => l['msg'] === 'failed open');
      assert.equal(warning?.['failure'], 'rti_timeout');
    });

    it('allows when RTI stalls in the middle of its body', async () => {
      suite.rti.behaviour = () => ({ kind: 'stall-body' });
      const svc = await start({ CHEQ_MODE: 'blocking', CHEQ_TIMEOUT_MS: '80' });
      await assertFailOpen(svc, 'rti_timeout');
    });

    it('allows when RTI answers 5xx', async () => {
      suite.rti.behaviour = () => ({ kind: 'raw', status: 502, body: 'bad gateway' });
      const svc = await start({ CHEQ_MODE: 'blocking' });
      await assertFailOpen(svc, 'rti_http_status');
    });

    it('allows on a 5xx status at once, without waiting for its body', async () => {
      suite.rti.behaviour = () => ({ kind: 'stall-body', status: 503 });
      const svc = await start({ CHEQ_MODE: 'blocking', CHEQ_TIMEOUT_MS: '2000' });
      const started = performance.now();
      expectAllow(await svc.check(envoyCheckRequest({ headers: BOT_HEADERS })));
      // The body stalls until the deadline cuts it: answered before that is answered at once.
      assert.equal(suite.rti.calls[0]!.aborted, false, 'answered before the body was cut');
      const metrics = await svc.metrics();
      assert.equal(
        metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'rti_http_status' }),
        1,
      );
      // The body is drained no longer than the deadline: then the request is aborted.
      await suite.rti.waitForAborts(3000);
      assert.equal(
        suite.rti.calls[0]!.aborted,
        true,
        'the stalled 5xx body is cut at the deadline',
      );
      assert.ok(performance.now() - started >= 1900, 'not before the deadline');
    });

    it('allows when RTI answers garbage (HTML, wrong JSON shape)', async () => {
      suite.rti.behaviour = () => ({ kind: 'raw', status: 200, body: '<html>oops</html>' });
      const svc = await start({ CHEQ_MODE: 'blocking' });
      await assertFailOpen(svc, 'rti_bad_response');
      suite.rti.behaviour = () => ({
        kind: 'raw',
        status: 200,
        body: '{"isInvalid":"yes","threatTypeCode":2}',
        contentType: 'application/json',
      });
      const response = await svc.check(envoyCheckRequest({ headers: BOT_HEADERS }));
      expectAllow(response);
    });

    it('allows when RTI resets the connection', async () => {
      suite.rti.behaviour = () => ({ kind: 'reset' });
      const svc = await start({ CHEQ_MODE: 'blocking' });
      await assertFailOpen(svc, 'rti_connect_error');
    });

    it('allows when RTI refuses connections', async () => {
      const closed = await FakeRti.start();
      const url = closed.url;
      await closed.close();
      suite.service = await startService(url, { CHEQ_MODE: 'blocking' });
      await assertFailOpen(suite.service, 'rti_connect_error');
    });

    it("keeps the RTI call inside the proxy's gRPC deadline", async () => {
      // A margin of half the deadline: the answer's way back never needs that long.
      const svc = await start({
        CHEQ_MODE: 'blocking',
        CHEQ_TIMEOUT_MS: '5000',
        CHEQ_DEADLINE_MARGIN_MS: '500',
        CHEQ_RTI_CIRCUIT_BREAKER: 'false',
      });
      await svc.check(envoyCheckRequest({ url: 'https://a.example/warm-up' }));
      suite.rti.behaviour = () => ({ kind: 'hang' });
      const started = Date.now();
      // Rejects with DEADLINE_EXCEEDED if the RTI call outlives the deadline.
      const response = await svc.check(envoyCheckRequest({ headers: BOT_HEADERS }), 1000);
      const elapsed = Date.now() - started;
      expectAllow(response);
      assert.ok(elapsed >= 490, `answered after ${elapsed} ms, before deadline - margin`);
    });

    it('keeps one RTI connection for answered checks, none counted as cancelled', async () => {
      // grpc-js reports every closed call as cancelled, answered ones too: that must neither
      // abort the (finished) RTI request nor count.
      const svc = await start();
      const connectionsBefore = suite.rti.connections;
      for (let i = 0; i < 20; i++) expectAllow(await svc.check(envoyCheckRequest()));
      await new Promise(r => setTimeout(r, 50));
      const metrics = await svc.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'cancelled' }), 0);
      assert.equal(metricValue(metrics, 'cheq_authz_rti_requests_total', { result: 'ok' }), 20);
      assert.equal(
        suite.rti.connections - connectionsBefore,
        1,
        'one keep-alive connection to RTI',
      );
      assert.ok(suite.rti.calls.every(call => !call.aborted));
    });

    it('aborts the RTI request when the proxy cancels the call', async () => {
      suite.rti.behaviour = () => ({ kind: 'hang' });
      const svc = await start({ CHEQ_TIMEOUT_MS: '5000', CHEQ_DEADLINE_MARGIN_MS: '0' });
      // A deadline long enough that a busy machine still reaches RTI before it; the waits below
      // are hang guards, not speed checks.
      await assert.rejects(svc.check(envoyCheckRequest(), 1500), /DEADLINE_EXCEEDED|Deadline/);
      await suite.rti.waitForCalls(1);
      await suite.rti.waitForAborts(10_000);
      assert.equal(suite.rti.calls[0]!.aborted, true, 'RTI request aborted');
    });
  });

  describe('metrics', () => {
    it('exports every metric, with bounded labels and never the API key', async () => {
      suite.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
      const svc = await start({ CHEQ_MODE: 'blocking' });
      await svc.check(envoyCheckRequest({ url: 'https://a.example/secret-path?user=alice' }));
      const metrics = await svc.metrics();
      for (const name of [
        'cheq_authz_decisions_total',
        'cheq_authz_check_duration_seconds_bucket',
        'cheq_authz_checks_in_flight',
        'cheq_authz_fail_open_total',
        'cheq_authz_monitoring_would_act_total',
        'cheq_authz_rti_requests_total',
        'cheq_authz_rti_request_duration_seconds_bucket',
        'cheq_authz_threat_types_total',
        'cheq_authz_build_info',
        'cheq_authz_rti_timeout_seconds',
        'cheq_authz_mode',
        'process_cpu_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_seconds',
      ]) {
        assert.match(metrics, new RegExp(`^${name}[{ ]`, 'm'), name);
      }
      assert.equal(metricValue(metrics, 'cheq_authz_threat_types_total', { threat_type: '2' }), 1);
      assert.ok(!metrics.includes(TEST_API_KEY));
      assert.ok(!metrics.includes('secret-path'));
      assert.ok(!metrics.includes('198.51.100.7'));
    });
  });
});
