import { strict as assert } from 'node:assert';
import { EntrySlots } from '../../../src/memory/entry-slots';

describe('verdict memory entry slots', () => {
  it('hands out released slots before new ones', () => {
    const slots = new EntrySlots(10);
    assert.deepEqual(
      ['a', 'b', 'c'].map(key => slots.take(key)),
      [0, 1, 2],
    );
    slots.release(1);
    assert.equal(slots.keys[1], undefined);
    assert.equal(slots.take('d'), 1);
    assert.equal(slots.take('e'), 3);
    assert.deepEqual(slots.keys, ['a', 'd', 'c', 'e']);
  });

  it('keeps every field when its columns grow, up to maxSlots and no further', () => {
    const max = 3000;
    const slots = new EntrySlots(max);
    for (let n = 0; n < max; n++) {
      const slot = slots.take(`k${n}`);
      slots.expiresAt[slot] = n + 0.5;
      slots.toldUntil[slot] = n * 2;
      slots.learnedAt[slot] = n * 3;
      slots.ip[slot] = n - 1;
    }
    assert.equal(slots.ip.length, max);
    for (let n = 0; n < max; n++) {
      assert.deepEqual(
        [slots.expiresAt[n], slots.toldUntil[n], slots.learnedAt[n], slots.ip[n], slots.keys[n]],
        [n + 0.5, n * 2, n * 3, n - 1, `k${n}`],
      );
    }
  });
});
