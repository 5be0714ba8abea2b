import { strict as assert } from 'node:assert';
import { ReplayGuard } from '../../../src/challenge/replay-guard';

const T0 = 1_800_000_000_000;

describe('ReplayGuard', () => {
  it('redeems a nonce once until it expires', () => {
    const guard = new ReplayGuard(10);
    assert.equal(guard.redeem('n1', T0 + 120_000, T0), true);
    assert.equal(guard.has('n1', T0 + 1), true);
    assert.equal(guard.redeem('n1', T0 + 120_000, T0 + 60_000), false);
    assert.equal(guard.redeem('n2', T0 + 120_000, T0 + 60_000), true);
  });

  it('forgets a nonce once expired (the token itself is then refused as expired)', () => {
    const guard = new ReplayGuard(10);
    guard.redeem('n1', T0 + 120_000, T0);
    assert.equal(guard.has('n1', T0 + 120_000), false);
    assert.equal(guard.redeem('n1', T0 + 240_000, T0 + 120_000), true);
  });

  it('drops expired entries as new ones come, so its size follows the live tokens', () => {
    const guard = new ReplayGuard(1_000);
    for (let i = 0; i < 5_000; i++) {
      const now = T0 + i * 1_000;
      assert.equal(guard.redeem(`n${i}`, now + 120_000, now), true);
    }
    assert.ok(guard.size <= 121, `size ${guard.size}`);
  });

  it('stays bounded under a flood of unexpired nonces by forgetting the oldest', () => {
    const guard = new ReplayGuard(100);
    for (let i = 0; i < 1_000; i++) assert.equal(guard.redeem(`n${i}`, T0 + 120_000, T0), true);
    assert.equal(guard.size, 100);
    assert.equal(guard.has('n999', T0), true);
    assert.equal(guard.has('n899', T0), false, 'the oldest were forgotten');
    assert.equal(guard.redeem('n999', T0 + 120_000, T0), false, 'recent ones still refused');
  });

  it('refuses a capacity that is not a positive integer', () => {
    assert.throws(() => new ReplayGuard(0), RangeError);
    assert.throws(() => new ReplayGuard(1.5), RangeError);
  });
});
