import { strict as assert } from 'node:assert';
import {
  compilePathPattern,
  PathMap,
  PathPatternList,
  PatternError,
} from '../../../src/core/path-pattern';

interface Case {
  readonly pattern: string;
  readonly matches: readonly string[];
  readonly rejects: readonly string[];
}

const CASES: readonly { readonly name: string; readonly cases: readonly Case[] }[] = [
  {
    name: 'exact paths',
    cases: [
      {
        pattern: '/healthz',
        matches: ['/healthz'],
        rejects: ['/healthz/', '/healthz/x', '/api/healthz', '/HEALTHZ', '//healthz', ''],
      },
      { pattern: '/', matches: ['/'], rejects: ['//', '/a'] },
      {
        pattern: '/admin',
        matches: ['/admin'],
        rejects: ['//admin', '/%61dmin', '/admin%2F', '/./admin', '/x/../admin'],
      },
      { pattern: '/a/b', matches: ['/a/b'], rejects: ['/a%2Fb', '/a//b', '/a/../a/b'] },
      {
        pattern: '/%2F',
        matches: ['/%2F'],
        rejects: ['//', '/%2f'],
      },
      { pattern: '/café', matches: ['/café'], rejects: ['/caf%C3%A9', '/cafe'] },
      { pattern: '/caf%C3%A9', matches: ['/caf%C3%A9'], rejects: ['/café', '/caf%c3%a9'] },
    ],
  },
  {
    name: 'regular expressions matching the whole path',
    cases: [
      {
        pattern: '/static/.*',
        matches: ['/static/', '/static/app.js', '/static//x', '/static/../admin'],
        rejects: ['/static', '/x/static/app.js', '//static/app.js'],
      },
      {
        pattern: '/api/v[0-9]+/items',
        matches: ['/api/v1/items', '/api/v22/items'],
        rejects: ['/api/v1/items/1', '/api/vx/items', 'x/api/v1/items'],
      },
      {
        pattern: '/a|/b',
        matches: ['/a', '/b'],
        rejects: ['/ab', '/a/b', '/bb', 'x/b'],
      },
      {
        pattern: '/robots.txt',
        matches: ['/robots.txt'],
        rejects: ['/robots.txt.bak', '/x/robots.txt'],
      },
      {
        pattern: '/(fr|de)/café',
        matches: ['/fr/café', '/de/café'],
        rejects: ['/fr/cafe', '/es/café'],
      },
      {
        pattern: '/[^/]+',
        matches: ['/admin', '/%2F', '/café'],
        rejects: ['//admin', '/a/b', '/'],
      },
    ],
  },
  {
    name: 'anchored entries used as written',
    cases: [
      {
        pattern: '^/static/',
        matches: ['/static/', '/static/app.js', '/static/a/b/c'],
        rejects: ['/static', '//static/app.js', '/x/static/'],
      },
      {
        pattern: '\\.js$',
        matches: ['/app.js', '/a/b/c.js'],
        rejects: ['/app.json', '/app.js/'],
      },
      {
        pattern: '^/exact$',
        matches: ['/exact'],
        rejects: ['/exact/', '/exactly', '//exact'],
      },
      {
        pattern: '^//admin',
        matches: ['//admin', '//admin/x'],
        rejects: ['/admin'],
      },
    ],
  },
];

