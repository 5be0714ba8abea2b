import type { Cancellation } from '../../../src/core/cancellation';
import { strict as assert } from 'node:assert';
import type { AdmissionOutcome } from '../../../src/core/admission';
import { createDecide, type CoreConfig, type DecideOptions } from '../../../src/core/decide';
import type { Decision } from '../../../src/core/decision';
import { PathPatternList } from '../../../src/core/path-pattern';
import type { RouteSettings } from '../../../src/core/request-attributes';
import {
  RtiError,
  type RtiCheck,
  type RtiErrorCode,
  type RtiVerdict,
} from '../../../src/core/rti-port';
import { verdictHeaderNames } from '../../../src/core/verdict-headers';
import { FakeRti, type RtiCall } from './fake-rti-check';
import { rtiVerdict, v1 } from '../../helpers/verdicts';
import { coreConfig } from './core-config';
import { BROWSER_HEADERS, makeAttributes, type AttributesOverrides } from './make-attributes';

const VALID: RtiVerdict = v1(false, 0, {
  requestId: 'rti-req-1',
  setCookie: '_cheq_rti=abc; Path=/; Max-Age=3600',
});

function invalid(threatTypeCode: number, extra: Partial<RtiVerdict> = {}): RtiVerdict {
  const { requestId, setCookie } = VALID;
  return v1(true, threatTypeCode, { requestId, setCookie, ...extra });
}

const REMOVABLE_HEADERS = [
  'x-cheq-threat-type',
  'x-cheq-invalid',
  'x-cheq-rti-request-id',
  'x-cheq-challenge',
  'x-cheq-verdict',
  'x-cheq-risk-score',
  'x-cheq-ray-id',
  'x-cheq-rti-result',
];
/** What a v1 verdict cannot fill: RTI v4's risk score, ray id and x-cheq-rti-result. */
const V4_ONLY = ['x-cheq-risk-score', 'x-cheq-ray-id', 'x-cheq-rti-result'];

async function decideWith(
  rti: RtiCheck,
  attrs: AttributesOverrides = {},
  config: Partial<CoreConfig> = {},
  options?: DecideOptions,
  now?: () => number,
): Promise<Decision> {
  const decide = createDecide(coreConfig(config), rti, now ? { now } : {});
  return decide(makeAttributes(attrs), options);
}

function onlyCall(rti: FakeRti): RtiCall {
  assert.equal(rti.calls.length, 1, 'RTI called exactly once');
  const [call] = rti.calls;
  assert.ok(call);
  return call;
}

const XHR_HEADERS = [
  ['host', 'shop.example.com'],
  ['accept', 'application/json'],
  ['x-requested-with', 'XMLHttpRequest'],
] as const;

// ---------------------------------------------------------------------------------------------

