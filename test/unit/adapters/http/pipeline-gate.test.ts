import { strict as assert } from 'node:assert';
import {
  MAX_CHECKS_PER_CONNECTION,
  MAX_WAITING_PER_CONNECTION,
  MAX_WAITING_PER_PROCESS,
  PipelineGate,
  type GatedConnection,
} from '../../../../src/adapters/http/pipeline-gate';

class FakeConnection implements GatedConnection {
  destroyed = false;
  destroy(): void {
    this.destroyed = true;
  }
}

/** A gate whose checks run until the test finishes them, in start order. */
function setup() {
  let overflows = 0;
  const gate = new PipelineGate(() => overflows++);
  const started: string[] = [];
  const finishers: (() => void)[] = [];
  const admit = (connection: GatedConnection, name: string): void =>
    gate.admit(connection, () => {
      started.push(name);
      return new Promise<void>(resolve => finishers.push(resolve));
    });
  /** Finishes the oldest unfinished check and lets the gate react. */
  const finishOne = async (): Promise<void> => {
    finishers.shift()?.();
    await new Promise(resolve => setImmediate(resolve));
  };
  return { gate, started, admit, finishOne, overflows: () => overflows };
}

describe('PipelineGate', () => {
  it(`starts at most ${MAX_CHECKS_PER_CONNECTION} checks of one connection; the rest wait`, () => {
    const { gate, started, admit } = setup();
    const connection = new FakeConnection();
    for (let i = 0; i < 10; i++) admit(connection, `c${i}`);
    assert.equal(started.length, MAX_CHECKS_PER_CONNECTION);
    assert.equal(gate.waiting, 10 - MAX_CHECKS_PER_CONNECTION);
  });

  it('starts waiting checks in order as earlier ones finish', async () => {
    const { gate, started, admit, finishOne } = setup();
    const connection = new FakeConnection();
    for (let i = 0; i < MAX_CHECKS_PER_CONNECTION + 2; i++) admit(connection, `c${i}`);
    await finishOne();
    assert.deepEqual(started.slice(MAX_CHECKS_PER_CONNECTION), [`c${MAX_CHECKS_PER_CONNECTION}`]);
    await finishOne();
    assert.equal(started.length, MAX_CHECKS_PER_CONNECTION + 2);
    assert.equal(gate.waiting, 0);
  });

  it('keeps connections apart: one full connection does not hold up another', () => {
    const { started, admit } = setup();
    const busy = new FakeConnection();
    for (let i = 0; i < MAX_CHECKS_PER_CONNECTION + 5; i++) admit(busy, 'busy');
    admit(new FakeConnection(), 'fresh');
    assert.ok(started.includes('fresh'));
  });

  it('closes a connection that pipelines past its line, once, and forgets what waited', () => {
    const { gate, started, admit, overflows } = setup();
    const connection = new FakeConnection();
    const limit = MAX_CHECKS_PER_CONNECTION + MAX_WAITING_PER_CONNECTION;
    for (let i = 0; i < limit; i++) admit(connection, 'c');
    assert.equal(connection.destroyed, false);
    for (let i = 0; i < 100; i++) admit(connection, 'c');
    assert.equal(connection.destroyed, true);
    assert.equal(overflows(), 1);
    assert.equal(gate.waiting, 0);
    assert.equal(started.length, MAX_CHECKS_PER_CONNECTION);
  });

  it('starts nothing more on a connection closed meanwhile', async () => {
    const { gate, started, admit, finishOne } = setup();
    const connection = new FakeConnection();
    for (let i = 0; i < MAX_CHECKS_PER_CONNECTION + 3; i++) admit(connection, 'c');
    connection.destroy();
    await finishOne();
    assert.equal(started.length, MAX_CHECKS_PER_CONNECTION);
    assert.equal(gate.waiting, 0);
  });

  it(`closes the connection whose request would wait past ${MAX_WAITING_PER_PROCESS} in the process`, () => {
    const { gate, admit, overflows } = setup();
    const perConnection = MAX_WAITING_PER_CONNECTION;
    const connections = Array.from(
      { length: Math.ceil(MAX_WAITING_PER_PROCESS / perConnection) },
      () => new FakeConnection(),
    );
    for (const connection of connections) {
      for (let i = 0; i < MAX_CHECKS_PER_CONNECTION + perConnection; i++) admit(connection, 'c');
    }
    assert.equal(gate.waiting, MAX_WAITING_PER_PROCESS);
    assert.equal(overflows(), 0);
    const late = new FakeConnection();
    for (let i = 0; i < MAX_CHECKS_PER_CONNECTION + 1; i++) admit(late, 'c');
    assert.equal(late.destroyed, true);
    assert.equal(overflows(), 1);
  });
});
