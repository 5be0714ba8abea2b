// Mocha root hooks (loaded by .mocharc.json's `require`): no server process outlives the run,
// and no test passes without making an assertion.

import { strict as assert } from 'node:assert';
import type { Context, Test } from 'mocha';
import { killLeftoverProcesses } from './server-process';

/** The node:assert functions the tests call as `assert.<name>` (node:assert counts none). */
const ASSERTIONS = [
  'ok',
  'equal',
  'notEqual',
  'deepEqual',
  'notDeepEqual',
  'strictEqual',
  'notStrictEqual',
  'deepStrictEqual',
  'notDeepStrictEqual',
  'throws',
  'doesNotThrow',
  'rejects',
  'doesNotReject',
  'match',
  'doesNotMatch',
  'fail',
  'ifError',
] as const;

let assertionsInTest = 0;
const counted = assert as unknown as Record<string, (...args: unknown[]) => unknown>;
for (const name of ASSERTIONS) {
  const original = counted[name];
  if (original === undefined) continue;
  counted[name] = function (this: unknown, ...args: unknown[]): unknown {
    assertionsInTest++;
    return original.apply(this, args);
  };
}

/** Tests already wrapped: a retried test meets the root beforeEach again. */
const wrapped = new WeakSet<object>();

/**
 * Makes the test itself fail when its body made no assertion (a failing afterEach hook would
 * also skip the rest of its suite). Only tests without a `done` callback: the repo has none.
 */
function requireAnAssertion(test: Test): void {
  const body = test.fn;
  if (body === undefined || body.length > 0 || wrapped.has(test)) return;
  wrapped.add(test);
  const checked = (): void => {
    if (assertionsInTest === 0) throw new Error('the test passed without making an assertion');
  };
  test.fn = function (this: Context): unknown {
    assertionsInTest = 0;
    const result = (body as (this: Context) => unknown).call(this);
    if (result instanceof Promise) return result.then(checked);
    checked();
    return result;
  };
}

export const mochaHooks = {
  beforeEach(this: Context): void {
    if (this.currentTest) requireAnAssertion(this.currentTest);
  },
  afterAll(): void {
    const left = killLeftoverProcesses();
    if (left > 0) throw new Error(`${left} server process(es) still running after the tests`);
  },
};
