// Convict is the configuration engine: its schema is derived from ours, so every setting's variable
// and flag reach it by the schema's own names; it coerces, applies defaults, runs our validators
// and is strict about keys. Problems are our validators' own words, recorded as values.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convictSettings, type ConvictSources } from '../../../src/config/convict-settings';
import { ConfigError, loadConfig, type ConfigSources } from '../../../src/config/load-config';
import { schema, type SettingName, type SettingSpec } from '../../../src/config/schema';
import { isListFlag } from '../../../src/config/unknown-settings';

const SETTINGS = Object.entries(schema) as [SettingName, SettingSpec][];

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: 'key-1',
  CHEQ_TAG_HASH: 'tag-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

/** Every setting (unless given), with the one setting whose default is not valid set. */
function read(sources: Partial<ConvictSources>): ReturnType<typeof convictSettings> {
  return convictSettings({
    settings: SETTINGS.map(([key]) => key),
    args: [],
    file: {},
    ...sources,
    env: { CHEQ_API_ENDPOINT: REQUIRED['CHEQ_API_ENDPOINT'] ?? '', ...sources.env },
  });
}

function problemsOf(sources: ConfigSources): readonly string[] {
  try {
    loadConfig(sources);
  } catch (err: unknown) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('convictSettings: convict reads, our validators judge', () => {
  // No default prints as 7, so a setting reads 7 only if convict took it from that source.
  for (const [key, spec] of SETTINGS) {
    it(`reads ${key} from ${spec.env}${spec.arg ? ` and --${spec.arg}` : ''}`, () => {
      assert.equal(
        String(read({ settings: [key], env: { [spec.env]: '7' } }).settings?.[key]),
        '7',
      );
      if (spec.arg === undefined) return;
      const fromFlag = read({
        settings: [key],
        env: { [spec.env]: '8' },
        args: [`--${spec.arg}`, '7'],
      });
      assert.equal(String(fromFlag.settings?.[key]), '7');
    });
  }

  it('applies defaults < file < environment < flags, coercing text by the format', () => {
    const { settings, failures, refused } = read({
      file: { timeout_ms: 41, verdict_headers: 'off', advanced: { rti_preconnect: '2' } },
      env: { CHEQ_TIMEOUT_MS: '42', CHEQ_BLOCK_REDIRECT_CODES: ' 2, 3 ' },
      args: ['--timeout-ms', '43'],
    });
    assert.deepEqual(failures, []);
    assert.equal(refused, false);
    assert.equal(settings?.['timeout_ms'], 43);
    assert.equal(settings?.['verdict_headers'], false);
    assert.equal(settings?.['rti_preconnect'], 2);
    assert.deepEqual(settings?.['block_redirect_codes'], ['2', '3']);
    assert.equal(settings?.['mode'], schema.mode.default);
  });

  it('returns every setting in schema order, the advanced ones among the others', () => {
    assert.deepEqual(
      Object.keys(read({}).settings ?? {}),
      SETTINGS.map(([key]) => key),
    );
  });

  it("records our validator's message as the failure, never convict's wording of it", () => {
    const { failures, refused } = read({
      settings: ['timeout_ms', 'mode'],
      env: { CHEQ_TIMEOUT_MS: 'soon', CHEQ_MODE: 'block' },
    });
    assert.equal(refused, true);
    assert.deepEqual(failures, [
      {
        setting: 'timeout_ms',
        message: `must be an integer from 1 to ${2 ** 31 - 1}: value was "soon"`,
      },
      {
        setting: 'mode',
        message: 'must be one of the possible values: ["monitoring","blocking"]: value was "block"',
      },
    ]);
  });

  it('is strict: a key no setting declares is refused, though no validator failed', () => {
    const { failures, refused } = read({ file: { tiemout_ms: null, advanced: { mode: null } } });
    assert.deepEqual(failures, []);
    assert.equal(refused, true);
  });

  it('uses the defaults it is given (a site inherits the top level)', () => {
    const { settings } = read({ settings: ['timeout_ms', 'mode'], defaults: { timeout_ms: 55 } });
    assert.equal(settings?.['timeout_ms'], 55);
    assert.equal(settings?.['mode'], schema.mode.default);
  });

  it('never throws: a value convict cannot walk into leaves no settings, not an exception', () => {
    const outcome = read({ file: { timeout_ms: { a: { b: 1 } } } });
    assert.equal(outcome.settings, undefined);
    assert.equal(outcome.refused, true);
  });
});

describe('loadConfig on convict', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cheq-rti-authz-convict-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a flag given twice, which convict would read as "a,b"', () => {
    assert.deepEqual(
      problemsOf({
        env: REQUIRED,
        args: ['--tag-hash', 'a', '--mode=blocking', '--tag-hash', 'b'],
      }),
      ['--tag-hash: given more than once'],
    );
  });

  it('refuses a single-value flag given twice with that line only, not also the joined value', () => {
    assert.deepEqual(
      problemsOf({ env: REQUIRED, args: ['--timeout-ms', '2', '--timeout-ms', '3'] }),
      ['--timeout-ms: given more than once'],
    );
  });

  // Every comma-list flag: a repeat adds items, as at 1274a1a (yargs-parser and convict join them).
  const LIST_CASES: readonly [SettingName, string, string, readonly unknown[]][] = [
    ['uri_exclusion', '/a', '/b', ['/a', '/b']],
    ['ignore_paths', '/a', '/b', ['/a', '/b']],
    ['trusted_proxies', '10.0.0.1', '10.0.0.2/31', ['10.0.0.1', '10.0.0.2/31']],
    ['block_redirect_codes', '2', '3', ['2', '3']],
    ['challenge_codes', '4', '5', ['4', '5']],
    ['redirect_codes', '20', '21', ['20', '21']],
    ['block_reasons', '101', '102', ['101', '102']],
    ['challenge_reasons', '103', '104', ['103', '104']],
    ['redirect_reasons', '105', '106', ['105', '106']],
    ['ignored_header_names', 'x-a', 'x-b', ['x-a', 'x-b']],
  ];
  for (const [key, first, second, expected] of LIST_CASES) {
    const flag = `--${key.replace(/_/g, '-')}`;
    it(`reads ${flag} given twice as one list of both`, () => {
      const config = loadConfig({ env: REQUIRED, args: [flag, first, `${flag}=${second}`] });
      const effective =
        schema[key].scope === 'site' ? config.defaultSite?.effective : config.effective;
      assert.deepEqual(effective?.[key], expected);
    });
  }

  it('has a repeat case for every comma-list flag', () => {
    const lists = SETTINGS.filter(([, spec]) => spec.arg !== undefined && isListFlag(spec.arg)).map(
      ([key]) => key,
    );
    assert.deepEqual([...lists].sort(), LIST_CASES.map(([key]) => key).sort());
  });

  it('refuses a YAML alias that holds itself with a clear problem, not a TypeError', () => {
    const file = join(dir, 'alias.yaml');
    writeFileSync(file, 'sites: &a\n  - *a\n');
    assert.deepEqual(problemsOf({ env: { ...REQUIRED, CHEQ_CONFIG_FILE: file }, args: [] }), [
      'sites (CHEQ_SITES): must not refer to itself (a YAML alias inside its own anchor)',
    ]);
  });

  it('ignores a file value a variable replaces, even one convict could not take', () => {
    const file = join(dir, 'replaced.yaml');
    writeFileSync(file, 'tag_hash:\n  nested:\n    deeper: 1\n');
    const config = loadConfig({ env: { ...REQUIRED, CHEQ_CONFIG_FILE: file }, args: [] });
    assert.equal(config.rti.tagHash, 'tag-1');
  });

  it('reads an old variable name through convict, and names it in the problem', () => {
    assert.deepEqual(problemsOf({ env: { ...REQUIRED, WORKERS: 'lots' }, args: [] }), [
      'workers (WORKERS, the old name of CHEQ_WORKERS): must be auto or a whole number of ' +
        'processes from 1 to 256: value was "lots"; if another program set WORKERS, set ' +
        'CHEQ_WORKERS, which wins',
    ]);
  });
});
