// The redis_* settings: the URL taken apart (no URL with a password kept), the password inline or
// from its file (never both, never in a message), the TLS files only with rediss://.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, type AppConfig } from '../../../src/config/load-config';
import { TestPki } from '../../helpers/test-certs';

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: 'key-1',
  CHEQ_TAG_HASH: 'tag-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};
const SECRET = 'Redis-S3cret-Pass';

function load(env: Record<string, string>): AppConfig {
  return loadConfig({ env: { ...REQUIRED, ...env }, args: [] });
}

function problemsOf(env: Record<string, string>): string {
  try {
    load(env);
  } catch (err: unknown) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  assert.fail('the configuration was accepted');
}

describe('loadConfig: redis_* (the verdict memory shared through Redis)', () => {
  let pki: TestPki;
  let dir: string;
  before(() => {
    pki = TestPki.create();
    dir = mkdtempSync(join(tmpdir(), 'cheq-redis-config-'));
  });
  after(() => {
    pki.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shares nothing without redis_url', () => {
    assert.equal(load({}).redis, undefined);
  });

  it('takes the URL apart: host, port, database, user and password', () => {
    const { redis } = load({ CHEQ_REDIS_URL: `redis://cheq:${SECRET}@redis.internal:6380/2` });
    assert.deepEqual(redis, {
      host: 'redis.internal',
      port: 6380,
      database: 2,
      username: 'cheq',
      password: SECRET,
      tls: undefined,
      stream: 'cheq-rti-authz:verdict-memory',
    });
    const v6 = load({ CHEQ_REDIS_URL: 'redis://[::1]', CHEQ_REDIS_STREAM: 'a:b' }).redis;
    assert.equal(v6?.host, '::1');
    assert.equal(v6?.port, 6379);
    assert.equal(v6?.stream, 'a:b');
  });

  it('reads the password from redis_password_file', () => {
    const file = join(dir, 'password');
    writeFileSync(file, `${SECRET}\n`);
    const config = load({ CHEQ_REDIS_URL: 'redis://r', CHEQ_REDIS_PASSWORD_FILE: file });
    assert.equal(config.redis?.password, SECRET);
    assert.equal(config.effective['redis_password'], '');
  });

  for (const [what, env, pattern] of [
    [
      'another scheme',
      { CHEQ_REDIS_URL: `http://u:${SECRET}@r:6379` },
      /redis_url \(CHEQ_REDIS_URL\): must be a redis:\/\/ or rediss:\/\//,
    ],
    ['no host', { CHEQ_REDIS_URL: 'redis://' }, /redis_url \(CHEQ_REDIS_URL\)/],
    ['a query', { CHEQ_REDIS_URL: `redis://r?password=${SECRET}` }, /must not have a query/],
    ['a path', { CHEQ_REDIS_URL: 'redis://r/x' }, /database number/],
    [
      'two passwords',
      { CHEQ_REDIS_URL: `redis://:${SECRET}@r`, CHEQ_REDIS_PASSWORD: SECRET },
      /set only one/,
    ],
    [
      'a malformed %-escape in the password',
      { CHEQ_REDIS_URL: `redis://cheq:${SECRET}%zz@r` },
      /redis_url \(CHEQ_REDIS_URL\): holds a user or password that is not valid percent-encoding/,
    ],
    [
      'a %-escape that decodes to no UTF-8 in the user',
      { CHEQ_REDIS_URL: `redis://%C3${SECRET}:p@r` },
      /redis_url \(CHEQ_REDIS_URL\): holds a user or password that is not valid percent-encoding/,
    ],
    [
      'TLS files with redis://',
      { CHEQ_REDIS_URL: 'redis://r', CHEQ_REDIS_TLS_CA_FILE: '/etc/hosts' },
      /redis_tls_ca_file \(CHEQ_REDIS_TLS_CA_FILE\): needs a rediss:\/\//,
    ],
    [
      'an unreadable CA',
      { CHEQ_REDIS_URL: 'rediss://r', CHEQ_REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' },
      /cannot read \/nonexistent\/ca\.pem \(ENOENT\)/,
    ],
    [
      'a stream key with spaces',
      { CHEQ_REDIS_STREAM: 'a b' },
      /redis_stream \(CHEQ_REDIS_STREAM\)/,
    ],
  ] as const) {
    it(`refuses ${what}, naming the setting, never the password`, () => {
      const message = problemsOf(env);
      assert.match(message, pattern);
      assert.ok(!message.includes(SECRET), message);
    });
  }

  it('reads the TLS files of rediss://, and refuses a certificate without its key', () => {
    const ca = pki.ca('redis-ca');
    const client = pki.issue(ca, 'redis-client', 'client');
    const { redis } = load({
      CHEQ_REDIS_URL: 'rediss://r',
      CHEQ_REDIS_TLS_CA_FILE: ca.certFile,
      CHEQ_REDIS_TLS_CERT_FILE: client.certFile,
      CHEQ_REDIS_TLS_KEY_FILE: client.keyFile,
    });
    assert.deepEqual(redis?.tls, { ca: ca.cert, cert: client.cert, key: client.key });
    assert.deepEqual(load({ CHEQ_REDIS_URL: 'rediss://r' }).redis?.tls, {
      ca: undefined,
      cert: undefined,
      key: undefined,
    });
    assert.match(
      problemsOf({ CHEQ_REDIS_URL: 'rediss://r', CHEQ_REDIS_TLS_CERT_FILE: client.certFile }),
      /redis_tls_key_file \(CHEQ_REDIS_TLS_KEY_FILE\).*must be set with the other/,
    );
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'not a certificate');
    assert.match(
      problemsOf({ CHEQ_REDIS_URL: 'rediss://r', CHEQ_REDIS_TLS_CA_FILE: notPem }),
      /redis_tls_ca_file \(CHEQ_REDIS_TLS_CA_FILE\): .*not.pem holds no PEM certificate/,
    );
  });
});
