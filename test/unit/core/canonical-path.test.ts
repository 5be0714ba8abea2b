import { strict as assert } from 'node:assert';
import {
  canonicalPath,
  looseReadings,
  pathReadings,
  unambiguousPath,
} from '../../../src/core/canonical-path';

/** [raw path as the client sent it, canonical reading, ambiguous (never excluded)] */
const CASES: readonly (readonly [raw: string, canonical: string, ambiguous: boolean])[] = [
  // Plain paths: the fast path, returned as they are.
  ['/', '/', false],
  ['/static/app.css', '/static/app.css', false],
  ['/a.b/c-d_e~f/', '/a.b/c-d_e~f/', false],
  // Dot segments and repeated slashes, as NGINX resolves them.
  ['/static/./x.css', '/static/x.css', false],
  ['/static/../checkout', '/checkout', false],
  ['/static/x/..', '/static/', false],
  ['/static/.', '/static/', false],
  ['//static//x.css', '/static/x.css', false],
  ['/.well-known/x', '/.well-known/x', false],
  ['/..', '/', true],
  ['/../checkout', '/checkout', true],
  ['/static/../../checkout', '/checkout', true],
  // Unreserved escapes and UTF-8 decoded: one reading.
  ['/st%61tic/x.css', '/static/x.css', false],
  ['/st%41tic', '/stAtic', false],
  ['/%7euser/%5F', '/~user/_', false],
  ['/caf%C3%A9', '/café', false],
  ['/caf%c3%a9', '/café', false],
  ['/my%20file.css', '/my file.css', false],
  // Encoded delimiters: proxies and backends differ on whether they split on them.
  ['/static/..%2fcheckout', '/static/..%2Fcheckout', true],
  ['/static/..%2Fcheckout', '/static/..%2Fcheckout', true],
  ['/static%2F..%2Fcheckout', '/static%2F..%2Fcheckout', true],
  ['/static/..%5ccheckout', '/static/..%5Ccheckout', true],
  ['/checkout%3bx.css', '/checkout%3Bx.css', true],
  ['/checkout%3Fx.css', '/checkout%3Fx.css', true],
  ['/checkout%23x.css', '/checkout%23x.css', true],
  ['/static/%2e%2e/checkout', '/checkout', true],
  ['/static/%2E%2e/checkout', '/checkout', true],
  ['/static/.%2e/checkout', '/checkout', true],
  ['/static/%2e/x.css', '/static/x.css', true],
  // Double encoding: a second decoding (some backends) reads another path.
  ['/static/..%252fcheckout', '/static/..%252fcheckout', true],
  ['/static/%252e%252e/checkout', '/static/%252e%252e/checkout', true],
  // Path parameters, backslashes, fragments and control characters.
  ['/checkout;x.css', '/checkout;x.css', true],
  ['/static/..;/checkout', '/static/..;/checkout', true],
  ['/static;/x.css', '/static;/x.css', true],
  ['/static\\..\\checkout', '/static\\..\\checkout', true],
  ['/static/x#/../../checkout', '/checkout', true],
  ['/checkout#x.css', '/checkout#x.css', true],
  ['/static/%00/x.css', '/static/%00/x.css', true],
  ['/static/\u0000x.css', '/static/\u0000x.css', true],
  ['/static/\tx.css', '/static/\tx.css', true],
  ['/static/%7Fx.css', '/static/%7Fx.css', true],
  ['/static/%0d%0ax.css', '/static/%0D%0Ax.css', true],
  // Raw characters outside printable ASCII: browsers percent-encode them, and Node reads header
  // bytes as latin1, so a raw byte is read in a different charset by each hop.
  ['/café', '/café', true],
  ['/static/\xC0\xAE\xC0\xAE/checkout', '/static/\xC0\xAE\xC0\xAE/checkout', true],
  ['/static/\xFF', '/static/\xFF', true],
  ['/static/\u2215checkout', '/static/\u2215checkout', true],
  // Invalid percent-encoding and bytes that are not UTF-8.
  ['/static/%zz.css', '/static/%zz.css', true],
  ['/static/%', '/static/%', true],
  ['/static/%4', '/static/%4', true],
  ['/static/%c0%ae%c0%ae/checkout', '/static/%C0%AE%C0%AE/checkout', true],
  ['/static/%c0%af', '/static/%C0%AF', true],
  ['/static/%ff.css', '/static/%FF.css', true],
  ['/static/%e2%82', '/static/%E2%82', true],
  ['/static/%ed%a0%80', '/static/%ED%A0%80', true],
  // Targets that are not origin-form paths.
  ['*', '/*', true],
  ['static/x.css', '/static/x.css', true],
  ['http://evil/static/x', '/http:/evil/static/x', true],
];

