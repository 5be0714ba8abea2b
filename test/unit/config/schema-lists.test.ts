// The schema is the one description of a setting (issue #21): the site list, the restart-only
// list, the flags and the environment names all follow from it, and each one does what the
// schema says when a configuration is loaded or reloaded.

import { strict as assert } from 'node:assert';
import { restartOnlyChanges } from '../../../src/config/config-reloader';
import type { ConfigProblem } from '../../../src/config/config-error';
import { loadConfig, type AppConfig } from '../../../src/config/load-config';
import { schema, type SettingName, type SettingSpec } from '../../../src/config/schema';
import { RESTART_ONLY_SETTINGS, SITE_SETTINGS, specOf } from '../../../src/config/setting-lists';
import { readSites } from '../../../src/config/sites';
import { otherSettingValue } from '../../helpers/other-setting-value';
import { TestPki } from '../../helpers/test-certs';

const SETTINGS = Object.entries(schema) as [SettingName, SettingSpec][];

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: 'key-1',
  CHEQ_TAG_HASH: 'tag-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

describe('the schema: one description per setting', () => {
  it('names every variable CHEQ_ and the file key in upper case', () => {
    for (const [key, spec] of SETTINGS) assert.equal(spec.env, `CHEQ_${key.toUpperCase()}`, key);
  });

  it('keeps old variable names unique, unprefixed and apart from every CHEQ_ name', () => {
    const old = SETTINGS.flatMap(([, spec]) =>
      spec.legacyEnv === undefined ? [] : [spec.legacyEnv],
    );
    assert.equal(old.length, 17);
    assert.equal(new Set(old).size, old.length);
    for (const name of old) assert.ok(!name.startsWith('CHEQ_'), name);
  });

  it('gives every everyday setting but the secrets a flag spelt like its key, and advanced ones none', () => {
    for (const [key, spec] of SETTINGS) {
      // ps shows flags to every user of the host: secrets have none.
      const secret = key === 'api_key' || key.endsWith('_secret') || key.endsWith('_password');
      const expected = spec.advanced || secret ? undefined : key.replace(/_/g, '-');
      assert.equal(spec.arg, expected, key);
    }
  });

  it('keeps sites, restart-only and advanced settings process-wide: no site can set one', () => {
    for (const [key, spec] of SETTINGS) {
      if (spec.scope === 'site') {
        assert.equal(spec.applies, 'live', key);
        assert.ok(!spec.advanced, key);
      }
    }
    assert.equal(schema.sites.scope, 'process');
  });

  describe('site settings', () => {
    /** A value the setting's format accepts: its default, or text for the required ones. */
    const validValue = (key: SettingName): unknown =>
      key === 'api_endpoint'
        ? 'https://rti-eu-west-1.cheqzone.com'
        : schema[key].default === ''
          ? 'x'
          : schema[key].default;

    for (const key of SITE_SETTINGS) {
      it(`accepts ${key} in a site block (scope site)`, () => {
        const problems: ConfigProblem[] = [];
        const [site] = readSites([{ name: 'shop', [key]: validValue(key) }], problems);
        assert.deepEqual(problems, []);
        assert.ok(site && Object.hasOwn(site.overrides, key));
      });
    }

    for (const [key] of SETTINGS.filter(([, spec]) => spec.scope === 'process')) {
      it(`refuses ${key} in a site block, naming it a process setting`, () => {
        const problems: ConfigProblem[] = [];
        readSites([{ name: 'shop', [key]: schema[key].default }], problems);
        assert.deepEqual(problems, [
          {
            site: 'sites[1] shop',
            message: `${key} is a process setting, set at the top level only`,
          },
        ]);
      });
    }
  });

  describe('restart-only settings', () => {
    let pki: TestPki;
    let base: Record<string, string>;

    before(() => {
      pki = TestPki.create();
      const server = pki.issue(pki.ca('ca'), 'server', 'server');
      base = {
        ...REQUIRED,
        CHEQ_GRPC_TLS_CERT_FILE: server.certFile,
        CHEQ_GRPC_TLS_KEY_FILE: server.keyFile,
        CHEQ_GRPC_TLS_CLIENT_CA_FILE: server.certFile,
      };
    });

    after(() => pki.remove());

    function otherValue(key: SettingName): string {
      return otherSettingValue(key, base, pki.dir);
    }

    function load(env: Record<string, string>): AppConfig {
      return loadConfig({ env, args: [] });
    }

    it('are exactly the schema entries that apply on restart', () => {
      assert.deepEqual(
        RESTART_ONLY_SETTINGS,
        SETTINGS.filter(([, spec]) => spec.applies === 'restart').map(([key]) => key),
      );
      assert.ok(RESTART_ONLY_SETTINGS.length > 20);
    });

    for (const [key, spec] of SETTINGS.filter(([, s]) => s.applies === 'restart')) {
      it(`a reload that changes ${key} needs a restart`, () => {
        const before = load(base);
        const after = load({ ...base, [spec.env]: otherValue(key) });
        assert.deepEqual(restartOnlyChanges(before, after), [key]);
      });
    }

    it('name as the switch of a feature a restart-only flag or file setting', () => {
      for (const [key, spec] of SETTINGS.filter(([, s]) => s.while !== undefined)) {
        const feature = specOf(spec.while ?? '');
        assert.ok(feature, `${key}: while names no setting`);
        assert.equal(feature.applies, 'restart', key);
        assert.ok(feature.default === false || feature.default === true || feature.default === '');
      }
    });

    for (const [key, spec] of SETTINGS.filter(([, s]) => s.while !== undefined)) {
      const feature = schema[spec.while as SettingName];
      /** The feature's switch off: the breaker false, no TLS files at all. */
      const off = (env: Record<string, string>): Record<string, string> =>
        typeof feature.default === 'boolean'
          ? { ...env, [feature.env]: 'false' }
          : Object.fromEntries(Object.entries(env).filter(([name]) => !/_TLS_.*_FILE$/.test(name)));

      // The other TLS files cannot be set without the certificate: nothing to change while off.
      if (!key.endsWith('_file')) {
        it(`a reload that changes ${key} while ${spec.while} is off applies (unused)`, () => {
          const before = load(off(base));
          const after = load(off({ ...base, [spec.env]: otherValue(key) }));
          assert.notDeepEqual(after.effective[key], before.effective[key]);
          assert.deepEqual(restartOnlyChanges(before, after), []);
        });
      }

      it(`a reload that switches ${spec.while} on and changes ${key} needs a restart`, () => {
        const after = load({ ...base, [spec.env]: otherValue(key) });
        const changes = restartOnlyChanges(load(off(base)), after);
        assert.ok(changes.includes(key) && changes.includes(spec.while ?? ''), String(changes));
      });
    }

    for (const [key, spec] of SETTINGS.filter(
      ([name, s]) => s.applies === 'live' && s.scope === 'process' && name !== 'sites',
    )) {
      it(`a reload that changes ${key} applies live`, () => {
        const value: unknown = spec.default;
        const other =
          typeof value === 'boolean'
            ? String(!value)
            : typeof value === 'number'
              ? String(value + 1)
              : key === 'trusted_proxies'
                ? '10.1.0.0/16'
                : key.endsWith('_secret')
                  ? 's'.repeat(32)
                  : key.endsWith('_secret_file')
                    ? (base['CHEQ_GRPC_TLS_CERT_FILE'] ?? '')
                    : 'x-other';
        // A previous secret verifies only beside a current one.
        const before = key.startsWith('challenge_previous_')
          ? { ...base, CHEQ_CHALLENGE_SECRET: 'c'.repeat(32) }
          : base;
        const after = load({ ...before, [spec.env]: other });
        assert.notDeepEqual(after.effective[key], load(before).effective[key]);
        assert.deepEqual(restartOnlyChanges(load(before), after), []);
      });
    }
  });
});
