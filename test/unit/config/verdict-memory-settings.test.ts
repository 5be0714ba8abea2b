import { strict as assert } from 'node:assert';
import { ConfigError, loadConfig } from '../../../src/config/load-config';

const ENV = {
  CHEQ_API_KEY: 'test-api-key',
  CHEQ_TAG_HASH: 'top-tag',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

describe('loadConfig: verdict memory settings', () => {
  it('defaults to 300 s and 50,000 entries', () => {
    const config = loadConfig({ env: ENV, args: [] });
    assert.equal(config.defaultSite?.core.verdictMemoryTtlMs, 300_000);
    assert.equal(config.verdictMemory.maxEntries, 50_000);
  });

  it('takes the TTL per site (0 turns it off there) and the cap for the process', () => {
    const sites = [
      { name: 'shop', hosts: ['shop.example'], tag_hash: 'shop-tag', verdict_memory_ttl_s: 0 },
      { name: 'blog', hosts: ['blog.example'], tag_hash: 'blog-tag' },
    ];
    const config = loadConfig({
      env: { ...ENV, CHEQ_SITES: JSON.stringify(sites), CHEQ_VERDICT_MEMORY_MAX_ENTRIES: '2000' },
      args: ['--verdict-memory-ttl-s', '60'],
    });
    assert.equal(config.defaultSite?.core.verdictMemoryTtlMs, 60_000);
    const ttl = (name: string) => config.sites.find(s => s.name === name)?.core.verdictMemoryTtlMs;
    assert.equal(ttl('shop'), 0);
    assert.equal(ttl('blog'), 60_000, 'inherited from the top level');
    assert.equal(config.verdictMemory.maxEntries, 2000);
    assert.equal(config.effective['verdict_memory_max_entries'], 2000, 'check-config shows it');
    assert.equal(config.sites[0]?.effective['verdict_memory_ttl_s'], 0);
  });

  it('takes at most 1,000,000 entries: lru-cache allocates its index for the whole cap at start', () => {
    const at = (max: string) => ({
      env: { ...ENV, CHEQ_VERDICT_MEMORY_MAX_ENTRIES: max },
      args: [],
    });
    assert.equal(loadConfig(at('1000000')).verdictMemory.maxEntries, 1_000_000);
    assert.throws(
      () => loadConfig(at('1000001')),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some(p => p.includes('must be an integer from 1000 to 1000000')),
    );
  });

  it('refuses values out of range, naming each setting', () => {
    const env = {
      ...ENV,
      CHEQ_VERDICT_MEMORY_TTL_S: '3601',
      CHEQ_VERDICT_MEMORY_MAX_ENTRIES: '999',
    };
    assert.throws(
      () => loadConfig({ env, args: [] }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some(p => p.startsWith('verdict_memory_ttl_s (CHEQ_VERDICT_MEMORY_TTL_S)')) &&
        err.problems.some(p => p.startsWith('verdict_memory_max_entries')),
    );
  });
});
