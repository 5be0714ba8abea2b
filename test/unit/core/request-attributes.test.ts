import { strict as assert } from 'node:assert';
import { splitPathAndQuery } from '../../../src/core/request-attributes';

describe('splitPathAndQuery', () => {
  const cases: readonly [target: string, path: string, query: string][] = [
    ['/products/1', '/products/1', ''],
    ['/search?q=shoes&page=2', '/search', 'q=shoes&page=2'],
    ['/search?', '/search', ''],
    ['?', '/', ''],
    ['?a=1', '/', 'a=1'],
    ['', '/', ''],
    ['/a?b=1?c=2', '/a', 'b=1?c=2'],
    ['/a??b', '/a', '?b'],
    ['/page#section', '/page#section', ''],
    ['/static/x#/../../checkout', '/static/x#/../../checkout', ''],
    ['/a#b?c=1', '/a#b', 'c=1'],
    ['/page?x=1#section?y=2', '/page', 'x=1'],
    ['#only-fragment', '#only-fragment', ''],
    ['/a#b#c', '/a#b#c', ''],
    ['//admin', '//admin', ''],
    ['/%2F?x=%2F', '/%2F', 'x=%2F'],
    ['/a/../b', '/a/../b', ''],
    ['/café?q=ü', '/café', 'q=ü'],
    ['*', '*', ''],
  ];
  for (const [target, path, query] of cases) {
    it(`splits ${JSON.stringify(target)} into path ${JSON.stringify(path)} and query ${JSON.stringify(query)}`, () => {
      assert.deepEqual(splitPathAndQuery(target), { path, query });
    });
  }
});