describe('canonicalPath and unambiguousPath', () => {
  for (const [raw, canonical, ambiguous] of CASES) {
    it(`reads ${JSON.stringify(raw)} as ${JSON.stringify(canonical)}${ambiguous ? ', ambiguous' : ''}`, () => {
      assert.equal(canonicalPath(raw), canonical);
      assert.equal(unambiguousPath(raw), ambiguous ? undefined : canonical);
    });
  }

  it('returns a plain path itself (the allocation-free fast path)', () => {
    const raw = ['/static/', 'app.css'].join('');
    assert.equal(Object.is(unambiguousPath(raw), raw), true);
    assert.equal(Object.is(canonicalPath(raw), raw), true);
  });

  it('reads a long path of escapes in one pass, whatever its bytes', () => {
    const raw = `/static/${'%c0%ae%2e%2f%zz'.repeat(2_000)}`;
    assert.equal(unambiguousPath(raw), undefined);
    assert.ok(canonicalPath(raw).startsWith('/static/%C0%AE'));
  });
});

describe('pathReadings (route lookups of an ambiguous path)', () => {
  /** [raw path, readings a backend may take, most resolved first] */
  const cases: readonly (readonly [raw: string, readings: readonly string[]])[] = [
    ['/login;jsessionid=1', ['/login', '/login;jsessionid=1']],
    ['/login%3Bjsessionid=1', ['/login', '/login;jsessionid=1', '/login%3Bjsessionid=1']],
    ['/checkout;x/pay', ['/checkout/pay', '/checkout;x/pay']],
    ['/static/..;/checkout', ['/checkout', '/static/..;/checkout']],
    ['/static/..%2Fcheckout', ['/checkout', '/static/..%2Fcheckout']],
    ['/static\\..\\checkout', ['/checkout', '/static\\..\\checkout']],
    ['/%63heckout', ['/checkout']],
    ['/static/%ff', ['/static/\uFFFD', '/static/%FF']],
  ];
  for (const [raw, readings] of cases) {
    it(`reads ${JSON.stringify(raw)} as ${readings.map(r => JSON.stringify(r)).join(', ')}`, () => {
      assert.deepEqual(pathReadings(raw), readings);
    });
  }
});

describe('looseReadings (route lookups of a path no entry matches)', () => {
  /** [canonical path, its forms without a trailing slash and in lower case] */
  const cases: readonly (readonly [path: string, readings: readonly string[]])[] = [
    ['/checkout/', ['/checkout']],
    ['/CHECKOUT', ['/checkout']],
    ['/Cart/Add/', ['/Cart/Add', '/cart/add/', '/cart/add']],
    ['/checkout', []],
    ['/', []],
    ['', []],
  ];
  for (const [path, readings] of cases) {
    it(`reads ${JSON.stringify(path)} also as ${JSON.stringify(readings)}`, () => {
      assert.deepEqual(looseReadings(path), readings);
    });
  }

  it('allocates nothing for a path with neither (the same empty list every time)', () => {
    assert.equal(looseReadings('/checkout'), looseReadings('/cart/add'));
  });
});
