import { strict as assert } from 'node:assert';
import {
  compilePathPattern,
  matchesEveryPath,
  matchesUnderAnyPath,
  MAX_REGEX_PATH_LENGTH,
  PathMap,
  PathPatternList,
  PatternError,
  type PatternForm,
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
      // Written encoded, an entry still names a canonical path.
      { pattern: '/caf%C3%A9', matches: ['/café'], rejects: ['/caf%C3%A9', '/cafe'] },
      {
        pattern: '/robots.txt',
        matches: ['/robots.txt'],
        rejects: ['/robotsXtxt', '/robots.txt/'],
      },
    ],
  },
  {
    name: 'anchored literal prefixes',
    cases: [
      {
        pattern: '^/static/',
        matches: ['/static/', '/static/app.js', '/static/a/b/c'],
        rejects: ['/static', '//static/app.js', '/x/static/', '/STATIC/x'],
      },
      { pattern: '^/api', matches: ['/api', '/api/x', '/apiary'], rejects: ['/ap', '/x/api'] },
      { pattern: '^/st%61tic/', matches: ['/static/x'], rejects: ['/st%61tic/x'] },
    ],
  },
  {
    name: 'globs: * within a segment, ** across whole segments',
    cases: [
      {
        pattern: '/static/**',
        matches: ['/static/', '/static/app.js', '/static/a/b/c.css'],
        rejects: ['/static', '/staticx/a', '/x/static/a'],
      },
      {
        pattern: '/assets/**/*.css',
        matches: ['/assets/a.css', '/assets/x/a.css', '/assets/x/y/z/.css'],
        rejects: ['/assets/a.js', '/assets/a.css/x', '/assets.css', '/x/assets/a.css'],
      },
      {
        pattern: '/img/*.png',
        matches: ['/img/a.png', '/img/.png', '/img/a.b.png'],
        rejects: ['/img/a/b.png', '/img/a.png.js', '/img.png'],
      },
      {
        pattern: '/a/*-*-x/**/b/**/c',
        matches: ['/a/1-2-x/b/c', '/a/--x/q/b/r/s/c', '/a/1-2-3-x/b/b/c/c'],
        rejects: ['/a/1-x/b/c', '/a/1-2-x/c', '/a/1-2-x/b/c/d'],
      },
      { pattern: '/*', matches: ['/', '/a', '/a.css'], rejects: ['/a/', '/a/b'] },
      { pattern: '/caf%C3%A9/**', matches: ['/café/x'], rejects: ['/caf%C3%A9/x'] },
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

  const forms: readonly (readonly [entry: string, form: PatternForm])[] = [
    ['/healthz', 'exact'],
    ['/robots.txt', 'exact'],
    ['^/static/', 'prefix'],
    ['^/robots.txt', 'regex'],
    ['/static/**', 'glob'],
    ['/assets/**/*.css', 'glob'],
    ['/static/.*', 'regex'],
    ['.*\\.(css|js)', 'regex'],
    ['^/static/([a-z0-9]+-?)+\\.css$', 'regex'],
  ];
  for (const [entry, form] of forms) {
    it(`reads ${JSON.stringify(entry)} as the ${form} form`, () => {
      assert.equal(compilePathPattern(entry).form, form);
    });
  }

  it('matches a catastrophic-backtracking pattern in linear time (RE2)', () => {
    // With a backtracking engine this takes seconds at 32 letters and never ends at 1,000.
    const pattern = compilePathPattern('^/static/([a-z0-9]+-?)+\\.css$');
    assert.equal(pattern.matches(`/static/${'a'.repeat(1000)}!`), false);
    assert.equal(pattern.matches(`/static/${'a-'.repeat(1000)}.css`), true);
  });

  const unsupported: readonly string[] = [
    '/(?=admin)\\w+',
    '/(?!admin).*',
    '.*(?<!\\.php)',
    '/(a)\\1',
  ];
  for (const entry of unsupported) {
    it(`refuses ${JSON.stringify(entry)}: RE2 cannot match it in linear time`, () => {
      assert.throws(
        () => compilePathPattern(entry),
        (err: unknown) =>
          err instanceof PatternError &&
          err.message.includes(JSON.stringify(entry)) &&
          /linear time/.test(err.message),
      );
    });
  }

  const invalid: readonly string[] = [
    '[',
    '/a(',
    '/a)',
    '*',
    '/x{2,1}',
    '(?<n>a)(?<n>b)',
    '/static/**.css',
    '/a**/b',
  ];
  for (const entry of invalid) {
    it(`throws PatternError for the invalid pattern ${JSON.stringify(entry)}`, () => {
      assert.throws(
        () => compilePathPattern(entry),
        (err: unknown) =>
          err instanceof PatternError &&
          err.name === 'PatternError' &&
          err.message.includes(JSON.stringify(entry)),
      );
    });
  }

  // No canonical path holds a dot segment or `//`: as written, such an entry never matches, and
  // read as a path it silently means another one (`^/static/../` is every path).
  const nonCanonical: readonly (readonly [entry: string, reading: string | undefined])[] = [
    ['/a/./b//c', '"/a/b/c"'],
    ['/a//b', '"/a/b"'],
    ['/static/..', '"/"'],
    ['/x/%2e%2e/login', '"/login"'],
    ['^/static/../', '"^/"'],
    ['^//admin', '"^/admin"'],
    ['/static/../**', undefined],
    ['^/static/./.*\\.css$', undefined],
  ];
  for (const [entry, reading] of nonCanonical) {
    it(`refuses ${JSON.stringify(entry)}: no canonical path has dot segments or //`, () => {
      assert.throws(
        () => compilePathPattern(entry),
        (err: unknown) =>
          err instanceof PatternError &&
          err.message.includes(JSON.stringify(entry)) &&
          err.message.includes('dot segments or //') &&
          (reading === undefined || err.message.includes(`reads ${reading}`)),
      );
    });
  }

  // Matching costs the program size times the path length: [a-z]{1000} x3 took ~0.5 s per 8 KB.
  const costly: readonly string[] = [
    '[a-z]{1000}[a-z]{1000}[a-z]{1000}[0-9]$',
    '/[a-z]{201}',
    '/((a|b){15}){15}',
  ];
  for (const entry of costly) {
    it(`refuses ${JSON.stringify(entry)}: its RE2 program is over the size bound`, () => {
      assert.throws(
        () => compilePathPattern(entry),
        (err: unknown) =>
          err instanceof PatternError &&
          err.message.includes(JSON.stringify(entry)) &&
          /RE2 instructions, over \d+/.test(err.message),
      );
    });
  }

  it('accepts an everyday regular expression with counted repetitions', () => {
    const pattern = compilePathPattern('^/assets/[a-f0-9]{8,64}\\.(js|css|map)$');
    assert.equal(pattern.matches(`/assets/${'0a'.repeat(8)}.js`), true);
  });

  it('matches no regex entry against a path over MAX_REGEX_PATH_LENGTH (RTI is asked)', () => {
    const head = '/static/';
    const fits = head + 'a'.repeat(MAX_REGEX_PATH_LENGTH - head.length);
    const over = `${fits}a`;
    assert.equal(compilePathPattern('/static/.*').matches(fits), true);
    assert.equal(compilePathPattern('/static/.*').matches(over), false);
    // The other forms cost no more than a comparison per character and keep matching.
    assert.equal(compilePathPattern('^/static/').matches(over), true);
    assert.equal(compilePathPattern('/static/*').matches(over), true);
  });

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
    assert.equal(list.isEmpty, true);
    for (const path of ['/', '', '/anything', '//admin']) assert.equal(list.matches(path), false);
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

  it('accepts any iterable of entries (a Map)', () => {
    const map = new PathMap(new Map([['/s', 'search']]));
    assert.equal(map.lookup('/s'), 'search');
  });

  it('lookupAny: the first entry, in configuration order, that any of the paths matches', () => {
    const map = new PathMap([
      ['/login', 'login'],
      ['/checkout/**', 'purchase'],
      ['/**', 'page_load'],
    ]);
    assert.equal(map.lookupAny(['/x;y', '/checkout/pay', '/login']), 'login');
    assert.equal(map.lookupAny(['/checkout;x/pay', '/checkout/pay']), 'purchase');
    assert.equal(map.lookupAny(['/other']), 'page_load');
    assert.equal(new PathMap([['/login', 'login']]).lookupAny(['/a', '/b']), undefined);
  });

  it('throws PatternError for an invalid key', () => {
    assert.throws(() => new PathMap([['/a[', 'search']]), PatternError);
  });
});