describe('createDecide', () => {
  describe('v4 verdicts', () => {
    const V4: RtiVerdict = rtiVerdict({
      verdict: 'suspicious',
      code: 14,
      reasons: [7, 31],
      riskScore: 72,
      ruleName: 'vpn',
      rayId: 'ray-9f',
    });

    it('passes verdict, code, risk score and ray id upstream, and names the rule', async () => {
      const d = await decideWith(FakeRti.answering(V4), {}, { apiVersion: 'v4' });
      assert.equal(d.reason, 'threat_challenge');
      assert.equal(d.rule, 'default:suspicious');
      assert.deepEqual(d.upstreamHeaders, [
        ['x-cheq-decision', 'threat_challenge'],
        ['x-cheq-threat-type', '14'],
        ['x-cheq-invalid', 'true'],
        ['x-cheq-challenge', '1'],
        ['x-cheq-verdict', 'suspicious'],
        ['x-cheq-risk-score', '72'],
        ['x-cheq-ray-id', 'ray-9f'],
      ]);
      assert.deepEqual(d.upstreamHeadersToRemove, ['x-cheq-rti-request-id', 'x-cheq-rti-result']);
    });

    it('applies the configured rules before the defaults', async () => {
      const rules = [
        { name: 'vpn ok', when: { reasons: new Set([31]) }, action: 'allow' as const },
      ];
      const d = await decideWith(FakeRti.answering(V4), {}, { apiVersion: 'v4', rules });
      assert.deepEqual([d.action, d.reason, d.rule], ['allow', 'threat_unlisted', 'vpn ok']);
    });
  });

  describe('requests RTI is not asked about', () => {
    const excluded: readonly string[] = ['/healthz', '/static/app.js', '/static/'];
    for (const path of excluded) {
      it(`allows ${path} as excluded without calling RTI`, async () => {
        const rti = FakeRti.answering(invalid(2));
        const d = await decideWith(rti, { path });
        assert.equal(rti.calls.length, 0);
        assert.equal(d.action, 'allow');
        assert.equal(d.reason, 'excluded');
        assert.equal(d.httpStatus, 200);
        assert.equal(d.rti, undefined);
        assert.equal(d.verdict, undefined);
      });
    }

    it('excludes the canonical reading of a path: dot segments, repeated slashes, escapes', async () => {
      for (const path of ['//healthz', '/static/./app.js', '/x/../static/app.js', '/st%61tic/a']) {
        const rti = FakeRti.answering(invalid(2));
        const d = await decideWith(rti, { path });
        assert.equal(d.reason, 'excluded', path);
        assert.equal(rti.calls.length, 0, path);
      }
    });

    // Issue #20 rows 1-2: a reading in which the path is protected must not be excluded.
    const ambiguous: readonly string[] = [
      '/static/../checkout',
      '/static/..%2fcheckout',
      '/static/..%2Fcheckout',
      '/static/%2e%2e/checkout',
      '/static/..%252fcheckout',
      '/static/..;/checkout',
      '/static/..%5ccheckout',
      '/static\\..\\checkout',
      '/static/x#/../../checkout',
      '/static/%00.css',
      '/static/%c0%ae%c0%ae/checkout',
      // Raw bytes (Node reads header bytes as latin1): browsers never send them unencoded.
      '/static/\xC0\xAE\xC0\xAE/checkout',
      '/static/caf\u00e9.css',
      '/static/%zz',
      '/healthz;x',
      '/healthz%3bx',
      '/../static/x',
      'static/x',
    ];
    for (const path of ambiguous) {
      it(`asks RTI about the ambiguous path ${JSON.stringify(path)} and acts on its answer`, async () => {
        const rti = FakeRti.answering(invalid(2));
        const d = await decideWith(rti, { path });
        assert.equal(rti.calls.length, 1);
        assert.notEqual(d.action, 'allow');
        const slash = path.startsWith('/') ? '' : '/';
        assert.equal(rti.calls[0]?.input.requestUrl, `https://shop.example.com${slash}${path}`);
      });
    }

    it('matches exclusions on the path only, not the query', async () => {
      const rti = FakeRti.answering(VALID);
      const d = await decideWith(rti, { path: '/healthz', query: 'x=1' });
      assert.equal(d.reason, 'excluded');
      const d2 = await decideWith(rti, { path: '/', query: '/healthz' });
      assert.equal(d2.reason, 'valid');
    });

    it('does not exclude a path that only contains an excluded one', async () => {
      const rti = FakeRti.answering(VALID);
      const d = await decideWith(rti, { path: '/api/healthz' });
      assert.equal(d.reason, 'valid');
      assert.equal(rti.calls.length, 1);
    });

    it('allows a CORS preflight (OPTIONS + access-control-request-method) without calling RTI', async () => {
      const rti = FakeRti.answering(invalid(2));
      const d = await decideWith(rti, {
        method: 'OPTIONS',
        headers: [
          ['origin', 'https://other.example'],
          ['access-control-request-method', 'POST'],
        ],
      });
      assert.equal(rti.calls.length, 0);
      assert.equal(d.action, 'allow');
      assert.equal(d.reason, 'preflight');
    });

    it('asks RTI about an OPTIONS request that is not a CORS preflight', async () => {
      const rti = FakeRti.answering(VALID);
      const d = await decideWith(rti, { method: 'OPTIONS', headers: [['origin', 'https://x']] });
      assert.equal(rti.calls.length, 1);
      assert.equal(d.reason, 'valid');
    });

    it('strips forged verdict headers on a preflight and sets x-cheq-decision', async () => {
      const d = await decideWith(FakeRti.answering(VALID), {
        method: 'OPTIONS',
        headers: [
          ['access-control-request-method', 'POST'],
          ['x-cheq-challenge', '1'],
        ],
      });
      assert.deepEqual(d.upstreamHeaders, [['x-cheq-decision', 'preflight']]);
      assert.deepEqual([...d.upstreamHeadersToRemove].sort(), [...REMOVABLE_HEADERS].sort());
    });

    it('strips forged verdict headers on an excluded request and sets x-cheq-decision', async () => {
      const d = await decideWith(FakeRti.answering(VALID), {
        path: '/healthz',
        headers: [
          ['x-cheq-decision', 'valid'],
          ['x-cheq-invalid', 'false'],
        ],
      });
      assert.deepEqual(d.upstreamHeaders, [['x-cheq-decision', 'excluded']]);
      assert.deepEqual([...d.upstreamHeadersToRemove].sort(), [...REMOVABLE_HEADERS].sort());
      assert.equal(d.upstreamHeadersToRemove.includes('x-cheq-decision'), false);
    });

    it('strips every client-sent header under the prefix, and its x-cheq_ look-alike', async () => {
      const d = await decideWith(FakeRti.answering(VALID), {
        headers: [
          ['x-cheq-next-version', 'trusted'],
          ['x-cheq_decision', 'valid'],
          ['x-cheq-decision', 'valid'],
          ['x-cheqmate', 'kept'],
        ],
      });
      assert.ok(d.upstreamHeadersToRemove.includes('x-cheq-next-version'));
      assert.ok(d.upstreamHeadersToRemove.includes('x-cheq_decision'));
      assert.equal(
        d.upstreamHeadersToRemove.includes('x-cheq-decision'),
        false,
        'set, not removed',
      );
      assert.equal(d.upstreamHeadersToRemove.includes('x-cheqmate'), false);
    });
  });

  describe('event type', () => {
    const cases: readonly {
      readonly name: string;
      readonly attrs: AttributesOverrides;
      readonly expected: string;
    }[] = [
      { name: 'defaults to page_load', attrs: { path: '/products/1' }, expected: 'page_load' },
      { name: 'maps an exact path', attrs: { path: '/checkout' }, expected: 'purchase' },
      { name: 'maps a regex path', attrs: { path: '/cart/add' }, expected: 'add_to_cart' },
      {
        name: 'prefers the route event type (context extension) over the path map',
        attrs: { path: '/checkout', route: { eventType: 'registration' } },
        expected: 'registration',
      },
      {
        name: 'ignores an unknown route event type and falls back to the path map',
        attrs: { path: '/checkout', route: { eventType: 'bogus_event' } },
        expected: 'purchase',
      },
      {
        name: 'ignores an unknown route event type and falls back to page_load',
        attrs: { path: '/about', route: { eventType: 'PAGE_LOAD' } },
        expected: 'page_load',
      },
    ];
    for (const c of cases) {
      it(`${c.name} (${c.expected})`, async () => {
        const rti = FakeRti.answering(VALID);
        const d = await decideWith(rti, c.attrs);
        assert.equal(onlyCall(rti).input.eventType, c.expected);
        assert.equal(d.eventType, c.expected);
      });
    }

    it('sends the route channel for the custom event type', async () => {
      const rti = FakeRti.answering(VALID);
      await decideWith(rti, { route: { eventType: 'custom', channel: 'newsletter' } });
      assert.equal(onlyCall(rti).input.channel, 'newsletter');
    });
  });

  describe('mode', () => {
    const cases: readonly {
      readonly configMode: CoreConfig['mode'];
      readonly routeMode: string | undefined;
      readonly effective: CoreConfig['mode'];
    }[] = [
      { configMode: 'blocking', routeMode: undefined, effective: 'blocking' },
      { configMode: 'monitoring', routeMode: undefined, effective: 'monitoring' },
      { configMode: 'monitoring', routeMode: 'blocking', effective: 'blocking' },
      { configMode: 'blocking', routeMode: 'monitoring', effective: 'monitoring' },
      { configMode: 'blocking', routeMode: 'garbage', effective: 'blocking' },
      { configMode: 'monitoring', routeMode: 'BLOCKING', effective: 'monitoring' },
      { configMode: 'monitoring', routeMode: '', effective: 'monitoring' },
    ];
    for (const c of cases) {
      it(`runs in ${c.effective} mode with mode ${c.configMode} and route mode ${JSON.stringify(c.routeMode)}`, async () => {
        const route = c.routeMode === undefined ? {} : { mode: c.routeMode };
        const d = await decideWith(
          FakeRti.answering(invalid(2)),
          { route },
          { mode: c.configMode },
        );
        assert.equal(d.mode, c.effective);
        if (c.effective === 'blocking') {
          assert.equal(d.action, 'deny');
          assert.equal(d.reason, 'threat_block');
          assert.equal(d.would, undefined);
        } else {
          assert.equal(d.action, 'allow');
          assert.equal(d.reason, 'monitoring');
          assert.deepEqual(d.would, { action: 'deny', reason: 'threat_block' });
        }
      });
    }

    it('tells the upstream the verdict in monitoring mode', async () => {
      const d = await decideWith(
        FakeRti.answering(invalid(2)),
        {},
        { mode: 'monitoring', redirectUrl: '/blocked' },
      );
      assert.equal(d.action, 'allow');
      assert.equal(d.httpStatus, 200);
      assert.deepEqual(d.would, { action: 'redirect', reason: 'threat_block' });
      assert.deepEqual(d.upstreamHeaders, [
        ['x-cheq-decision', 'monitoring'],
        ['x-cheq-threat-type', '2'],
        ['x-cheq-invalid', 'true'],
        ['x-cheq-rti-request-id', 'rti-req-1'],
        ['x-cheq-verdict', 'malicious'],
      ]);
      assert.deepEqual(d.upstreamHeadersToRemove, ['x-cheq-challenge', ...V4_ONLY]);
    });
  });

  describe('gradual enforcement (enforce_percent)', () => {
    const BOTS = 200;

    /** The `n`th bot visitor, known by its client IP, on the page `extra` says. */
    function bot(n: number, extra: AttributesOverrides = {}): AttributesOverrides {
      return {
        headers: [...XHR_HEADERS, ['cookie', `_cheq_rti=visitor-${n}`]],
        peerAddress: `198.18.${n >> 8}.${n & 255}`,
        ...extra,
      };
    }

    /** Every bot's decision on one page, RTI saying `verdict` about each. */
    async function decideForBots(
      config: Partial<CoreConfig>,
      extra: AttributesOverrides = {},
      verdict: RtiVerdict = invalid(2),
    ): Promise<Decision[]> {
      const decide = createDecide(coreConfig(config), FakeRti.answering(verdict));
      const decisions: Decision[] = [];
      for (let n = 0; n < BOTS; n++) decisions.push(await decide(makeAttributes(bot(n, extra))));
      return decisions;
    }

    const answers = (decisions: readonly Decision[]): string[] =>
      decisions.map(d => `${d.action} ${d.reason}`);

    it('acts on some visitors and allows the others as not_enforced, saying what would have happened', async () => {
      const decisions = await decideForBots({ enforcePercent: 50 });
      const denied = decisions.filter(d => d.action === 'deny');
      const allowed = decisions.filter(d => d.action === 'allow');
      assert.equal(denied.length + allowed.length, BOTS);
      assert.ok(
        denied.length > BOTS * 0.3 && denied.length < BOTS * 0.7,
        `${denied.length} denied`,
      );
      for (const d of denied) {
        assert.equal(d.reason, 'threat_block');
        assert.equal(d.would, undefined);
      }
      for (const d of allowed) {
        assert.equal(d.reason, 'not_enforced');
        assert.equal(d.mode, 'blocking');
        assert.equal(d.httpStatus, 200);
        assert.deepEqual(d.would, { action: 'deny', reason: 'threat_block' });
        assert.equal(d.rule, 'default:block_codes');
        assert.equal(d.body, undefined);
        assert.equal(d.setCookie, VALID.setCookie);
        assert.deepEqual(d.upstreamHeaders, [
          ['x-cheq-decision', 'not_enforced'],
          ['x-cheq-threat-type', '2'],
          ['x-cheq-invalid', 'true'],
          ['x-cheq-rti-request-id', 'rti-req-1'],
          ['x-cheq-verdict', 'malicious'],
        ]);
        assert.deepEqual(d.upstreamHeadersToRemove, ['x-cheq-challenge', ...V4_ONLY]);
      }
    });

    it('gives each visitor the same answer on every page', async () => {
      const home = answers(await decideForBots({ enforcePercent: 50 }));
      for (const page of [
        { path: '/checkout', query: 'step=2' },
        { path: '/cart/add', method: 'POST', requestId: 'req-9' },
      ]) {
        assert.deepEqual(answers(await decideForBots({ enforcePercent: 50 }, page)), home);
      }
    });

    it('allows a visitor outside the share instead of redirecting or challenging', async () => {
      const redirected = await decideWith(
        FakeRti.answering(invalid(2)),
        { headers: [...BROWSER_HEADERS, ['cookie', '_cheq_rti=visitor-1']] },
        { enforcePercent: 0, redirectUrl: '/blocked' },
      );
      assert.equal(redirected.action, 'allow');
      assert.equal(redirected.location, undefined);
      assert.deepEqual(redirected.would, { action: 'redirect', reason: 'threat_block' });
      const challenged = await decideWith(
        FakeRti.answering(invalid(14)),
        {},
        { enforcePercent: 0, challengeStrategy: 'allow' },
      );
      assert.equal(challenged.reason, 'not_enforced');
      assert.deepEqual(challenged.would, { action: 'allow', reason: 'threat_challenge' });
      assert.ok(!challenged.upstreamHeaders.some(([name]) => name === 'x-cheq-challenge'));
      assert.ok(challenged.upstreamHeadersToRemove.includes('x-cheq-challenge'));
    });

    it('acts on every visitor at 100, as without gradual enforcement', async () => {
      const decisions = await decideForBots({ enforcePercent: 100 });
      for (const d of decisions) {
        assert.deepEqual([d.action, d.reason, d.would], ['deny', 'threat_block', undefined]);
      }
    });

    it('acts on no visitor at 0', async () => {
      const decisions = await decideForBots({ enforcePercent: 0 });
      for (const d of decisions) assert.deepEqual([d.action, d.reason], ['allow', 'not_enforced']);
    });

    const overrides: readonly {
      readonly configured: number;
      readonly route: string;
      readonly expected: string;
    }[] = [
      { configured: 0, route: '100', expected: 'deny threat_block' },
      { configured: 100, route: '0', expected: 'allow not_enforced' },
      { configured: 0, route: 'all', expected: 'allow not_enforced' },
      { configured: 100, route: '101', expected: 'deny threat_block' },
    ];
    for (const c of overrides) {
      it(`answers ${c.expected} with enforce_percent ${c.configured} and route value "${c.route}"`, async () => {
        const decisions = await decideForBots(
          { enforcePercent: c.configured },
          { route: { enforcePercent: c.route } },
        );
        assert.deepEqual(new Set(answers(decisions)), new Set([c.expected]));
      });
    }

    it("takes the route's share instead of the configured one", async () => {
      const configured = answers(await decideForBots({ enforcePercent: 30 }));
      const fromRoute = answers(
        await decideForBots({ enforcePercent: 100 }, { route: { enforcePercent: '30' } }),
      );
      assert.deepEqual(fromRoute, configured);
    });

    it('leaves monitoring mode as it is, configured or on the route', async () => {
      const cases: readonly { mode: CoreConfig['mode']; route: RouteSettings }[] = [
        { mode: 'monitoring', route: {} },
        { mode: 'monitoring', route: { enforcePercent: '0' } },
        { mode: 'monitoring', route: { enforcePercent: '100' } },
        { mode: 'blocking', route: { mode: 'monitoring' } },
        { mode: 'blocking', route: { mode: 'monitoring', enforcePercent: '0' } },
      ];
      for (const enforcePercent of [0, 50, 100]) {
        for (const { mode, route } of cases) {
          const decisions = await decideForBots({ mode, enforcePercent }, { route });
          for (const d of decisions) {
            assert.deepEqual(
              [d.action, d.reason, d.would],
              ['allow', 'monitoring', { action: 'deny', reason: 'threat_block' }],
            );
          }
        }
      }
    });

    it('never touches a request it would not act on', async () => {
      for (const verdict of [VALID, invalid(19)]) {
        const decisions = await decideForBots({ enforcePercent: 0 }, {}, verdict);
        const expected = verdict === VALID ? 'allow valid' : 'allow threat_unlisted';
        assert.deepEqual(new Set(answers(decisions)), new Set([expected]));
        for (const d of decisions) assert.equal(d.would, undefined);
      }
    });
  });

  describe('time budget', () => {
    const NOW = 1_700_000_000_000;
    const cases: readonly {
      readonly name: string;
      readonly deadlineMs: number | undefined;
      readonly expected: number;
    }[] = [
      { name: 'timeoutMs when the proxy sets no deadline', deadlineMs: undefined, expected: 100 },
      { name: 'timeoutMs when the deadline is far', deadlineMs: NOW + 5_000, expected: 100 },
      { name: 'deadline - now - margin when sooner', deadlineMs: NOW + 60, expected: 50 },
      { name: 'the margin-adjusted deadline, floored', deadlineMs: NOW + 40.9, expected: 30 },
      { name: 'timeoutMs when the deadline is not finite', deadlineMs: Infinity, expected: 100 },
    ];
    for (const c of cases) {
      it(`gives RTI ${c.name} (${c.expected} ms)`, async () => {
        const rti = FakeRti.answering(VALID);
        await decideWith(rti, {}, {}, { deadlineMs: c.deadlineMs }, () => NOW);
        assert.equal(onlyCall(rti).timeoutMs, c.expected);
      });
    }

    const exhausted: readonly [string, number][] = [
      ['the deadline minus the margin is now', NOW + 10],
      ['the deadline is within the margin', NOW + 5],
      ['the deadline has passed', NOW - 1_000],
    ];
    for (const [name, deadlineMs] of exhausted) {
      it(`fails open with no_time_budget and no RTI call when ${name}`, async () => {
        const rti = FakeRti.answering(invalid(2));
        const d = await decideWith(rti, {}, {}, { deadlineMs }, () => NOW);
        assert.equal(rti.calls.length, 0);
        assert.equal(d.action, 'allow');
        assert.equal(d.reason, 'fail_open');
        assert.equal(d.failure, 'no_time_budget');
        assert.equal(d.rti, undefined);
        assert.equal(d.eventType, 'page_load');
      });
    }

    it("passes the proxy's cancellation through to RTI", async () => {
      const cancellation: Cancellation = { onCancel: () => undefined };
      const rti = FakeRti.answering(VALID);
      await decideWith(rti, {}, {}, { cancellation });
      assert.equal(onlyCall(rti).cancellation, cancellation);
    });

    it('passes no cancellation when the proxy gives none', async () => {
      const rti = FakeRti.answering(VALID);
      await decideWith(rti);
      assert.equal(onlyCall(rti).cancellation, undefined);
    });
  });

  describe('RTI failures (fail open)', () => {
    const codes: readonly RtiErrorCode[] = [
      'rti_timeout',
      'rti_connect_error',
      'rti_http_status',
      'rti_bad_response',
      'cancelled',
    ];
    for (const code of codes) {
      it(`allows when RTI fails with ${code} (fail open)`, async () => {
        const rti = FakeRti.failing(new RtiError(code, `simulated ${code}`));
        const d = await decideWith(rti, { path: '/checkout' }, { mode: 'blocking' });
        assert.equal(rti.calls.length, 1);
        assert.equal(d.action, 'allow');
        assert.equal(d.httpStatus, 200);
        assert.equal(d.reason, 'fail_open');
        assert.equal(d.failure, code);
        assert.equal(d.rti?.outcome, code);
        assert.equal(typeof d.rti?.durationMs, 'number');
        assert.equal(d.failureDetail, `simulated ${code}`);
        assert.equal(d.eventType, 'purchase');
        assert.equal(d.verdict, undefined);
        assert.equal(d.setCookie, undefined);
        assert.equal(d.body, undefined);
        assert.deepEqual(d.upstreamHeaders, [['x-cheq-decision', 'fail_open']]);
        assert.deepEqual([...d.upstreamHeadersToRemove].sort(), [...REMOVABLE_HEADERS].sort());
      });
    }

    it('gives RTI timeoutMs as its budget, and allows on rti_timeout (fail open)', async () => {
      const rti = new FakeRti(call => {
        throw new RtiError('rti_timeout', `no answer within ${call.timeoutMs} ms`);
      });
      const d = await decideWith(rti, {}, { timeoutMs: 25 });
      assert.equal(onlyCall(rti).timeoutMs, 25);
      assert.equal(d.action, 'allow');
      assert.equal(d.failure, 'rti_timeout');
    });

    it('fails open with internal_error when the RTI client throws something that is not an RtiError', async () => {
      const rti = FakeRti.failing(new TypeError('cannot read properties of undefined'));
      const d = await decideWith(rti);
      assert.equal(d.action, 'allow');
      assert.equal(d.reason, 'fail_open');
      assert.equal(d.failure, 'internal_error');
      assert.match(d.failureDetail ?? '', /cannot read properties of undefined/);
      assert.deepEqual(d.upstreamHeaders, [['x-cheq-decision', 'fail_open']]);
    });

    it('fails open with internal_error when the RTI client throws synchronously', async () => {
      const rti: RtiCheck = {
        check() {
          throw new Error('sync boom');
        },
      };
      const d = await createDecide(coreConfig(), rti)(makeAttributes());
      assert.equal(d.reason, 'fail_open');
      assert.equal(d.failure, 'internal_error');
    });
  });

  describe('admission (overload shedding)', () => {
    /** Answers every request for a slot with `outcome`, and records requests and exits. */
    function admission(outcome: AdmissionOutcome | Promise<AdmissionOutcome>) {
      const log: string[] = [];
      const latestStarts: number[] = [];
      return {
        log,
        latestStarts,
        flooded: false,
        enter(latestStartMs: number) {
          latestStarts.push(latestStartMs);
          log.push('enter');
          return outcome;
        },
        leave() {
          log.push('leave');
        },
      };
    }

    for (const outcome of ['overloaded', 'cancelled'] as const) {
      it(`fails open without asking RTI when admission ends ${outcome}, with that cause`, async () => {
        const rti = FakeRti.answering(VALID);
        for (const gate of [admission(outcome), admission(Promise.resolve(outcome))]) {
          const d = await createDecide(coreConfig(), rti, { admission: gate })(makeAttributes());
          assert.equal(d.action, 'allow');
          assert.equal(d.reason, 'fail_open');
          assert.equal(d.failure, outcome);
          assert.equal(d.rti, undefined, 'no RTI call to time');
          assert.deepEqual(d.upstreamHeaders, [['x-cheq-decision', 'fail_open']]);
          assert.deepEqual(gate.log, ['enter'], 'nothing to leave');
        }
        assert.equal(rti.calls.length, 0);
      });
    }

    for (const [name, rti] of [
      ['a verdict', FakeRti.answering(VALID)],
      ['an RTI failure', FakeRti.failing(new RtiError('rti_connect_error', 'refused'))],
      ['a bug', FakeRti.failing(new TypeError('boom'))],
    ] as const) {
      it(`leaves its slot after ${name}`, async () => {
        const gate = admission('admitted');
        const decide = createDecide(coreConfig(), rti, { admission: gate });
        await decide(makeAttributes());
        await decide(makeAttributes());
        assert.deepEqual(gate.log, ['enter', 'leave', 'enter', 'leave']);
      });
    }

    it('waits in line while half of its budget is left, then asks RTI with the rest', async () => {
      const clock = { now: 10_000 };
      const rti = FakeRti.answering(VALID);
      let admit: (outcome: AdmissionOutcome) => void = () => undefined;
      const gate = admission(new Promise<AdmissionOutcome>(resolve => (admit = resolve)));
      const decide = createDecide(coreConfig({ timeoutMs: 100, deadlineMarginMs: 10 }), rti, {
        admission: gate,
        now: () => clock.now,
      });
      const pending = decide(makeAttributes(), { deadlineMs: 10_080 });
      assert.deepEqual(gate.latestStarts, [10_000 + 70 / 2], 'budget 70 ms: the deadline rules');
      clock.now += 30;
      admit('admitted');
      const d = await pending;
      assert.equal(d.reason, 'valid');
      assert.equal(onlyCall(rti).timeoutMs, 40, 'answered within the budget all the same');
    });

    it('waits in line half of timeout_ms at most when the proxy gives no deadline', async () => {
      const gate = admission('admitted');
      const decide = createDecide(coreConfig({ timeoutMs: 100 }), FakeRti.answering(VALID), {
        admission: gate,
        now: () => 5_000,
      });
      await decide(makeAttributes());
      assert.deepEqual(gate.latestStarts, [5_050]);
    });

    it('does not ask for a slot for checks that need no RTI call', async () => {
      const gate = admission('overloaded');
      const decide = createDecide(
        coreConfig({ uriExclusion: new PathPatternList(['/health']) }),
        FakeRti.answering(VALID),
        { admission: gate },
      );
      const d = await decide(makeAttributes({ path: '/health' }));
      assert.equal(d.reason, 'excluded');
      assert.deepEqual(gate.log, []);
    });
  });

  describe('verdicts', () => {
    it('allows valid traffic and passes the verdict to the upstream', async () => {
      const d = await decideWith(FakeRti.answering(VALID));
      assert.equal(d.action, 'allow');
      assert.equal(d.reason, 'valid');
      assert.equal(d.httpStatus, 200);
      assert.equal(d.rti?.outcome, 'ok');
      assert.deepEqual(d.verdict, VALID);
      assert.equal(d.setCookie, VALID.setCookie);
      assert.equal(d.body, undefined);
      assert.equal(d.failure, undefined);
      assert.deepEqual(d.upstreamHeaders, [
        ['x-cheq-decision', 'valid'],
        ['x-cheq-threat-type', '0'],
        ['x-cheq-invalid', 'false'],
        ['x-cheq-rti-request-id', 'rti-req-1'],
        ['x-cheq-verdict', 'benign'],
      ]);
      assert.deepEqual(d.upstreamHeadersToRemove, ['x-cheq-challenge', ...V4_ONLY]);
    });

    it('removes a forged rti-request-id when RTI gives none', async () => {
      const d = await decideWith(FakeRti.answering({ ...VALID, requestId: undefined }));
      assert.deepEqual(d.upstreamHeaders, [
        ['x-cheq-decision', 'valid'],
        ['x-cheq-threat-type', '0'],
        ['x-cheq-invalid', 'false'],
        ['x-cheq-verdict', 'benign'],
      ]);
      assert.deepEqual(d.upstreamHeadersToRemove, [
        'x-cheq-rti-request-id',
        'x-cheq-challenge',
        ...V4_ONLY,
      ]);
    });

    it('denies a blocked request with a 403 body, the cookie and no upstream headers', async () => {
      const d = await decideWith(FakeRti.answering(invalid(2)), {
        requestId: 'req-42',
        headers: XHR_HEADERS,
      });
      assert.equal(d.action, 'deny');
      assert.equal(d.reason, 'threat_block');
      assert.equal(d.httpStatus, 403);
      assert.equal(d.setCookie, VALID.setCookie);
      assert.ok(d.body);
      assert.equal(d.body.contentType, 'application/json');
      assert.deepEqual(JSON.parse(d.body.text), { error: 'access_denied', requestId: 'req-42' });
      assert.equal(d.location, undefined);
      assert.deepEqual(d.upstreamHeaders, []);
      assert.deepEqual(d.upstreamHeadersToRemove, []);
    });

    it('redirects a blocked navigation with the cookie and no body', async () => {
      const d = await decideWith(
        FakeRti.answering(invalid(10)),
        {},
        { redirectUrl: 'https://shop.example.com/blocked' },
      );
      assert.equal(d.action, 'redirect');
      assert.equal(d.httpStatus, 302);
      assert.equal(d.location, 'https://shop.example.com/blocked');
      assert.equal(d.setCookie, VALID.setCookie);
      assert.equal(d.body, undefined);
      assert.deepEqual(d.upstreamHeaders, []);
    });

    it('denies (not redirects) a blocked XHR even with a redirect URL', async () => {
      const d = await decideWith(
        FakeRti.answering(invalid(10)),
        { headers: XHR_HEADERS },
        { redirectUrl: '/blocked' },
      );
      assert.equal(d.action, 'deny');
      assert.equal(d.location, undefined);
    });

    it('tells the upstream to challenge with challenge_action allow', async () => {
      const d = await decideWith(
        FakeRti.answering(invalid(14)),
        {},
        { challengeStrategy: 'allow' },
      );
      assert.equal(d.action, 'allow');
      assert.equal(d.reason, 'threat_challenge');
      assert.deepEqual(d.upstreamHeaders, [
        ['x-cheq-decision', 'threat_challenge'],
        ['x-cheq-threat-type', '14'],
        ['x-cheq-invalid', 'true'],
        ['x-cheq-rti-request-id', 'rti-req-1'],
        ['x-cheq-challenge', '1'],
        ['x-cheq-verdict', 'suspicious'],
      ]);
      assert.deepEqual(d.upstreamHeadersToRemove, V4_ONLY);
    });

    it('redirects a challenged navigation to the challenge URL', async () => {
      const d = await decideWith(
        FakeRti.answering(invalid(14)),
        {},
        { challengeStrategy: 'redirect', challengeUrl: '/challenge' },
      );
      assert.equal(d.action, 'redirect');
      assert.equal(d.reason, 'threat_challenge');
      assert.equal(d.location, '/challenge');
    });

    it('allows an unlisted invalid code and says so upstream', async () => {
      const d = await decideWith(FakeRti.answering(invalid(19, { setCookie: undefined })));
      assert.equal(d.action, 'allow');
      assert.equal(d.reason, 'threat_unlisted');
      assert.equal(d.setCookie, undefined);
      assert.deepEqual(d.upstreamHeaders[0], ['x-cheq-decision', 'threat_unlisted']);
    });

    it('sets no upstream headers and removes none when verdict headers are off', async () => {
      const config = { verdictHeaderNames: undefined };
      const allowed = await decideWith(FakeRti.answering(VALID), {}, config);
      const failed = await decideWith(
        FakeRti.failing(new RtiError('rti_connect_error', 'x')),
        {},
        config,
      );
      const excluded = await decideWith(FakeRti.answering(VALID), { path: '/healthz' }, config);
      for (const d of [allowed, failed, excluded]) {
        assert.equal(d.action, 'allow');
        assert.deepEqual(d.upstreamHeaders, []);
        assert.deepEqual(d.upstreamHeadersToRemove, []);
      }
    });

    it('uses the configured verdict header prefix', async () => {
      const d = await decideWith(
        FakeRti.answering(VALID),
        {},
        { verdictHeaderNames: verdictHeaderNames('x-bot-') },
      );
      assert.deepEqual(d.upstreamHeaders[0], ['x-bot-decision', 'valid']);
      assert.deepEqual(d.upstreamHeadersToRemove, [
        'x-bot-challenge',
        'x-bot-risk-score',
        'x-bot-ray-id',
        // CHEQ's own keeps its name whatever the prefix.
        'x-cheq-rti-result',
      ]);
    });
  });

  describe('what RTI is told', () => {
    it('sends the resolved request to RTI', async () => {
      const rti = FakeRti.answering(VALID);
      await decideWith(rti, {
        path: '/cart/add',
        query: 'sku=1',
        headers: [
          ['user-agent', 'UA'],
          ['x-envoy-external-address', '198.51.100.9'],
          ['cookie', 'a=1; _cheq_rti=cookie-value'],
        ],
        peerAddress: '198.51.100.9',
      });
      const { input } = onlyCall(rti);
      assert.equal(input.eventType, 'add_to_cart');
      assert.equal(input.requestUrl, 'https://shop.example.com/cart/add?sku=1');
      assert.equal(input.clientIp, '198.51.100.9');
      assert.equal(input.method, 'GET');
      assert.equal(input.requestTimeMs, 1_700_000_000_500);
      assert.deepEqual(input.headerNames, ['user-agent', 'cookie']);
      assert.equal(input.cheqCookie, 'cookie-value');
    });
  });
});