describe('compilePathPattern', () => {
  for (const group of CASES) {
    describe(group.name, () => {
      for (const c of group.cases) {
        it(`${JSON.stringify(c.pattern)} matches ${c.matches.join(' ')} and nothing else listed`, () => {
          const pattern = compilePathPattern(c.pattern);
          assert.equal(pattern.source, c.pattern);
          for (const path of c.matches) {
            assert.equal(pattern.matches(path), true, `${c.pattern} should match ${path}`);
          }
          for (const path of c.rejects) {
            assert.equal(pattern.matches(path), false, `${c.pattern} should not match ${path}`);
          }
        });
      }
    });
  }

  it('reads a "." in an entry as a regular expression (any character)', () => {
    assert.equal(compilePathPattern('/robots.txt').matches('/robotsXtxt'), true);
    assert.equal(compilePathPattern('/robots\\.txt').matches('/robotsXtxt'), false);
  });

  it('matches one pattern against the path as given (lists and maps normalise first)', () => {
    const staticFiles = compilePathPattern('^/static/');
    assert.equal(staticFiles.matches('/static/../admin'), true);
    assert.equal(staticFiles.matches('/static%2F..%2Fadmin'), false);
  });

  const invalid: readonly string[] = ['[', '/a(', '/a)', '*', '/x{2,1}', '(?<n>a)(?<n>b)'];
  for (const entry of invalid) {
    it(`throws PatternError for the invalid regular expression ${JSON.stringify(entry)}`, () => {
      assert.throws(
        () => compilePathPattern(entry),
        (err: unknown) =>
          err instanceof PatternError &&
          err.name === 'PatternError' &&
          err.message.includes(JSON.stringify(entry)),
      );
    });
  }

  it('throws PatternError for an empty entry', () => {
    assert.throws(
      () => compilePathPattern(''),
      (err: unknown) => err instanceof PatternError && /empty/.test(err.message),
    );
  });
});

describe('PathPatternList', () => {
  it('matches nothing when empty', () => {
    const list = new PathPatternList([]);
    for (const path of ['/', '', '/anything', '//admin']) assert.equal(list.matches(path), false);
  });

  it('does not take /static/../checkout for a static file', () => {
    const list = new PathPatternList(['^/static/']);
    assert.equal(list.matches('/static/../checkout'), false);
    assert.equal(list.matches('/static/%2e%2e/checkout'), false);
    assert.equal(list.matches('/static//app.js'), true);
  });

  it('matches when any entry matches', () => {
    const list = new PathPatternList(['/healthz', '^/static/', '/img/.*\\.png']);
    assert.equal(list.matches('/healthz'), true);
    assert.equal(list.matches('/static/x.css'), true);
    assert.equal(list.matches('/img/a/b.png'), true);
    assert.equal(list.matches('/img/a/b.jpg'), false);
    assert.equal(list.matches('/'), false);
  });

  it('throws PatternError when one entry is invalid', () => {
    assert.throws(() => new PathPatternList(['/ok', '(']), PatternError);
  });
});

describe('PathMap', () => {
  it('returns the value of the first matching entry, in configuration order', () => {
    const map = new PathMap([
      ['/checkout/confirm', 'purchase'],
      ['/checkout/.*', 'add_payment'],
      ['^/', 'page_load'],
    ]);
    assert.equal(map.lookup('/checkout/confirm'), 'purchase');
    assert.equal(map.lookup('/checkout/card'), 'add_payment');
    assert.equal(map.lookup('/about'), 'page_load');
  });

  it('lets an earlier broad entry shadow a later exact one', () => {
    const map = new PathMap([
      ['/checkout/.*', 'add_payment'],
      ['/checkout/confirm', 'purchase'],
    ]);
    assert.equal(map.lookup('/checkout/confirm'), 'add_payment');
  });

  it('returns undefined when nothing matches, including odd paths', () => {
    const map = new PathMap([
      ['/admin', 'registration'],
      ['/search', 'search'],
    ]);
    for (const path of ['/%2Fadmin', '/admin/', '/search?q=1', '', '/administration']) {
      assert.equal(map.lookup(path), undefined, path);
    }
  });

  it('resolves dot segments and merged slashes before matching', () => {
    const map = new PathMap([['/admin', 'registration']]);
    for (const path of ['//admin', '/a/../admin', '/./admin', '/x/%2e%2e/admin']) {
      assert.equal(map.lookup(path), 'registration', path);
    }
  });

  it('accepts any iterable of entries (a Map)', () => {
    const map = new PathMap(new Map([['/s', 'search']]));
    assert.equal(map.lookup('/s'), 'search');
  });

  it('throws PatternError for an invalid key', () => {
    assert.throws(() => new PathMap([['/a[', 'search']]), PatternError);
  });
});
