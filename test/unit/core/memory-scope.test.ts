import { strict as assert } from 'node:assert';
import { memoryScope } from '../../../src/core/memory-scope';
import type { PolicyRule } from '../../../src/core/policy';

const POLICY = {
  apiVersion: 'v4',
  rules: [] as PolicyRule[],
  blockRedirectCodes: new Set([2, 3]),
  blockReasons: new Set<number>(),
} as const;

describe('memoryScope', () => {
  it('is the site name and a digest of the blocking policy', () => {
    assert.match(memoryScope('shop', POLICY), /^shop#[A-Za-z0-9_-]{12}$/);
  });

  it('is the same for the same policy, however its lists are ordered', () => {
    const reordered = { ...POLICY, blockRedirectCodes: new Set([3, 2]) };
    assert.equal(memoryScope('shop', reordered), memoryScope('shop', POLICY));
  });

  it('changes with anything that decides which answers block', () => {
    const scopes = new Set([
      memoryScope('shop', POLICY),
      memoryScope('blog', POLICY),
      memoryScope('shop', { ...POLICY, apiVersion: 'v1' }),
      memoryScope('shop', { ...POLICY, blockRedirectCodes: new Set([2]) }),
      memoryScope('shop', { ...POLICY, blockReasons: new Set([7]) }),
      memoryScope('shop', {
        ...POLICY,
        rules: [{ name: 'strict', when: {}, action: 'block' }],
      }),
      memoryScope('shop', {
        ...POLICY,
        rules: [{ name: 'strict', when: { verdicts: new Set(['suspicious']) }, action: 'block' }],
      }),
    ]);
    assert.equal(scopes.size, 7);
  });
});
