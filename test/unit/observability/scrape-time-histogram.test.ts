import { strict as assert } from 'node:assert';
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { ScrapeTimeHistogram } from '../../../src/observability/scrape-time-histogram';

const BUCKETS = [0.001, 0.005, 0.01, 0.1, 1];
/** Below, on, between and above the bounds, and exactly the last one. */
const OBSERVATIONS: [string, number][] = [
  ['grpc', 0.0004],
  ['grpc', 0.001],
  ['grpc', 0.0051],
  ['nginx', 0.2],
  ['grpc', 7],
  ['nginx', 1],
  ['grpc', 0],
];

/** The same observations into our histogram and into prom-client's, each in its own registry. */
function both(configure?: (registry: Registry) => void): { ours: Registry; theirs: Registry } {
  const ours = new Registry();
  const theirs = new Registry();
  configure?.(ours);
  configure?.(theirs);
  const config = { name: 'check_seconds', help: 'Check time.', labelNames: ['transport'] as const };
  const fast = new ScrapeTimeHistogram({ ...config, buckets: BUCKETS, registers: [ours] });
  const reference = new Histogram({ ...config, buckets: BUCKETS, registers: [theirs] });
  for (const [transport, value] of OBSERVATIONS) {
    fast.labels(transport).observe(value);
    reference.labels(transport).observe(value);
  }
  return { ours, theirs };
}

/** The exposition with each line's labels in name order: Prometheus reads them in any order. */
function labelsSorted(text: string): string[] {
  return text
    .split('\n')
    .map(line =>
      line.replace(/\{(.*)\}/, (_, labels: string) => `{${labels.split(',').sort().join(',')}}`),
    );
}

/** A histogram `h` by `result` with one bucket, up to 1. */
function oneBucket(registers: Registry[]): ScrapeTimeHistogram<'result'> {
  return new ScrapeTimeHistogram({
    name: 'h',
    help: 'h',
    labelNames: ['result'],
    buckets: [1],
    registers,
  });
}

describe('scrape-time histogram', () => {
  it("exposes exactly what prom-client's Histogram exposes for the same observations", async () => {
    const { ours, theirs } = both();
    const text = await ours.metrics();
    assert.equal(text, await theirs.metrics());
    assert.match(text, /^check_seconds_bucket\{le="0.005",transport="grpc"\} 3$/m);
    assert.match(text, /^check_seconds_bucket\{le="0.01",transport="grpc"\} 4$/m);
    assert.match(text, /^check_seconds_bucket\{le="\+Inf",transport="grpc"\} 5$/m);
    assert.match(text, /^check_seconds_sum\{transport="nginx"\} 1.2$/m);
  });

  it('is the same with default labels, but for the order of the labels', async () => {
    const { ours, theirs } = both(registry => registry.setDefaultLabels({ pod: 'authz-0' }));
    const lines = labelsSorted(await ours.metrics());
    assert.deepEqual(lines, labelsSorted(await theirs.metrics()));
    assert.ok(lines.includes('check_seconds_count{pod="authz-0",transport="nginx"} 2'));
  });

  it('aggregates across cluster workers as prom-client does (sums)', async () => {
    const workers = [both(), both()];
    const ours = AggregatorRegistry.aggregate(
      await Promise.all(workers.map(({ ours }) => ours.getMetricsAsJSON())),
    );
    const theirs = AggregatorRegistry.aggregate(
      await Promise.all(workers.map(({ theirs }) => theirs.getMetricsAsJSON())),
    );
    const text = await ours.metrics();
    assert.equal(text, await theirs.metrics());
    assert.match(text, /^check_seconds_count\{transport="grpc"\} 10$/m);
  });

  it('keeps one series per label set, from its first labels() on', async () => {
    const registry = new Registry();
    const histogram = oneBucket([registry]);
    assert.equal(histogram.labels('ok'), histogram.labels('ok'));
    assert.match(await registry.metrics(), /^h_count\{result="ok"\} 0$/m);
  });

  it('does not count a value that is not a finite number', () => {
    const histogram = oneBucket([]);
    const series = histogram.labels('ok');
    series.observe(Number.NaN);
    series.observe(Number.POSITIVE_INFINITY);
    series.observe(0.5);
    assert.deepEqual([series.count, series.sum, [...series.buckets]], [1, 0.5, [1]]);
  });

  it('resets to zero and keeps counting into the series its holders have', async () => {
    const registry = new Registry();
    const histogram = oneBucket([registry]);
    const series = histogram.labels('ok');
    series.observe(0.5);
    registry.resetMetrics();
    series.observe(2);
    const text = await registry.metrics();
    assert.match(text, /^h_bucket\{le="1",result="ok"\} 0$/m);
    assert.match(text, /^h_count\{result="ok"\} 1$/m);
  });

  it('refuses bucket bounds that do not ascend', () => {
    assert.throws(
      () =>
        new ScrapeTimeHistogram({
          name: 'h',
          help: 'h',
          labelNames: [],
          buckets: [1, 0.5],
          registers: [],
        }),
      /h: bucket bounds must ascend/,
    );
  });
});
