// The whole served challenge over real sockets with the RTI stand-in (issue #22): through gRPC
// Check calls alone (no extra route in Envoy or Istio), through forward auth (Caddy, Traefik)
// and Envoy HTTP (our answer passed as it is), and through NGINX auth_request plus the page
// endpoint. Page -> verify 302 + cookie -> allow challenge_passed, RTI asked every time but for
// the verify request.

import { strict as assert } from 'node:assert';
import { tokenOf, verifyTarget } from '../helpers/challenge-client';
import { BROWSER_HEADERS, envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { metricValue, startService, type TestService } from '../helpers/start-service';
import { get, type HttpAnswer } from '../helpers/upstream-app';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';

const SECRET = 'integration-secret-0123456789abcdef';
const BROWSER: Record<string, string> = {
  'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0 vpn',
  Accept: 'text/html,application/xhtml+xml',
  'Accept-Language': 'en-GB',
  'Sec-Fetch-Mode': 'navigate',
};

function deniedHeaders(response: CheckResponse__Output): Map<string, string> {
  return new Map(
    (response.denied_response?.headers ?? []).map(h => [
      h.header?.key ?? '',
      h.header?.value ?? '',
    ]),
  );
}

function cookiePair(setCookie: string | string[] | undefined): string {
  const value = Array.isArray(setCookie) ? setCookie.find(c => c.startsWith('_cq_se=')) : setCookie;
  const pair = value?.split(';')[0] ?? '';
  assert.ok(pair.startsWith('_cq_se='), String(setCookie));
  return pair;
}

describe('served challenge flow (integration)', () => {
  let rti: FakeRti;
  let service: TestService;

  before(async () => {
    rti = await FakeRti.start();
    // A VPN: challenge code 14 for every request.
    rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 14 });
    service = await startService(rti.url, {
      CHEQ_MODE: 'blocking',
      CHEQ_CHALLENGE_SECRET: SECRET,
      CHEQ_CHALLENGE_DIFFICULTY: '8',
    });
  });
  after(async () => {
    await service.close();
    await rti.close();
  });
  beforeEach(() => {
    rti.calls.length = 0;
  });

  it('gRPC Check calls alone: page, verify 302 + cookie, then allow challenge_passed', async () => {
    const page = await service.check(
      envoyCheckRequest({ url: 'https://shop.example.com/cart?x=1' }),
    );
    assert.equal(page.status?.code, 7);
    assert.equal(page.denied_response?.status?.code, 403);
    const pageHeaders = deniedHeaders(page);
    assert.equal(pageHeaders.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(pageHeaders.get('cache-control'), 'no-store');
    assert.match(pageHeaders.get('content-security-policy') ?? '', /script-src 'sha256-/);
    assert.equal(rti.calls.length, 1);

    const target = verifyTarget(page.denied_response?.body ?? '');
    const verified = await service.check(
      envoyCheckRequest({ url: `https://shop.example.com${target}` }),
    );
    assert.equal(rti.calls.length, 1, 'the verify request is decided without RTI');
    assert.equal(verified.denied_response?.status?.code, 302);
    const headers = deniedHeaders(verified);
    assert.match(headers.get('location') ?? '', /^\/cart\?x=1&cq_ok=/);
    const setCookie = headers.get('set-cookie') ?? '';
    assert.match(setCookie, /; HttpOnly; SameSite=None; Secure$/);

    const allowed = await service.check(
      envoyCheckRequest({
        url: 'https://shop.example.com/cart?x=1',
        headers: { ...BROWSER_HEADERS, cookie: `theme=dark; ${cookiePair(setCookie)}` },
      }),
    );
    assert.equal(rti.calls.length, 2, 'RTI is asked again');
    assert.equal(allowed.status?.code, 0);
    const upstream = new Map(
      (allowed.ok_response?.headers ?? []).map(h => [h.header?.key, h.header?.value]),
    );
    assert.equal(upstream.get('x-cheq-decision'), 'challenge_passed');

    const metrics = await service.metrics();
    for (const [action, reason] of [
      ['challenge', 'threat_challenge'],
      ['redirect', 'challenge_verify'],
      ['allow', 'challenge_passed'],
    ] as const) {
      assert.equal(
        metricValue(metrics, 'cheq_authz_decisions_total', { transport: 'grpc', action, reason }),
        1,
        `${action} ${reason}`,
      );
    }
  });

  it('gRPC: a replayed verify and a copied cookie on another browser are refused', async () => {
    const page = await service.check(envoyCheckRequest({}));
    const url = `https://shop.example.com${verifyTarget(page.denied_response?.body ?? '')}`;
    const first = await service.check(envoyCheckRequest({ url }));
    assert.equal(first.denied_response?.status?.code, 302);
    const replayed = await service.check(envoyCheckRequest({ url }));
    assert.equal(replayed.denied_response?.status?.code, 403);
    assert.notEqual(tokenOf(replayed.denied_response?.body ?? ''), undefined, 'the page again');
    const copied = await service.check(
      envoyCheckRequest({
        headers: {
          ...BROWSER_HEADERS,
          'user-agent': 'python-requests/2.32',
          cookie: cookiePair(deniedHeaders(first).get('set-cookie')),
        },
      }),
    );
    assert.equal(copied.denied_response?.status?.code, 403);
  });

  it('gRPC: a fetch gets the challenge_required JSON, never a page', async () => {
    const response = await service.check(
      envoyCheckRequest({
        url: 'https://shop.example.com/api/cart',
        headers: { accept: 'application/json', 'sec-fetch-mode': 'cors', 'user-agent': 'x' },
      }),
    );
    assert.equal(response.denied_response?.status?.code, 403);
    assert.deepEqual(JSON.parse(response.denied_response?.body ?? ''), {
      error: 'challenge_required',
      challenge_url: '/api/cart',
      request_id: 'req-0001',
    });
  });

  it('forward auth (Caddy, Traefik): the same flow, our answers passed as they are', async () => {
    const forward = (uri: string, extra: Record<string, string> = {}): Promise<HttpAnswer> =>
      get(`${service.httpUrl}/api/authz/forward-auth`, {
        ...BROWSER,
        'X-Forwarded-Method': 'GET',
        'X-Forwarded-Proto': 'http',
        'X-Forwarded-Host': 'shop.example.com',
        'X-Forwarded-Uri': uri,
        ...extra,
      });
    const page = await forward('/account');
    assert.equal(page.status, 403);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    const verified = await forward(verifyTarget(page.body));
    assert.equal(verified.status, 302);
    assert.match(String(verified.headers['location']), /^\/account\?cq_ok=/);
    const setCookie = verified.headers['set-cookie'];
    assert.doesNotMatch(String(setCookie), /Secure/, 'plain http: no Secure');
    const allowed = await forward('/account', { Cookie: cookiePair(setCookie) });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['x-cheq-decision'], 'challenge_passed');
    assert.equal(rti.calls.length, 2);
  });

  it('Envoy HTTP mode: the page, then the verify 302 with the cookie', async () => {
    const envoy = (path: string): Promise<HttpAnswer> =>
      get(`${service.httpUrl}/api/authz/ext-authz${path}`, {
        ...BROWSER,
        Host: 'shop.example.com',
      });
    const page = await envoy('/');
    assert.equal(page.status, 403);
    const verified = await envoy(verifyTarget(page.body));
    assert.equal(verified.status, 302);
    cookiePair(verified.headers['set-cookie']);
  });

  it('NGINX: 403 + ticket, the page endpoint renders the page, the verify answers 401 + cookie', async () => {
    const original = (uri: string): Record<string, string> => ({
      'X-Original-URI': uri,
      'X-Original-Method': 'GET',
      'X-Original-Host': 'shop.example.com',
      'X-Forwarded-Proto': 'https',
      'X-Real-IP': '203.0.113.9',
      ...BROWSER,
    });
    const auth = await get(`${service.httpUrl}/api/authz/auth-request`, original('/orders'));
    assert.equal(auth.status, 403);
    assert.equal(auth.body, '');
    const ticket = String(auth.headers['x-cheq-page']);
    assert.ok(ticket.startsWith('c.') && ticket.length <= 2048);
    const page = await get(`${service.httpUrl}/api/authz/page`, {
      ...original('/orders'),
      'X-Cheq-Page': ticket,
    });
    assert.equal(page.status, 403);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(tokenOf(page.body), ticket.slice(2));
    assert.equal(rti.calls.length, 1, 'the page endpoint does not ask RTI');

    // The page of a token is this browser's only.
    const elsewhere = await get(`${service.httpUrl}/api/authz/page`, {
      ...original('/orders'),
      'User-Agent': 'curl/8',
      'X-Cheq-Page': ticket,
    });
    assert.equal(elsewhere.body, 'Forbidden\n');

    const verified = await get(
      `${service.httpUrl}/api/authz/auth-request`,
      original(verifyTarget(page.body)),
    );
    assert.equal(verified.status, 401, 'the shipped @cheq_redirect turns it into the 302');
    assert.match(String(verified.headers['location']), /^\/orders\?cq_ok=/);
    const allowed = await get(`${service.httpUrl}/api/authz/auth-request`, {
      ...original('/orders'),
      Cookie: cookiePair(verified.headers['set-cookie']),
    });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['x-cheq-decision'], 'challenge_passed');
    assert.equal(rti.calls.length, 2);
  });

  it('NGINX: a fetch of a long URL gets a ticket within 2 KB, rendered as the JSON 403 to /', async () => {
    const original = {
      'X-Original-URI': `/api/search?q=${'a'.repeat(1800)}`,
      'X-Original-Method': 'GET',
      'X-Original-Host': 'shop.example.com',
      'User-Agent': 'x',
      Accept: 'application/json',
      'Sec-Fetch-Mode': 'cors',
    };
    const auth = await get(`${service.httpUrl}/api/authz/auth-request`, original);
    assert.equal(auth.status, 403);
    const ticket = String(auth.headers['x-cheq-page']);
    assert.ok(ticket.startsWith('j.') && ticket.length <= 2048, `${ticket.length}`);
    const page = await get(`${service.httpUrl}/api/authz/page`, {
      ...original,
      'X-Cheq-Page': ticket,
    });
    assert.equal(page.status, 403);
    assert.equal(page.headers['content-type'], 'application/json');
    assert.equal((JSON.parse(page.body) as { challenge_url: string }).challenge_url, '/');
  });

  it('replicas share only the secret: a pass from one works on another, across one rotation', async () => {
    const page = await service.check(envoyCheckRequest({}));
    const url = `https://shop.example.com${verifyTarget(page.denied_response?.body ?? '')}`;
    const verified = await service.check(envoyCheckRequest({ url }));
    const cookie = cookiePair(deniedHeaders(verified).get('set-cookie'));
    const withCookie = envoyCheckRequest({ headers: { ...BROWSER_HEADERS, cookie } });

    const rotated = await startService(rti.url, {
      CHEQ_MODE: 'blocking',
      CHEQ_CHALLENGE_SECRET: 'rotated-secret-0123456789abcdef-XYZ',
      CHEQ_CHALLENGE_PREVIOUS_SECRET: SECRET,
    });
    const unrelated = await startService(rti.url, {
      CHEQ_MODE: 'blocking',
      CHEQ_CHALLENGE_SECRET: 'unrelated-secret-0123456789abcdef-XYZ',
    });
    try {
      const allowed = await rotated.check(withCookie);
      assert.equal(allowed.status?.code, 0, 'the previous secret still verifies');
      const refused = await unrelated.check(withCookie);
      assert.equal(refused.denied_response?.status?.code, 403, 'another secret does not');
    } finally {
      await rotated.close();
      await unrelated.close();
    }
  });
});
