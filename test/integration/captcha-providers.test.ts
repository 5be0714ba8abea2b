// Each captcha provider's siteverify client against a local stand-in over loopback HTTP: every
// scenario for every provider, what is sent, and each way the call can fail.

import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, MockAgent } from 'undici';
import type { VerifyResult } from '../../src/challenge/challenge-verifier';
import {
  CHALLENGE_PROVIDER_NAMES,
  type CaptchaProviderName,
} from '../../src/challenge/providers/challenge-provider-name';
import { CAPTCHA_PROVIDERS } from '../../src/challenge/providers/challenge-providers';
import {
  MAX_RESPONSE_CHARS,
  SiteverifyClient,
  type SiteverifyRequest,
  type SiteverifySettings,
} from '../../src/challenge/providers/siteverify-client';
import {
  CaptchaStandIn,
  passAnswer,
  SCENARIOS,
  scenarioScript,
  type Scenario,
} from '../helpers/captcha-stand-in';

const SECRET = 'provider-secret-0123456789';
const SITE_KEY = '10000000-ffff-ffff-ffff-000000000001';
const HOST = 'shop.example';
const CAPTCHA_PROVIDERS_LIST = CHALLENGE_PROVIDER_NAMES.filter(
  (name): name is CaptchaProviderName => name !== 'browser',
);

/** What each scenario must come to; a score is judged for reCAPTCHA v3 only. */
function expected(provider: CaptchaProviderName, scenario: Scenario): VerifyResult {
  const v3 = provider === 'recaptcha-v3';
  switch (scenario) {
    case 'pass':
      return v3 ? { ok: true, score: 0.9 } : { ok: true };
    case 'fail':
      return { ok: false, why: 'rejected' };
    case 'low_score':
      return v3 ? { ok: false, why: 'low_score' } : { ok: true };
    case 'hang':
      return { ok: false, why: 'timeout' };
    case 'garbage':
      return { ok: false, why: 'bad_answer' };
    case 'wrong_hostname':
      return { ok: false, why: 'rejected' };
  }
}

