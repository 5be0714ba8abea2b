import { strict as assert } from 'node:assert';
import { readPageTicket, writePageTicket, type PageTicket } from '../../../src/core/page-ticket';
import { applyStrategy, type ChallengeStrategy } from '../../../src/core/strategy';

describe('applyStrategy', () => {
  const cases: readonly [ChallengeStrategy, string | undefined, boolean, object][] = [
    ['access_denied', '/b', true, { action: 'deny', challenge: false }],
    ['not_found', '/b', true, { action: 'deny', httpStatus: 404, challenge: false }],
    ['redirect', '/b', true, { action: 'redirect', location: '/b', challenge: false }],
    ['redirect', '/b', false, { action: 'deny', challenge: false }],
    ['redirect', undefined, true, { action: 'deny', challenge: false }],
    ['challenge', undefined, false, { action: 'challenge', challenge: false }],
    ['allow', undefined, true, { action: 'allow', challenge: true }],
  ];
  for (const [strategy, location, navigation, expected] of cases) {
    it(`${strategy} (target ${String(location)}, navigation ${navigation})`, () => {
      assert.deepEqual(
        applyStrategy(strategy, location, () => navigation),
        expected,
      );
    });
  }

  it('asks whether the request is a navigation only for a redirect', () => {
    let asked = 0;
    const isNavigation = (): boolean => (asked++, true);
    for (const strategy of ['access_denied', 'not_found', 'challenge', 'allow'] as const) {
      applyStrategy(strategy, '/b', isNavigation);
    }
    assert.equal(asked, 0);
  });
});

describe('page tickets', () => {
  const tickets: readonly PageTicket[] = [
    { kind: 'not_found' },
    { kind: 'block', requestId: 'r-1', rayId: 'ray"<1>' },
    { kind: 'block' },
    { kind: 'challenge', token: 'abc.def' },
    { kind: 'challenge_required', returnUrl: '/cart?x=1', requestId: 'r-2' },
  ];
  for (const ticket of tickets) {
    it(`round-trips ${JSON.stringify(ticket)}`, () => {
      assert.deepEqual(readPageTicket(writePageTicket(ticket)), ticket);
    });
  }

  it('reads anything else as no ticket, without throwing', () => {
    const bad = ['', 'x', 'c.', 'b.!!!', 'b.bnVsbA', 'j.e30', `c.${'a'.repeat(2047)}`, 'n '];
    for (const text of bad) assert.equal(readPageTicket(text), undefined, text);
  });

  it('cuts ids to 128 characters', () => {
    const ticket = writePageTicket({ kind: 'block', requestId: 'r'.repeat(500) });
    assert.deepEqual(readPageTicket(ticket), { kind: 'block', requestId: 'r'.repeat(128) });
  });
});
