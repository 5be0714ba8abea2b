// RTI v4.1 end to end: a real gRPC client and a real NGINX with the shipped recipe in front of
// the server, the server speaking v4.1 to the RTI stand-in over loopback. What goes on the wire,
// what the upstream sees (x-cheq-rti-result), what a client can and cannot choose, and the
// default ignore list.

import { strict as assert } from 'node:assert';
import { request } from 'node:https';
import { okHeaders } from '../helpers/check-response';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, isV41Call, v4Verdict, type RecordedCall } from '../helpers/fake-rti-server';
import {
  findNginx,
  renderShippedConfig,
  startNginx,
  startNginxWith,
  type RunningNginx,
} from '../helpers/nginx';
import { startService, TEST_API_KEY, type TestService } from '../helpers/start-service';
import { hasOpenssl, TestPki } from '../helpers/test-certs';
import { get, UpstreamApp } from '../helpers/upstream-app';

interface V41Body {
  readonly [field: string]: unknown;
  readonly endUserParams: {
    readonly [field: string]: unknown;
    readonly headers: Record<string, string>;
  };
}

function bodyOf(call: RecordedCall | undefined): V41Body {
  assert.ok(call, 'RTI was called');
  assert.ok(isV41Call(call), `posted to ${call.path}`);
  return call.json as V41Body;
}

/** Malicious for a User-Agent with `bot`, else benign; v4.1's ids echo customId2. */
function answerFor(_form: URLSearchParams, call: RecordedCall) {
  const body = call.json as V41Body;
  const ua = body.endUserParams.headers['user-agent'] ?? '';
  const requestId = typeof body['customId2'] === 'string' ? body['customId2'] : null;
  const ids = { rayId: 'ray-41', customParam2: requestId };
  if (ua.includes('bot')) {
    return v4Verdict({
      metadata: { version: '4.1' },
      decision: { verdict: 'malicious' },
      classification: { code: 2 },
      ids,
    });
  }
  return v4Verdict({ metadata: { version: '4.1' }, ids });
}

const CHROME = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36',
  accept: 'text/html',
  'accept-language': 'en-GB',
  'sec-ch-ua': '"Chromium";v="126", "Not.A/Brand";v="24"',
  'sec-ch-ua-mobile': '?0',
  'sec-ch-ua-platform': '"Linux"',
  'sec-fetch-site': 'none',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-user': '?1',
  'sec-fetch-dest': 'document',
  signature: 'sig1=:dGVzdA==:',
  'signature-input': 'sig1=("@authority");created=1700000000;keyid="k1"',
  'signature-agent': '"https://agent.example"',
};

