// Tuning knobs live under `advanced:` in the config file (issue #21), keep their CHEQ_ variables
// and have no flag of their own. The old top-level keys and flags still work, each with one warning
// naming the new place.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderConfigReference } from '../../../src/config/config-reference';
import { ConfigError, loadConfig, type AppConfig } from '../../../src/config/load-config';
import { schema, type SettingName, type SettingSpec } from '../../../src/config/schema';
import { otherSettingValue } from '../../helpers/other-setting-value';

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: 'key-1',
  CHEQ_TAG_HASH: 'tag-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

describe('loadConfig: the advanced block', () => {
  let dir: string;
  let count = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cheq-rti-authz-advanced-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function fileWith(text: string, ext = 'yaml'): string {
    const file = join(dir, `config-${++count}.${ext}`);
    writeFileSync(file, text);
    return file;
  }

  function load(text: string, env: Record<string, string> = {}): AppConfig {
    return loadConfig({ env: { ...REQUIRED, CHEQ_CONFIG_FILE: fileWith(text), ...env }, args: [] });
  }

  function problemsOf(text: string): readonly string[] {
    try {
      load(text);
    } catch (err: unknown) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems;
    }
    assert.fail('expected a ConfigError');
  }

  it('reads tuning knobs under advanced:, without a warning', () => {
    const config = load(
      'mode: blocking\nadvanced:\n  rti_preconnect: 2\n  rti_circuit_breaker: false\n  warmup_checks: 0\n',
    );
    assert.equal(config.core.mode, 'blocking');
    assert.equal(config.rti.preconnect, 2);
    assert.equal(config.rti.circuit, undefined);
    assert.equal(config.server.warmupChecks, 0);
    assert.deepEqual(config.warnings, []);
  });

  it('reads them as JSON too, text coerced as from the environment', () => {
    const file = fileWith(JSON.stringify({ advanced: { deadline_margin_ms: '25' } }), 'json');
    const config = loadConfig({ env: { ...REQUIRED, CHEQ_CONFIG_FILE: file }, args: [] });
    assert.equal(config.core.deadlineMarginMs, 25);
  });

  it('still reads one at the top level, with one warning naming advanced.<key>', () => {
    const config = load('rti_preconnect: 3\n');
    assert.equal(config.rti.preconnect, 3);
    assert.equal(config.warnings.length, 1);
    assert.match(
      config.warnings[0] ?? '',
      /rti_preconnect belongs under advanced: \(advanced\.rti_preconnect\)/,
    );
  });

  it('uses advanced.<key> when both are given, warning about the top-level one', () => {
    const config = load('rti_preconnect: 3\nadvanced:\n  rti_preconnect: 5\n');
    assert.equal(config.rti.preconnect, 5);
    assert.equal(config.warnings.length, 1);
    assert.match(
      config.warnings[0] ?? '',
      /set both at the top level and under advanced: advanced\.rti_preconnect is used/,
    );
  });

  it('lets the environment win over the file, as for every setting', () => {
    assert.equal(
      load('advanced:\n  rti_preconnect: 5\n', { CHEQ_RTI_PRECONNECT: '7' }).rti.preconnect,
      7,
    );
  });

  describe('an old flag', () => {
    const ADVANCED = (Object.keys(schema) as SettingName[]).filter(key => {
      const spec: SettingSpec = schema[key];
      return spec.advanced === true;
    });

    for (const key of ADVANCED) {
      const flag = `--${key.replace(/_/g, '-')}`;
      it(`${flag} is read for now, with one warning naming where ${key} belongs`, () => {
        const spec: SettingSpec = schema[key];
        const value = otherSettingValue(key, {}, dir);
        const config = loadConfig({ env: REQUIRED, args: [flag, value] });
        assert.equal(String(config.effective[key]), value);
        assert.deepEqual(config.warnings, [
          `${flag}: ${key} is an advanced setting: the flag is read for now; ` +
            `use ${spec.env} (environment) or advanced.${key} in the config file`,
        ]);
      });
    }

    it('wins over the environment and the advanced block, as every flag does', () => {
      const config = loadConfig({
        env: {
          ...REQUIRED,
          CHEQ_CONFIG_FILE: fileWith('advanced:\n  rti_connections: 5\n'),
          CHEQ_RTI_CONNECTIONS: '7',
        },
        args: ['--rti-connections', '9'],
      });
      assert.equal(config.rti.connections, 9);
    });

    it('is checked like any value, naming the setting', () => {
      assert.throws(
        () => loadConfig({ env: REQUIRED, args: ['--rti-connections', 'many'] }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /^rti_connections \(CHEQ_RTI_CONNECTIONS\): must be/.test(err.problems[0] ?? ''),
      );
    });
  });

  it('accepts an empty advanced: block', () => {
    assert.equal(load('advanced:\n').rti.preconnect, schema.rti_preconnect.default);
  });

  it('refuses an everyday setting under advanced:, naming where it goes', () => {
    const [problem, ...rest] = problemsOf('advanced:\n  mode: blocking\n');
    assert.deepEqual(rest, []);
    assert.match(
      problem ?? '',
      /^config file .*: advanced\.mode: mode is not an advanced setting: set it at the top level$/,
    );
  });

  it('refuses a misspelt advanced setting, with a hint', () => {
    assert.match(
      problemsOf('advanced:\n  rti_prconnect: 2\n')[0] ?? '',
      /advanced\.rti_prconnect: not a setting \(did you mean rti_preconnect\?\)$/,
    );
  });

  it('refuses an advanced: that is not a mapping', () => {
    assert.match(
      problemsOf('advanced: 5\n')[0] ?? '',
      /advanced: must be a mapping of advanced settings/,
    );
  });

  it('validates an advanced value like any other, naming its variable', () => {
    assert.match(
      problemsOf('advanced:\n  rti_circuit_failure_ratio: 2\n')[0] ?? '',
      /^rti_circuit_failure_ratio \(CHEQ_RTI_CIRCUIT_FAILURE_RATIO\): must be a number greater than 0 and at most 1/,
    );
  });
});

describe('renderConfigReference: everyday settings first, advanced ones apart', () => {
  const reference = renderConfigReference();
  const [everyday = '', advanced = ''] = reference.split(/^Advanced settings:/m);

  it('lists each setting in exactly one table', () => {
    for (const [key, spec] of Object.entries(schema)) {
      const row = `| \`${key}\` |`;
      const [inTable, notInTable] =
        'advanced' in spec ? [advanced, everyday] : [everyday, advanced];
      assert.ok(inTable.includes(row), `${key} in its table`);
      assert.ok(!notInTable.includes(row), `${key} not in the other table`);
    }
  });

  it('shows the old variable name beside the new one', () => {
    assert.ok(
      everyday.includes(
        '| `grpc_port` | `CHEQ_GRPC_PORT` (old name `GRPC_PORT`) | `--grpc-port` |',
      ),
    );
  });
});
