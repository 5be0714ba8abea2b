// A hand-written RtiCheck for the decision core's unit tests (no mocking library needed).

import type { Cancellation } from '../../../src/core/cancellation';
import type { RtiCheck, RtiInput, RtiVerdict } from '../../../src/core/rti-port';

export interface RtiCall {
  readonly input: RtiInput;
  readonly timeoutMs: number;
  readonly cancellation: Cancellation | undefined;
}

/** Records every call, then answers with the programmed outcome (a verdict, or what it throws). */
export class FakeRti implements RtiCheck {
  readonly calls: RtiCall[] = [];

  constructor(private readonly answer: (call: RtiCall) => RtiVerdict) {}

  check(input: RtiInput, timeoutMs: number, cancellation?: Cancellation): Promise<RtiVerdict> {
    const call = { input, timeoutMs, cancellation };
    this.calls.push(call);
    try {
      return Promise.resolve(this.answer(call));
    } catch (err: unknown) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  static answering(verdict: RtiVerdict): FakeRti {
    return new FakeRti(() => verdict);
  }

  static failing(err: Error): FakeRti {
    return new FakeRti(() => {
      throw err;
    });
  }
}