describe('RTI v4.1 through gRPC Check (integration)', function () {
  this.timeout(20_000);
  let rti: FakeRti;
  let service: TestService;

  before(async () => {
    rti = await FakeRti.start();
    rti.behaviour = answerFor;
    service = await startService(rti.url, { CHEQ_API_VERSION: 'v4.1', CHEQ_MODE: 'blocking' });
  });
  after(async () => {
    await service?.close();
    await rti?.close();
  });
  beforeEach(() => {
    rti.calls.length = 0;
  });

  it('posts the v4.1 body to /defend/4.1/traffic, field by field', async () => {
    await service.check(
      envoyCheckRequest({
        url: 'https://shop.example.com/p/1',
        peer: '203.0.113.50',
        requestId: 'envoy-req-9',
        headers: {
          ...CHROME,
          cookie: '_cq_se=pass; _cq_s=c2Vzc2lvbg==; _cq_s2=x; _cq_duid=d-1',
          authorization: 'Bearer secret',
          // As the shipped Envoy recipe sets them, ahead of the check.
          'x-cheq-tls-cipher': 'TLS_AES_128_GCM_SHA256',
          'x-cheq-tls-version': 'TLSv1.3',
          'x-cheq-geo-region': 'BY',
        },
      }),
    );
    assert.equal(rti.calls.length, 1);
    assert.equal(rti.calls[0]?.path, '/defend/4.1/traffic');
    assert.deepEqual(bodyOf(rti.calls[0]), {
      tagHash: 'test-tag-hash',
      apiKey: TEST_API_KEY,
      endUserParams: {
        clientIp: '203.0.113.50',
        requestUrl: 'https://shop.example.com/p/1',
        headerNames: ['host', ...Object.keys(CHROME), 'cookie', 'authorization'].join(','),
        method: 'GET',
        headers: {
          host: 'shop.example.com',
          'user-agent': CHROME['user-agent'],
          accept: 'text/html',
          'accept-language': 'en-GB',
          'sec-fetch-dest': 'document',
          'sec-fetch-mode': 'navigate',
          'sec-fetch-site': 'none',
          'sec-fetch-user': '?1',
          'sec-ch-ua': CHROME['sec-ch-ua'],
          'sec-ch-ua-mobile': '?0',
          'sec-ch-ua-platform': '"Linux"',
          signature: CHROME.signature,
          'signature-input': CHROME['signature-input'],
          'signature-agent': CHROME['signature-agent'],
          cheq_tls_cipher: 'TLS_AES_128_GCM_SHA256',
          cheq_tls_version: 'TLSv1.3',
          cheq_geo_region: 'BY',
        },
      },
      isHeaderNamesOrdered: true,
      channel: 'cheq-rti-authz',
      customId1: 'page_load',
      duidCookie: 'd-1',
      sCookie: 'c2Vzc2lvbg==',
      customId2: 'envoy-req-9',
    });
  });

  it('allows a benign visitor; x-cheq-rti-result goes upstream in CHEQ format', async () => {
    const response = await service.check(
      envoyCheckRequest({
        requestId: 'envoy-req-10',
        headers: { ...CHROME, 'x-cheq-rti-result': 'version=4.1;verdict=benign;forged' },
      }),
    );
    assert.equal(response.status?.code ?? 0, 0);
    assert.equal(
      okHeaders(response)['x-cheq-rti-result'],
      'version=4.1;verdict=benign;threat-type-code=0;ids={"rayId":"ray-41","pageViewId":"pvid-1","duid":"duid-1","uniqueVisitId":"visit-1","customParam2":"envoy-req-10"}',
    );
    assert.equal(okHeaders(response)['x-cheq-verdict'], 'benign');
  });

  it('answers garbage from RTI by failing open (rti_bad_response)', async () => {
    rti.behaviour = () => ({ kind: 'raw', status: 200, body: '{"decision":"yes"}' });
    try {
      const response = await service.check(envoyCheckRequest({ headers: CHROME }));
      assert.equal(response.status?.code ?? 0, 0);
      assert.equal(okHeaders(response)['x-cheq-decision'], 'fail_open');
      assert.equal(okHeaders(response)['x-cheq-rti-result'], undefined);
    } finally {
      rti.behaviour = answerFor;
    }
  });

  it('does not call RTI for a path of the default ignore list', async () => {
    const response = await service.check(
      envoyCheckRequest({ url: 'https://shop.example.com/assets/app.js', headers: CHROME }),
    );
    assert.equal(okHeaders(response)['x-cheq-decision'], 'ignored');
    assert.equal(rti.calls.length, 0);
  });
});

