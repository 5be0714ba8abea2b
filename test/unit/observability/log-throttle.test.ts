import { strict as assert } from 'node:assert';
import { LogThrottle } from '../../../src/observability/log-throttle';

class FakeClock {
  ms = 1_000_000;
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

describe('LogThrottle', () => {
  it('admits the first line of a key with nothing suppressed', () => {
    const clock = new FakeClock();
    assert.equal(new LogThrottle(1_000, clock.now).admit('rti_timeout'), 0);
  });

  it('suppresses lines within the interval and reports how many at the next admitted line', () => {
    const clock = new FakeClock();
    const throttle = new LogThrottle(1_000, clock.now);
    assert.equal(throttle.admit('rti_timeout'), 0);
    clock.advance(100);
    assert.equal(throttle.admit('rti_timeout'), undefined);
    clock.advance(500);
    assert.equal(throttle.admit('rti_timeout'), undefined);
    clock.advance(399);
    assert.equal(throttle.admit('rti_timeout'), undefined);
    clock.advance(1);
    assert.equal(throttle.admit('rti_timeout'), 3);
    clock.advance(1);
    assert.equal(throttle.admit('rti_timeout'), undefined);
    clock.advance(1_000);
    assert.equal(throttle.admit('rti_timeout'), 1);
  });

  it('restarts the interval from the last admitted line, not from suppressed ones', () => {
    const clock = new FakeClock();
    const throttle = new LogThrottle(1_000, clock.now);
    throttle.admit('k');
    clock.advance(900);
    assert.equal(throttle.admit('k'), undefined);
    clock.advance(100);
    assert.equal(throttle.admit('k'), 1);
  });

  it('reports zero after a quiet interval', () => {
    const clock = new FakeClock();
    const throttle = new LogThrottle(1_000, clock.now);
    throttle.admit('k');
    clock.advance(5_000);
    assert.equal(throttle.admit('k'), 0);
  });

  it('throttles each key on its own', () => {
    const clock = new FakeClock();
    const throttle = new LogThrottle(1_000, clock.now);
    assert.equal(throttle.admit('rti_timeout'), 0);
    assert.equal(throttle.admit('rti_connect_error'), 0);
    assert.equal(throttle.admit('rti_timeout'), undefined);
    assert.equal(throttle.admit('rti_timeout'), undefined);
    assert.equal(throttle.admit('rti_connect_error'), undefined);
    clock.advance(1_000);
    assert.equal(throttle.admit('rti_connect_error'), 1);
    assert.equal(throttle.admit('rti_timeout'), 2);
  });

  it('admits every line with a zero interval', () => {
    const clock = new FakeClock();
    const throttle = new LogThrottle(0, clock.now);
    assert.equal(throttle.admit('k'), 0);
    assert.equal(throttle.admit('k'), 0);
  });

  it('uses Date.now by default', () => {
    const throttle = new LogThrottle(60_000);
    assert.equal(throttle.admit('k'), 0);
    assert.equal(throttle.admit('k'), undefined);
  });
});
