// The Redis wire of a verdict memory change: what we send decodes to what we sent, and what a
// writer to the stream could plant (bad JSON, keys, tags, expiries, sizes) decodes to nothing.

import { strict as assert } from 'node:assert';
import { decodeChange, encodeChange } from '../../../src/memory/memory-change-wire';
import type { MemoryChange } from '../../../src/memory/verdict-memory';

const NOW = 1_800_000_000_000;
const KEY = 'i:AbCdEfGhIjKlMnOpQrStUv';
const DUID_KEY = 'd:AbCdEfGhIjKlMnOpQrSt_-';
const TAG = 'p:AbCdEfGhIjKlMnOpQrStUv';
const FROM = '0b6f1c9e-4f57-4d0e-9a43-3f1a9d3c2b10';

describe('memory-change-wire', () => {
  const changes: MemoryChange[] = [
    { op: 'block', key: KEY, expiresAtMs: NOW + 300_000, tag: TAG },
    { op: 'block', key: DUID_KEY, expiresAtMs: NOW + 300_000 },
    { op: 'block', key: DUID_KEY, expiresAtMs: NOW + 300_000, tag: TAG },
    { op: 'forget', key: KEY },
    { op: 'forget_ip', tag: TAG },
    { op: 'forget_all' },
  ];
  for (const change of changes) {
    it(`round-trips ${change.op}${'key' in change ? ` ${change.key.slice(0, 2)}` : ''}`, () => {
      const text = encodeChange(change, FROM, NOW);
      assert.deepEqual(decodeChange(text, NOW), { change, from: FROM, atMs: NOW });
    });
  }

  it('writes the fields design.md names', () => {
    assert.deepEqual(JSON.parse(encodeChange(changes[0]!, FROM, NOW)), {
      op: 'block',
      key: KEY,
      exp: NOW + 300_000,
      tag: TAG,
      from: FROM,
      at: NOW,
    });
  });

  it('keeps an expired block valid (read back at start; the memory ignores it)', () => {
    const text = encodeChange({ op: 'block', key: KEY, expiresAtMs: NOW - 1 }, FROM, NOW - 5);
    assert.ok(decodeChange(text, NOW));
  });

  const good = { op: 'block', key: KEY, exp: NOW + 60_000, from: FROM, at: NOW };
  const bad: [string, unknown][] = [
    ['not a string', 42],
    ['not JSON', '{op:block}'],
    ['JSON but not an object', '[1,2]'],
    ['null', 'null'],
    ['an unknown op', JSON.stringify({ ...good, op: 'drop_table' })],
    ['a key of another form', JSON.stringify({ ...good, key: 'i:../../etc' })],
    ['a key of another kind', JSON.stringify({ ...good, key: 'p:AbCdEfGhIjKlMnOpQrStUv' })],
    ['a far-future expiry', JSON.stringify({ ...good, exp: NOW + 2 * 3_600_000 })],
    ['an expiry that is not an integer', JSON.stringify({ ...good, exp: '1e400' })],
    ['a tag of another form', JSON.stringify({ ...good, tag: 'p:short' })],
    ['forget_ip without a tag', JSON.stringify({ op: 'forget_ip', from: FROM, at: NOW })],
    ['no sender', JSON.stringify({ ...good, from: undefined })],
    ['a sender with odd characters', JSON.stringify({ ...good, from: 'a b' })],
    ['no time', JSON.stringify({ ...good, at: -1 })],
    ['more than 1 KB', JSON.stringify({ ...good, padding: 'x'.repeat(1024) })],
  ];
  for (const [what, text] of bad) {
    it(`refuses ${what}`, () => assert.equal(decodeChange(text, NOW), undefined));
  }
});