describe('RTI v4.1 through a real NGINX with the shipped recipe (integration)', function () {
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
    service = await startService(rti.url, { CHEQ_API_VERSION: 'v4.1', CHEQ_MODE: 'blocking' });
    app = new UpstreamApp();
    nginx = await startNginx(nginxBinary, `127.0.0.1:${service.app.httpPort}`, await app.start());
  });
  after(async () => {
    await nginx?.stop();
    await service?.close();
    await app?.close();
    await rti?.close();
  });
  beforeEach(() => {
    rti.calls.length = 0;
  });

  it("sends NGINX's request id as customId2; the app gets x-cheq-rti-result, never the client's", async () => {
    const answer = await get(`${nginx.url}/products`, {
      'User-Agent': 'Mozilla/5.0',
      Accept: 'text/html',
      'X-Cheq-Rti-Result': 'version=4.1;verdict=benign;threat-type-code=0;ids={}',
    });
    assert.equal(answer.status, 200);
    const body = bodyOf(rti.calls.at(-1));
    const requestId = body['customId2'];
    assert.match(String(requestId), /^[0-9a-f]{32}$/, "NGINX's $request_id");
    assert.equal(
      app.seen.at(-1)?.['x-cheq-rti-result'],
      `version=4.1;verdict=benign;threat-type-code=0;ids={"rayId":"ray-41","pageViewId":"pvid-1","duid":"duid-1","uniqueVisitId":"visit-1","customParam2":"${String(requestId)}"}`,
    );
  });

  it('never lets a client choose the TLS or geo facts (no TLS here: none is sent)', async () => {
    await get(`${nginx.url}/products`, {
      'User-Agent': 'Mozilla/5.0',
      'X-Cheq-Tls-Cipher': 'CLIENT-CHOSEN',
      'X-Cheq-Tls-Version': 'TLSv9',
      'X-Cheq-Geo-Region': 'XX',
    });
    const { endUserParams } = bodyOf(rti.calls.at(-1));
    for (const name of ['cheq_tls_cipher', 'cheq_tls_version', 'cheq_geo_region']) {
      assert.ok(!(name in endUserParams.headers), name);
    }
    assert.doesNotMatch(String(endUserParams['headerNames']), /x-cheq-(tls|geo)/);
  });

  it('serves a robots.txt without asking RTI, but checks /admin;.css', async () => {
    const ignored = await get(`${nginx.url}/robots.txt`, { 'User-Agent': 'price-bot' });
    assert.equal(ignored.status, 200);
    assert.equal(app.seen.at(-1)?.['x-cheq-decision'], 'ignored');
    assert.equal(rti.calls.length, 0);

    const before = app.seen.length;
    const checked = await get(`${nginx.url}/admin;.css`, { 'User-Agent': 'price-bot' });
    assert.equal(checked.status, 403);
    assert.equal(rti.calls.length, 1);
    assert.equal(app.seen.length, before);
  });
});

describe('RTI v4.1 through a real NGINX over TLS with the shipped recipe (integration)', function () {
  this.timeout(20_000);
  const nginxBinary = findNginx();
  let rti: FakeRti;
  let service: TestService;
  let app: UpstreamApp;
  let nginx: RunningNginx;
  let pki: TestPki;

  before(async () => {
    if (!nginxBinary) throw new Error('nginx is required (apt-get install nginx)');
    if (!hasOpenssl()) throw new Error('openssl is required (apt-get install openssl)');
    pki = TestPki.create();
    const cert = pki.issue(pki.ca('ca'), 'nginx', 'server');
    rti = await FakeRti.start();
    rti.behaviour = answerFor;
    service = await startService(rti.url, { CHEQ_API_VERSION: 'v4.1', CHEQ_MODE: 'blocking' });
    app = new UpstreamApp();
    const appAddress = await app.start();
    const authz = `127.0.0.1:${service.app.httpPort}`;
    nginx = await startNginxWith(nginxBinary, (prefix, port) => {
      const conf = renderShippedConfig(prefix, authz);
      return `
    include ${conf}/cheq-authz-upstream.conf;
    upstream app { server ${appAddress}; keepalive 4; }
    server {
        listen 127.0.0.1:${port} ssl;
        ssl_certificate ${cert.certFile};
        ssl_certificate_key ${cert.keyFile};
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;
        include ${conf}/cheq-authz.conf;
        location / {
            include ${conf}/cheq-authz-protect.conf;
            proxy_pass http://app;
        }
    }`;
    });
  });
  after(async () => {
    await nginx?.stop();
    await service?.close();
    await app?.close();
    await rti?.close();
    pki?.remove();
  });

  it("sends NGINX's TLS cipher and version to RTI, never the client's", async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(
        `${nginx.url.replace('http:', 'https:')}/products`,
        {
          rejectUnauthorized: false,
          headers: {
            'User-Agent': 'Mozilla/5.0',
            'X-Cheq-Tls-Cipher': 'CLIENT-CHOSEN',
            'X-Cheq-Tls-Version': 'TLSv9',
            'X-Cheq-Geo-Region': 'XX',
          },
        },
        res => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    const { headers } = bodyOf(rti.calls.at(-1)).endUserParams;
    assert.equal(headers['cheq_tls_cipher'], 'ECDHE-ECDSA-AES128-GCM-SHA256');
    assert.equal(headers['cheq_tls_version'], 'TLSv1.2');
    assert.ok(!('cheq_geo_region' in headers));
  });
});
