import { strict as assert } from 'node:assert';
import { Registry } from 'prom-client';
import { scrapeTimeCounter, scrapeTimeGauge } from '../../../src/observability/scrape-time-counts';

async function series(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, name);
  const values: Record<string, number> = {};
  for (const { labels, value } of (await metric.get()).values) {
    values[Object.values(labels).join('/')] = value;
  }
  return values;
}

describe('scrape-time counts', () => {
  it('hands a counter what each label set counted, once, at every collect', async () => {
    const registry = new Registry();
    const counts = scrapeTimeCounter({
      name: 'test_total',
      help: 'test',
      labelNames: ['kind', 'site'] as const,
      registers: [registry],
    });
    counts.labels('a', 'one').inc();
    counts.labels('a', 'one').inc();
    counts.labels('b', 'two').inc();
    assert.deepEqual(await series(registry, 'test_total'), { 'a/one': 2, 'b/two': 1 });
    counts.labels('a', 'one').inc();
    assert.deepEqual(await series(registry, 'test_total'), { 'a/one': 3, 'b/two': 1 });
    assert.match(await registry.metrics(), /^test_total\{kind="a",site="one"\} 3$/m);
  });

  it('exports a label set at 0 from its first labels() on', async () => {
    const registry = new Registry();
    const counts = scrapeTimeCounter({
      name: 'zero_total',
      help: 'test',
      labelNames: ['kind'] as const,
      registers: [registry],
    });
    counts.labels('never');
    assert.deepEqual(await series(registry, 'zero_total'), { never: 0 });
  });

  it('keeps one count per label set', () => {
    const counts = scrapeTimeCounter({
      name: 'same_total',
      help: 'test',
      labelNames: ['a', 'b'] as const,
      registers: [],
    });
    assert.equal(counts.labels('x', 'y'), counts.labels('x', 'y'));
    assert.notEqual(counts.labels('x', 'y'), counts.labels('x\ny'));
    assert.deepEqual(counts.labels('x').labels, { a: 'x', b: '' });
  });

  it('sets a gauge to each label set level', async () => {
    const registry = new Registry();
    const levels = scrapeTimeGauge({
      name: 'level',
      help: 'test',
      labelNames: ['transport'] as const,
      registers: [registry],
    });
    const grpc = levels.labels('grpc');
    grpc.inc();
    grpc.inc();
    levels.labels('nginx').inc();
    levels.labels('nginx').dec();
    assert.deepEqual(await series(registry, 'level'), { grpc: 2, nginx: 0 });
    grpc.dec();
    assert.deepEqual(await series(registry, 'level'), { grpc: 1, nginx: 0 });
  });
});
