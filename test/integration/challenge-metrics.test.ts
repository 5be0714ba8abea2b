// cheq_authz_challenges_total through real gRPC Check calls against a fake RTI on loopback: a
// challenged navigation gets the page (served), its solved token passes once (passed) and not
// twice (replayed), a forged token fails (failed), a visitor with the pass is let through without
// an event; monitoring mode counts would_serve, a server without a signing secret unavailable.

import { strict as assert } from 'node:assert';
import { checkProofOfWork } from '../../src/challenge/proof-of-work';
import { CHALLENGE_OUTCOMES, type ChallengeOutcome } from '../../src/core/decision';
import { BROWSER_HEADERS, envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { metricValue, startService, type TestService } from '../helpers/start-service';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';

const SECRET = 'challenge-secret-of-at-least-32-bytes-0123456789';
const ORIGIN = 'https://shop.example.com';

/** The challenge counts of the default site's browser provider, by outcome. */
async function challengeCounts(service: TestService): Promise<Record<ChallengeOutcome, number>> {
  const text = await service.metrics();
  return Object.fromEntries(
    CHALLENGE_OUTCOMES.map(outcome => [
      outcome,
      metricValue(text, 'cheq_authz_challenges_total', {
        site: 'default',
        provider: 'browser',
        outcome,
      }),
    ]),
  ) as Record<ChallengeOutcome, number>;
}

function header(response: CheckResponse__Output, name: string): string | undefined {
  return response.denied_response?.headers?.find(h => h.header?.key === name)?.header?.value;
}

/** The smallest nonce whose SHA-256 with the token has `difficulty` leading zero bits. */
function solve(token: string, difficulty: number): string {
  for (let nonce = 0; ; nonce++) {
    if (checkProofOfWork(token, String(nonce), difficulty)) return String(nonce);
  }
}

describe('challenge metrics over gRPC (integration)', function () {
  this.timeout(20_000);
  let rti: FakeRti;

  before(async () => {
    rti = await FakeRti.start();
    // A VPN visitor (code 14, the challenge group) on every request.
    rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 14 });
  });
  after(async () => {
    await rti.close();
  });

  describe('blocking, with a signing secret', () => {
    let service: TestService;
    before(async () => {
      service = await startService(rti.url, {
        CHEQ_MODE: 'blocking',
        CHEQ_CHALLENGE_SECRET: SECRET,
        CHEQ_CHALLENGE_DIFFICULTY: '8',
      });
    });
    after(async () => {
      await service?.close();
    });

    it('counts served, passed, replayed and failed; a held pass adds nothing', async () => {
      const before = await challengeCounts(service);
      const page = await service.check(envoyCheckRequest({ url: `${ORIGIN}/products` }));
      assert.equal(page.denied_response?.status?.code, 403);
      const token = /data-token="([^"]+)"/.exec(page.denied_response?.body ?? '')?.[1];
      assert.ok(token, 'the page carries its token');

      const verify = (t: string, s: string) =>
        service.check(
          envoyCheckRequest({
            url: `${ORIGIN}/_cheq/challenge/verify?t=${encodeURIComponent(t)}&s=${s}`,
          }),
        );
      const solution = solve(token, 8);
      const passed = await verify(token, solution);
      assert.equal(passed.denied_response?.status?.code, 302);
      const cookie = /^(_cq_se=[^;]+)/.exec(header(passed, 'set-cookie') ?? '')?.[1];
      assert.ok(cookie, 'the pass cookie is set');
      const replayed = await verify(token, solution);
      assert.notEqual(replayed.denied_response?.status?.code, 302, 'a token passes once');
      const forged = await verify(`${token.slice(0, -4)}AAAA`, solution);
      assert.notEqual(forged.denied_response?.status?.code, 302, 'a forged token never passes');

      const withPass = await service.check(
        envoyCheckRequest({
          url: `${ORIGIN}/products`,
          headers: { ...BROWSER_HEADERS, cookie },
        }),
      );
      assert.equal(withPass.status?.code ?? 0, 0, 'allowed with the pass');

      const after = await challengeCounts(service);
      const counted = Object.fromEntries(
        CHALLENGE_OUTCOMES.map(outcome => [outcome, after[outcome] - before[outcome]]),
      );
      assert.deepEqual(counted, {
        // The page again after the replay and the forgery counts as those, not as served.
        served: 1,
        passed: 1,
        failed: 1,
        expired: 0,
        replayed: 1,
        loop: 0,
        would_serve: 0,
        unavailable: 0,
      });
    });
  });

  it('monitoring mode counts would_serve; no signing secret counts unavailable', async () => {
    for (const [env, outcome] of [
      [{ CHEQ_MODE: 'monitoring', CHEQ_CHALLENGE_SECRET: SECRET }, 'would_serve'],
      [{ CHEQ_MODE: 'blocking' }, 'unavailable'],
    ] as const) {
      const service = await startService(rti.url, env);
      try {
        const response = await service.check(envoyCheckRequest({ url: `${ORIGIN}/products` }));
        assert.equal(response.status?.code ?? 0, 0, 'allowed');
        const counts = await challengeCounts(service);
        assert.deepEqual(
          Object.entries(counts).filter(([, value]) => value !== 0),
          [[outcome, 1]],
        );
      } finally {
        await service.close();
      }
    }
  });
});
