import { strict as assert } from 'node:assert';
import {
  RtiError,
  type RtiCheck,
  type RtiErrorCode,
  type RtiInput,
  type RtiVerdict,
} from '../../../src/core/rti-port';
import { rtiInput } from '../../helpers/rti-input';
import { rtiVerdict } from '../../helpers/verdicts';
import { CircuitBreaker } from '../../../src/rti/circuit-breaker';
import { CircuitBreakingRti } from '../../../src/rti/circuit-breaking-rti';

const INPUT: RtiInput = rtiInput({
  host: 'a.example',
  clientIp: undefined,
  requestUrl: 'https://a.example/',
  requestTimeMs: 0,
});

/** An RTI that fails every call with the given code (or succeeds with undefined). */
class ScriptedRti implements RtiCheck {
  calls = 0;
  constructor(
    public failWith: RtiErrorCode | undefined,
    private readonly statusCode?: number,
  ) {}
  check(): Promise<RtiVerdict> {
    this.calls++;
    if (!this.failWith) return Promise.resolve(rtiVerdict());
    const options = this.statusCode === undefined ? {} : { statusCode: this.statusCode };
    return Promise.reject(new RtiError(this.failWith, 'scripted', options));
  }
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (err: unknown) {
    return err instanceof RtiError ? err.code : String(err);
  }
}

/** The event loop's longest delay during any call, as the monitor would report it. */
function setup(failWith: RtiErrorCode | undefined, loopDelayMs = 0, statusCode?: number) {
  const rti = new ScriptedRti(failWith, statusCode);
  const breaker = new CircuitBreaker({
    failureRatio: 0.5,
    windowMs: 10_000,
    minCalls: 2,
    openMs: 60_000,
    probes: 1,
  });
  let ignored = 0;
  const guarded = new CircuitBreakingRti(
    rti,
    breaker,
    { maxDelaySince: () => loopDelayMs },
    () => ignored++,
  );
  return { rti, breaker, guarded, ignored: () => ignored };
}

describe('CircuitBreakingRti', () => {
  for (const code of [
    'rti_timeout',
    'rti_connect_error',
    'rti_http_status',
    'rti_bad_response',
  ] as const) {
    it(`opens on repeated ${code} and then fails with rti_circuit_open without calling RTI`, async () => {
      const { rti, breaker, guarded } = setup(code);
      assert.equal(await outcome(guarded.check(INPUT, 100)), code);
      assert.equal(await outcome(guarded.check(INPUT, 100)), code);
      assert.equal(breaker.current, 'open');
      assert.equal(await outcome(guarded.check(INPUT, 100)), 'rti_circuit_open');
      assert.equal(rti.calls, 2);
    });
  }

  for (const code of ['cancelled', 'rti_overloaded'] as const) {
    it(`does not hold ${code} against RTI`, async () => {
      const { breaker, guarded } = setup(code);
      for (let i = 0; i < 4; i++) assert.equal(await outcome(guarded.check(INPUT, 100)), code);
      assert.equal(breaker.current, 'closed');
    });
  }

  // A visitor shapes the request RTI judges: a refusal of its content is no evidence against RTI.
  for (const status of [400, 413, 414, 422, 431]) {
    it(`does not hold HTTP ${status} (this request refused) against RTI`, async () => {
      const { rti, breaker, guarded } = setup('rti_http_status', 0, status);
      for (let i = 0; i < 10; i++) {
        assert.equal(await outcome(guarded.check(INPUT, 100)), 'rti_http_status');
      }
      assert.equal(breaker.current, 'closed');
      assert.equal(rti.calls, 10);
    });
  }

  // Every request alike is refused (key, endpoint), or RTI is shedding load or failing.
  for (const status of [401, 403, 404, 408, 429, 500, 502, 503]) {
    it(`opens on repeated HTTP ${status}`, async () => {
      const { breaker, guarded } = setup('rti_http_status', 0, status);
      await outcome(guarded.check(INPUT, 100));
      await outcome(guarded.check(INPUT, 100));
      assert.equal(breaker.current, 'open');
    });
  }

  it('does not hold a timeout against RTI when the event loop lagged over a quarter of the budget', async () => {
    const { breaker, guarded, ignored } = setup('rti_timeout', 26);
    for (let i = 0; i < 10; i++) {
      assert.equal(await outcome(guarded.check(INPUT, 100)), 'rti_timeout');
    }
    assert.equal(breaker.current, 'closed');
    assert.equal(ignored(), 10);
  });

  it('holds a timeout against RTI when the loop lag stayed within a quarter of the budget', async () => {
    const { breaker, guarded, ignored } = setup('rti_timeout', 25);
    await outcome(guarded.check(INPUT, 100));
    await outcome(guarded.check(INPUT, 100));
    assert.equal(breaker.current, 'open');
    assert.equal(ignored(), 0);
  });

  it('holds connection errors against RTI whatever the loop lag', async () => {
    const { breaker, guarded } = setup('rti_connect_error', 500);
    await outcome(guarded.check(INPUT, 100));
    await outcome(guarded.check(INPUT, 100));
    assert.equal(breaker.current, 'open');
  });

  it('passes verdicts through and counts them as successes', async () => {
    const { breaker, guarded } = setup(undefined);
    for (let i = 0; i < 4; i++) assert.equal(await outcome(guarded.check(INPUT, 100)), 'ok');
    assert.equal(breaker.current, 'closed');
  });
});
