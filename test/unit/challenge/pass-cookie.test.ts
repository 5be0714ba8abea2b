import { strict as assert } from 'node:assert';
import {
  checkPassCookie,
  issuePassCookie,
  PASS_COOKIE_NAME,
  type PassRequest,
} from '../../../src/challenge/pass-cookie';
import { sign } from '../../../src/challenge/signed-value';
import { KEYS, OTHER, ROTATED } from './keys';

const T0 = 1_800_000_000_000;
const VISITOR = { site: 'shop', binding: 'binding-of-chrome-on-l', nowMs: T0 };
const REQUEST: PassRequest = { ...VISITOR, ttlS: 900, secure: true };

/** The cookie as the browser sends it back: name=value from the Set-Cookie. */
function sentBack(setCookie: string): string {
  return setCookie.split(';')[0] as string;
}

describe('pass cookie', () => {
  it('is a full Set-Cookie value: HttpOnly, Path=/, Max-Age; SameSite=None; Secure on https', () => {
    // None: a cross-site POST navigation (a 3-D Secure return) must carry the pass.
    assert.match(
      issuePassCookie(KEYS, REQUEST),
      /^_cq_se=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Max-Age=900; Path=\/; HttpOnly; SameSite=None; Secure$/,
    );
  });

  it('is SameSite=Lax without Secure on http (browsers refuse None without Secure)', () => {
    assert.match(
      issuePassCookie(KEYS, { ...REQUEST, secure: false }),
      /^_cq_se=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Max-Age=900; Path=\/; HttpOnly; SameSite=Lax$/,
    );
  });

  it('passes for the same visitor until its TTL runs out', () => {
    const cookie = sentBack(issuePassCookie(KEYS, REQUEST));
    const check = checkPassCookie(KEYS, `a=1; ${cookie}; b=2`, { ...VISITOR, nowMs: T0 + 899_000 });
    assert.deepEqual(check, { ok: true, expiresAtMs: T0 + 900_000 });
    assert.deepEqual(checkPassCookie(KEYS, cookie, { ...VISITOR, nowMs: T0 + 900_000 }), {
      ok: false,
      why: 'expired',
    });
  });

  it('reads only the cookie named exactly _cq_se, never one that starts or ends with it', () => {
    const value = sentBack(issuePassCookie(KEYS, REQUEST)).slice(PASS_COOKIE_NAME.length + 1);
    for (const header of [`_cq_se_old=${value}`, `x_cq_se=${value}`, `_cq_s=${value}`]) {
      assert.deepEqual(checkPassCookie(KEYS, header, VISITOR), { ok: false, why: 'absent' });
    }
    assert.equal(checkPassCookie(KEYS, ` _cq_se = ${value} `, VISITOR).ok, true);
  });

  it('passes when a bogus _cq_se from a parent domain comes before the real one', () => {
    const real = sentBack(issuePassCookie(KEYS, REQUEST));
    assert.equal(checkPassCookie(KEYS, `_cq_se=bogus; ${real}`, VISITOR).ok, true);
  });

  it('finds the real pass behind any number of tossed _cq_se cookies (a sibling subdomain)', () => {
    const real = sentBack(issuePassCookie(KEYS, REQUEST));
    const forged = sentBack(issuePassCookie(OTHER, REQUEST));
    const header = `${`${forged}; `.repeat(20)}${real}`;
    assert.ok(header.length < 8192);
    assert.equal(checkPassCookie(KEYS, header, VISITOR).ok, true);
  });

  it("reads only the Cookie header's first 8 KB (bounded work per request)", () => {
    const real = sentBack(issuePassCookie(KEYS, REQUEST));
    const padding = `pad=${'x'.repeat(8192)}`;
    assert.deepEqual(checkPassCookie(KEYS, `${padding}; ${real}`, VISITOR), {
      ok: false,
      why: 'absent',
    });
  });

  const refusals: [string, string | undefined, typeof VISITOR, string][] = [
    ['no Cookie header', undefined, VISITOR, 'absent'],
    ['a Cookie header without it', 'a=1; b=2', VISITOR, 'absent'],
    ['an empty value', '_cq_se=', VISITOR, 'forged'],
    ['garbage', '_cq_se=%00%ff;;=;', VISITOR, 'forged'],
    ['another key', sentBack(issuePassCookie(OTHER, REQUEST)), VISITOR, 'forged'],
    [
      'a challenge token offered as a pass',
      `_cq_se=${sign(KEYS, 'token', { v: 1, site: 'shop', b: VISITOR.binding, e: T0 / 1000 + 60 })}`,
      VISITOR,
      'forged',
    ],
    [
      'another user agent',
      sentBack(issuePassCookie(KEYS, REQUEST)),
      { ...VISITOR, binding: 'binding-of-curl-xxxxxx' },
      'other_visitor',
    ],
    [
      'another site',
      sentBack(issuePassCookie(KEYS, REQUEST)),
      { ...VISITOR, site: 'blog' },
      'other_site',
    ],
  ];
  for (const [name, header, visitor, why] of refusals) {
    it(`refuses ${name} (${why})`, () => {
      assert.deepEqual(checkPassCookie(KEYS, header, visitor), { ok: false, why });
    });
  }

  it('stays valid across one key rotation, not two', () => {
    const cookie = sentBack(issuePassCookie(KEYS, REQUEST));
    assert.equal(checkPassCookie(ROTATED, cookie, VISITOR).ok, true);
    assert.deepEqual(checkPassCookie(OTHER, cookie, VISITOR), { ok: false, why: 'forged' });
  });
});
