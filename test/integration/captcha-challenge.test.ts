// A captcha provider's challenge through the whole server, forward auth (as Caddy asks): the
// page carries the provider's widget and CSP sources, the verify request is judged by the
// provider (a siteverify stand-in here), a pass sets the pass cookie and a refusal serves the
// page again.

import { strict as assert } from 'node:assert';
import { Agent, request } from 'undici';
import { CaptchaStandIn, scenarioScript } from '../helpers/captcha-stand-in';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { startService, type TestService } from '../helpers/start-service';

const SITE_KEY = '1x00000000000000000000AA';
const PROVIDER_SECRET = 'turnstile-secret-0123456789';
const HOST = 'shop.example';

describe('captcha challenge through the server (turnstile, forward auth)', () => {
  let rti: FakeRti;
  let standIn: CaptchaStandIn;
  let service: TestService;
  const agent = new Agent({ keepAliveTimeout: 10 });

  before(async () => {
    rti = await FakeRti.start();
    // VPN: the challenge group.
    rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 14 });
    standIn = await CaptchaStandIn.start();
    service = await startService(rti.url, {
      CHEQ_MODE: 'blocking',
      CHEQ_CHALLENGE_STRATEGY: 'challenge',
      CHEQ_CHALLENGE_SECRET: 'a-challenge-secret-of-at-least-32-bytes!',
      CHEQ_CHALLENGE_PROVIDER: 'turnstile',
      CHEQ_CHALLENGE_SITE_KEY: SITE_KEY,
      CHEQ_CHALLENGE_PROVIDER_SECRET: PROVIDER_SECRET,
      CHEQ_CHALLENGE_VERIFY_URL: standIn.url.href,
    });
  });
  after(async () => {
    await service.close();
    await agent.close();
    await standIn.close();
    await rti.close();
  });

  function forwardAuth(uri: string, cookie?: string) {
    return request(`${service.httpUrl}/api/authz/forward-auth`, {
      dispatcher: agent,
      headers: {
        'x-forwarded-method': 'GET',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': HOST,
        'x-forwarded-uri': uri,
        'x-forwarded-for': '203.0.113.9',
        'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
        accept: 'text/html',
        'sec-fetch-mode': 'navigate',
        ...(cookie ? { cookie } : {}),
      },
    });
  }

  /** The challenge page for `/cart`: its token and verify path. */
  async function challengePage(): Promise<{
    token: string;
    verify: string;
    page: string;
    csp: string;
  }> {
    const res = await forwardAuth('/cart');
    const page = await res.body.text();
    assert.equal(res.statusCode, 403);
    const token = /data-token="([^"]+)"/.exec(page)?.[1];
    const verify = /data-verify="([^"]+)"/.exec(page)?.[1];
    assert.ok(token && verify, page);
    return { token, verify, page, csp: String(res.headers['content-security-policy']) };
  }

  it('serves the Turnstile widget with its site key, and CSP sources for it', async () => {
    const { page, csp } = await challengePage();
    assert.match(page, new RegExp(`class="cf-turnstile" data-sitekey="${SITE_KEY}"`));
    assert.match(page, /src="https:\/\/challenges\.cloudflare\.com\/turnstile\/v0\/api\.js"/);
    assert.match(csp, /script-src [^;]*https:\/\/challenges\.cloudflare\.com/);
    assert.match(csp, /frame-src [^;]*https:\/\/challenges\.cloudflare\.com/);
  });

  it('passes when the provider says so: 302 back with the pass cookie, the provider asked once', async () => {
    standIn.calls.splice(0);
    standIn.script = () => scenarioScript('turnstile', 'pass', HOST);
    const { token, verify } = await challengePage();
    const res = await forwardAuth(`${verify}?t=${encodeURIComponent(token)}&s=widget-token`);
    await res.body.dump();
    assert.equal(res.statusCode, 302);
    assert.match(String(res.headers['location']), /^\/cart\?cq_ok=/);
    assert.match(String(res.headers['set-cookie']), /_cq_se=/);
    assert.equal(standIn.calls.length, 1);
    const [call] = standIn.calls;
    assert.equal(call?.form.get('secret'), PROVIDER_SECRET);
    assert.equal(call?.form.get('response'), 'widget-token');
    assert.equal(call?.form.get('remoteip'), '203.0.113.9');
  });

  it('serves the page again when the provider refuses, and sets no pass', async () => {
    standIn.script = () => scenarioScript('turnstile', 'fail', HOST);
    const { token, verify } = await challengePage();
    const res = await forwardAuth(`${verify}?t=${encodeURIComponent(token)}&s=widget-token`);
    const page = await res.body.text();
    assert.equal(res.statusCode, 403);
    assert.match(page, /cf-turnstile/);
    assert.doesNotMatch(String(res.headers['set-cookie'] ?? ''), /_cq_se=/);
  });

  it('serves the page again when the provider solved it for another host', async () => {
    standIn.script = () => scenarioScript('turnstile', 'wrong_hostname', HOST);
    const { token, verify } = await challengePage();
    const res = await forwardAuth(`${verify}?t=${encodeURIComponent(token)}&s=widget-token`);
    await res.body.dump();
    assert.equal(res.statusCode, 403);
    assert.doesNotMatch(String(res.headers['set-cookie'] ?? ''), /_cq_se=/);
  });

  it('never writes the provider secret to the logs', () => {
    const text = JSON.stringify(service.logs);
    assert.ok(!text.includes(PROVIDER_SECRET));
  });
});
