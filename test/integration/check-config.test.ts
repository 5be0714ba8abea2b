// `cheq-rti-authz check-config` as an operator (or a CI pipeline) runs it: the built bin, a real
// config file with sites, exit status 0 or 2, secrets never printed, and its warnings.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMain } from '../helpers/server-process';

const KEY = 'TOP-SECRET-KEY-4711';
const SITE_KEY = 'SITE-SECRET-KEY-0815';

describe('check-config command (integration)', function () {
  this.timeout(20_000);
  let tmp: string;

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'cheq-check-config-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  function file(name: string, text: string): string {
    const path = join(tmp, name);
    writeFileSync(path, text);
    return path;
  }

  const VALID = [
    `api_key: ${KEY}`,
    'api_endpoint: https://rti-global.cheqzone.com',
    'tag_hash: top-tag',
    'mode: blocking',
    'uri_exclusion: [/healthz]',
    'sites:',
    '  - name: shop',
    '    hosts: [shop.example.com, "*.shop.example.com"]',
    '    tag_hash: shop-tag',
    `    api_key: ${SITE_KEY}`,
    '    timeout_ms: 300',
    '    uri_exclusion: [/static/.*]',
    '    ignore_paths: []',
    '  - name: blog',
    '    hosts: [blog.example.org]',
    '    tag_hash: blog-tag',
    '    mode: monitoring',
    '    api_version: v4',
    '',
  ].join('\n');

  it('prints the effective settings per site, keys redacted, and exits 0', async () => {
    const { code, stdout, stderr } = await runMain([
      'check-config',
      '--config',
      file('ok.yaml', VALID),
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^cheq-rti-authz check-config: configuration valid \(hash [0-9a-f]{12}\)/);
    assert.match(stdout, /\nsite default \(requests no other site matches\)\n/);
    assert.match(stdout, /\nsite shop \(hosts: shop\.example\.com, \*\.shop\.example\.com\)\n/);
    // What each site inherits and what it sets itself.
    const section = (name: string): string =>
      stdout.split(`\nsite ${name} `)[1]?.split('\n\n')[0] ?? '';
    assert.match(section('shop'), /\n {2}timeout_ms +300\n/);
    assert.match(section('shop'), /\n {2}mode +blocking\n/);
    assert.match(section('blog'), /\n {2}mode +monitoring\n/);
    assert.match(section('blog'), /\n {2}api_version +v4\n/);
    assert.match(section('blog'), /\n {2}timeout_ms +100\n/);
    assert.match(section('shop'), /\n {2}api_key +<redacted>\n/);
    // The default ignore list is shown where it applies, and a site's own (empty) list.
    assert.match(section('blog'), /\n {2}ignore_paths +.*\/robots\.txt.*\/healthz/);
    assert.match(section('shop'), /\n {2}ignore_paths +\(empty\)\n/);
    assert.equal(stdout.includes(KEY) || stdout.includes(SITE_KEY), false, 'no key printed');
  });

  it('warns about blocking without a health-check exclusion and proxy timeouts below ours', async () => {
    const nginx = file('nginx.conf', 'location = /_cheq_authz {\n  proxy_read_timeout 200ms;\n}\n');
    const { code, stdout } = await runMain([
      'check-config',
      '--config',
      file('warn.yaml', VALID),
      '--proxy-config',
      nginx,
    ]);
    assert.equal(code, 0, 'warnings do not fail the check');
    const warnings = stdout.split('\nwarnings:\n')[1] ?? '';
    // The shop excludes only /static/.* and ignores nothing: its health checks would be screened.
    assert.match(
      warnings,
      /site shop: blocking with no uri_exclusion or ignore_paths entry for health checks/,
    );
    assert.doesNotMatch(warnings, /site default: blocking with no uri_exclusion/);
    assert.doesNotMatch(warnings, /site blog: blocking/, 'monitoring never blocks');
    // 200 ms < the shop's 300 + 10; the others' 100 + 10 fit.
    assert.match(
      warnings,
      /site shop: .*nginx\.conf: proxy_read_timeout 200 ms is below timeout_ms 300 \+ deadline_margin_ms 10/,
    );
    assert.doesNotMatch(warnings, /site (default|blog): .*proxy_read_timeout/);
    assert.match(
      stdout,
      /proxy timeouts compared:\n {2}.*nginx\.conf: proxy_read_timeout 200 ms\n/,
    );
  });

  it('compares with the shipped Envoy, Istio and NGINX files by default', async () => {
    const { stdout } = await runMain(['check-config', '--config', file('default.yaml', VALID)]);
    for (const shipped of [
      'deploy/envoy/envoy.yaml',
      'deploy/istio/extension-providers.yaml',
      'deploy/nginx/cheq-authz.conf',
    ]) {
      assert.ok(stdout.includes(`  ${shipped}: `), shipped);
    }
    // The shipped 250 ms is below the shop's 300 ms budget.
    assert.match(
      stdout,
      /site shop: deploy\/envoy\/envoy\.yaml: ext_authz grpc_service timeout 250 ms is below/,
    );
  });

  it('exits 2 on an invalid configuration, naming the site and the setting', async () => {
    const bad = VALID.replace('    timeout_ms: 300', '    timeout_ms: soon').replace(
      '    api_version: v4',
      '    api_version: v4\n    grpc_port: 9100',
    );
    const { code, stdout, stderr } = await runMain([
      'check-config',
      '--config',
      file('bad.yaml', bad),
    ]);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /sites\[1\] shop: timeout_ms: must be an integer/);
    assert.match(
      stderr,
      /sites\[2\] blog: grpc_port is a process setting, set at the top level only/,
    );
    assert.equal(stderr.includes(KEY) || stderr.includes(SITE_KEY), false);
  });

  it('warns about a uri_exclusion entry that matches below any path, naming site and entry', async () => {
    const suffix = VALID.replace(
      '    uri_exclusion: [/static/.*]',
      "    uri_exclusion: ['.*\\.css']",
    );
    const { code, stdout } = await runMain(['check-config', '--config', file('sfx.yaml', suffix)]);
    assert.equal(code, 0);
    const warnings = stdout.split('\nwarnings:\n')[1] ?? '';
    assert.match(warnings, /site shop: uri_exclusion entry "\.\*\\\\\.css" matches below any path/);
    assert.doesNotMatch(warnings, /site default: uri_exclusion/, '/healthz is exact');
  });

  it('warns the same about an ignore_paths entry of the operator, never about the defaults', async () => {
    const { code, stdout } = await runMain(['check-config', '--config', file('ign.yaml', VALID)]);
    assert.equal(code, 0);
    assert.doesNotMatch(stdout, /ignore_paths entry "/, 'the default list is anchored');
    const own = VALID.replace(
      '    ignore_paths: []',
      "    ignore_paths: ['/robots.txt', '.*\\.png']",
    );
    const warned = await runMain(['check-config', '--config', file('ign2.yaml', own)]);
    const warnings = warned.stdout.split('\nwarnings:\n')[1] ?? '';
    assert.match(warnings, /site shop: ignore_paths entry "\.\*\\\\\.png" matches below any path/);
    assert.doesNotMatch(warnings, /ignore_paths entry "\/robots\.txt"/);
  });

  it('exits 2 on a pattern RE2 cannot match in linear time, naming setting and pattern', async () => {
    const { code, stderr } = await runMain([
      'check-config',
      '--config',
      file('lookahead.yaml', VALID),
      '--uri-exclusion',
      '/(?!checkout).*',
    ]);
    assert.equal(code, 2);
    assert.match(
      stderr,
      /uri_exclusion \(CHEQ_URI_EXCLUSION\): invalid regular expression "\/\(\?!checkout\)\.\*" \(RE2 syntax/,
    );
  });

  it('checks the environment and flags too, as the server would read them', async () => {
    const { code, stderr } = await runMain(
      ['check-config', '--config', file('env.yaml', VALID), '--mode', 'sometimes'],
      { CHEQ_TIMEOUT_MS: '50' },
    );
    assert.equal(code, 2);
    assert.match(stderr, /mode \(CHEQ_MODE\): must be one of/);
  });

  it('exits 2 on a redis_url whose password has a malformed %-escape, never printing it', async () => {
    const password = 'Redis-S3cret%zz';
    const { code, stdout, stderr } = await runMain(
      ['check-config', '--config', file('redis.yaml', VALID)],
      { CHEQ_REDIS_URL: `redis://cheq:${password}@redis.internal:6379` },
    );
    assert.equal(code, 2, stderr);
    assert.equal(stdout, '');
    assert.match(
      stderr,
      /redis_url \(CHEQ_REDIS_URL\): holds a user or password that is not valid/,
    );
    assert.equal(stderr.includes('URIError') || stderr.includes('S3cret'), false, stderr);
  });
});
