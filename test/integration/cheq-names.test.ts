// CHEQ's action model through the bin, configured with CHEQ's own setting names (rti-api.md
// §5.1) as an operator moving from a CHEQ integration would: block (CHEQ_BLOCKING_STRATEGY
// NOT_FOUND), challenge (no signing secret: allowed with the upstream header) and redirect by
// code and by reason, in CHEQ's priority, answered over real gRPC Check calls against a fake RTI
// speaking v4 on loopback; what /metrics counts; and what the bin says about the names.

import { strict as assert } from 'node:assert';
import { decisionHeader } from '../helpers/check-response';
import { BROWSER_HEADERS, envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, v4Verdict, type RecordedCall } from '../helpers/fake-rti-server';
import { runMain, startServerProcess, type ServerProcess } from '../helpers/server-process';
import { loopbackSettings, metricValue } from '../helpers/start-service';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';
import {
  createUpstreamAuthorizationClient,
  upstreamCheck,
  type UpstreamAuthorizationClient,
} from '../helpers/upstream-protos';

const CHEQ_NAMES = {
  CHEQ_MODE: 'blocking',
  CHEQ_REDIRECT_URL: 'https://www.example.com/sorry',
  CHEQ_THREAT_CODES_BLOCK: '30',
  CHEQ_THREAT_CODES_CAPTCHA: '31',
  CHEQ_THREAT_CODES_REDIRECT: '32',
  CHEQ_REASONS_BLOCK: '101',
  CHEQ_REASONS_CAPTCHA: '102',
  CHEQ_REASONS_REDIRECT: '103',
  CHEQ_BLOCKING_STRATEGY: 'NOT_FOUND',
};

/** The v4 answer named by the User-Agent: `code-<n>`, `reasons-<a>.<b>`, `suspicious`. */
function answerFor(_form: URLSearchParams, call: RecordedCall) {
  const body = call.json as { endUserParams?: { headers?: Record<string, string> } } | undefined;
  const ua = body?.endUserParams?.headers?.['user-agent'] ?? '';
  const code = Number(/code-(\d+)/.exec(ua)?.[1] ?? 0);
  const reasons = (/reasons-([\d.]+)/.exec(ua)?.[1] ?? '').split('.').filter(Boolean).map(Number);
  const verdict = ua.includes('suspicious') ? 'suspicious' : 'benign';
  return v4Verdict({
    decision: { verdict },
    classification: { code },
    cheqDetection: { reasons },
  });
}

