// RTI v4 end to end: a real gRPC client and a real NGINX in front of the server, the server
// speaking v4 to a fake RTI over loopback. What goes on the wire, what the defaults and the
// configured rules do with v4 verdicts, and what the upstream, the browser and /metrics see.

import { strict as assert } from 'node:assert';
import { okHeaders } from '../helpers/check-response';
import { envoyCheckRequest, BROWSER_HEADERS } from '../helpers/envoy-check-request';
import { FakeRti, isV4Call, v4Verdict, type RecordedCall } from '../helpers/fake-rti-server';
import { findNginx, startNginx, type RunningNginx } from '../helpers/nginx';
import {
  metricValue,
  startService,
  TEST_API_KEY,
  type TestService,
} from '../helpers/start-service';
import { get, UpstreamApp } from '../helpers/upstream-app';

const RULES = [
  { name: 'partners', when: { reasons: [501] }, action: 'allow' },
  { name: 'very risky', when: { verdict: 'suspicious', min_risk_score: 90 }, action: 'block' },
];

/** The fake RTI's v4 answer, chosen from the User-Agent the server passed on. */
function answerFor(_form: URLSearchParams, call: RecordedCall) {
  const body = call.json as { endUserParams?: { headers?: Record<string, string> } } | undefined;
  const ua = body?.endUserParams?.headers?.['user-agent'] ?? '';
  if (ua.includes('partner')) {
    return v4Verdict({
      decision: { verdict: 'malicious' },
      classification: { code: 2 },
      cheqDetection: { reasons: [12, 501] },
    });
  }
  if (ua.includes('bot')) {
    return v4Verdict({
      decision: { verdict: 'malicious', ruleName: 'bad-bots', riskScore: 97 },
      classification: { code: 10 },
      ids: { rayId: 'ray-bot-1' },
    });
  }
  if (ua.includes('risky')) {
    return v4Verdict({
      decision: { verdict: 'suspicious', riskScore: 95 },
      classification: { code: 14 },
    });
  }
  if (ua.includes('vpn')) {
    return v4Verdict({
      decision: { verdict: 'suspicious', riskScore: 40 },
      classification: { code: 14 },
    });
  }
  return v4Verdict({ ids: { rayId: 'ray-ok-1' } });
}

