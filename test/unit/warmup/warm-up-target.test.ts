import { strict as assert } from 'node:assert';
import { loadConfig } from '../../../src/config/load-config';
import { WARM_UP_MEMORY_ENTRIES, warmUpConfig } from '../../../src/warmup/warm-up-target';

describe('warmUpConfig', () => {
  it('gives the warm-up chain a small verdict memory, whatever the configured cap', () => {
    const config = loadConfig({
      env: {
        CHEQ_API_KEY: 'test-api-key',
        CHEQ_TAG_HASH: 'top-tag',
        CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
        CHEQ_VERDICT_MEMORY_MAX_ENTRIES: '1000000',
      },
      args: [],
    });
    const target = warmUpConfig(config, new URL('http://127.0.0.1:9/'));
    assert.equal(WARM_UP_MEMORY_ENTRIES, 1000);
    assert.equal(target.verdictMemory.maxEntries, WARM_UP_MEMORY_ENTRIES);
    assert.equal(config.verdictMemory.maxEntries, 1_000_000, 'the server keeps its own');
  });
});
