// A histogram observed on the hot path into plain numbers and exposed by get(), the one method
// prom-client's Registry and its cluster aggregation call on a metric. prom-client's Histogram
// validates and hashes the labels and turns the bucket bound into a property name on every
// observation, a labelled child's too; a check observes two durations. The exposition is the
// same as prom-client's Histogram, line for line: the tests compare the two.

import type { LabelValues, Metric, Registry } from 'prom-client';
import { LabelSets } from './scrape-time-counts';

export interface ScrapeTimeHistogramConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  /** Upper bounds, ascending, as prom-client's `buckets`. */
  readonly buckets: readonly number[];
  readonly registers: readonly Registry[];
}

/** One label set's observations. */
export class HistogramSeries<L extends string> {
  /** Observations per bucket, not cumulative; those above the last bound are only counted. */
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: LabelValues<L>,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length);
  }

  /** A value that is not a finite number is not counted (prom-client throws on it). */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const { bounds } = this;
    let bucket = 0;
    while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket++;
    if (bucket < bounds.length) this.buckets[bucket] = (this.buckets[bucket] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

/** A line of the exposition, as prom-client's metrics hand them to the Registry. */
interface Value<L extends string> {
  readonly labels: LabelValues<L> | LabelValues<L | 'le'>;
  readonly value: number;
  readonly metricName: string;
}

interface HistogramData<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly values: Value<L>[];
  readonly aggregator: 'sum';
}

export class ScrapeTimeHistogram<L extends string> {
  readonly type = 'histogram' as const;
  /** Cluster workers' series add up, as prom-client's Histogram. */
  readonly aggregator = 'sum' as const;
  readonly name: string;
  readonly help: string;
  private readonly bounds: readonly number[];
  private readonly sets: LabelSets<L, HistogramSeries<L>>;

  constructor(config: ScrapeTimeHistogramConfig<L>) {
    const { name, help, labelNames, buckets, registers } = config;
    if (buckets.some((bound, i) => i > 0 && bound <= (buckets[i - 1] as number))) {
      throw new Error(`${name}: bucket bounds must ascend`);
    }
    this.name = name;
    this.help = help;
    this.bounds = [...buckets];
    this.sets = new LabelSets(labelNames, labels => new HistogramSeries(labels, this.bounds));
    // The Registry calls only name, help, type, aggregator, get() and reset(); its type lists
    // prom-client's own classes.
    for (const registry of registers) registry.registerMetric(this as unknown as Metric);
  }

  /** One label set's series, values in labelNames order; exported from its first labels() on. */
  labels(...values: string[]): HistogramSeries<L> {
    return this.sets.labels(...values);
  }

  /** As prom-client's metrics, a promise (the Registry awaits it). */
  get(): Promise<HistogramData<L>> {
    const values: Value<L>[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.sets.values) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += series.buckets[i] as number;
        values.push({
          labels: withLe(bound, series.labels),
          value: cumulative,
          metricName: bucketName,
        });
      });
      values.push(
        { labels: withLe('+Inf', series.labels), value: series.count, metricName: bucketName },
        { labels: series.labels, value: series.sum, metricName: `${this.name}_sum` },
        { labels: series.labels, value: series.count, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  /** Every series back to zero; label sets stay, as their holders keep observing into them. */
  reset(): void {
    for (const series of this.sets.values) {
      series.buckets.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}

/** A bucket's labels: `le` first, where prom-client puts it. */
function withLe<L extends string>(
  le: number | string,
  labels: LabelValues<L>,
): LabelValues<L | 'le'> {
  return { le, ...labels } as LabelValues<L | 'le'>;
}
