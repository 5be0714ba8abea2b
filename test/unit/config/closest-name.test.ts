import { strict as assert } from 'node:assert';
import { closestName } from '../../../src/config/closest-name';

describe('closestName', () => {
  const FLAGS = ['mode', 'timeout-ms', 'tag-hash', 'api-key-file', 'host', 'http-port'];
  const CASES: readonly [string, string | undefined][] = [
    ['mod', 'mode'],
    ['timout-ms', 'timeout-ms'],
    ['timeout_ms', 'timeout-ms'],
    ['TIMEOUT-MS', 'timeout-ms'],
    ['tag-hsah', 'tag-hash'],
    ['htp-port', 'http-port'],
    ['frobnicate', undefined],
    ['m', undefined],
    ['', undefined],
    ['x'.repeat(100_000), undefined],
  ];
  for (const [given, hint] of CASES) {
    it(`hints ${String(hint)} for ${JSON.stringify(given.slice(0, 20))}`, () => {
      assert.equal(closestName(given, FLAGS), hint);
    });
  }
});
