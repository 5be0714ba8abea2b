// The HTTP listener over real sockets: NGINX auth_request, Envoy HTTP ext_authz and forward
// auth endpoints, each outcome, as the proxies send them; bad control headers get a 4xx.

import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { metricValue, startService, type TestService } from '../helpers/start-service';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request with exactly these headers (fetch would add its own). */
function send(
  url: string,
  headers: Record<string, string>,
  method = 'GET',
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, res => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const BROWSER = {
  'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
  Accept: 'text/html,application/xhtml+xml',
  'Sec-Fetch-Mode': 'navigate',
  Cookie: '_cheq_rti=visitor; theme=dark',
};

describe('HTTP endpoints (integration)', () => {
  let rti: FakeRti;
  let service: TestService;

  before(async () => {
    rti = await FakeRti.start();
    rti.behaviour = form => {
      const ua = form.get('UserAgent') ?? '';
      if (ua.includes('bot')) return verdict({ isInvalid: true, threatTypeCode: 2 });
      if (ua.includes('vpn')) return verdict({ isInvalid: true, threatTypeCode: 14 });
      return verdict({});
    };
    service = await startService(rti.url, {
      CHEQ_MODE: 'blocking',
      CHEQ_CHALLENGE_ACTION: 'redirect',
      CHEQ_CHALLENGE_URL: 'https://www.example.com/challenge',
    });
  });
  after(async () => {
    await service.close();
    await rti.close();
  });
  beforeEach(() => {
    rti.calls.length = 0;
  });

  describe('NGINX auth_request: /api/authz/auth-request', () => {
    const nginx = (extra: Record<string, string>, method = 'GET'): Promise<Answer> =>
      send(
        `${service.httpUrl}/api/authz/auth-request`,
        {
          Host: 'cheq_authz',
          'X-Original-URI': '/products/7?color=red',
          'X-Original-Method': 'POST',
          'X-Original-Host': 'shop.example.com',
          'X-Forwarded-Proto': 'https',
          'X-Real-IP': '203.0.113.9',
          'X-Request-ID': 'nginx-req-1',
          ...extra,
        },
        method,
      );

    it('allows with 200, Content-Length 0, verdict headers and one Set-Cookie', async () => {
      const answer = await nginx(BROWSER);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-length'], '0');
      assert.equal(answer.headers['transfer-encoding'], undefined);
      assert.equal(answer.headers['x-cheq-decision'], 'valid');
      assert.equal(answer.headers['x-cheq-threat-type'], '0');
      assert.deepEqual(answer.headers['set-cookie'], [
        '_cheq_rti=fake-cookie; Path=/; Max-Age=3600',
      ]);
    });

    it('describes the original request to RTI, not the subrequest', async () => {
      await nginx(BROWSER);
      const form = rti.calls[0]!.form;
      assert.equal(form.get('RequestURL'), 'https://shop.example.com/products/7?color=red');
      assert.equal(form.get('Method'), 'POST');
      assert.equal(form.get('ClientIP'), '203.0.113.9');
      assert.equal(form.get('Host'), 'shop.example.com');
      assert.equal(form.get('CheqCookie'), 'visitor');
      assert.equal(
        form.get('HeaderNames'),
        'host,x-real-ip,user-agent,accept,sec-fetch-mode,cookie',
        'control headers left out, Host put back as the original host',
      );
    });

    it('denies with 403 and Content-Length 0', async () => {
      const answer = await nginx({ ...BROWSER, 'User-Agent': 'price-bot' });
      assert.equal(answer.status, 403);
      assert.equal(answer.headers['content-length'], '0');
      assert.equal(answer.body, '');
      assert.deepEqual(answer.headers['set-cookie'], [
        '_cheq_rti=fake-cookie; Path=/; Max-Age=3600',
      ]);
    });

    it('redirects with 401 + Location (the shipped config turns it into a 302)', async () => {
      const post = await nginx({ ...BROWSER, 'User-Agent': 'Mozilla/5.0 vpn' });
      assert.equal(post.status, 403, 'a POST cannot follow a redirect to a page: denied');
      const navigation = await send(`${service.httpUrl}/api/authz/auth-request`, {
        'X-Original-URI': '/',
        'X-Original-Method': 'GET',
        'X-Original-Host': 'shop.example.com',
        ...BROWSER,
        'User-Agent': 'Mozilla/5.0 vpn',
      });
      assert.equal(navigation.status, 401);
      assert.equal(navigation.headers['location'], 'https://www.example.com/challenge');
      assert.equal(navigation.headers['cache-control'], 'no-store');
      assert.equal(navigation.headers['content-length'], '0');
    });

    it('answers 400 for missing or malformed control headers, and counts them', async () => {
      const cases: [Record<string, string>, string][] = [
        [{ 'X-Original-URI': '' }, 'missing_x_original_uri'],
        [{ 'X-Original-Method': '' }, 'missing_x_original_method'],
        [{ 'X-Forwarded-Proto': 'gopher' }, 'invalid_x_forwarded_proto'],
      ];
      for (const [headers, reason] of cases) {
        const answer = await nginx({ ...BROWSER, ...headers });
        assert.equal(answer.status, 400, reason);
        assert.match(answer.body, /header/);
        const metrics = await service.metrics();
        assert.equal(
          metricValue(metrics, 'cheq_authz_rejected_requests_total', { reason }),
          1,
          reason,
        );
      }
      const noMethod = await send(`${service.httpUrl}/api/authz/auth-request`, {
        'X-Original-URI': '/',
      });
      assert.equal(noMethod.status, 400);
      assert.equal(rti.calls.length, 0);
    });

    // The shipped NGINX config fails open on a 400: what a client chose must be decided.
    it('decides an odd target or method as sent (never a 400), asking RTI', async () => {
      const cases: readonly (readonly [target: string, method: string, url: string])[] = [
        ['?x=1', 'GET', 'https://shop.example.com/?x=1'],
        ['products', 'GET', 'https://shop.example.com/products'],
        ['*', 'OPTIONS', 'https://shop.example.com/*'],
        ['/products', 'GET_', 'https://shop.example.com/products'],
        ['/products', 'G E T', 'https://shop.example.com/products'],
      ];
      for (const [target, method, url] of cases) {
        rti.calls.length = 0;
        const answer = await nginx({
          ...BROWSER,
          'X-Original-URI': target,
          'X-Original-Method': method,
        });
        assert.equal(answer.status, 200, `${method} ${target}`);
        assert.equal(rti.calls.length, 1, `${method} ${target}: RTI asked`);
        assert.equal(rti.calls[0]?.form.get('RequestURL'), url);
        assert.equal(rti.calls[0]?.form.get('Method'), method);
      }
    });

    it('accepts 60 KiB of headers (Node would answer 431 at 16 KiB)', async () => {
      const answer = await nginx({ ...BROWSER, 'X-Big': 'a'.repeat(60 * 1024) });
      assert.equal(answer.status, 200);
    });
  });

  describe('Envoy HTTP ext_authz: /api/authz/ext-authz/<original path>', () => {
    const envoy = (
      path: string,
      headers: Record<string, string>,
      method = 'GET',
    ): Promise<Answer> =>
      send(
        `${service.httpUrl}/api/authz/ext-authz${path}`,
        {
          Host: 'shop.example.com',
          'Content-Length': '0',
          'X-Forwarded-Proto': 'https',
          ...headers,
        },
        method,
      );

    it('allows with exactly 200, verdict headers, forged ones removed, and the cookie', async () => {
      const answer = await envoy('/cart?x=1', {
        ...BROWSER,
        // What the shipped envoy-http.yaml adds: Envoy's own downstream address.
        'X-Real-IP': '198.51.100.4',
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['x-cheq-decision'], 'valid');
      assert.equal(
        answer.headers['x-envoy-auth-headers-to-remove'],
        'x-cheq-challenge, x-cheq-risk-score, x-cheq-ray-id, x-cheq-rti-result',
      );
      assert.deepEqual(answer.headers['set-cookie'], [
        '_cheq_rti=fake-cookie; Path=/; Max-Age=3600',
      ]);
      const form = rti.calls[0]!.form;
      assert.equal(form.get('RequestURL'), 'https://shop.example.com/cart?x=1');
      assert.equal(form.get('ClientIP'), '198.51.100.4');
    });

    it("keeps the client's method and maps the bare prefix to /", async () => {
      await envoy('', BROWSER, 'DELETE');
      assert.equal(rti.calls[0]!.form.get('Method'), 'DELETE');
      assert.equal(rti.calls[0]!.form.get('RequestURL'), 'https://shop.example.com/');
    });

    it('denies with 403 and a JSON body for an API client', async () => {
      const answer = await envoy('/api/items', { 'User-Agent': 'bot', Accept: 'application/json' });
      assert.equal(answer.status, 403);
      assert.equal(answer.headers['content-type'], 'application/json');
      assert.equal((JSON.parse(answer.body) as { error: string }).error, 'access_denied');
      assert.equal(Number(answer.headers['content-length']), Buffer.byteLength(answer.body));
    });

    it('redirects a navigation with 302 + Location', async () => {
      const answer = await envoy('/', { ...BROWSER, 'User-Agent': 'vpn' });
      assert.equal(answer.status, 302);
      assert.equal(answer.headers['location'], 'https://www.example.com/challenge');
    });

    it('ignores a request body', async () => {
      const answer = await send(
        `${service.httpUrl}/api/authz/ext-authz/upload`,
        { ...BROWSER, Host: 'shop.example.com', 'Content-Type': 'text/plain' },
        'POST',
        'x'.repeat(10_000),
      );
      assert.equal(answer.status, 200);
    });
  });

  describe('forward auth (Traefik, Caddy): /api/authz/forward-auth', () => {
    const forward = (headers: Record<string, string>): Promise<Answer> =>
      send(`${service.httpUrl}/api/authz/forward-auth`, {
        'X-Forwarded-Method': 'GET',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': 'shop.example.com',
        'X-Forwarded-Uri': '/account?tab=2',
        // Caddy and Traefik append their peer: the rightmost entry.
        'X-Forwarded-For': '6.6.6.6, 192.0.2.10',
        ...headers,
      });

    it('allows with 200 and every verdict header, empty when it does not apply', async () => {
      const answer = await forward(BROWSER);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['x-cheq-decision'], 'valid');
      assert.equal(answer.headers['x-cheq-challenge'], '');
      const form = rti.calls[0]!.form;
      assert.equal(form.get('RequestURL'), 'https://shop.example.com/account?tab=2');
      assert.equal(form.get('ClientIP'), '192.0.2.10');
    });

    it('denies with 403 and redirects with 302', async () => {
      assert.equal((await forward({ ...BROWSER, 'User-Agent': 'bot' })).status, 403);
      const redirect = await forward({ ...BROWSER, 'User-Agent': 'vpn' });
      assert.equal(redirect.status, 302);
      assert.equal(redirect.headers['location'], 'https://www.example.com/challenge');
    });

    it('answers 400 without X-Forwarded-Uri', async () => {
      const answer = await send(`${service.httpUrl}/api/authz/forward-auth`, {
        'X-Forwarded-Method': 'GET',
      });
      assert.equal(answer.status, 400);
      assert.match(answer.body, /missing X-Forwarded-Uri header/);
    });
  });

  describe('routing', () => {
    it('answers 404 elsewhere, and counts decisions per transport', async () => {
      assert.equal((await send(`${service.httpUrl}/`, {})).status, 404);
      assert.equal((await send(`${service.httpUrl}/api/authz/auth-requestx`, {})).status, 404);
      const metrics = await service.metrics();
      assert.equal(
        metricValue(metrics, 'cheq_authz_rejected_requests_total', {
          transport: 'http',
          reason: 'not_found',
        }),
        2,
      );
      for (const transport of ['nginx', 'envoy_http', 'forward_auth']) {
        assert.ok(
          metricValue(metrics, 'cheq_authz_decisions_total', {
            transport,
            action: 'allow',
            reason: 'valid',
          }) > 0,
          transport,
        );
      }
    });
  });
});
