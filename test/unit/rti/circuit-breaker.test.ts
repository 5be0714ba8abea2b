import { strict as assert } from 'node:assert';
import { CircuitBreaker, type CircuitState } from '../../../src/rti/circuit-breaker';

function breaker(overrides: { probes?: number } = {}) {
  const clock = { now: 1_000_000 };
  const changes: string[] = [];
  const cb = new CircuitBreaker({
    failureRatio: 0.5,
    windowMs: 1_000,
    minCalls: 4,
    openMs: 1_000,
    probes: overrides.probes ?? 1,
    now: () => clock.now,
    onStateChange: (state: CircuitState, previous: CircuitState) =>
      changes.push(`${previous}>${state}`),
  });
  /** One call admitted and reported. */
  const call = (outcome: 'ok' | 'fail' | 'abandon'): void => {
    const permit = cb.tryAcquire();
    assert.notEqual(permit, undefined, 'call admitted');
    if (permit === undefined) return;
    if (outcome === 'ok') cb.succeeded(permit);
    else if (outcome === 'fail') cb.failed(permit);
    else cb.abandoned(permit);
  };
  const open = (): void => {
    for (let i = 0; i < 4; i++) call('fail');
    assert.equal(cb.current, 'open');
  };
  return { cb, clock, changes, call, open };
}

describe('CircuitBreaker', () => {
  it('stays closed until the window holds minCalls', () => {
    const { cb, call } = breaker();
    for (let i = 0; i < 3; i++) call('fail');
    assert.equal(cb.current, 'closed');
    call('fail');
    assert.equal(cb.current, 'open');
  });

  it('judges the calls of the last windowMs only, however many there were before', () => {
    const { cb, clock, call } = breaker();
    for (let i = 0; i < 1000; i++) call('ok');
    clock.now += 1_100; // the successes slid out of the window
    for (let i = 0; i < 3; i++) call('fail');
    assert.equal(cb.current, 'closed', '3 calls are below minCalls');
    call('ok');
    call('fail');
    assert.equal(cb.current, 'open', '4 failures of 5 in the window');
  });

  it('needs failureRatio of the calls in the window, not a run of failures', () => {
    const { cb, clock, call } = breaker();
    for (let round = 0; round < 20; round++) {
      call('ok');
      call('ok');
      call('fail');
      clock.now += 100;
    }
    assert.equal(cb.current, 'closed', 'a third of the calls failing keeps it closed');
    // The window now holds the last 9 rounds: 18 successes, 9 failures.
    for (let i = 0; i < 8; i++) call('fail');
    assert.equal(cb.current, 'closed', '17 failures of 35');
    call('fail');
    assert.equal(cb.current, 'open', '18 failures of 36 = failureRatio');
  });

  it('refuses calls while open, then lets the probes through after openMs', () => {
    const { cb, clock, changes, open } = breaker({ probes: 3 });
    open();
    assert.equal(cb.tryAcquire(), undefined);
    clock.now += 999;
    assert.equal(cb.tryAcquire(), undefined);
    clock.now += 1;
    const probes = [cb.tryAcquire(), cb.tryAcquire(), cb.tryAcquire()];
    assert.ok(
      probes.every(p => p !== undefined),
      'three probes at once',
    );
    assert.equal(cb.current, 'half_open');
    assert.equal(cb.tryAcquire(), undefined, 'no more than `probes`');
    cb.succeeded(probes[0] ?? -1);
    cb.succeeded(probes[1] ?? -1);
    assert.equal(cb.current, 'half_open', 'two of three probes succeeded so far');
    assert.equal(cb.tryAcquire(), undefined, 'succeeded probes are not replaced');
    cb.succeeded(probes[2] ?? -1);
    assert.equal(cb.current, 'closed');
    assert.notEqual(cb.tryAcquire(), undefined);
    assert.deepEqual(changes, ['closed>open', 'open>half_open', 'half_open>closed']);
  });

  it('reopens for another openMs when any probe fails, and ignores the other probes', () => {
    const { cb, clock, open } = breaker({ probes: 2 });
    open();
    clock.now += 1_000;
    const first = cb.tryAcquire() ?? -1;
    const second = cb.tryAcquire() ?? -1;
    cb.failed(first);
    assert.equal(cb.current, 'open');
    cb.succeeded(second);
    assert.equal(cb.current, 'open', 'a late probe success does not close it');
    clock.now += 500;
    assert.equal(cb.tryAcquire(), undefined);
    clock.now += 500;
    assert.notEqual(cb.tryAcquire(), undefined);
    assert.equal(cb.current, 'half_open');
  });

  it('lets another probe through when a probe was abandoned', () => {
    const { cb, clock, open } = breaker();
    open();
    clock.now += 1_000;
    const probe = cb.tryAcquire();
    assert.notEqual(probe, undefined);
    assert.equal(cb.tryAcquire(), undefined);
    cb.abandoned(probe ?? -1);
    assert.notEqual(cb.tryAcquire(), undefined);
  });

  it('starts a fresh window after closing', () => {
    const { cb, clock, call, open } = breaker();
    open();
    clock.now += 1_000;
    call('ok');
    assert.equal(cb.current, 'closed');
    for (let i = 0; i < 3; i++) call('fail');
    assert.equal(cb.current, 'closed', 'three failures are not yet minCalls');
    call('fail');
    assert.equal(cb.current, 'open');
  });

  it('ignores outcomes of calls admitted before the last state change', () => {
    const { cb, clock, call } = breaker();
    const stale = [cb.tryAcquire(), cb.tryAcquire(), cb.tryAcquire(), cb.tryAcquire()];
    for (let i = 0; i < 4; i++) call('fail');
    assert.equal(cb.current, 'open');
    clock.now += 1_000;
    const probe = cb.tryAcquire();
    for (const permit of stale) cb.failed(permit ?? -1);
    assert.equal(cb.current, 'half_open', 'failures of old calls do not reopen it');
    cb.succeeded(probe ?? -1);
    assert.equal(cb.current, 'closed');
  });
});
