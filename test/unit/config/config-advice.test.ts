import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configAdvice, durationMs, proxyTimeoutsOf } from '../../../src/config/config-advice';
import { loadConfig } from '../../../src/config/load-config';

const ROOT = join(__dirname, '..', '..', '..', '..');

describe('config advice: proxy timeouts', () => {
  it('reads durations the way Envoy, Istio and NGINX write them', () => {
    assert.equal(durationMs('0.25s'), 250);
    assert.equal(durationMs('250ms'), 250);
    assert.equal(durationMs('1m'), 60_000);
    assert.equal(durationMs('2'), 2000, 'NGINX: bare seconds');
    assert.equal(durationMs(' 0.1s '), 100);
    for (const bad of ['', 's', '1h', '-1s', 'fast', null, {}])
      assert.equal(durationMs(bad), undefined);
  });

  it('finds the ext_authz timeout of every shipped proxy file, and nothing else', () => {
    const found = (file: string) =>
      proxyTimeoutsOf(file, readFileSync(join(ROOT, file), 'utf8')).map(t => [t.setting, t.ms]);
    // Cluster connect and health-check timeouts are not a check's time limit.
    assert.deepEqual(found('deploy/envoy/envoy.yaml'), [['ext_authz grpc_service timeout', 250]]);
    assert.deepEqual(found('deploy/envoy/envoy-http.yaml'), [
      ['ext_authz http_service timeout', 250],
    ]);
    assert.deepEqual(found('deploy/istio/extension-providers.yaml'), [
      ['ext_authz envoyExtAuthzGrpc timeout', 250],
      ['ext_authz envoyExtAuthzHttp timeout', 250],
    ]);
    assert.deepEqual(found('deploy/nginx/cheq-authz.conf'), [['proxy_read_timeout', 250]]);
  });

  it('reads an operator file: several YAML documents, and NGINX in seconds', () => {
    const yaml = [
      'kind: A',
      '---',
      'typed_config: { grpc_service: { envoy_grpc: { cluster_name: x }, timeout: 0.05s } }',
    ].join('\n');
    assert.deepEqual(proxyTimeoutsOf('mine.yaml', yaml), [
      { file: 'mine.yaml', setting: 'ext_authz grpc_service timeout', ms: 50 },
    ]);
    assert.deepEqual(proxyTimeoutsOf('nginx.conf', 'location /a {\n  proxy_read_timeout 1;\n}\n'), [
      { file: 'nginx.conf', setting: 'proxy_read_timeout', ms: 1000 },
    ]);
    assert.deepEqual(proxyTimeoutsOf('broken.yaml', 'a: [\n'), []);
  });
});

describe('config advice: hosts no site serves', () => {
  const ENV = {
    CHEQ_API_KEY: 'k',
    CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
    CHEQ_SITES: JSON.stringify([{ name: 'shop', hosts: ['shop.example.com'], tag_hash: 't' }]),
  };
  const unserved = (env: Record<string, string>): string[] =>
    configAdvice(loadConfig({ env, args: [] }), []).filter(a => a.includes('host no site lists'));

  it('warns that a client-chosen Host escapes the sites when the top level serves none', () => {
    const [warning] = unserved(ENV);
    assert.match(warning ?? '', /allowed without asking RTI/);
    assert.match(warning ?? '', /default_server/);
  });

  it('says nothing when the top level has a tag hash and so checks every other host', () => {
    assert.deepEqual(unserved({ ...ENV, CHEQ_TAG_HASH: 'top' }), []);
  });
});

describe('config advice: policy settings that cannot act as written', () => {
  const REQUIRED = {
    CHEQ_API_KEY: 'k',
    CHEQ_TAG_HASH: 't',
    CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
  };
  const policyAdvice = (env: Record<string, string>): string[] =>
    configAdvice(loadConfig({ env: { ...REQUIRED, ...env }, args: [] }), []).filter(
      line => !line.includes('health checks'),
    );

  it('names what redirects when redirect_url is empty (those requests get 403)', () => {
    const rules = JSON.stringify([{ name: 'sorry', when: { codes: [9] }, action: 'redirect' }]);
    assert.deepEqual(
      policyAdvice({
        CHEQ_API_VERSION: 'v4',
        CHEQ_THREAT_CODES_REDIRECT: '21',
        CHEQ_REASONS_REDIRECT: '7',
        CHEQ_POLICY_RULES: rules,
      }),
      [
        'site default: redirect_codes, redirect_reasons, rule sorry choose the redirect action, ' +
          'but redirect_url is empty: those requests are denied with 403 instead',
      ],
    );
  });

  it('says nothing of a redirect action with a redirect_url', () => {
    assert.deepEqual(
      policyAdvice({
        CHEQ_REDIRECT_CODES: '21',
        CHEQ_REDIRECT_URL: '/sorry',
        CHEQ_API_VERSION: 'v4',
      }),
      [],
    );
  });

  it('names reason lists on api_version v1, whose answers carry no reasons', () => {
    assert.deepEqual(policyAdvice({ CHEQ_BLOCK_REASONS: '1', CHEQ_CHALLENGE_REASONS: '2' }), [
      'site default: block_reasons, challenge_reasons never match with api_version v1: its ' +
        'answers carry no reason codes (v4 cheqDetection.reasons)',
    ]);
    assert.deepEqual(
      policyAdvice({ CHEQ_BLOCK_REASONS: '1', CHEQ_API_VERSION: 'v4' }),
      [],
      'v4 answers carry reasons',
    );
  });
});
