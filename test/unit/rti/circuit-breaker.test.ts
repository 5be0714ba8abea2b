import { strict as assert } from 'node:assert';
import { CircuitBreaker, type CircuitState } from '../../../src/rti/circuit-breaker';

function breaker(): { cb: CircuitBreaker; clock: { now: number }; changes: string[] } {
  const clock = { now: 1_000 };
  const changes: string[] = [];
  const cb = new CircuitBreaker({
    failureRatio: 0.5,
    minCalls: 4,
    openMs: 1_000,
    now: () => clock.now,
    onStateChange: (state: CircuitState, previous: CircuitState) =>
      changes.push(`${previous}>${state}`),
  });
  return { cb, clock, changes };
}

describe('CircuitBreaker', () => {
  it('stays closed until the window holds minCalls', () => {
    const { cb } = breaker();
    for (let i = 0; i < 3; i++) {
      assert.equal(cb.tryAcquire(), true);
      cb.failed();
    }
    assert.equal(cb.current, 'closed');
    cb.tryAcquire();
    cb.failed();
    assert.equal(cb.current, 'open');
  });

  it('opens at the failure ratio over the most recent minCalls calls only', () => {
    const { cb } = breaker();
    for (const ok of [false, false, true, true, true, true]) {
      if (ok) cb.succeeded();
      else cb.failed();
    }
    assert.equal(cb.current, 'closed', 'old failures slid out of the window');
    cb.failed();
    assert.equal(cb.current, 'closed', '1 of 4');
    cb.failed();
    assert.equal(cb.current, 'open', '2 of 4 = 0.5');
  });

  it('refuses calls while open, then lets exactly one probe through after openMs', () => {
    const { cb, clock, changes } = breaker();
    for (let i = 0; i < 4; i++) cb.failed();
    assert.equal(cb.tryAcquire(), false);
    clock.now += 999;
    assert.equal(cb.tryAcquire(), false);
    clock.now += 1;
    assert.equal(cb.tryAcquire(), true, 'the probe');
    assert.equal(cb.current, 'half_open');
    assert.equal(cb.tryAcquire(), false, 'one probe at a time');
    cb.succeeded();
    assert.equal(cb.current, 'closed');
    assert.equal(cb.tryAcquire(), true);
    assert.deepEqual(changes, ['closed>open', 'open>half_open', 'half_open>closed']);
  });

  it('reopens for another openMs when the probe fails', () => {
    const { cb, clock } = breaker();
    for (let i = 0; i < 4; i++) cb.failed();
    clock.now += 1_000;
    assert.equal(cb.tryAcquire(), true);
    cb.failed();
    assert.equal(cb.current, 'open');
    clock.now += 500;
    assert.equal(cb.tryAcquire(), false);
    clock.now += 500;
    assert.equal(cb.tryAcquire(), true);
  });

  it('lets another probe through when the probe was abandoned (cancelled)', () => {
    const { cb, clock } = breaker();
    for (let i = 0; i < 4; i++) cb.failed();
    clock.now += 1_000;
    assert.equal(cb.tryAcquire(), true);
    cb.abandoned();
    assert.equal(cb.tryAcquire(), true);
  });

  it('starts a fresh window after closing', () => {
    const { cb, clock } = breaker();
    for (let i = 0; i < 4; i++) cb.failed();
    clock.now += 1_000;
    cb.tryAcquire();
    cb.succeeded();
    for (let i = 0; i < 3; i++) cb.failed();
    assert.equal(cb.current, 'closed', 'three failures are not yet minCalls');
  });
});
