import { strict as assert } from 'node:assert';
import {
  checkLandingGrant,
  LANDING_GRANT_TTL_MS,
  takeLandingGrant,
  withLandingGrant,
} from '../../../src/challenge/landing-grant';
import { ReplayGuard } from '../../../src/challenge/replay-guard';
import { sign } from '../../../src/challenge/signed-value';
import { KEYS, OTHER } from './keys';

const T0 = 1_800_000_000_000;
const VISITOR = { site: 'shop', binding: 'binding-of-chrome-on-l', nowMs: T0 };

/** What the landing request's check sees: the grant and the URL without it. */
function land(location: string, visitor = VISITOR): ReturnType<typeof checkLandingGrant> {
  const { url, grant } = takeLandingGrant(location);
  assert.ok(grant !== undefined, 'the location carries a grant');
  return checkLandingGrant(KEYS, grant, url, visitor, new ReplayGuard());
}

describe('landing grant', () => {
  it('adds cq_ok as the last parameter, keeping the others', () => {
    assert.match(withLandingGrant(KEYS, '/cart', VISITOR), /^\/cart\?cq_ok=[\w-]+\.[\w-]{43}$/);
    assert.match(withLandingGrant(KEYS, '/cart?a=1&b', VISITOR), /^\/cart\?a=1&b&cq_ok=[\w.-]+$/);
  });

  it('passes the landing request within 10 s', () => {
    const location = withLandingGrant(KEYS, '/cart?a=1', VISITOR);
    assert.deepEqual(land(location, { ...VISITOR, nowMs: T0 + LANDING_GRANT_TTL_MS - 1 }), {
      ok: true,
    });
    assert.deepEqual(land(location, { ...VISITOR, nowMs: T0 + LANDING_GRANT_TTL_MS + 1_000 }), {
      ok: false,
      why: 'expired',
    });
  });

  it('passes one request only (in this process)', () => {
    const guard = new ReplayGuard();
    const { url, grant } = takeLandingGrant(withLandingGrant(KEYS, '/cart', VISITOR));
    assert.deepEqual(checkLandingGrant(KEYS, grant as string, url, VISITOR, guard), { ok: true });
    assert.deepEqual(checkLandingGrant(KEYS, grant as string, url, VISITOR, guard), {
      ok: false,
      why: 'replayed',
    });
  });

  it('is not used up by a refused attempt (another URL or visitor)', () => {
    const guard = new ReplayGuard();
    const { url, grant } = takeLandingGrant(withLandingGrant(KEYS, '/cart', VISITOR));
    const other = { ...VISITOR, binding: 'binding-of-curl-xxxxxx' };
    assert.equal(checkLandingGrant(KEYS, grant as string, url, other, guard).ok, false);
    assert.equal(checkLandingGrant(KEYS, grant as string, '/admin', VISITOR, guard).ok, false);
    assert.deepEqual(checkLandingGrant(KEYS, grant as string, url, VISITOR, guard), { ok: true });
  });

  it('replaces a stale cq_ok instead of adding a second one', () => {
    const location = withLandingGrant(KEYS, '/cart?cq_ok=stale&a=1', VISITOR);
    assert.equal(location.split('cq_ok=').length, 2);
    assert.deepEqual(land(location), { ok: true });
  });

  it('is bound to the URL: another path or query is refused', () => {
    const { grant } = takeLandingGrant(withLandingGrant(KEYS, '/cart?a=1', VISITOR));
    for (const url of ['/admin', '/cart?a=2', '/cart', '/cart?a=1&x=1']) {
      assert.deepEqual(checkLandingGrant(KEYS, grant as string, url, VISITOR, new ReplayGuard()), {
        ok: false,
        why: 'other_url',
      });
    }
  });

  it('is bound to the visitor and the site', () => {
    const location = withLandingGrant(KEYS, '/cart', VISITOR);
    assert.deepEqual(land(location, { ...VISITOR, binding: 'binding-of-curl-xxxxxx' }), {
      ok: false,
      why: 'other_visitor',
    });
    assert.deepEqual(land(location, { ...VISITOR, site: 'blog' }), {
      ok: false,
      why: 'other_site',
    });
  });

  it('refuses forged grants and other signed kinds', () => {
    const pass = sign(KEYS, 'pass', {
      v: 1,
      site: 'shop',
      b: VISITOR.binding,
      u: '/',
      n: 'n',
      e: 2e9,
    });
    const foreign = takeLandingGrant(withLandingGrant(OTHER, '/', VISITOR)).grant as string;
    for (const grant of ['', 'x', pass, foreign]) {
      assert.deepEqual(checkLandingGrant(KEYS, grant, '/', VISITOR, new ReplayGuard()), {
        ok: false,
        why: 'forged',
      });
    }
  });

  describe('takeLandingGrant', () => {
    const cases: [string, string, string | undefined][] = [
      ['/a', '/a', undefined],
      ['/a?', '/a', undefined],
      ['/a?cq_ok=G', '/a', 'G'],
      ['/a?x=1&cq_ok=G&y=2', '/a?x=1&y=2', 'G'],
      ['/a?cq_ok=G&cq_ok=H', '/a', 'G'],
      ['/a?cq_ok', '/a', ''],
      ['/a?cq_ok_x=1&xcq_ok=2', '/a?cq_ok_x=1&xcq_ok=2', undefined],
      ['/a?cq%5Fok=1', '/a?cq%5Fok=1', undefined],
      ['/a?x=1&&y=2', '/a?x=1&&y=2', undefined],
      ['/a?=&=', '/a?=&=', undefined],
    ];
    for (const [input, url, grant] of cases) {
      it(`${input} -> ${url} + ${String(grant)}`, () => {
        assert.deepEqual(takeLandingGrant(input), { url, grant });
      });
    }

    it('undoes withLandingGrant whatever the URL', () => {
      for (const url of ['/', '/a?', '/a?&', '/a?b=1&', '/a?cq_ok=1', '/a?x&cq_ok&y']) {
        const location = withLandingGrant(KEYS, url, VISITOR);
        assert.equal(takeLandingGrant(location).url, takeLandingGrant(url).url, url);
        assert.deepEqual(land(location), { ok: true }, url);
      }
    });
  });
});
