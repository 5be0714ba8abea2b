// The decision service applying reloads: the checks that start after a reload take the new
// configuration; a refused one is counted and changes nothing. No RTI call is made: the paths
// checked are excluded by the configuration in use.

import { strict as assert } from 'node:assert';
import { Registry } from 'prom-client';
import { ConfigError, loadConfig, type AppConfig } from '../../../src/config/load-config';
import { settingProblem } from '../../../src/config/config-error';
import { DecisionService } from '../../../src/decision-service';
import { createLogger } from '../../../src/observability/logger';
import { metricValue } from '../../helpers/start-service';
import { makeAttributes } from '../core/make-attributes';

function configExcluding(path: string): AppConfig {
  return loadConfig({
    env: {
      CHEQ_API_KEY: 'test-api-key',
      CHEQ_TAG_HASH: 'test-tag-hash',
      // Nothing listens there: a check that reached RTI would fail open, not be excluded.
      CHEQ_API_ENDPOINT: 'http://127.0.0.1:9/',
      CHEQ_URI_EXCLUSION: path,
    },
    args: [],
  });
}

describe('DecisionService', () => {
  const quiet = createLogger('info', { write: () => undefined });
  let service: DecisionService | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  async function reasonFor(path: string): Promise<string> {
    return (await service!.decide(makeAttributes({ path }))).reason;
  }

  it('decides the checks that start after a reload on the new configuration', async () => {
    const registry = new Registry();
    const next = configExcluding('/b');
    service = new DecisionService(configExcluding('/a'), {
      registry,
      log: quiet,
      load: () => next,
    });
    assert.equal(await reasonFor('/a'), 'excluded');
    service.reload('SIGHUP');
    assert.equal(await reasonFor('/b'), 'excluded');
    const metrics = await registry.metrics();
    assert.equal(metricValue(metrics, 'cheq_authz_config_info', { hash: next.hash }), 1);
    assert.equal(metricValue(metrics, 'cheq_authz_config_reload_failures_total'), 0);
  });

  it('counts a refused reload and keeps deciding on the configuration in use', async () => {
    const registry = new Registry();
    const initial = configExcluding('/a');
    service = new DecisionService(initial, {
      registry,
      log: quiet,
      load: () => {
        throw new ConfigError([settingProblem('uri_exclusion', 'invalid')]);
      },
    });
    service.reload('SIGHUP');
    assert.equal(await reasonFor('/a'), 'excluded');
    const metrics = await registry.metrics();
    assert.equal(metricValue(metrics, 'cheq_authz_config_reload_failures_total'), 1);
    assert.equal(metricValue(metrics, 'cheq_authz_config_info', { hash: initial.hash }), 1);
  });

  it("exports each served site's challenge series from the start, with its provider", async () => {
    const registry = new Registry();
    const config = loadConfig({
      env: {
        CHEQ_API_KEY: 'test-api-key',
        CHEQ_TAG_HASH: 'test-tag-hash',
        CHEQ_API_ENDPOINT: 'http://127.0.0.1:9/',
        CHEQ_SITES: JSON.stringify([
          {
            name: 'shop',
            hosts: ['shop.example'],
            challenge_provider: 'turnstile',
            challenge_site_key: 'site-key',
            challenge_provider_secret: 'provider-secret',
          },
        ]),
      },
      args: [],
    });
    service = new DecisionService(config, { registry, log: quiet });
    const metrics = await registry.metrics();
    const sites = [
      ...metrics.matchAll(/^cheq_authz_challenges_total\{(.*)outcome="served"\} 0$/gm),
    ];
    assert.deepEqual(
      sites.map(match => match[1]),
      ['site="default",provider="browser",', 'site="shop",provider="turnstile",'],
    );
  });

  describe('verdict memory', () => {
    function blocking(env: Record<string, string> = {}): AppConfig {
      return loadConfig({
        env: {
          CHEQ_API_KEY: 'test-api-key',
          CHEQ_TAG_HASH: 'test-tag-hash',
          CHEQ_API_ENDPOINT: 'http://127.0.0.1:9/',
          CHEQ_MODE: 'blocking',
          ...env,
        },
        args: [],
      });
    }
    /** The visitor of makeAttributes() on the top level. */
    const visitor = {
      site: 'default',
      clientIp: '203.0.113.7',
      userAgent: makeAttributes().headers.get('user-agent'),
      duid: undefined,
    };
    /** A check the proxy left no time for: RTI is not asked, the memory may answer. */
    async function reasonWithoutTime(): Promise<string> {
      return (await service!.decide(makeAttributes(), { deadlineMs: Date.now() })).reason;
    }

    it('holds verdict_memory_max_entries, and keeps its entries across reloads', async () => {
      let next = blocking();
      const registry = new Registry();
      const config = blocking({ CHEQ_VERDICT_MEMORY_MAX_ENTRIES: '5000' });
      service = new DecisionService(config, { registry, log: quiet, load: () => next });
      const { memory } = service;
      assert.equal(memory.maxEntries, 5000);
      memory.remember(visitor, 60_000);
      assert.equal(await reasonWithoutTime(), 'remembered_block');
      next = blocking({ CHEQ_URI_EXCLUSION: '/x', CHEQ_VERDICT_MEMORY_MAX_ENTRIES: '5000' });
      service.reload('SIGHUP');
      assert.equal(service.memory, memory);
      assert.equal(await reasonWithoutTime(), 'remembered_block');
      const metrics = await registry.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_verdict_memory_entries'), 1);
      assert.equal(metricValue(metrics, 'cheq_authz_verdict_memory_max_entries'), 5000);
      const hits = { site: 'default', cause: 'no_time_budget' };
      assert.equal(metricValue(metrics, 'cheq_authz_verdict_memory_hits_total', hits), 2);
    });

    it('stops recalling on a site whose reload sets verdict_memory_ttl_s 0', async () => {
      const next = blocking({ CHEQ_VERDICT_MEMORY_TTL_S: '0' });
      service = new DecisionService(blocking(), {
        registry: new Registry(),
        log: quiet,
        load: () => next,
      });
      service.memory.remember(visitor, 60_000);
      service.reload('SIGHUP');
      assert.equal(await reasonWithoutTime(), 'fail_open');
    });
  });
});
