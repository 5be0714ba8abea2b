// Many sites in one deployment, end to end over a real gRPC socket: which site a request
// belongs to (host, wildcard, cheq_site, none), what each site sends RTI (its own key, tag hash,
// endpoint, API generation), its own policy, and the site label on /metrics.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decisionHeader } from '../helpers/check-response';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, isV4Call, v4Verdict, verdict } from '../helpers/fake-rti-server';
import {
  metricValue,
  startService,
  TEST_API_KEY,
  type TestService,
} from '../helpers/start-service';

describe('sites (integration)', function () {
  this.timeout(20_000);
  let tmp: string;
  let shopRti: FakeRti;
  let blogRti: FakeRti;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'cheq-sites-'));
    shopRti = await FakeRti.start();
    blogRti = await FakeRti.start();
    // Every visitor is a scraper, so that each site's policy shows in its answer.
    shopRti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
    blogRti.behaviour = () =>
      v4Verdict({ decision: { verdict: 'malicious' }, classification: { code: 2 } });
  });
  after(async () => {
    await shopRti.close();
    await blogRti.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  beforeEach(() => {
    shopRti.calls.length = 0;
    blogRti.calls.length = 0;
  });

  function configFile(name: string, text: string): string {
    const file = join(tmp, name);
    writeFileSync(file, text);
    return file;
  }

  describe('with a top level and two sites', () => {
    let service: TestService;

    before(async () => {
      const keyFile = configFile('blog-key', 'blog-key-2\n');
      const file = configFile(
        'sites.yaml',
        [
          'mode: monitoring',
          'sites:',
          '  - name: shop',
          '    hosts: [shop.example.com, "*.shop.example.com"]',
          '    tag_hash: shop-tag',
          '    api_key: shop-key-1',
          '    mode: blocking',
          '    uri_exclusion: [/healthz]',
          '  - name: blog',
          '    hosts: [blog.example.org]',
          `    api_endpoint: ${blogRti.url}`,
          '    api_version: v4',
          '    tag_hash: blog-tag',
          `    api_key_file: ${keyFile}`,
          '    mode: blocking',
          '    redirect_url: https://blog.example.org/blocked',
          '',
        ].join('\n'),
      );
      service = await startService(shopRti.url, {}, { args: ['--config', file] });
    });
    after(async () => {
      await service?.close();
    });

    it('routes by exact host: the shop blocks with its own key and tag hash', async () => {
      const response = await service.check(
        envoyCheckRequest({ url: 'https://shop.example.com/cart' }),
      );
      assert.equal(response.denied_response?.status?.code, 403);
      assert.equal(shopRti.calls.length, 1);
      assert.equal(shopRti.calls[0]!.form.get('ApiKey'), 'shop-key-1');
      assert.equal(shopRti.calls[0]!.form.get('TagHash'), 'shop-tag');
      assert.equal(blogRti.calls.length, 0);
    });

    it('routes by wildcard host (any subdomain, and the port does not matter)', async () => {
      const response = await service.check(
        envoyCheckRequest({ url: 'https://eu.shop.example.com:8443/' }),
      );
      assert.equal(response.denied_response?.status?.code, 403);
      assert.equal(shopRti.calls[0]!.form.get('TagHash'), 'shop-tag');
    });

    it('uses the site own exclusions', async () => {
      const response = await service.check(
        envoyCheckRequest({ url: 'https://shop.example.com/healthz' }),
      );
      assert.equal(decisionHeader(response), 'excluded');
      assert.equal(shopRti.calls.length, 0);
    });

    it('calls the site own endpoint in its own API generation, with the key from its key file', async () => {
      const response = await service.check(
        envoyCheckRequest({ url: 'https://blog.example.org/post/1' }),
      );
      assert.equal(response.denied_response?.status?.code, 302);
      assert.equal(
        response.denied_response?.headers?.find(h => h.header?.key === 'location')?.header?.value,
        'https://blog.example.org/blocked',
      );
      assert.equal(shopRti.calls.length, 0);
      const call = blogRti.calls[0]!;
      assert.ok(isV4Call(call));
      const body = call.json as { apiKey: string; tagHash: string };
      assert.deepEqual([body.apiKey, body.tagHash], ['blog-key-2', 'blog-tag']);
    });

    it('routes by context_extensions cheq_site, whatever the host', async () => {
      const response = await service.check(
        envoyCheckRequest({
          url: 'https://static.example.net/',
          contextExtensions: { cheq_site: 'blog' },
        }),
      );
      assert.equal(response.denied_response?.status?.code, 302);
      assert.equal(blogRti.calls.length, 1);
    });

    it('serves an unknown host with the top level (monitoring, its own key)', async () => {
      const response = await service.check(
        envoyCheckRequest({ url: 'https://other.example.com/' }),
      );
      assert.equal(decisionHeader(response), 'monitoring');
      assert.equal(shopRti.calls[0]!.form.get('TagHash'), 'test-tag-hash');
    });

    it('labels decisions, fail-opens and verdicts with the site', async () => {
      await service.check(envoyCheckRequest({ url: 'https://shop.example.com/' }));
      await service.check(envoyCheckRequest({ url: 'https://blog.example.org/' }));
      await service.check(envoyCheckRequest({ url: 'https://other.example.com/' }));
      const metrics = await service.metrics();
      const count = (labels: Record<string, string>): number =>
        metricValue(metrics, 'cheq_authz_decisions_total', { transport: 'grpc', ...labels });
      assert.ok(count({ action: 'deny', reason: 'threat_block', site: 'shop' }) >= 1);
      assert.ok(count({ action: 'redirect', reason: 'threat_block', site: 'blog' }) >= 1);
      assert.ok(count({ action: 'allow', reason: 'monitoring', site: 'default' }) >= 1);
      assert.ok(
        metricValue(metrics, 'cheq_authz_verdicts_total', {
          verdict: 'malicious',
          rule: 'default:malicious',
          site: 'blog',
        }) >= 1,
      );
      // Only configured names: an unknown host is counted as the top level's.
      assert.equal(metrics.includes('site="other.example.com"'), false);
    });
  });

  describe('with sites only (no top-level tag hash)', () => {
    let service: TestService;

    before(async () => {
      const file = configFile(
        'sites-only.yaml',
        [
          'tag_hash: ""',
          'mode: blocking',
          'sites:',
          '  - name: shop',
          '    hosts: [shop.example.com]',
          '    tag_hash: shop-tag',
          '',
        ].join('\n'),
      );
      service = await startService(
        shopRti.url,
        { CHEQ_TAG_HASH: '' },
        { args: ['--config', file] },
      );
    });
    after(async () => {
      await service?.close();
    });

    it('allows a request no site serves without calling RTI, and counts it', async () => {
      const response = await service.check(envoyCheckRequest({ url: 'https://nobody.example/' }));
      assert.equal(response.status?.code ?? 0, 0);
      assert.equal(decisionHeader(response), 'no_site');
      assert.equal(shopRti.calls.length, 0);
      const metrics = await service.metrics();
      assert.equal(
        metricValue(metrics, 'cheq_authz_decisions_total', {
          transport: 'grpc',
          action: 'allow',
          reason: 'no_site',
          site: 'none',
        }),
        1,
      );
    });

    it('serves its sites, which inherit the top-level key', async () => {
      const response = await service.check(envoyCheckRequest({ url: 'https://shop.example.com/' }));
      assert.equal(response.denied_response?.status?.code, 403);
      assert.equal(shopRti.calls[0]!.form.get('ApiKey'), TEST_API_KEY);
    });
  });
});
