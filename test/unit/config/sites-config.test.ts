import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  loadConfig,
  type AppConfig,
  type SiteConfig,
} from '../../../src/config/load-config';

const TOP_SECRET = 'TOP-SECRET-KEY-4711';
const SITE_SECRET = 'SITE-SECRET-KEY-0815';

/** Top-level credentials from the environment; tag hash and endpoint included. */
const ENV: Readonly<Record<string, string | undefined>> = {
  CHEQ_API_KEY: TOP_SECRET,
  CHEQ_TAG_HASH: 'top-tag',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

/** The same without a top-level tag hash: only the sites are served. */
const ENV_WITHOUT_TAG: Readonly<Record<string, string | undefined>> = {
  ...ENV,
  CHEQ_TAG_HASH: undefined,
};

function siteNamed(config: AppConfig, name: string): SiteConfig {
  const found = config.sites.find(s => s.name === name);
  assert.ok(found, `no site ${name} in ${config.sites.map(s => s.name).join(', ')}`);
  return found;
}

describe('loadConfig: sites', () => {
  let dir: string;
  let fileCount = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cheq-rti-authz-sites-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function tempFile(extension: string, text: string): string {
    fileCount += 1;
    const path = join(dir, `sites-${fileCount}.${extension}`);
    writeFileSync(path, text);
    return path;
  }

  function yamlFile(...lines: string[]): string {
    return tempFile('yaml', [...lines, ''].join('\n'));
  }

  function loadFile(file: string, env = ENV): AppConfig {
    return loadConfig({ env, args: ['--config', file] });
  }

  function configErrorOf(file: string, env = ENV): ConfigError {
    try {
      loadFile(file, env);
    } catch (err: unknown) {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      return err;
    }
    assert.fail('expected loadConfig to throw a ConfigError');
  }

  /** A problem that names the site and matches the pattern. */
  function assertProblem(err: ConfigError, site: string, pattern: RegExp): void {
    assert.ok(
      err.problems.some(p => p.startsWith(`${site}:`) && pattern.test(p)),
      `no problem "${site}: ${String(pattern)}" in ${JSON.stringify(err.problems)}`,
    );
  }

  describe('inheritance', () => {
    const TOP_LEVEL = [
      'mode: blocking',
      'timeout_ms: 80',
      'api_version: v1',
      'uri_exclusion: [/healthz]',
    ];

    it('gives a site every setting it leaves out from the top level', () => {
      const config = loadFile(
        yamlFile(...TOP_LEVEL, 'sites:', '  - name: shop', '    hosts: [shop.example.com]'),
      );
      const shop = siteNamed(config, 'shop');
      assert.equal(shop.core.mode, 'blocking');
      assert.equal(shop.core.timeoutMs, 80);
      assert.equal(shop.core.apiVersion, 'v1');
      assert.equal(shop.core.uriExclusion.matches('/healthz'), true);
      assert.equal(shop.apiKey, TOP_SECRET);
      assert.equal(shop.tagHash, 'top-tag');
      assert.equal(shop.endpoint.href, 'https://rti-global.cheqzone.com/');
    });

    it('gives a site its own timeout_ms, api_version, policy_rules and uri_exclusion', () => {
      const config = loadFile(
        yamlFile(
          ...TOP_LEVEL,
          'sites:',
          '  - name: shop',
          '    hosts: [shop.example.com]',
          '    timeout_ms: 250',
          '    api_version: v4',
          '    tag_hash: shop-tag',
          '    policy_rules:',
          '      - name: partners',
          '        when: { reasons: [501] }',
          '        action: allow',
          '    uri_exclusion: [/static/logo.png]',
        ),
      );
      const shop = siteNamed(config, 'shop');
      assert.equal(shop.core.timeoutMs, 250);
      assert.equal(shop.core.apiVersion, 'v4');
      assert.equal(shop.tagHash, 'shop-tag');
      assert.deepEqual(shop.core.rules, [
        { name: 'partners', when: { reasons: new Set([501]) }, action: 'allow' },
      ]);
      assert.equal(shop.core.uriExclusion.matches('/static/logo.png'), true);
      assert.equal(shop.core.uriExclusion.matches('/healthz'), false);
      assert.equal(shop.core.mode, 'blocking', 'mode is still inherited');
      // The top level keeps its own.
      assert.equal(config.core.timeoutMs, 80);
      assert.equal(config.core.apiVersion, 'v1');
      assert.deepEqual(config.core.rules, []);
      assert.equal(config.core.uriExclusion.matches('/healthz'), true);
    });

    it('gives a site with api_key_file the key read from that file, not the inherited api_key', () => {
      const keyFile = tempFile('key', `${SITE_SECRET}\n`);
      const config = loadFile(
        yamlFile(
          'sites:',
          '  - name: shop',
          '    hosts: [shop.example.com]',
          `    api_key_file: ${keyFile}`,
          '  - name: blog',
          '    hosts: [blog.example.com]',
        ),
      );
      assert.equal(siteNamed(config, 'shop').apiKey, SITE_SECRET);
      assert.equal(siteNamed(config, 'blog').apiKey, TOP_SECRET);
      assert.equal(config.rti.apiKey, TOP_SECRET);
    });

    it('gives a site with its own api_key that key, even when the top level reads a key file', () => {
      const topKeyFile = tempFile('key', TOP_SECRET);
      const config = loadFile(
        yamlFile(
          'sites:',
          '  - name: shop',
          '    hosts: [shop.example.com]',
          `    api_key: ${SITE_SECRET}`,
        ),
        { ...ENV, CHEQ_API_KEY: undefined, CHEQ_API_KEY_FILE: topKeyFile },
      );
      assert.equal(siteNamed(config, 'shop').apiKey, SITE_SECRET);
      assert.equal(config.rti.apiKey, TOP_SECRET);
    });
  });

  describe('the resolved list', () => {
    it('lists the sites in file order with lower-cased hosts', () => {
      const config = loadFile(
        yamlFile(
          'sites:',
          '  - name: zeta',
          '    hosts: [Zeta.Example.COM, "*.Zeta.Example.net"]',
          '  - name: alpha',
          '    hosts: alpha.example.com',
          '  - name: by-route-only',
        ),
      );
      assert.deepEqual(
        config.sites.map(s => [s.name, s.hosts]),
        [
          ['zeta', ['zeta.example.com', '*.zeta.example.net']],
          ['alpha', ['alpha.example.com']],
          ['by-route-only', []],
        ],
      );
    });

    it('has a default site (the top level) when the top level has a tag hash', () => {
      const config = loadFile(yamlFile('sites:', '  - name: shop', '    hosts: shop.example.com'));
      assert.equal(config.defaultSite?.name, 'default');
      assert.equal(config.defaultSite?.tagHash, 'top-tag');
    });

    it('has no default site when the top level has no tag hash and sites exist', () => {
      const config = loadFile(
        yamlFile('sites:', '  - name: shop', '    hosts: shop.example.com', '    tag_hash: t1'),
        ENV_WITHOUT_TAG,
      );
      assert.equal(config.defaultSite, undefined);
      assert.equal(siteNamed(config, 'shop').tagHash, 't1');
    });

    it('has no default site when the top-level tag hash is only blanks', () => {
      const config = loadFile(
        yamlFile('sites:', '  - name: shop', '    hosts: shop.example.com', '    tag_hash: t1'),
        { ...ENV, CHEQ_TAG_HASH: '  ' },
      );
      assert.equal(config.defaultSite, undefined);
    });

    it('lists the config file and every api_key_file among its files, each once', () => {
      const topKey = tempFile('key', TOP_SECRET);
      const shopKey = tempFile('key', SITE_SECRET);
      const file = yamlFile(
        'sites:',
        '  - name: shop',
        '    hosts: shop.example.com',
        `    api_key_file: ${shopKey}`,
        '  - name: blog',
        '    hosts: blog.example.com',
      );
      const config = loadFile(file, { ...ENV, CHEQ_API_KEY: undefined, CHEQ_API_KEY_FILE: topKey });
      assert.deepEqual([...config.files].sort(), [file, topKey, shopKey].sort());
    });
  });

  describe('hash', () => {
    const SITES = ['sites:', '  - name: shop', '    hosts: shop.example.com', '    timeout_ms: 90'];

    it('is the same for the same configuration read again, comments and layout aside', () => {
      const file = yamlFile(...SITES);
      const before = loadFile(file).hash;
      assert.equal(loadFile(file).hash, before);
      writeFileSync(file, ['# shops', ...SITES, '', '# end'].join('\n'));
      assert.equal(loadFile(file).hash, before);
    });

    it("is the same when a site's settings are written in another order", () => {
      const file = yamlFile(...SITES);
      const before = loadFile(file).hash;
      writeFileSync(
        file,
        ['sites:', '  - timeout_ms: 90', '    hosts: shop.example.com', '    name: shop'].join(
          '\n',
        ),
      );
      assert.equal(loadFile(file).hash, before);
    });

    it('changes when a site setting changes', () => {
      const file = yamlFile(...SITES);
      const before = loadFile(file).hash;
      writeFileSync(file, [...SITES.slice(0, -1), '    timeout_ms: 91'].join('\n'));
      assert.notEqual(loadFile(file).hash, before);
    });

    it('changes when a site host changes', () => {
      const file = yamlFile(...SITES);
      const before = loadFile(file).hash;
      writeFileSync(
        file,
        ['sites:', '  - name: shop', '    hosts: shop.example.org', '    timeout_ms: 90'].join(
          '\n',
        ),
      );
      assert.notEqual(loadFile(file).hash, before);
    });

    it("changes when a site's key file content changes, and not when the file is rewritten as is", () => {
      const keyFile = tempFile('key', SITE_SECRET);
      const file = yamlFile(...SITES, `    api_key_file: ${keyFile}`);
      const first = loadFile(file);
      writeFileSync(keyFile, SITE_SECRET);
      assert.equal(loadFile(file).hash, first.hash);
      writeFileSync(keyFile, 'ROTATED-SITE-KEY');
      const rotated = loadFile(file);
      assert.equal(siteNamed(rotated, 'shop').apiKey, 'ROTATED-SITE-KEY');
      assert.notEqual(rotated.hash, first.hash);
    });

    it("changes when the top level's key file content changes", () => {
      const keyFile = tempFile('key', TOP_SECRET);
      const env = { ...ENV, CHEQ_API_KEY: undefined, CHEQ_API_KEY_FILE: keyFile };
      const file = yamlFile(...SITES);
      const before = loadFile(file, env).hash;
      writeFileSync(keyFile, 'ROTATED-TOP-KEY');
      assert.notEqual(loadFile(file, env).hash, before);
    });
  });

  describe('errors', () => {
    interface SiteErrorCase {
      readonly name: string;
      readonly lines: readonly string[];
      readonly env?: Readonly<Record<string, string | undefined>>;
      /** How the problem names the site: `sites[N] name`, or `sites[N]` when the name is bad. */
      readonly site: string;
      readonly problem: RegExp;
    }

    const CASES: readonly SiteErrorCase[] = [
      {
        name: 'a setting in the wrong format (timeout_ms: fast)',
        lines: ['  - name: shop', '    hosts: shop.example.com', '    timeout_ms: fast'],
        site: 'sites[1] shop',
        problem: /timeout_ms/,
      },
      {
        name: 'a setting given as a mapping (timeout_ms: { ms: 50 })',
        lines: ['  - name: shop', '    hosts: shop.example.com', '    timeout_ms: { ms: 50 }'],
        site: 'sites[1] shop',
        problem: /timeout_ms/,
      },
      {
        name: 'a mode that is not one',
        lines: ['  - name: shop', '    hosts: shop.example.com', '    mode: sometimes'],
        site: 'sites[1] shop',
        problem: /mode/,
      },
      {
        name: 'a process setting (grpc_port)',
        lines: ['  - name: shop', '    hosts: shop.example.com', '    grpc_port: 9002'],
        site: 'sites[1] shop',
        problem: /grpc_port is a process setting/,
      },
      {
        name: 'an unknown key',
        lines: ['  - name: shop', '    hosts: shop.example.com', '    timeout: 50'],
        site: 'sites[1] shop',
        problem: /timeout is not a setting/,
      },
      {
        name: 'a name with upper-case letters',
        lines: [
          '  - name: shop',
          '    hosts: a.example.com',
          '  - name: Shop',
          '    hosts: b.example.com',
        ],
        site: 'sites[2]',
        problem: /name must be/,
      },
      {
        name: 'a name with a space',
        lines: ['  - name: my shop', '    hosts: shop.example.com'],
        site: 'sites[1]',
        problem: /name must be/,
      },
      {
        name: 'no name',
        lines: ['  - hosts: shop.example.com'],
        site: 'sites[1]',
        problem: /name must be/,
      },
      {
        name: 'the reserved name default',
        lines: ['  - name: default', '    hosts: shop.example.com'],
        site: 'sites[1] default',
        problem: /reserved/,
      },
      {
        name: 'the reserved name none',
        lines: ['  - name: none', '    hosts: shop.example.com'],
        site: 'sites[1] none',
        problem: /reserved/,
      },
      {
        name: 'a name used twice',
        lines: [
          '  - name: shop',
          '    hosts: a.example.com',
          '  - name: shop',
          '    hosts: b.example.com',
        ],
        site: 'sites[2] shop',
        problem: /used twice/,
      },
      {
        name: 'a host in two sites',
        lines: [
          '  - name: shop',
          '    hosts: shop.example.com',
          '  - name: blog',
          '    hosts: [blog.example.com, Shop.Example.com]',
        ],
        site: 'sites[2] blog',
        problem: /shop\.example\.com is also a host of site shop/,
      },
      {
        name: 'a *.suffix in two sites',
        lines: [
          '  - name: shop',
          '    hosts: "*.example.com"',
          '  - name: blog',
          '    hosts: "*.example.com"',
        ],
        site: 'sites[2] blog',
        problem: /\*\.example\.com is also a host of site shop/,
      },
      {
        name: 'a URL as host (http://x)',
        lines: ['  - name: shop', '    hosts: "http://x"'],
        site: 'sites[1] shop',
        problem: /hosts: "http:\/\/x" is not a host name/,
      },
      {
        name: 'a bare *. as host',
        lines: ['  - name: shop', '    hosts: "*."'],
        site: 'sites[1] shop',
        problem: /hosts: "\*\." is not a host name/,
      },
      {
        name: 'a host with a space (a b)',
        lines: ['  - name: shop', '    hosts: [ok.example.com, "a b"]'],
        site: 'sites[1] shop',
        problem: /hosts: "a b" is not a host name/,
      },
      {
        name: 'a host with a port',
        lines: ['  - name: shop', '    hosts: "shop.example.com:8443"'],
        site: 'sites[1] shop',
        problem: /is not a host name/,
      },
      {
        name: 'a wildcard in the middle',
        lines: ['  - name: shop', '    hosts: "shop.*.example.com"'],
        site: 'sites[1] shop',
        problem: /is not a host name/,
      },
      {
        name: 'no tag hash at the site nor at the top level',
        lines: ['  - name: shop', '    hosts: shop.example.com'],
        env: ENV_WITHOUT_TAG,
        site: 'sites[1] shop',
        problem: /tag_hash/,
      },
      {
        name: 'invalid policy_rules',
        lines: [
          '  - name: shop',
          '    hosts: shop.example.com',
          '    policy_rules:',
          '      - when: { verdict: bad }',
          '        action: block',
        ],
        site: 'sites[1] shop',
        problem: /policy_rules.*rule 1: when\.verdict/,
      },
      {
        name: 'challenge_action redirect without challenge_url',
        lines: ['  - name: shop', '    hosts: shop.example.com', '    challenge_action: redirect'],
        site: 'sites[1] shop',
        problem: /challenge_url.*challenge_action is redirect/,
      },
      {
        name: 'a missing api_key_file',
        lines: [
          '  - name: shop',
          '    hosts: shop.example.com',
          '    api_key_file: /nonexistent/cheq-site-key',
        ],
        site: 'sites[1] shop',
        problem: /api_key_file.*\/nonexistent\/cheq-site-key/,
      },
      {
        name: 'both api_key and api_key_file',
        lines: [
          '  - name: shop',
          '    hosts: shop.example.com',
          `    api_key: ${SITE_SECRET}`,
          '    api_key_file: /nonexistent/cheq-site-key',
        ],
        site: 'sites[1] shop',
        problem: /set only one/,
      },
      {
        name: 'a site that is not an object',
        lines: ['  - shop.example.com'],
        site: 'sites[1]',
        problem: /must be an object/,
      },
    ];

    for (const c of CASES) {
      it(`throws a ConfigError naming ${c.site} for ${c.name}`, () => {
        const err = configErrorOf(yamlFile('sites:', ...c.lines), c.env);
        assertProblem(err, c.site, c.problem);
      });
    }

    it('names only the offending site, and the right one', () => {
      const err = configErrorOf(
        yamlFile(
          'sites:',
          '  - name: shop',
          '    hosts: shop.example.com',
          '  - name: blog',
          '    hosts: blog.example.com',
          '    timeout_ms: fast',
        ),
      );
      assertProblem(err, 'sites[2] blog', /timeout_ms/);
      assert.equal(
        err.problems.some(p => p.includes('shop')),
        false,
        err.message,
      );
    });

    it('reports the problems of every site at once', () => {
      const err = configErrorOf(
        yamlFile(
          'sites:',
          '  - name: shop',
          '    hosts: shop.example.com',
          '    timeout_ms: fast',
          '  - name: blog',
          '    hosts: blog.example.com',
          '    grpc_port: 1',
        ),
      );
      assertProblem(err, 'sites[1] shop', /timeout_ms/);
      assertProblem(err, 'sites[2] blog', /grpc_port/);
    });

    it('reports only the top-level problem when the top level holds a value of another shape', () => {
      // One site sets mode itself (the invalid top-level value is no default of its), one inherits.
      const err = configErrorOf(
        tempFile(
          'json',
          JSON.stringify({
            mode: ['blocking'],
            sites: [
              { name: 'own', hosts: ['own.example.com'], tag_hash: 't', mode: 'blocking' },
              { name: 'heir', hosts: ['heir.example.com'], tag_hash: 't' },
            ],
          }),
        ),
      );
      assert.deepEqual(err.problems, [
        'mode (CHEQ_MODE): must be one of the possible values: ["monitoring","blocking"]: ' +
          'value was ["blocking"]',
      ]);
    });

    it('does not name environment variables in a site problem (a site is set in the file)', () => {
      const err = configErrorOf(
        yamlFile('sites:', '  - name: shop', '    hosts: shop.example.com'),
        ENV_WITHOUT_TAG,
      );
      assertProblem(err, 'sites[1] shop', /tag_hash/);
      assert.equal(/CHEQ_TAG_HASH/.test(err.message), false, err.message);
    });

    it('requires a top-level tag hash when there are no sites', () => {
      const err = configErrorOf(yamlFile('mode: blocking'), ENV_WITHOUT_TAG);
      assert.ok(
        err.problems.some(p => p.startsWith('tag_hash')),
        JSON.stringify(err.problems),
      );
    });

    it('requires a top-level tag hash when the sites list is empty', () => {
      const err = configErrorOf(yamlFile('sites: []'), ENV_WITHOUT_TAG);
      assert.ok(
        err.problems.some(p => p.startsWith('tag_hash')),
        JSON.stringify(err.problems),
      );
    });

    it('refuses sites that are not a list', () => {
      const err = configErrorOf(yamlFile('sites:', '  name: shop', '  hosts: shop.example.com'));
      assert.ok(
        err.problems.some(p => p.startsWith('sites')),
        JSON.stringify(err.problems),
      );
    });

    describe('never reveal an API key', () => {
      const LEAK_CASES: readonly { readonly name: string; readonly lines: readonly string[] }[] = [
        {
          name: 'a bad setting beside the site key',
          lines: [
            '  - name: shop',
            '    hosts: shop.example.com',
            `    api_key: ${SITE_SECRET}`,
            '    timeout_ms: fast',
          ],
        },
        {
          name: 'a bad value in a site inheriting the top-level key',
          lines: ['  - name: shop', '    hosts: shop.example.com', '    mode: sometimes'],
        },
        {
          name: 'a site key that is not a string',
          lines: [
            '  - name: shop',
            '    hosts: shop.example.com',
            '    api_key: [SITE-SECRET-KEY-0815]',
          ],
        },
        {
          // YAML reads `{KEY}` as a mapping whose only key is the API key.
          name: 'a site key written in braces (a YAML mapping)',
          lines: ['  - name: shop', '    hosts: shop.example.com', `    api_key: {${SITE_SECRET}}`],
        },
        {
          name: 'a site key beside a key file',
          lines: [
            '  - name: shop',
            '    hosts: shop.example.com',
            `    api_key: ${SITE_SECRET}`,
            '    api_key_file: /nonexistent/cheq-site-key',
          ],
        },
        {
          name: 'a misspelt key setting holding the key',
          lines: ['  - name: shop', '    hosts: shop.example.com', `    api_key_: ${SITE_SECRET}`],
        },
        {
          name: 'a site key and an invalid name',
          lines: ['  - name: Shop', '    hosts: shop.example.com', `    api_key: ${SITE_SECRET}`],
        },
        {
          name: 'a site key and bad policy rules',
          lines: [
            '  - name: shop',
            '    hosts: shop.example.com',
            `    api_key: ${SITE_SECRET}`,
            '    policy_rules: [{ action: maybe }]',
          ],
        },
      ];

      for (const c of LEAK_CASES) {
        it(`keeps both keys out of the message for ${c.name}`, () => {
          const err = configErrorOf(yamlFile('sites:', ...c.lines));
          for (const secret of [TOP_SECRET, SITE_SECRET]) {
            assert.equal(err.message.includes(secret), false, err.message);
            assert.equal(err.problems.join('\n').includes(secret), false, err.message);
          }
        });
      }

      it('keeps the key read from a file out of the message', () => {
        const keyFile = tempFile('key', SITE_SECRET);
        const err = configErrorOf(
          yamlFile(
            'sites:',
            '  - name: shop',
            '    hosts: shop.example.com',
            `    api_key_file: ${keyFile}`,
            '    enforce_percent: 101',
          ),
        );
        assertProblem(err, 'sites[1] shop', /enforce_percent/);
        assert.equal(err.message.includes(SITE_SECRET), false, err.message);
      });
    });
  });
});