describe("CHEQ's setting names through the bin (integration)", function () {
  this.timeout(30_000);
  let rti: FakeRti;
  let proc: ServerProcess;
  let client: UpstreamAuthorizationClient;
  let metricsPort: number;

  before(async () => {
    rti = await FakeRti.start();
    rti.behaviour = answerFor;
    proc = startServerProcess([], {
      ...loopbackSettings(rti.url),
      CHEQ_API_VERSION: 'v4',
      CHEQ_WARMUP_CHECKS: '0',
      ...CHEQ_NAMES,
    });
    const line = await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
    metricsPort = line['metricsPort'] as number;
    client = createUpstreamAuthorizationClient(`127.0.0.1:${line['grpcPort'] as number}`);
  });
  after(async () => {
    client?.close();
    await proc?.stop();
    await rti?.close();
  });

  async function check(userAgent: string, navigation: boolean): Promise<CheckResponse__Output> {
    const headers: Record<string, string> = navigation
      ? { ...BROWSER_HEADERS, 'user-agent': userAgent }
      : { 'user-agent': userAgent, accept: 'application/json' };
    return (await upstreamCheck(client, envoyCheckRequest({ headers }))) as CheckResponse__Output;
  }

  function answer(response: CheckResponse__Output): string {
    const status = response.denied_response?.status?.code;
    if (status === undefined) return `allow ${decisionHeader(response) ?? ''}`;
    const location = response.denied_response?.headers?.find(h => h.header?.key === 'location');
    return location === undefined ? `${status}` : `${status} ${location.header?.value ?? ''}`;
  }

  function rule(response: CheckResponse__Output): string | undefined {
    return response.dynamic_metadata?.fields?.['cheq_rule']?.stringValue;
  }

  it('reads every CHEQ name without a warning', () => {
    const warnings = proc.stdout
      .split('\n')
      .filter(line => line.startsWith('{'))
      .map(line => JSON.parse(line) as Record<string, unknown>)
      .filter(line => line['level'] === 40)
      .map(line => String(line['msg']));
    assert.deepEqual(
      warnings.filter(msg => /CHEQ_(THREAT|REASONS|BLOCKING)/.test(msg)),
      [],
    );
  });

  const cases: readonly [string, string, boolean, string, string][] = [
    ['a block code (NOT_FOUND: the stealth 404)', 'code-30', true, '404', 'default:block_codes'],
    ['a block reason (an API client)', 'reasons-7.101', false, '404', 'default:block_reasons'],
    ['a challenge code', 'code-31', true, 'allow threat_challenge', 'default:challenge_codes'],
    [
      'a challenge reason',
      'reasons-102',
      true,
      'allow threat_challenge',
      'default:challenge_reasons',
    ],
    [
      'a redirect code (a navigation)',
      'code-32',
      true,
      '302 https://www.example.com/sorry',
      'default:redirect_codes',
    ],
    [
      'a redirect reason (a navigation)',
      'reasons-103',
      true,
      '302 https://www.example.com/sorry',
      'default:redirect_reasons',
    ],
    ['a redirect code (an API client: 403)', 'code-32', false, '403', 'default:redirect_codes'],
    [
      'a block reason over a redirect code (404, not the 403 of a redirect)',
      'code-32 reasons-101',
      false,
      '404',
      'default:block_reasons',
    ],
    [
      'a challenge reason over a redirect code',
      'code-32 reasons-102',
      true,
      'allow threat_challenge',
      'default:challenge_reasons',
    ],
    [
      'suspicious over a redirect code',
      'suspicious code-32',
      true,
      'allow threat_challenge',
      'default:suspicious',
    ],
    [
      'the old default block code 2, replaced by CHEQ_THREAT_CODES_BLOCK',
      'code-2',
      false,
      'allow valid',
      'default:benign',
    ],
  ];
  for (const [name, userAgent, navigation, expected, expectedRule] of cases) {
    it(`acts on ${name}`, async () => {
      const response = await check(userAgent, navigation);
      assert.deepEqual([answer(response), rule(response)], [expected, expectedRule]);
    });
  }

  it('counts redirect decisions with reason threat_redirect', async () => {
    const counts = async (): Promise<[number, number]> => {
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const count = (action: string): number =>
        metricValue(metrics, 'cheq_authz_decisions_total', {
          transport: 'grpc',
          action,
          reason: 'threat_redirect',
        });
      return [count('redirect'), count('deny')];
    };
    const [redirectsBefore, deniesBefore] = await counts();
    await check('code-32', true);
    await check('reasons-103', true);
    await check('code-32', false);
    const [redirects, denies] = await counts();
    assert.deepEqual([redirects - redirectsBefore, denies - deniesBefore], [2, 1]);
  });
});

describe("CHEQ's setting names: the bin's messages (integration)", function () {
  this.timeout(20_000);
  const env = loopbackSettings('https://rti-global.cheqzone.com');

  it('check-config names ours as used when both names are set', async () => {
    const result = await runMain(['check-config'], {
      ...env,
      CHEQ_THREAT_CODES_REDIRECT: '20',
      CHEQ_REDIRECT_CODES: '21',
      CHEQ_REDIRECT_URL: '/sorry',
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /CHEQ_THREAT_CODES_REDIRECT and CHEQ_REDIRECT_CODES are both set: CHEQ_REDIRECT_CODES is used/,
    );
  });

  it('exits 2 naming the CHEQ name whose value is wrong', async () => {
    const result = await runMain([], { ...env, CHEQ_BLOCKING_STRATEGY: 'TARPIT' });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /block_strategy \(CHEQ_BLOCKING_STRATEGY, CHEQ's name for CHEQ_BLOCK_STRATEGY\): must be one of/,
    );
  });
});
