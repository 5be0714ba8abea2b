import { strict as assert } from 'node:assert';
import {
  CHALLENGE_TOKEN_TTL_MS,
  issueChallengeToken,
  MAX_CHALLENGE_TOKEN_LENGTH,
  redeemChallengeToken,
  verifyChallengeToken,
  type ChallengeTokenRequest,
} from '../../../src/challenge/challenge-token';
import { ReplayGuard } from '../../../src/challenge/replay-guard';
import { sign } from '../../../src/challenge/signed-value';
import { KEYS, OTHER, ROTATED } from './keys';

const T0 = 1_800_000_000_000;
const VISITOR = { site: 'shop', binding: 'binding-of-chrome-on-l', nowMs: T0 };
const REQUEST: ChallengeTokenRequest = {
  ...VISITOR,
  returnUrl: '/cart?item=1',
  provider: 'browser',
  difficulty: 16,
};

describe('challenge tokens', () => {
  it('verifies for the same visitor within 2 minutes and carries what the verify step needs', () => {
    const check = verifyChallengeToken(
      KEYS,
      issueChallengeToken(KEYS, REQUEST),
      { ...VISITOR, nowMs: T0 + CHALLENGE_TOKEN_TTL_MS - 1_000 },
      new ReplayGuard(),
    );
    assert.ok(check.ok);
    assert.equal(check.token.u, '/cart?item=1');
    assert.equal(check.token.p, 'browser');
    assert.equal(check.token.d, 16);
    assert.equal(check.token.e, (T0 + CHALLENGE_TOKEN_TTL_MS) / 1000);
    assert.match(check.token.n, /^[A-Za-z0-9_-]{22}$/);
  });

  it('gives every token its own nonce', () => {
    const guard = new ReplayGuard();
    const nonces = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const check = verifyChallengeToken(KEYS, issueChallengeToken(KEYS, REQUEST), VISITOR, guard);
      assert.ok(check.ok);
      nonces.add(check.token.n);
    }
    assert.equal(nonces.size, 20);
  });

  it('replaces a return URL on another origin with /', () => {
    for (const returnUrl of ['//evil.example/', '/\\evil.example', 'https://evil.example/']) {
      const text = issueChallengeToken(KEYS, { ...REQUEST, returnUrl });
      const check = verifyChallengeToken(KEYS, text, VISITOR, new ReplayGuard());
      assert.ok(check.ok);
      assert.equal(check.token.u, '/');
    }
  });

  it('stays within 2 KB (the X-Cheq-Page bound): a return URL too long for that becomes /', () => {
    const guard = new ReplayGuard();
    const kept = `/p?${'q'.repeat(1200)}`;
    const long = issueChallengeToken(KEYS, { ...REQUEST, returnUrl: kept });
    const tooLong = issueChallengeToken(KEYS, { ...REQUEST, returnUrl: `/p?${'"'.repeat(2000)}` });
    for (const [text, url] of [
      [long, kept],
      [tooLong, '/'],
    ] as const) {
      assert.ok(text.length <= MAX_CHALLENGE_TOKEN_LENGTH, String(text.length));
      const check = verifyChallengeToken(KEYS, text, VISITOR, guard);
      assert.ok(check.ok);
      assert.equal(check.token.u, url);
    }
  });

  it('refuses a return URL on another origin even when signed into a token (defence in depth)', () => {
    const text = sign(KEYS, 'token', {
      v: 1,
      site: 'shop',
      b: VISITOR.binding,
      u: '//evil.example/',
      p: 'browser',
      d: 16,
      n: 'n',
      e: T0 / 1000 + 60,
    });
    const check = verifyChallengeToken(KEYS, text, VISITOR, new ReplayGuard());
    assert.ok(check.ok);
    assert.equal(check.token.u, '/');
  });

  const refusals: [string, () => ReturnType<typeof verifyChallengeToken>, string][] = [
    [
      'a token signed with another key',
      () =>
        verifyChallengeToken(OTHER, issueChallengeToken(KEYS, REQUEST), VISITOR, new ReplayGuard()),
      'forged',
    ],
    [
      'a pass cookie value offered as a token',
      () =>
        verifyChallengeToken(
          KEYS,
          sign(KEYS, 'pass', { v: 1, site: 'shop', b: VISITOR.binding, e: T0 / 1000 + 60 }),
          VISITOR,
          new ReplayGuard(),
        ),
      'forged',
    ],
    [
      'a token from another user agent',
      () =>
        verifyChallengeToken(
          KEYS,
          issueChallengeToken(KEYS, REQUEST),
          { ...VISITOR, binding: 'binding-of-curl-xxxxxx' },
          new ReplayGuard(),
        ),
      'other_visitor',
    ],
    [
      'a token for another site',
      () =>
        verifyChallengeToken(
          KEYS,
          issueChallengeToken(KEYS, REQUEST),
          { ...VISITOR, site: 'blog' },
          new ReplayGuard(),
        ),
      'other_site',
    ],
    [
      'a token at its expiry',
      () =>
        verifyChallengeToken(
          KEYS,
          issueChallengeToken(KEYS, REQUEST),
          { ...VISITOR, nowMs: T0 + CHALLENGE_TOKEN_TTL_MS },
          new ReplayGuard(),
        ),
      'expired',
    ],
    [
      'a token with a signed payload of the wrong shape',
      () =>
        verifyChallengeToken(
          KEYS,
          sign(KEYS, 'token', { v: 1, site: 'shop', b: VISITOR.binding }),
          VISITOR,
          new ReplayGuard(),
        ),
      'forged',
    ],
  ];
  for (const [name, check, why] of refusals) {
    it(`refuses ${name} (${why})`, () => assert.deepEqual(check(), { ok: false, why }));
  }

  it('redeems once when two requests verified the same token concurrently', () => {
    const guard = new ReplayGuard();
    const text = issueChallengeToken(KEYS, REQUEST);
    const first = verifyChallengeToken(KEYS, text, VISITOR, guard);
    const second = verifyChallengeToken(KEYS, text, VISITOR, guard);
    assert.ok(first.ok && second.ok);
    assert.equal(redeemChallengeToken(first.token, guard, T0).ok, true);
    assert.deepEqual(redeemChallengeToken(second.token, guard, T0), { ok: false, why: 'replayed' });
  });

  it('refuses a token already redeemed, and again after it expired (as expired)', () => {
    const guard = new ReplayGuard();
    const text = issueChallengeToken(KEYS, REQUEST);
    const first = verifyChallengeToken(KEYS, text, VISITOR, guard);
    assert.ok(first.ok);
    assert.equal(redeemChallengeToken(first.token, guard, T0).ok, true);
    assert.deepEqual(verifyChallengeToken(KEYS, text, VISITOR, guard), {
      ok: false,
      why: 'replayed',
    });
    const later = { ...VISITOR, nowMs: T0 + CHALLENGE_TOKEN_TTL_MS + 1 };
    assert.deepEqual(verifyChallengeToken(KEYS, text, later, guard), { ok: false, why: 'expired' });
  });

  it('keeps a token issued before a key rotation valid after it', () => {
    const check = verifyChallengeToken(
      ROTATED,
      issueChallengeToken(KEYS, REQUEST),
      VISITOR,
      new ReplayGuard(),
    );
    assert.equal(check.ok, true);
  });
});