describe('captcha providers against a siteverify stand-in', () => {
  let standIn: CaptchaStandIn;
  let agent: Agent;

  before(async () => {
    standIn = await CaptchaStandIn.start();
    agent = new Agent({ keepAliveTimeout: 10 });
  });
  after(async () => {
    await agent.close();
    await standIn.close();
  });
  beforeEach(() => standIn.calls.splice(0));

  function client(overrides: Partial<SiteverifySettings> = {}): SiteverifyClient {
    const settings: SiteverifySettings = {
      secret: SECRET,
      siteKey: SITE_KEY,
      verifyUrl: standIn.url,
      minScore: 0.5,
      // Never reached by an answer that comes; the hang cases set a short one of their own.
      timeoutMs: 5000,
      ...overrides,
    };
    return new SiteverifyClient(settings, agent);
  }

  function request(
    provider: SiteverifyRequest['provider'],
    fields: Partial<SiteverifyRequest> = {},
  ): SiteverifyRequest {
    return {
      provider,
      response: 'widget-response-token',
      remoteIp: '203.0.113.9',
      budgetMs: 1000,
      hostname: HOST,
      ...fields,
    };
  }

  for (const provider of CAPTCHA_PROVIDERS_LIST) {
    describe(provider, () => {
      for (const scenario of SCENARIOS) {
        it(`comes to ${JSON.stringify(expected(provider, scenario))} when the provider says ${scenario}`, async () => {
          standIn.script = () => scenarioScript(provider, scenario, HOST);
          // Short for the hang: only the outcome is asserted, never how long it took.
          const settings = scenario === 'hang' ? { timeoutMs: 50 } : {};
          const result = await client(settings).verify(request(provider));
          assert.deepEqual(result, expected(provider, scenario));
          assert.equal(standIn.calls.length, 1);
          assert.ok(!JSON.stringify(result).includes(SECRET));
        });
      }

      it('POSTs secret, response and remoteip as a form to the configured URL', async () => {
        standIn.script = () => scenarioScript(provider, 'pass', HOST);
        await client().verify(request(provider));
        const [call] = standIn.calls;
        assert.ok(call);
        assert.equal(call.method, 'POST');
        assert.equal(call.path, '/siteverify');
        assert.equal(call.contentType, 'application/x-www-form-urlencoded');
        assert.equal(call.form.get('secret'), SECRET);
        assert.equal(call.form.get('response'), 'widget-response-token');
        assert.equal(call.form.get('remoteip'), '203.0.113.9');
        // hCaptcha refuses a token issued under another site key when it is told ours.
        assert.equal(call.form.get('sitekey'), provider === 'hcaptcha' ? SITE_KEY : null);
      });
    });
  }

  it('accepts the answer when the provider names the host in another case or without our port', async () => {
    standIn.script = () => ({ kind: 'json', body: passAnswer('turnstile', 'Shop.Example', 1) });
    const result = await client().verify(request('turnstile', { hostname: 'shop.example:8443' }));
    assert.deepEqual(result, { ok: true });
  });

  it('refuses a token minted for another action under the same key', async () => {
    const body = { ...passAnswer('recaptcha-v3', HOST, 0.9), action: 'login' };
    standIn.script = () => ({ kind: 'json', body });
    assert.deepEqual(await client().verify(request('recaptcha-v3')), {
      ok: false,
      why: 'rejected',
    });
  });

  it('passes a v3 score equal to challenge_min_score and refuses one just under it', async () => {
    standIn.script = () => ({ kind: 'json', body: passAnswer('recaptcha-v3', HOST, 0.7) });
    assert.deepEqual(await client({ minScore: 0.7 }).verify(request('recaptcha-v3')), {
      ok: true,
      score: 0.7,
    });
    assert.deepEqual(await client({ minScore: 0.71 }).verify(request('recaptcha-v3')), {
      ok: false,
      why: 'low_score',
    });
  });

  it('leaves remoteip out when the client address is unknown or not an address', async () => {
    await client().verify(request('turnstile', { remoteIp: undefined }));
    await client().verify(request('turnstile', { remoteIp: '203.0.113.9, 10.0.0.1' }));
    assert.deepEqual(
      standIn.calls.map(call => call.form.has('remoteip')),
      [false, false],
    );
  });

  it('refuses an empty or oversized response without calling the provider', async () => {
    const results = [
      await client().verify(request('hcaptcha', { response: '' })),
      await client().verify(request('hcaptcha', { response: 'x'.repeat(MAX_RESPONSE_CHARS + 1) })),
    ];
    assert.deepEqual(results, [
      { ok: false, why: 'rejected' },
      { ok: false, why: 'rejected' },
    ]);
    assert.equal(standIn.calls.length, 0);
  });

  it('sends a response of the largest allowed size', async () => {
    const response = 'x'.repeat(MAX_RESPONSE_CHARS);
    assert.deepEqual(await client().verify(request('turnstile', { response })), { ok: true });
    assert.equal(standIn.calls[0]?.form.get('response'), response);
  });

  it('times out within the request budget when it is shorter than challenge_verify_timeout_ms', async () => {
    // A 60 s setting outlasts mocha's timeout: only the budget can end this call in time.
    standIn.script = () => ({ kind: 'hang' });
    const result = await client({ timeoutMs: 60_000 }).verify(
      request('turnstile', { budgetMs: 50 }),
    );
    assert.deepEqual(result, { ok: false, why: 'timeout' });
  });

  it('answers timeout without calling when no budget is left', async () => {
    const result = await client().verify(request('turnstile', { budgetMs: 0 }));
    assert.deepEqual(result, { ok: false, why: 'timeout' });
    assert.equal(standIn.calls.length, 0);
  });

  it('is unavailable when the provider answers an HTTP error', async () => {
    standIn.script = () => ({ kind: 'raw', status: 503, body: 'overloaded' });
    assert.deepEqual(await client().verify(request('recaptcha-v2')), {
      ok: false,
      why: 'unavailable',
    });
  });

  it('is unavailable when the provider says our secret is wrong (not the visitor)', async () => {
    standIn.script = () => ({
      kind: 'json',
      body: { success: false, 'error-codes': ['invalid-input-secret'] },
    });
    assert.deepEqual(await client().verify(request('turnstile')), {
      ok: false,
      why: 'unavailable',
    });
  });

  it('is unavailable when nothing listens at the verify URL', async () => {
    const closed = createServer();
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise(resolve => closed.close(resolve));
    const verifyUrl = new URL(`http://127.0.0.1:${port}/siteverify`);
    assert.deepEqual(await client({ verifyUrl }).verify(request('hcaptcha')), {
      ok: false,
      why: 'unavailable',
    });
  });

  it('does not read an oversized answer (bad_answer)', async () => {
    const body = { ...passAnswer('turnstile', HOST, 1), padding: 'x'.repeat(20_000) };
    standIn.script = () => ({ kind: 'json', body });
    assert.deepEqual(await client().verify(request('turnstile')), {
      ok: false,
      why: 'bad_answer',
    });
  });

  it('has no provider to ask for browser (its proof of work is judged elsewhere)', async () => {
    assert.deepEqual(await client().verify(request('browser')), {
      ok: false,
      why: 'unavailable',
    });
    assert.equal(standIn.calls.length, 0);
  });

  it("asks each provider's own siteverify endpoint when challenge_verify_url is not set", async () => {
    const mock = new MockAgent();
    mock.disableNetConnect();
    try {
      for (const provider of CAPTCHA_PROVIDERS_LIST) {
        const url = new URL(CAPTCHA_PROVIDERS[provider].siteverifyUrl);
        mock
          .get(url.origin)
          .intercept({ path: url.pathname, method: 'POST' })
          .reply(200, passAnswer(provider, HOST, 0.9));
      }
      const viaMock = new SiteverifyClient(
        { secret: SECRET, siteKey: SITE_KEY, verifyUrl: undefined, minScore: 0.5, timeoutMs: 5000 },
        mock,
      );
      for (const provider of CAPTCHA_PROVIDERS_LIST) {
        assert.equal((await viaMock.verify(request(provider))).ok, true, provider);
      }
      mock.assertNoPendingInterceptors();
    } finally {
      await mock.close();
    }
  });
});