describe('RTI v4 end to end (integration)', function () {
  this.timeout(20_000);
  let rti: FakeRti;
  let service: TestService;

  before(async () => {
    rti = await FakeRti.start();
    rti.behaviour = answerFor;
    service = await startService(rti.url, {
      CHEQ_API_VERSION: 'v4',
      CHEQ_MODE: 'blocking',
      CHEQ_CHALLENGE_ACTION: 'redirect',
      CHEQ_CHALLENGE_URL: 'https://www.example.com/verify',
      CHEQ_JA3_HEADER: 'x-ja3',
      CHEQ_JA4_HEADER: 'x-ja4',
      CHEQ_POLICY_RULES: JSON.stringify(RULES),
    });
  });
  after(async () => {
    await service?.close();
    await rti?.close();
  });
  beforeEach(() => {
    rti.calls.length = 0;
  });

  it('posts the v4 JSON body to /defend/4.0/traffic, field by field', async () => {
    await service.check(
      envoyCheckRequest({
        url: 'https://shop.example.com/cart/add?sku=9',
        method: 'POST',
        peer: '203.0.113.50',
        headers: {
          'user-agent': 'Mozilla/5.0 Firefox/128.0',
          accept: 'text/html',
          'accept-language': 'de',
          cookie: '_cq_duid=d-123; other=1; _cq_pvid=p-456',
          authorization: 'Bearer secret',
          'x-ja3': 'ja3hash',
          'x-ja4': 't13d1516h2_8daaf6152771',
        },
        contextExtensions: { cheq_event_type: 'add_to_cart' },
      }),
    );
    assert.equal(rti.calls.length, 1);
    const call = rti.calls[0]!;
    assert.ok(isV4Call(call));
    assert.equal(call.path, '/defend/4.0/traffic');
    assert.equal(call.method, 'POST');
    assert.match(String(call.headers['content-type']), /^application\/json/);
    assert.deepEqual(call.json, {
      tagHash: 'test-tag-hash',
      apiKey: TEST_API_KEY,
      endUserParams: {
        clientIp: '203.0.113.50',
        requestUrl: 'https://shop.example.com/cart/add?sku=9',
        headerNames: 'host,user-agent,accept,accept-language,cookie,authorization,x-ja3,x-ja4',
        method: 'POST',
        headers: {
          host: 'shop.example.com',
          'user-agent': 'Mozilla/5.0 Firefox/128.0',
          accept: 'text/html',
          'accept-language': 'de',
          cheq_ja3: 'ja3hash',
          cheq_ja4: 't13d1516h2_8daaf6152771',
        },
      },
      isHeaderNamesOrdered: true,
      channel: 'cheq-rti-authz',
      customId1: 'add_to_cart',
      duidCookie: 'd-123',
      pvidCookie: 'p-456',
    });
  });

  it('allows a benign visitor with verdict, code, risk score and ray id upstream', async () => {
    const response = await service.check(envoyCheckRequest());
    assert.equal(response.status?.code ?? 0, 0);
    assert.deepEqual(okHeaders(response), {
      'x-cheq-decision': 'valid',
      'x-cheq-threat-type': '0',
      'x-cheq-invalid': 'false',
      'x-cheq-verdict': 'benign',
      'x-cheq-risk-score': '4',
      'x-cheq-ray-id': 'ray-ok-1',
      'x-cheq-rti-result':
        'version=4.0;verdict=benign;threat-type-code=0;' +
        'ids={"rayId":"ray-ok-1","pageViewId":"pvid-1","duid":"duid-1","uniqueVisitId":"visit-1"}',
    });
    // v4 sets no cookie from the server.
    assert.deepEqual(response.ok_response?.response_headers_to_add ?? [], []);
    const meta = response.dynamic_metadata?.fields ?? {};
    assert.equal(meta['cheq_rule']?.stringValue, 'default:benign');
    assert.equal(meta['cheq_ray_id']?.stringValue, 'ray-ok-1');
  });

  it('denies a malicious verdict (default rule) with 403', async () => {
    const response = await service.check(
      envoyCheckRequest({ headers: { 'user-agent': 'price-bot', accept: 'application/json' } }),
    );
    assert.equal(response.denied_response?.status?.code, 403);
    const meta = response.dynamic_metadata?.fields ?? {};
    assert.equal(meta['cheq_rule']?.stringValue, 'default:malicious');
    assert.equal(meta['cheq_verdict']?.stringValue, 'malicious');
    assert.equal(meta['cheq_risk_score']?.numberValue, 97);
  });

  it('challenges a suspicious navigation: redirect to challenge_url', async () => {
    const response = await service.check(
      envoyCheckRequest({ headers: { ...BROWSER_HEADERS, 'user-agent': 'Mozilla/5.0 vpn' } }),
    );
    assert.equal(response.denied_response?.status?.code, 302);
    const location = response.denied_response?.headers?.find(h => h.header?.key === 'location');
    assert.equal(location?.header?.value, 'https://www.example.com/verify');
  });

  it('configured rules act first: a reason allows a malicious verdict, a score blocks a suspicious one', async () => {
    const partner = await service.check(
      envoyCheckRequest({ headers: { ...BROWSER_HEADERS, 'user-agent': 'partner-monitor' } }),
    );
    assert.equal(partner.status?.code ?? 0, 0);
    assert.equal(okHeaders(partner)['x-cheq-decision'], 'threat_unlisted');
    assert.equal(partner.dynamic_metadata?.fields?.['cheq_rule']?.stringValue, 'partners');

    const risky = await service.check(
      envoyCheckRequest({ headers: { ...BROWSER_HEADERS, 'user-agent': 'Mozilla/5.0 risky vpn' } }),
    );
    assert.equal(risky.denied_response?.status?.code, 403, 'blocked, not challenged');
    assert.equal(risky.dynamic_metadata?.fields?.['cheq_rule']?.stringValue, 'very risky');
  });

  it('counts verdicts by the rule that acted', async () => {
    await service.check(envoyCheckRequest({ headers: { 'user-agent': 'price-bot' } }));
    const metrics = await service.metrics();
    assert.ok(
      metricValue(metrics, 'cheq_authz_verdicts_total', {
        verdict: 'malicious',
        rule: 'default:malicious',
      }) >= 1,
    );
    assert.ok(
      metricValue(metrics, 'cheq_authz_verdicts_total', {
        verdict: 'benign',
        rule: 'default:benign',
      }) >= 1,
    );
  });
});

describe('RTI v4 through a real NGINX (integration)', function () {
  this.timeout(20_000);
  const nginxBinary = findNginx();
  let rti: FakeRti;
  let service: TestService;
  let app: UpstreamApp;
  let nginx: RunningNginx;

  before(async () => {
    if (!nginxBinary) throw new Error('nginx is required (apt-get install nginx)');
    rti = await FakeRti.start();
    rti.behaviour = answerFor;
    service = await startService(rti.url, { CHEQ_API_VERSION: 'v4', CHEQ_MODE: 'blocking' });
    app = new UpstreamApp();
    nginx = await startNginx(nginxBinary, `127.0.0.1:${service.app.httpPort}`, await app.start());
  });
  after(async () => {
    await nginx?.stop();
    await service?.close();
    await app?.close();
    await rti?.close();
  });

  it('serves a benign visitor; the app sees the v4 verdict headers', async () => {
    const answer = await get(`${nginx.url}/products`, {
      'User-Agent': 'Mozilla/5.0',
      Accept: 'text/html',
    });
    assert.equal(answer.status, 200);
    const seen = app.seen.at(-1)!;
    assert.equal(seen['x-cheq-decision'], 'valid');
    assert.equal(seen['x-cheq-verdict'], 'benign');
    assert.equal(seen['x-cheq-risk-score'], '4');
    assert.equal(seen['x-cheq-ray-id'], 'ray-ok-1');
    const call = rti.calls.at(-1)!;
    assert.ok(isV4Call(call));
    const body = call.json as { endUserParams: { clientIp: string; requestUrl: string } };
    assert.equal(body.endUserParams.clientIp, '127.0.0.1');
    assert.equal(body.endUserParams.requestUrl, 'http://127.0.0.1/products');
  });

  it('denies a malicious visitor with 403; the app is never called', async () => {
    const before = app.seen.length;
    const answer = await get(`${nginx.url}/products`, { 'User-Agent': 'price-bot' });
    assert.equal(answer.status, 403);
    assert.equal(app.seen.length, before);
  });
});