describe('matchesEveryPath (uri_exclusion entries that would turn checking off)', () => {
  const cases: readonly (readonly [entry: string, everyPath: boolean])[] = [
    ['^', true],
    ['^/', true],
    ['.*', true],
    ['^.*', true],
    ['.+', true],
    ['/.*', true],
    ['^/.+$', true],
    ['/**', true],
    ['[^?]*', true],
    ['/', false],
    ['/healthz', false],
    ['^/static/', false],
    ['/*', false],
    ['/*/**', false],
    ['.*\\.(css|js)', false],
    ['^/[^/]*$', false],
  ];
  for (const [entry, everyPath] of cases) {
    it(`${everyPath ? 'flags' : 'does not flag'} ${JSON.stringify(entry)}`, () => {
      assert.equal(matchesEveryPath([entry]), everyPath);
    });
  }

  it('flags entries that only together match every path', () => {
    assert.equal(matchesEveryPath(['/*', '/*/**']), true);
    assert.equal(matchesEveryPath(['^/static/', '/assets/**', '/healthz', '.*\\.css']), false);
    assert.equal(matchesEveryPath(['^/[a-z]', '^/[^a-z]']), true);
    assert.equal(matchesEveryPath([]), false);
  });
});

describe('matchesUnderAnyPath (uri_exclusion entries a client can reach by a suffix)', () => {
  const cases: readonly (readonly [entry: string, underAnyPath: boolean])[] = [
    ['.*\\.(css|js|png|svg|woff2)', true],
    ['.*\\.css', true],
    ['\\.css$', true],
    ['^.*\\.css$', true],
    ['/.*\\.css', true],
    ['^/static/|\\.css$', true],
    ['/static/.*|.*\\.js', true],
    ['/**/*.css', true],
    ['/*/x.css', true],
    ['/healthz', false],
    ['/robots.txt', false],
    ['^/static/', false],
    ['/static/**', false],
    ['/assets/**/*.css', false],
    ['/static/.*\\.css', false],
    ['^/static/.*\\.(css|js)$', false],
    ['/a|/b', false],
    // Conservative: a group right after the first `/` is not looked into.
    ['/(a|b)/x', true],
  ];
  for (const [entry, underAnyPath] of cases) {
    it(`${underAnyPath ? 'flags' : 'does not flag'} ${JSON.stringify(entry)}`, () => {
      assert.equal(matchesUnderAnyPath(entry), underAnyPath);
    });
  }
});
