// The served challenge in the decision core, on a fake clock: page, verify, pass, grant; what
// is refused (forged, expired, replayed, other browser, other site, off-site return URL); key
// rotation; monitoring; captcha providers through a stub of the ChallengeVerifier port.

import { strict as assert } from 'node:assert';
import type { ChallengeVerifier, VerifyResult } from '../../../src/challenge/challenge-verifier';
import type { CaptchaWidget } from '../../../src/challenge/challenge-page';
import { ReplayGuard } from '../../../src/challenge/replay-guard';
import { SigningKeys } from '../../../src/challenge/signing-keys';
import type { ChallengeSettings } from '../../../src/core/challenge-settings';
import {
  createDecide,
  type CoreConfig,
  type DecideDeps,
  type DecideOptions,
} from '../../../src/core/decide';
import type { Decision } from '../../../src/core/decision';
import type { HeaderEntry } from '../../../src/core/header-list';
import { InFlightLimit, MAX_CAPTCHA_VERIFY_CALLS } from '../../../src/core/in-flight-limit';
import { PathPatternList } from '../../../src/core/path-pattern';
import type { RtiCheck, RtiInput, RtiVerdict } from '../../../src/core/rti-port';
import { tokenOf, verifyTarget } from '../../helpers/challenge-client';
import { v1 } from '../../helpers/verdicts';
import { coreConfig } from './core-config';
import { BROWSER_HEADERS, makeAttributes, type AttributesOverrides } from './make-attributes';

const KEYS = SigningKeys.create('current-secret-0123456789abcdef-XYZ', undefined);
const T0 = 1_765_000_000_000;

function settings(overrides: Partial<ChallengeSettings> = {}): ChallengeSettings {
  return {
    keys: KEYS,
    provider: 'browser',
    siteKey: '',
    difficulty: 8,
    passTtlS: 900,
    path: '/_cheq/challenge',
    verifyTimeoutMs: 1000,
    ...overrides,
  };
}

/** RTI as a list of calls, answering every request with `verdict`. */
class Rti implements RtiCheck {
  readonly calls: RtiInput[] = [];
  verdict: RtiVerdict = v1(true, 14);

  check(input: RtiInput): Promise<RtiVerdict> {
    this.calls.push(input);
    return Promise.resolve(this.verdict);
  }
}

interface Harness {
  readonly rti: Rti;
  readonly clock: { now: number };
  decide(overrides?: AttributesOverrides): Promise<Decision>;
  decideWith(overrides: AttributesOverrides, options: DecideOptions): Promise<Decision>;
}

function harness(
  config: Partial<CoreConfig> = {},
  deps: Partial<DecideDeps> = {},
  clock = { now: T0 },
): Harness {
  const rti = new Rti();
  const decide = createDecide(
    coreConfig({ challengeStrategy: 'challenge', challenge: settings(), ...config }),
    rti,
    { now: () => clock.now, ...deps },
  );
  return {
    rti,
    clock,
    decide: overrides => decide(makeAttributes(overrides)),
    decideWith: (overrides, options) => decide(makeAttributes(overrides), options),
  };
}

/** A request for a path and query, with a cookie when given. */
function at(target: string, cookie?: string, headers = BROWSER_HEADERS): AttributesOverrides {
  const q = target.indexOf('?');
  return {
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    headers: cookie === undefined ? headers : [...headers, ['cookie', cookie]],
  };
}

function cookieOf(decision: Decision): string {
  const cookie = decision.setCookie?.split(';')[0] ?? '';
  assert.ok(cookie.startsWith('_cq_se='), decision.setCookie);
  return cookie;
}

