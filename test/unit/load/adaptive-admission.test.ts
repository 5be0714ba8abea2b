import { strict as assert } from 'node:assert';
import type { AdmissionOutcome } from '../../../src/core/admission';
import { AdaptiveAdmission, MIN_LIMIT } from '../../../src/load/adaptive-admission';
import type { DelayListener } from '../../../src/load/event-loop-monitor';

/** An admission fed by hand-made event-loop samples, on a hand-moved clock. */
function setup(maxLimit = 100) {
  let listener: DelayListener = () => undefined;
  const clock = { now: 1_000 };
  const admission = new AdaptiveAdmission(
    { maxLimit, targetDelayMs: 25, now: () => clock.now },
    { onSample: l => (listener = l) },
  );
  const sample = (delayMs: number): void => listener(delayMs);
  /** Asks for `n` slots, each allowed to wait 100 ms; counts those admitted at once. */
  const enter = (n: number): number => {
    let admitted = 0;
    for (let i = 0; i < n; i++) if (admission.enter(clock.now + 100) === 'admitted') admitted++;
    return admitted;
  };
  return { admission, clock, sample, enter };
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

describe('AdaptiveAdmission', () => {
  it('admits up to maxLimit calls at once while the event loop keeps up', () => {
    const { admission, sample, enter } = setup(100);
    sample(2);
    assert.equal(enter(150), 100);
    assert.equal(admission.waiting, 50);
  });

  it('admits those waiting first come, first served as slots free', async () => {
    const { admission, clock, enter } = setup(10);
    enter(10);
    const first = track(admission.enter(clock.now + 100));
    const second = track(admission.enter(clock.now + 100));
    assert.equal(admission.enter(clock.now + 100) instanceof Promise, true, 'a newcomer waits too');
    admission.leave();
    await settled();
    assert.equal(first.outcome, 'admitted');
    assert.equal(second.outcome, undefined);
    admission.leave();
    await settled();
    assert.equal(second.outcome, 'admitted');
  });

  it('fails a waiting check as overloaded once its latest start has passed', async () => {
    const { admission, clock, sample, enter } = setup(10);
    enter(10);
    const short = track(admission.enter(clock.now + 20));
    const long = track(admission.enter(clock.now + 200));
    clock.now += 30;
    sample(1);
    await settled();
    assert.equal(short.outcome, 'overloaded');
    assert.equal(long.outcome, undefined);
    assert.equal(admission.waiting, 1);
    assert.equal(admission.enter(clock.now), 'overloaded', 'no time to wait at all');
  });

  it('tells a waiting check the proxy gave up on, and gives its place away', async () => {
    const { admission, clock, enter } = setup(10);
    enter(10);
    let cancel: () => void = () => undefined;
    const cancelled = track(admission.enter(clock.now + 100, { onCancel: l => (cancel = l) }));
    const next = track(admission.enter(clock.now + 100));
    cancel();
    admission.leave();
    await settled();
    assert.equal(cancelled.outcome, 'cancelled');
    assert.equal(next.outcome, 'admitted');
  });

  it('does not shrink on one delayed sample alone (a GC pause is not saturation)', () => {
    const { admission, sample, enter } = setup(100);
    enter(60);
    sample(80);
    sample(3);
    assert.equal(admission.limit, 100);
  });

  it('drops below what is in flight when the loop stays delayed beyond the target', () => {
    const { admission, sample, enter } = setup(100);
    enter(60);
    sample(40);
    sample(40);
    assert.equal(admission.limit, 54, '60 in flight * 0.9');
    assert.equal(enter(10), 0, 'checks past the limit wait');
    sample(40);
    assert.equal(admission.limit, 48);
  });

  it('never drops below the minimum limit', () => {
    const { admission, sample, enter } = setup(100);
    enter(3);
    for (let i = 0; i < 50; i++) sample(200);
    assert.equal(admission.limit, MIN_LIMIT);
    assert.equal(enter(20), MIN_LIMIT - 3);
  });

  it('grows back while the loop keeps up, admitting those waiting, never above maxLimit', async () => {
    const { admission, sample, enter } = setup(100);
    enter(60);
    sample(40);
    sample(40);
    assert.equal(admission.limit, 54);
    const waiting = track(admission.enter(Infinity));
    sample(1);
    assert.equal(admission.limit, 57, '54 * 1.05 + 1');
    await settled();
    assert.equal(waiting.outcome, undefined, '60 still in flight');
    for (let i = 0; i < 30; i++) sample(1);
    assert.equal(admission.limit, 100);
    await settled();
    assert.equal(waiting.outcome, 'admitted');
  });
});
