// The challenge phase's readers and solver (bench/lib/challenge-tokens.mjs) against what our
// server's own modules produce: the page it serves, the pass cookie it sets, the proof of work
// it checks.

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderChallengePage } from '../../../src/challenge/challenge-page';
import { issueChallengeToken } from '../../../src/challenge/challenge-token';
import { checkPassCookie, issuePassCookie } from '../../../src/challenge/pass-cookie';
import { checkProofOfWork } from '../../../src/challenge/proof-of-work';
import { KEYS } from '../challenge/keys';

interface ChallengeTokens {
  tokenOfPage(html: string): string;
  passCookieOf(setCookie: string | string[] | undefined): string;
  solveProofOfWork(token: string, difficulty: number): string;
}

/** The bench is ES modules (.mjs) outside the TypeScript build: loaded as it runs. */
const load = async () =>
  (await import(
    pathToFileURL(join(__dirname, '..', '..', '..', '..', 'bench', 'lib', 'challenge-tokens.mjs'))
      .href
  )) as ChallengeTokens;

const T0 = 1_800_000_000_000;
const VISITOR = { site: 'default', binding: 'binding-of-chrome-on-w', nowMs: T0 };
const TOKEN = issueChallengeToken(KEYS, {
  ...VISITOR,
  returnUrl: '/products/7?color=red&size=42',
  provider: 'browser',
  difficulty: 8,
});

describe('bench: challenge tokens', () => {
  let m: ChallengeTokens;
  before(async () => {
    m = await load();
  });

  it("reads the token of the page our server renders, and the server's check accepts its solution", () => {
    const page = renderChallengePage({
      token: TOKEN,
      challengePath: '/_bench/challenge',
      provider: { kind: 'browser', difficulty: 8 },
    });
    const token = m.tokenOfPage(page.body);
    assert.equal(token, TOKEN);
    const solution = m.solveProofOfWork(token, 8);
    assert.equal(checkProofOfWork(token, solution, 8), true);
    // The first solution found: the one before it did not have the bits.
    const previous = (parseInt(solution, 36) - 1).toString(36);
    if (solution !== '0') assert.equal(checkProofOfWork(token, previous, 8), false);
  });

  it('refuses a page without a token (an allow, the block page, a JSON 403)', () => {
    assert.throws(
      () => m.tokenOfPage('<html><main data-mode="pow"></main></html>'),
      /no challenge token/,
    );
    assert.throws(() => m.tokenOfPage(''), /no challenge token/);
    assert.throws(() => m.tokenOfPage('<main data-token="not a token">'), /no challenge token/);
  });

  it('takes the pass cookie our server sets, by its exact name, as the browser sends it back', () => {
    const setCookie = issuePassCookie(KEYS, { ...VISITOR, ttlS: 900, secure: true });
    const cookie = m.passCookieOf([
      '_cheq_rti=abc; Path=/',
      '_cq_se_x=other; Path=/',
      '_cq_s=session; Path=/',
      setCookie,
    ]);
    assert.match(cookie, /^_cq_se=[^;]+$/);
    assert.equal(checkPassCookie(KEYS, cookie, VISITOR).ok, true);
    assert.equal(m.passCookieOf(setCookie), cookie);
  });

  it('refuses answers without a pass cookie', () => {
    assert.throws(() => m.passCookieOf(undefined), /no _cq_se cookie/);
    assert.throws(() => m.passCookieOf(['_cq_se=; Max-Age=0', '_cq_sex=1']), /no _cq_se cookie/);
  });
});
