// Counts taken on the hot path in plain numbers and handed to a prom-client metric when it is
// collected (each scrape). prom-client's own inc() and dec() hash the label values into a string
// and validate them on every call, a labelled child's too, and a check counts up to seven things;
// here a check adds to a number, and prom-client does its work once per label set and scrape.

import {
  Counter,
  Gauge,
  type CounterConfiguration,
  type GaugeConfiguration,
  type LabelValues,
} from 'prom-client';

/** One label set's count. */
export class ScrapeTimeCount<L extends string> {
  /** For a counter, what was counted since the last collect; for a gauge, the level. */
  value = 0;

  constructor(readonly labels: LabelValues<L>) {}

  inc(): void {
    this.value++;
  }

  dec(): void {
    this.value--;
  }
}

/** Label values, one level per label name; the last level's nodes hold the label set's value. */
interface LabelNode<T> {
  readonly next: Map<string, LabelNode<T>>;
  value?: T;
}

/** One value per label set, found by walking the label values: no hashing, no string building. */
export class LabelSets<L extends string, T> {
  private readonly root: LabelNode<T> = { next: new Map() };
  /** Every label set's value, in first-use order. */
  readonly values: T[] = [];

  constructor(
    private readonly labelNames: readonly L[],
    private readonly make: (labels: LabelValues<L>) => T,
  ) {}

  /** The value of one label set, values in labelNames order (as prom-client's labels()). */
  labels(...values: string[]): T {
    let node = this.root;
    for (let i = 0; i < this.labelNames.length; i++) {
      const value = values[i] ?? '';
      let next = node.next.get(value);
      if (next === undefined) {
        next = { next: new Map() };
        node.next.set(value, next);
      }
      node = next;
    }
    if (node.value === undefined) {
      const labels: LabelValues<L> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ''));
      node.value = this.make(labels);
      this.values.push(node.value);
    }
    return node.value;
  }
}

export class ScrapeTimeCounts<L extends string> {
  private readonly sets: LabelSets<L, ScrapeTimeCount<L>>;

  constructor(labelNames: readonly L[]) {
    this.sets = new LabelSets(labelNames, labels => new ScrapeTimeCount(labels));
  }

  /** The count of one label set (see LabelSets), exported from its first labels() on, at 0. */
  labels(...values: string[]): ScrapeTimeCount<L> {
    return this.sets.labels(...values);
  }

  /** A counter's collect(): adds what each label set counted since the last collect. */
  addTo(counter: Counter<L>): void {
    for (const count of this.sets.values) {
      counter.inc(count.labels, count.value);
      count.value = 0;
    }
  }

  /** A gauge's collect(): sets each label set's level. */
  setOn(gauge: Gauge<L>): void {
    for (const count of this.sets.values) gauge.set(count.labels, count.value);
  }
}

/** A prom-client counter whose counts are taken at scrape time: use its labels(). */
export function scrapeTimeCounter<L extends string>(
  config: CounterConfiguration<L> & { readonly labelNames: readonly L[] },
): ScrapeTimeCounts<L> {
  const counts = new ScrapeTimeCounts(config.labelNames);
  new Counter({
    ...config,
    collect() {
      counts.addTo(this);
    },
  });
  return counts;
}

/** A prom-client gauge whose levels are read at scrape time: use its labels(). */
export function scrapeTimeGauge<L extends string>(
  config: GaugeConfiguration<L> & { readonly labelNames: readonly L[] },
): ScrapeTimeCounts<L> {
  const counts = new ScrapeTimeCounts(config.labelNames);
  new Gauge({
    ...config,
    collect() {
      counts.setOn(this);
    },
  });
  return counts;
}
