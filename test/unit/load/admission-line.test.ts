import { strict as assert } from 'node:assert';
import type { AdmissionOutcome } from '../../../src/core/admission';
import {
  AdmissionLine,
  FLOOD_AFTER_MS,
  FLOOD_AFTER_SAMPLES,
  FLOOD_LAG_MS,
} from '../../../src/load/admission-line';

/** A line of `limit` slots on a hand-moved clock, with hand-fired monitor samples. */
function setup(limit = 10) {
  let onSample: (delayMs: number) => void = () => undefined;
  const clock = { now: 1_000 };
  const line = new AdmissionLine(
    { limit, now: () => clock.now },
    { onSample: listener => (onSample = listener) },
  );
  /** Asks for `n` slots, each allowed to wait 100 ms; counts those admitted at once. */
  const enter = (n: number): number => {
    let admitted = 0;
    for (let i = 0; i < n; i++) if (line.enter(clock.now + 100) === 'admitted') admitted++;
    return admitted;
  };
  /** Fires a monitor sample that came `delayMs` late (on time by default). */
  return { line, clock, sample: (delayMs = 0) => onSample(delayMs), enter };
}

/** The outcome of a request for a slot, once settled (undefined while it waits). */
function track(entry: AdmissionOutcome | Promise<AdmissionOutcome>): {
  outcome: AdmissionOutcome | undefined;
} {
  const box: { outcome: AdmissionOutcome | undefined } = { outcome: undefined };
  if (typeof entry === 'string') box.outcome = entry;
  else void entry.then(outcome => (box.outcome = outcome));
  return box;
}

const settled = (): Promise<void> => new Promise(resolve => setImmediate(resolve));

describe('AdmissionLine', () => {
  it('admits up to `limit` calls at once, synchronously; the rest wait', () => {
    const { line, enter } = setup(10);
    assert.equal(enter(15), 10);
    assert.equal(line.waiting, 5);
  });

  it('admits those waiting first come, first served as slots free', async () => {
    const { line, clock, enter } = setup(10);
    enter(10);
    const first = track(line.enter(clock.now + 100));
    const second = track(line.enter(clock.now + 100));
    assert.ok(line.enter(clock.now + 100) instanceof Promise, 'a newcomer queues behind them');
    line.leave();
    await settled();
    assert.equal(first.outcome, 'admitted');
    assert.equal(second.outcome, undefined);
    line.leave();
    await settled();
    assert.equal(second.outcome, 'admitted');
  });

  it('fails a waiting check as overloaded once its latest start has passed', async () => {
    const { line, clock, sample, enter } = setup(10);
    enter(10);
    const short = track(line.enter(clock.now + 20));
    const long = track(line.enter(clock.now + 200));
    clock.now += 30;
    sample();
    await settled();
    assert.equal(short.outcome, 'overloaded');
    assert.equal(long.outcome, undefined);
    assert.equal(line.waiting, 1);
    assert.equal(line.enter(clock.now), 'overloaded', 'no time to wait at all');
  });

  it('skips, when a slot frees, a waiting check whose time has passed', async () => {
    const { line, clock, enter } = setup(1);
    enter(1);
    const late = track(line.enter(clock.now + 20));
    const next = track(line.enter(clock.now + 200));
    clock.now += 30;
    line.leave();
    await settled();
    assert.equal(late.outcome, 'overloaded');
    assert.equal(next.outcome, 'admitted');
  });

  it('tells a waiting check the proxy gave up on, and gives its place away', async () => {
    const { line, clock, enter } = setup(10);
    enter(10);
    let cancel: () => void = () => undefined;
    const cancelled = track(line.enter(clock.now + 100, { onCancel: l => (cancel = l) }));
    const next = track(line.enter(clock.now + 100));
    cancel();
    line.leave();
    await settled();
    assert.equal(cancelled.outcome, 'cancelled');
    assert.equal(next.outcome, 'admitted');
    assert.equal(line.waiting, 0);
  });

  it('is flooded while checks wait in line, not while every slot is merely busy', async () => {
    const { line, clock, sample, enter } = setup(2);
    assert.equal(line.flooded, false, 'empty');
    enter(2);
    assert.equal(line.flooded, false, 'every slot busy, nobody in line');
    let cancel: () => void = () => undefined;
    const cancelled = track(line.enter(clock.now + 100, { onCancel: l => (cancel = l) }));
    assert.equal(line.flooded, true, 'one in line');
    cancel();
    assert.equal(line.flooded, false, 'the one in line gave up');
    const admitted = track(line.enter(clock.now + 100));
    const late = track(line.enter(clock.now + 50));
    assert.equal(line.waiting, 2);
    line.leave();
    assert.equal(line.waiting, 1, 'the head took the freed slot');
    clock.now += 50;
    sample();
    await settled();
    assert.deepEqual(
      [cancelled.outcome, admitted.outcome, late.outcome],
      ['cancelled', 'admitted', 'overloaded'],
    );
    assert.equal(line.flooded, false, 'the other ran out of time');
    assert.equal(line.waiting, 0);
  });

  it('is flooded while the event loop stays FLOOD_LAG_MS late, sample after sample, long enough', () => {
    const { line, clock, sample } = setup(2);
    /** A sample `delayMs` late, at the time it fires. */
    const late = (delayMs: number): void => {
      clock.now += 10 + delayMs;
      sample(delayMs);
    };
    for (let i = 0; i < 100; i++) late(FLOOD_LAG_MS - 1);
    assert.equal(line.flooded, false, 'a delay short of the limit, however long');
    late(2000);
    assert.equal(line.flooded, false, 'one long stall (a GC pause) is no flood');
    for (let i = 0; i < FLOOD_AFTER_SAMPLES - 2; i++) late(200);
    assert.equal(
      line.flooded,
      false,
      `a few stalls, over ${FLOOD_AFTER_MS} ms but fewer than ${FLOOD_AFTER_SAMPLES} samples`,
    );
    late(0);
    for (let i = 0; i < FLOOD_AFTER_SAMPLES; i++) late(FLOOD_LAG_MS);
    assert.equal(
      line.flooded,
      false,
      `${FLOOD_AFTER_SAMPLES} late samples, but under ${FLOOD_AFTER_MS} ms since the first`,
    );
    while (!line.flooded) late(FLOOD_LAG_MS);
    assert.equal(line.waiting, 0, 'nobody in line: checks wait unseen in the sockets');
    late(0);
    assert.equal(line.flooded, false, 'the loop caught up');
  });

  it('fails open at once, with every slot free, a check whose latest start is nearer than the lag', () => {
    const { line, clock, sample } = setup(2);
    for (let i = 0; i < FLOOD_AFTER_SAMPLES || !line.flooded; i++) {
      clock.now += 10 + 60;
      sample(60 + i);
    }
    assert.equal(line.enter(clock.now + 50), 'overloaded', 'its RTI answer would be read too late');
    assert.equal(line.enter(clock.now + 100), 'admitted', 'time enough, lag included');
    sample(FLOOD_LAG_MS - 1);
    assert.equal(line.enter(clock.now + 10), 'admitted', 'a lag short of a flood changes nothing');
  });
});