describe('served challenge (core)', () => {
  it('serves the page, passes the verify without RTI, then allows with the cookie', async () => {
    const h = harness();
    const page = await h.decide(at('/cart?x=1'));
    assert.equal(page.action, 'challenge');
    assert.equal(page.httpStatus, 403);
    assert.equal(page.reason, 'threat_challenge');
    assert.deepEqual(page.challengeEvent, { provider: 'browser', outcome: 'served' });
    assert.equal(page.body?.contentType, 'text/html; charset=utf-8');
    assert.ok(page.page?.startsWith('c.'));
    assert.equal(h.rti.calls.length, 1);

    const passed = await h.decide(at(verifyTarget(page.body?.text ?? '')));
    assert.equal(h.rti.calls.length, 1, 'the verify request is decided without RTI');
    assert.equal(passed.action, 'redirect');
    assert.equal(passed.httpStatus, 302);
    assert.equal(passed.reason, 'challenge_verify');
    assert.deepEqual(passed.challengeEvent, { provider: 'browser', outcome: 'passed' });
    assert.match(passed.location ?? '', /^\/cart\?x=1&cq_ok=[\w-]+\.[\w-]+$/);
    assert.match(
      passed.setCookie ?? '',
      /^_cq_se=[\w-]+\.[\w-]+; Max-Age=900; Path=\/; HttpOnly; SameSite=None; Secure$/,
    );

    const allowed = await h.decide(at('/cart?x=1', cookieOf(passed)));
    assert.equal(h.rti.calls.length, 2, 'RTI is still asked');
    assert.equal(allowed.action, 'allow');
    assert.equal(allowed.reason, 'challenge_passed');
    assert.equal(allowed.challengeEvent, undefined);
    assert.deepEqual(allowed.upstreamHeaders[0], ['x-cheq-decision', 'challenge_passed']);
  });

  it('a pass does not let a block through', async () => {
    const h = harness();
    const page = await h.decide(at('/'));
    const passed = await h.decide(at(verifyTarget(page.body?.text ?? '')));
    h.rti.verdict = v1(true, 2);
    const blocked = await h.decide(at('/', cookieOf(passed)));
    assert.equal(blocked.action, 'deny');
    assert.equal(blocked.reason, 'threat_block');
  });

  it('lets the landing request in once with the grant when the cookie did not come back', async () => {
    const h = harness();
    const page = await h.decide(at('/a?b=c'));
    const passed = await h.decide(at(verifyTarget(page.body?.text ?? '')));
    const landing = await h.decide(at(passed.location ?? ''));
    assert.equal(landing.action, 'allow');
    assert.equal(landing.reason, 'challenge_passed');
    assert.deepEqual(landing.challengeEvent, { provider: 'browser', outcome: 'loop' });
    const again = await h.decide(at(passed.location ?? ''));
    assert.equal(again.action, 'challenge', 'one request only');
  });

  it('gives a non-navigation the challenge_required 403, never a page', async () => {
    const h = harness();
    const api = await h.decide({
      ...at('/api/cart?id=7'),
      headers: [
        ['host', 'shop.example.com'],
        ['accept', 'application/json'],
        ['sec-fetch-mode', 'cors'],
      ],
    });
    assert.equal(api.action, 'challenge');
    assert.equal(api.httpStatus, 403);
    assert.equal(api.body?.contentType, 'application/json');
    assert.deepEqual(JSON.parse(api.body?.text ?? ''), {
      error: 'challenge_required',
      challenge_url: '/api/cart?id=7',
      request_id: 'req-1',
    });
    assert.equal(api.challengeEvent, undefined, 'no page was served');
    assert.ok(api.page?.startsWith('j.'));
  });

  describe('refusals: the page again with a fresh token, and why', () => {
    async function pageAndTarget(h: Harness, target = '/cart'): Promise<string> {
      const page = await h.decide(at(target));
      return verifyTarget(page.body?.text ?? '');
    }

    async function refused(h: Harness, attrs: AttributesOverrides, outcome: string): Promise<void> {
      const d = await h.decide(attrs);
      assert.equal(d.action, 'challenge');
      assert.equal(d.reason, 'challenge_verify');
      assert.equal(d.setCookie, undefined);
      assert.deepEqual(d.challengeEvent, { provider: 'browser', outcome });
      assert.ok(tokenOf(d.body?.text ?? ''), 'a fresh token');
    }

    it('a forged token, a token signed with another key, or none', async () => {
      const h = harness();
      const target = await pageAndTarget(h);
      const t = new URLSearchParams(target.split('?')[1]).get('t') ?? '';
      const tampered = `${t.slice(0, -2)}${t.endsWith('AA') ? 'AB' : 'AA'}`;
      await refused(h, at(target.replace(encodeURIComponent(t), tampered)), 'failed');
      await refused(h, at('/_cheq/challenge/verify'), 'failed');
      const other = harness({
        challenge: settings({
          keys: SigningKeys.create('another-secret-0123456789abcdef-XYZ', undefined),
        }),
      });
      await refused(other, at(target), 'failed');
    });

    it('a wrong solution, and then the right one: one attempt per token', async () => {
      const h = harness();
      const target = await pageAndTarget(h);
      await refused(h, at(target.replace(/&s=.*$/, '&s=zzzzzz')), 'failed');
      await refused(h, at(target), 'replayed');
    });

    it('an expired token (2 minutes)', async () => {
      const h = harness();
      const target = await pageAndTarget(h);
      h.clock.now += 121_000;
      await refused(h, at(target), 'expired');
    });

    it('a replayed token', async () => {
      const h = harness();
      const target = await pageAndTarget(h);
      assert.equal((await h.decide(at(target))).action, 'redirect');
      await refused(h, at(target), 'replayed');
    });

    it('a token issued to another browser (User-Agent)', async () => {
      const h = harness();
      const target = await pageAndTarget(h);
      const otherUa: HeaderEntry[] = BROWSER_HEADERS.map(([name, value]) =>
        name === 'user-agent' ? [name, `${value} Other`] : [name, value],
      );
      await refused(h, at(target, undefined, otherUa), 'failed');
    });

    it('a token of another site', async () => {
      const guard = new ReplayGuard();
      const shop = harness({}, { site: 'shop', replayGuard: guard });
      const blog = harness({}, { site: 'blog', replayGuard: guard });
      await refused(blog, at(await pageAndTarget(shop)), 'failed');
    });

    it('a cookie of another browser, another site, another key, or expired', async () => {
      const h = harness();
      const passed = await h.decide(at(verifyTarget((await h.decide(at('/'))).body?.text ?? '')));
      const cookie = cookieOf(passed);
      const otherUa: HeaderEntry[] = BROWSER_HEADERS.map(([name, value]) =>
        name === 'user-agent' ? [name, 'curl/8'] : [name, value],
      );
      assert.equal((await h.decide(at('/', cookie, otherUa))).action, 'challenge');
      const blog = harness({}, { site: 'blog' });
      assert.equal((await blog.decide(at('/', cookie))).action, 'challenge');
      const rekeyed = harness({
        challenge: settings({
          keys: SigningKeys.create('another-secret-0123456789abcdef-XYZ', undefined),
        }),
      });
      assert.equal((await rekeyed.decide(at('/', cookie))).action, 'challenge');
      h.clock.now += 901_000;
      assert.equal((await h.decide(at('/', cookie))).action, 'challenge');
    });
  });

  it('keeps a pass valid across one key rotation', async () => {
    const old = 'current-secret-0123456789abcdef-XYZ';
    const h = harness();
    const passed = await h.decide(at(verifyTarget((await h.decide(at('/'))).body?.text ?? '')));
    const rotated = harness({
      challenge: settings({ keys: SigningKeys.create('rotated-secret-0123456789abcdef-XYZ', old) }),
    });
    const allowed = await rotated.decide(at('/', cookieOf(passed)));
    assert.equal(allowed.reason, 'challenge_passed');
  });

  it('sends the visitor back to its own site only', async () => {
    const h = harness();
    for (const target of ['//evil.example/x', '/\\evil.example/x']) {
      const page = await h.decide(at(target));
      const passed = await h.decide(at(verifyTarget(page.body?.text ?? '')));
      assert.match(passed.location ?? '', /^\/\?cq_ok=/, target);
    }
  });

  it('decides the verify path before uri_exclusion', async () => {
    const h = harness({ uriExclusion: new PathPatternList(['^/_cheq/']) });
    const d = await h.decide(at('/_cheq/challenge/verify?t=x&s=y'));
    assert.equal(d.reason, 'challenge_verify');
    assert.equal(d.action, 'challenge');
  });

  // The verify path is never let through to the upstream without RTI (review s11, F5).
  describe('the verify path where no challenge is served: an ordinary request, RTI asked', () => {
    const cases: readonly [string, Partial<CoreConfig>][] = [
      ['monitoring', { mode: 'monitoring' }],
      ['a site whose strategies serve no challenge', { challengeStrategy: 'allow' }],
      [
        'a captcha provider missing from this build',
        {
          challengeProvider: 'hcaptcha',
          challenge: settings({ provider: 'hcaptcha', siteKey: 'k' }),
        },
      ],
    ];
    for (const [name, config] of cases) {
      it(name, async () => {
        const h = harness(config);
        h.rti.verdict = v1(true, 2);
        const d = await h.decide(at('/_cheq/challenge/verify?t=x&s=y'));
        assert.equal(h.rti.calls.length, 1);
        assert.notEqual(d.reason, 'challenge_verify');
        assert.equal(d.reason, config.mode === 'monitoring' ? 'monitoring' : 'threat_block');
      });
    }
  });

  it('keeps the challenge_required ticket within 2 KB: a long URL becomes / (NGINX page endpoint)', async () => {
    const h = harness();
    const api: readonly HeaderEntry[] = [
      ['host', 'shop.example.com'],
      ['accept', 'application/json'],
      ['sec-fetch-mode', 'cors'],
    ];
    const target = at(`/api/x?q=${'a'.repeat(1800)}`, undefined, api);
    const denied = await h.decide(target);
    assert.ok((denied.page?.length ?? Infinity) <= 2048, `${denied.page?.length}`);
    const rendered = await h.decideWith(target, { pageTicket: denied.page ?? '' });
    assert.equal(rendered.body?.contentType, 'application/json');
    assert.deepEqual(JSON.parse(rendered.body?.text ?? ''), {
      error: 'challenge_required',
      challenge_url: '/',
      request_id: 'req-1',
    });
  });

  it('monitoring serves nothing and counts would_serve for navigations', async () => {
    const h = harness({ mode: 'monitoring' });
    const d = await h.decide(at('/'));
    assert.equal(d.action, 'allow');
    assert.equal(d.reason, 'monitoring');
    assert.deepEqual(d.would, { action: 'challenge', reason: 'threat_challenge' });
    assert.deepEqual(d.challengeEvent, { provider: 'browser', outcome: 'would_serve' });
  });

  it('without a secret counts each challenge let through as unavailable', async () => {
    const h = harness({
      challenge: undefined,
      challengeStrategy: 'allow',
      challengeUnavailable: true,
    });
    const d = await h.decide(at('/'));
    assert.equal(d.action, 'allow');
    assert.deepEqual(d.challengeEvent, { provider: 'browser', outcome: 'unavailable' });
  });

  describe('captcha providers through the ChallengeVerifier port (stub)', () => {
    const widget: CaptchaWidget = {
      scriptUrl: key => `https://captcha.example/api.js?k=${key}`,
      csp: {
        scriptSrc: ['https://captcha.example'],
        frameSrc: ['https://captcha.example'],
        styleSrc: [],
        connectSrc: [],
      },
      widgetHtml: key => `<div class="captcha" data-sitekey="${key}"></div>`,
      responseField: 'captcha-response',
      execute: false,
    };

    class StubVerifier implements ChallengeVerifier {
      readonly calls: Parameters<ChallengeVerifier['verify']>[0][] = [];
      constructor(private readonly result: VerifyResult) {}
      verify(request: Parameters<ChallengeVerifier['verify']>[0]) {
        this.calls.push(request);
        return Promise.resolve(this.result);
      }
    }

    function captchaHarness(result: VerifyResult): { h: Harness; verifier: StubVerifier } {
      const verifier = new StubVerifier(result);
      const h = harness(
        {
          challengeProvider: 'turnstile',
          challenge: settings({
            provider: 'turnstile',
            siteKey: 'site-key-1',
            verifyTimeoutMs: 700,
          }),
        },
        { captcha: { widget, verifier } },
      );
      return { h, verifier };
    }

    it('passes on the provider ok, asking it with the response, the client IP and the budget', async () => {
      const { h, verifier } = captchaHarness({ ok: true });
      const page = await h.decide(at('/'));
      assert.match(page.body?.text ?? '', /data-sitekey="site-key-1"/);
      const token = tokenOf(page.body?.text ?? '');
      const d = await h.decide(at(`/_cheq/challenge/verify?t=${token}&s=widget-response`));
      assert.equal(d.action, 'redirect');
      assert.deepEqual(d.challengeEvent, { provider: 'turnstile', outcome: 'passed' });
      assert.deepEqual(verifier.calls, [
        {
          provider: 'turnstile',
          response: 'widget-response',
          remoteIp: '203.0.113.7',
          budgetMs: 700,
          hostname: 'shop.example.com',
        },
      ]);
    });

    const failures: readonly [VerifyResult, string][] = [
      [{ ok: false, why: 'rejected' }, 'failed'],
      [{ ok: false, why: 'low_score' }, 'failed'],
      [{ ok: false, why: 'timeout' }, 'unavailable'],
      [{ ok: false, why: 'unavailable' }, 'unavailable'],
      [{ ok: false, why: 'bad_answer' }, 'unavailable'],
    ];
    for (const [result, outcome] of failures) {
      it(`fails closed on ${result.ok ? 'ok' : result.why}: the page again (${outcome})`, async () => {
        const { h } = captchaHarness(result);
        const token = tokenOf((await h.decide(at('/'))).body?.text ?? '');
        const d = await h.decide(at(`/_cheq/challenge/verify?t=${token}&s=r`));
        assert.equal(d.action, 'challenge');
        assert.equal(d.setCookie, undefined);
        assert.deepEqual(d.challengeEvent, { provider: 'turnstile', outcome });
      });
    }

    it('asks the provider once per token, however many copies of the verify arrive', async () => {
      const { h, verifier } = captchaHarness({ ok: false, why: 'rejected' });
      const token = tokenOf((await h.decide(at('/'))).body?.text ?? '');
      const target = at(`/_cheq/challenge/verify?t=${token}&s=r`);
      const answers = await Promise.all([h.decide(target), h.decide(target), h.decide(target)]);
      assert.equal(verifier.calls.length, 1);
      assert.deepEqual(answers.map(d => d.challengeEvent?.outcome).sort(), [
        'failed',
        'replayed',
        'replayed',
      ]);
    });

    it("refuses a response over 4 KB, empty or out of the tokens' alphabet without asking the provider", async () => {
      const { h, verifier } = captchaHarness({ ok: true });
      for (const s of ['a'.repeat(4097), '', '%3Cscript%3E', 'a%20b', 'a%00', '%C3%A9']) {
        const token = tokenOf((await h.decide(at('/'))).body?.text ?? '');
        const d = await h.decide(at(`/_cheq/challenge/verify?t=${token}&s=${s}`));
        assert.equal(d.action, 'challenge', s);
        assert.deepEqual(d.challengeEvent, { provider: 'turnstile', outcome: 'failed' }, s);
      }
      const token = tokenOf((await h.decide(at('/'))).body?.text ?? '');
      const longest = `0.${'Ab9_-'.repeat(817)}xyz.+/=:*`;
      assert.equal(longest.length, 4096);
      const d = await h.decide(
        at(`/_cheq/challenge/verify?t=${token}&s=${encodeURIComponent(longest)}`),
      );
      assert.equal(d.action, 'redirect');
      assert.deepEqual(
        verifier.calls.map(call => call.response),
        [longest],
        'only the well-formed response reached the provider',
      );
    });

    it('holds at most 64 provider calls in flight per process; past that the page again (unavailable)', async () => {
      const pending: (() => void)[] = [];
      let calls = 0;
      const verifier: ChallengeVerifier = {
        verify: () => {
          calls += 1;
          return new Promise(resolve => pending.push(() => resolve({ ok: true })));
        },
      };
      const verifyCalls = new InFlightLimit(MAX_CAPTCHA_VERIFY_CALLS);
      // Two sites of one process share the limit.
      const [shop, blog] = ['shop', 'blog'].map(site =>
        harness(
          {
            challengeProvider: 'turnstile',
            challenge: settings({ provider: 'turnstile', siteKey: 'k' }),
          },
          { site, captcha: { widget, verifier }, verifyCalls },
        ),
      ) as [Harness, Harness];
      const verifyOnce = async (h: Harness): Promise<Decision> => {
        const token = tokenOf((await h.decide(at('/'))).body?.text ?? '');
        return h.decide(at(`/_cheq/challenge/verify?t=${token}&s=r`));
      };
      const held = Array.from({ length: 64 }, (_, i) => verifyOnce(i % 2 ? shop : blog));
      await new Promise(resolve => setImmediate(resolve));
      assert.equal(calls, 64);
      const refused = await verifyOnce(shop);
      assert.equal(calls, 64, 'no 65th call');
      assert.equal(refused.action, 'challenge');
      assert.deepEqual(refused.challengeEvent, { provider: 'turnstile', outcome: 'unavailable' });
      assert.match(refused.body?.text ?? '', /data-token="/, 'the page again, with a new token');

      for (const release of pending.splice(0)) release();
      assert.ok((await Promise.all(held)).every(d => d.action === 'redirect'));
      const later = verifyOnce(blog);
      await new Promise(resolve => setImmediate(resolve));
      assert.equal(calls, 65, 'slots are given back');
      for (const release of pending.splice(0)) release();
      assert.equal((await later).action, 'redirect');
    });

    it('on HTTP (no proxy deadline) gives the provider challenge_verify_timeout_ms', async () => {
      const { h, verifier } = captchaHarness({ ok: true });
      const token = tokenOf((await h.decide(at('/'))).body?.text ?? '');
      await h.decideWith(at(`/_cheq/challenge/verify?t=${token}&s=r`), {});
      assert.equal(verifier.calls[0]?.budgetMs, 700);
    });

    it('block_strategy challenge (with a captcha): a pass lets the block through, RTI still asked', async () => {
      const blockHarness = harness(
        {
          blockStrategy: 'challenge',
          challengeProvider: 'turnstile',
          challenge: settings({ provider: 'turnstile', siteKey: 'k' }),
        },
        { captcha: { widget, verifier: new StubVerifier({ ok: true }) } },
      );
      blockHarness.rti.verdict = v1(true, 2);
      const page = await blockHarness.decide(at('/checkout'));
      assert.equal(page.action, 'challenge');
      assert.equal(page.reason, 'threat_block');
      const token = tokenOf(page.body?.text ?? '');
      const passed = await blockHarness.decide(at(`/_cheq/challenge/verify?t=${token}&s=r`));
      const after = await blockHarness.decide(at('/checkout', cookieOf(passed)));
      assert.equal(after.action, 'allow');
      assert.equal(after.reason, 'challenge_passed');
      assert.equal(blockHarness.rti.calls.length, 2);
    });

    it('without the provider in this build, serves nothing and lets the challenge through', async () => {
      const h = harness({
        challengeProvider: 'hcaptcha',
        challenge: settings({ provider: 'hcaptcha', siteKey: 'k' }),
      });
      const d = await h.decide(at('/'));
      assert.equal(d.action, 'allow');
      assert.deepEqual(d.challengeEvent, { provider: 'hcaptcha', outcome: 'unavailable' });
      const verify = await h.decide(at('/_cheq/challenge/verify?t=x&s=y'));
      assert.notEqual(verify.reason, 'challenge_verify', 'no verify where none is served');
      assert.equal(h.rti.calls.length, 2, 'the verify path is checked with RTI');
    });
  });
});
