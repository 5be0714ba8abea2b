// One prefix (issue #21): every variable is CHEQ_*. The old names (HOST, GRPC_PORT, WORKERS,
// LOG_LEVEL, CONFIG_FILE...) are still read, each with one warning line naming the new one; the
// new name wins when both are set; a value other software put under an old name gives a clear
// error naming both names; a Kubernetes service link is never read as a setting.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, type AppConfig } from '../../../src/config/load-config';
import { schema, type SettingName, type SettingSpec } from '../../../src/config/schema';
import { otherSettingValue } from '../../helpers/other-setting-value';
import { TestPki } from '../../helpers/test-certs';

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: 'key-1',
  CHEQ_TAG_HASH: 'tag-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

const RENAMED = (Object.entries(schema) as [SettingName, SettingSpec][]).filter(
  ([, spec]) => spec.legacyEnv !== undefined,
);

function load(env: Record<string, string>): AppConfig {
  return loadConfig({ env: { ...REQUIRED, ...env }, args: [] });
}

function configError(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (err: unknown) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig: old variable names', () => {
  it('reads an old name, with one warning line naming the new one', () => {
    const config = load({ GRPC_PORT: '9002' });
    assert.equal(config.server.grpcPort, 9002);
    assert.deepEqual(config.warnings, [
      'GRPC_PORT is the old name of CHEQ_GRPC_PORT: it is read for now; rename it',
    ]);
  });

  describe('every old name', () => {
    let pki: TestPki;
    let tlsEnv: Record<string, string>;

    before(() => {
      pki = TestPki.create();
      const server = pki.issue(pki.ca('ca'), 'server', 'server');
      tlsEnv = {
        CHEQ_GRPC_TLS_CERT_FILE: server.certFile,
        CHEQ_GRPC_TLS_KEY_FILE: server.keyFile,
        CHEQ_GRPC_TLS_CLIENT_CA_FILE: server.certFile,
      };
    });

    after(() => pki.remove());

    for (const [key, spec] of RENAMED) {
      it(`still reads ${spec.legacyEnv} as ${key}, warning once`, () => {
        // Not the default, so a loader that ignored the old name would fail here.
        const value = otherSettingValue(key, tlsEnv, pki.dir);
        const others = Object.entries(tlsEnv).filter(([name]) => name !== spec.env);
        const config = load({ ...Object.fromEntries(others), [spec.legacyEnv ?? '']: value });
        assert.notEqual(String(schema[key].default), value);
        assert.equal(String(config.effective[key]), value);
        assert.equal(config.warnings.length, 1);
        assert.ok(config.warnings[0]?.includes(spec.env), config.warnings[0]);
      });
    }
  });

  it('uses the new name when both are set, warning that the old one is to be removed', () => {
    const config = load({ LOG_LEVEL: 'debug', CHEQ_LOG_LEVEL: 'warn' });
    assert.equal(config.logLevel, 'warn');
    assert.deepEqual(config.warnings, [
      'LOG_LEVEL and CHEQ_LOG_LEVEL are both set: CHEQ_LOG_LEVEL is used; LOG_LEVEL is its old name, remove it',
    ]);
  });

  it('names the flag, not the old variable, for a bad value a flag gave', () => {
    const err = (() => {
      try {
        loadConfig({ env: { ...REQUIRED, GRPC_PORT: '9002' }, args: ['--grpc-port', 'x'] });
      } catch (e: unknown) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ConfigError);
    assert.equal(err.details[0]?.legacyEnv, undefined);
    assert.match(err.problems[0] ?? '', /^grpc_port \(CHEQ_GRPC_PORT\): must be a TCP port number/);
  });

  it('uses the new name even when the old one holds something that is not a setting', () => {
    const config = load({ HTTP_PORT: 'http://10.0.0.1:8080', CHEQ_HTTP_PORT: '8081' });
    assert.equal(config.server.httpPort, 8081);
    assert.equal(config.warnings.length, 1);
  });

  describe('a value other software put under an old name', () => {
    const ODD: readonly [string, string, RegExp][] = [
      ['GRPC_PORT', 'grpc', /must be a TCP port number/],
      ['HTTP_PORT', 'http://proxy:3128', /must be a TCP port number/],
      ['WORKERS', 'lots', /must be auto or a whole number/],
      ['LOG_LEVEL', 'verbose', /must be one of the possible values/],
    ];
    for (const [name, value, why] of ODD) {
      it(`stops the start with a clear error naming ${name} and its new name (${name}=${value})`, () => {
        const err = configError({ [name]: value });
        const spec = Object.values(schema).find(s => 'legacyEnv' in s && s.legacyEnv === name);
        assert.ok(spec);
        assert.equal(err.details.length, 1);
        const [problem] = err.details;
        assert.equal(problem?.legacyEnv, name);
        assert.equal(problem?.env, spec.env);
        assert.match(problem?.message ?? '', why);
        assert.equal(
          err.problems[0],
          `${problem?.setting} (${name}, the old name of ${spec.env}): ${problem?.message}; ` +
            `if another program set ${name}, set ${spec.env}, which wins`,
        );
      });
    }
  });

  it("names the old variable in the TLS file checks after convict, as it names it in convict's", () => {
    const err = configError({
      GRPC_TLS_CERT_FILE: '/nonexistent',
      GRPC_TLS_KEY_FILE: '/nonexistent2',
    });
    assert.deepEqual(err.problems, [
      'grpc_tls_cert_file (GRPC_TLS_CERT_FILE, the old name of CHEQ_GRPC_TLS_CERT_FILE): ' +
        'cannot read /nonexistent (ENOENT); if another program set GRPC_TLS_CERT_FILE, ' +
        'set CHEQ_GRPC_TLS_CERT_FILE, which wins',
      'grpc_tls_key_file (GRPC_TLS_KEY_FILE, the old name of CHEQ_GRPC_TLS_KEY_FILE): ' +
        'cannot read /nonexistent2 (ENOENT); if another program set GRPC_TLS_KEY_FILE, ' +
        'set CHEQ_GRPC_TLS_KEY_FILE, which wins',
    ]);
  });

  it('names the old variables of both settings a pairing problem is about', () => {
    const pki = TestPki.create();
    try {
      const ca = pki.ca('ca');
      const one = pki.issue(ca, 'one', 'server');
      const other = pki.issue(ca, 'other', 'server');
      const err = configError({
        GRPC_TLS_CERT_FILE: one.certFile,
        GRPC_TLS_KEY_FILE: other.keyFile,
      });
      assert.equal(err.problems.length, 1, err.message);
      assert.match(
        err.problems[0] ?? '',
        /^grpc_tls_cert_file \(GRPC_TLS_CERT_FILE, the old name of CHEQ_GRPC_TLS_CERT_FILE\) and grpc_tls_key_file \(GRPC_TLS_KEY_FILE, the old name of CHEQ_GRPC_TLS_KEY_FILE\): the key in /,
      );
    } finally {
      pki.remove();
    }
  });

  describe('Kubernetes service links under old and new names', () => {
    it('never reads GRPC_PORT=tcp://… (a Service named grpc) as the port, and says nothing', () => {
      const config = load({
        GRPC_PORT: 'tcp://10.0.0.7:9001',
        HTTP_PORT: 'tcp://10.0.0.8:80',
        METRICS_PORT: 'tcp://[fd00::9]:9090',
      });
      assert.equal(config.server.grpcPort, schema.grpc_port.default);
      assert.equal(config.server.httpPort, schema.http_port.default);
      assert.equal(config.server.metricsPort, schema.metrics_port.default);
      assert.deepEqual(config.warnings, []);
    });

    it('never reads CHEQ_GRPC_PORT=tcp://… (a Service named cheq-grpc) as the port', () => {
      const config = load({
        CHEQ_GRPC_PORT: 'tcp://10.0.0.7:9001',
        CHEQ_GRPC_SERVICE_HOST: '10.0.0.7',
        CHEQ_GRPC_SERVICE_PORT: '9001',
        CHEQ_GRPC_PORT_9001_TCP: 'tcp://10.0.0.7:9001',
      });
      assert.equal(config.server.grpcPort, schema.grpc_port.default);
      assert.deepEqual(config.warnings, []);
    });

    it("reads the pod's own CHEQ_GRPC_PORT over a link of the same name", () => {
      // kubelet gives a variable the pod sets precedence over the link, so only a number arrives.
      assert.equal(load({ CHEQ_GRPC_PORT: '9005' }).server.grpcPort, 9005);
    });
  });

  describe('CONFIG_FILE', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'cheq-rti-authz-legacy-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('reads the file CONFIG_FILE names, warning once; CHEQ_CONFIG_FILE wins', () => {
      const old = join(dir, 'old.json');
      const current = join(dir, 'new.json');
      writeFileSync(old, JSON.stringify({ timeout_ms: 41 }));
      writeFileSync(current, JSON.stringify({ timeout_ms: 42 }));
      const fromOld = load({ CONFIG_FILE: old });
      assert.equal(fromOld.core.timeoutMs, 41);
      assert.deepEqual(fromOld.warnings, [
        'CONFIG_FILE is the old name of CHEQ_CONFIG_FILE: it is read for now; rename it',
      ]);
      const both = load({ CONFIG_FILE: old, CHEQ_CONFIG_FILE: current });
      assert.equal(both.core.timeoutMs, 42);
      assert.match(both.warnings[0] ?? '', /CONFIG_FILE and CHEQ_CONFIG_FILE are both set/);
    });
  });

  it('never throws anything but a ConfigError, whatever an old name holds', () => {
    const values = ['', 'tcp://10.0.0.1:99999', '-1', '0x10', '\u0000', 'x'.repeat(5000)];
    for (const [, spec] of RENAMED) {
      for (const value of values) {
        try {
          load({ [spec.legacyEnv ?? '']: value });
        } catch (err: unknown) {
          assert.ok(
            err instanceof ConfigError,
            `${spec.legacyEnv}=${JSON.stringify(value)}: ${String(err)}`,
          );
          // Each names its setting (a TLS file also its partner: a certificate needs its key).
          assert.ok(err.details.length > 0 && err.details.every(p => p.setting !== undefined));
        }
      }
    }
  });
});
