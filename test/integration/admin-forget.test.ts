// The admin endpoint on the metrics port (issue #23): off without a token (404), a bearer token
// compared in constant time (401, and the token never logged), strict bodies (400, 4 KB cap), and
// a forget that removes exactly the visitor's keys from the real server's verdict memory.

import { strict as assert } from 'node:assert';
import { request } from 'undici';
import type { Visitor } from '../../src/core/block-memory';
import { servedSites } from '../../src/config/load-config';
import { memoryScope } from '../../src/core/memory-scope';
import { ipTag } from '../../src/memory/visitor-keys';
import { decisionHeader } from '../helpers/check-response';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { verdict } from '../helpers/fake-rti-server';
import { rtiPerSuite } from '../helpers/rti-per-test';
import { metricValue, startService } from '../helpers/start-service';

const TOKEN = 'admin-token-for-tests-0123456789abcdefXYZ';
const PATH = '/admin/verdict-memory/forget';
const UA = 'Mozilla/5.0 (compatible; ScrapeBot/2.1)';
const TTL_MS = 300_000;
const SITES = JSON.stringify([{ name: 'shop', hosts: ['shop.example'], tag_hash: 'shop-tag' }]);

describe('admin endpoint: POST /admin/verdict-memory/forget (integration)', function () {
  this.timeout(20_000);
  const ctx = rtiPerSuite();

  /** The scope a served site's blocks are remembered under (its name and policy). */
  function scopeOf(name: string): string {
    const site = servedSites(ctx.service!.config).find(s => s.name === name);
    assert.ok(site, name);
    return memoryScope(name, site.core);
  }

  /** A visitor of a served site (`default` unless `site` names another). */
  function visitor({ site = 'default', ...fields }: Partial<Visitor>): Visitor {
    return {
      clientIp: undefined,
      userAgent: undefined,
      duid: undefined,
      ...fields,
      site: scopeOf(site),
    };
  }

  async function post(
    body: string,
    headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
    method = 'POST',
  ): Promise<{ status: number; json: Record<string, unknown>; headers: Record<string, unknown> }> {
    const res = await request(`${ctx.service!.metricsUrl}${PATH}`, {
      method: method as 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: method === 'GET' ? undefined : body,
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {},
      headers: res.headers,
    };
  }

  it('is not found when no admin token is configured, whatever the method', async () => {
    ctx.service = await startService(ctx.rti.url);
    assert.equal((await post('{"all":true}')).status, 404);
    assert.equal((await post('', {}, 'GET')).status, 404);
  });

  describe('with an admin token', () => {
    beforeEach(async () => {
      ctx.service = await startService(ctx.rti.url, {
        CHEQ_ADMIN_TOKEN: TOKEN,
        CHEQ_SITES: SITES,
      });
    });

    it('refuses a missing, wrong or non-bearer token with 401, logging no token', async () => {
      const memory = ctx.service!.app.memory;
      memory.remember(visitor({ clientIp: '203.0.113.7', userAgent: UA }), TTL_MS);
      const refusals: Record<string, string>[] = [
        {},
        { authorization: `Bearer ${TOKEN.slice(0, -1)}x` },
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: 'Bearer' },
        { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
        { authorization: `${TOKEN}` },
      ];
      for (const headers of refusals) {
        const answer = await post('{"all":true}', headers);
        assert.equal(answer.status, 401, JSON.stringify(headers));
        assert.equal(answer.headers['www-authenticate'], 'Bearer');
      }
      assert.equal(memory.size, 1, 'nothing forgotten');
      const warned = ctx.service!.logs.filter(
        l => l['msg'] === 'admin endpoint: refused a request without a valid token',
      );
      assert.equal(warned.length, 1, 'one line per minute however many are refused');
      assert.equal(warned[0]!['peer'], '127.0.0.1');
      assert.ok(!JSON.stringify(ctx.service!.logs).includes(TOKEN.slice(0, 16)));
    });

    it('answers 405 to other methods', async () => {
      const answer = await post('', {}, 'GET');
      assert.equal(answer.status, 405);
      assert.equal(answer.headers['allow'], 'POST');
    });

    it('refuses bodies that are not a valid request with 400 and a reason', async () => {
      const cases: [string, string][] = [
        ['', 'the body must be a JSON object'],
        ['{"ip":', 'the body must be a JSON object'],
        ['[]', 'the body must be a JSON object'],
        ['{"ip":"not-an-ip"}', 'ip must be an IPv4 or IPv6 address'],
        ['{"ip":"203.0.113.7","duid":"x"}', 'give exactly one of ip, duid and all'],
        ['{"duid":"x","site":"blog"}', 'site names none of the served sites'],
        [`{"ip":"::1","user_agent":"${'u'.repeat(4100)}"}`, 'body larger than 4096 bytes'],
      ];
      for (const [body, error] of cases) {
        const answer = await post(body);
        assert.equal(answer.status, 400, body.slice(0, 40));
        assert.deepEqual(answer.json, { error }, body.slice(0, 40));
      }
    });

    it('stops reading a body past 4 KB and closes the connection', async () => {
      const answer = await post(`{"duid":"${'d'.repeat(64 * 1024)}"}`);
      assert.equal(answer.status, 400);
      assert.equal(answer.headers['connection'], 'close');
    });

    it('forgets every User-Agent of an IP on every site, and says so in one log line', async () => {
      const memory = ctx.service!.app.memory;
      const bots = [
        visitor({ clientIp: '203.0.113.7', userAgent: UA }),
        visitor({ clientIp: '203.0.113.7', userAgent: 'curl/8.5.0' }),
        visitor({ site: 'shop', clientIp: '203.0.113.7', userAgent: UA }),
      ];
      const other = visitor({ clientIp: '203.0.113.8', userAgent: UA });
      for (const bot of [...bots, other]) memory.remember(bot, TTL_MS);
      const answer = await post('{"ip":"203.0.113.7"}');
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json, { forgotten: 3, shared: 'local' });
      for (const bot of bots) assert.equal(memory.recall(bot), undefined);
      assert.ok(memory.recall(other), 'another IP stays remembered');
      const line = ctx.service!.logs.find(
        l => l['msg'] === 'verdict memory: an operator forgot remembered blocks',
      );
      assert.ok(line);
      assert.equal(line['level'], 'info');
      assert.equal(line['peer'], '127.0.0.1');
      assert.equal(line['kind'], 'ip');
      assert.equal(line['site'], '*');
      assert.equal(line['forgotten'], 3);
      assert.ok(!JSON.stringify(line).includes('203.0.113.7'), 'no address in the line');
      assert.ok(!JSON.stringify(ctx.service!.logs).includes(TOKEN.slice(0, 16)));
    });

    it('forgets one User-Agent of an IP, a device id, one site, everything', async () => {
      const memory = ctx.service!.app.memory;
      const bot = visitor({ clientIp: '203.0.113.7', userAgent: UA, duid: 'duid-1' });
      const curl = visitor({ clientIp: '203.0.113.7', userAgent: 'curl/8.5.0' });
      const shopBot = { ...bot, site: scopeOf('shop') };
      for (const v of [bot, curl, shopBot]) memory.remember(v, TTL_MS);
      assert.equal(memory.size, 5);

      let answer = await post('{"duid":"duid-1","site":"shop"}');
      assert.deepEqual(answer.json, { forgotten: 1, shared: 'local' });
      assert.equal(memory.recall({ ...shopBot, clientIp: undefined }), undefined);
      assert.equal(memory.recall(bot)?.key, 'ip_ua', 'the default site keeps its keys');
      assert.equal(memory.recall({ ...bot, clientIp: undefined })?.key, 'duid');

      answer = await post(JSON.stringify({ ip: '203.0.113.7', user_agent: 'curl/8.5.0' }));
      assert.deepEqual(answer.json, { forgotten: 2, shared: 'local' });
      assert.equal(memory.recall(curl), undefined);
      const botDevice = { ...bot, clientIp: undefined };
      assert.equal(memory.recall(botDevice), undefined, 'the device ids seen from that IP go too');
      assert.equal(memory.recall(bot)?.key, 'ip_ua', 'another User-Agent of the IP stays');

      answer = await post('{"all":true}');
      assert.deepEqual(answer.json, { forgotten: 2, shared: 'local' });
      assert.equal(memory.size, 0);
    });

    it('tells the peers what an operator forgot (the IP by its tag)', async () => {
      const memory = ctx.service!.app.memory;
      const told: unknown[] = [];
      memory.onChange((change, source) => told.push([change, source]));
      await post('{"ip":"203.0.113.7","site":"shop"}');
      assert.deepEqual(told, [
        [{ op: 'forget_ip', tag: ipTag(scopeOf('shop'), '203.0.113.7') }, 'admin'],
      ]);
    });
  });

  it('a forgotten bot is no longer blocked while RTI cannot be asked', async () => {
    ctx.service = await startService(ctx.rti.url, {
      CHEQ_ADMIN_TOKEN: TOKEN,
      CHEQ_MODE: 'blocking',
    });
    const bot = envoyCheckRequest({ peer: '203.0.113.7' });
    ctx.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
    assert.equal((await ctx.service.check(bot)).denied_response?.status?.code, 403);

    ctx.rti.behaviour = () => ({ kind: 'reset' });
    assert.equal(
      (await ctx.service.check(bot)).denied_response?.status?.code,
      403,
      'remembered while RTI resets every connection',
    );
    const metrics = await ctx.service.metrics();
    assert.equal(
      metricValue(metrics, 'cheq_authz_decisions_total', { reason: 'remembered_block' }),
      1,
    );

    const answer = await post('{"ip":"203.0.113.7"}');
    assert.deepEqual(answer.json, { forgotten: 1, shared: 'local' });
    const after = await ctx.service.check(bot);
    assert.ok(after.ok_response, 'allowed');
    assert.equal(decisionHeader(after), 'fail_open', 'forgotten: failed open like anyone');
    assert.equal(
      metricValue(await ctx.service.metrics(), 'cheq_authz_verdict_memory_forgotten_total', {
        reason: 'admin',
      }),
      1,
    );
  });
});
