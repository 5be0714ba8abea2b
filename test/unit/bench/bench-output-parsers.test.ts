// The bench's readers of h2load and wrk output, against real output of both tools saved in
// bench/fixtures (h2load 1.52, wrk 4.1 on loopback; how each was made: bench/fixtures/README.md).

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const BENCH = join(__dirname, '..', '..', '..', '..', 'bench');

interface H2loadSummary {
  tool: 'h2load';
  reqPerS: number;
  elapsedS: number;
  started: number;
  done: number;
  failed: number;
}
interface WrkSummary {
  tool: 'wrk';
  reqPerS: number;
  done: number;
  failed: number;
  socketErrors?: string;
  latencyMs: { p50?: number; p90?: number; p99?: number };
}
interface Parsers {
  parseH2loadOutput(out: string): H2loadSummary;
  parseH2loadLog(log: string): Record<string, number>;
  parseWrkOutput(out: string): WrkSummary;
  wrkUnitMs(text: string): number | undefined;
}

/** The bench is ES modules (.mjs) outside the TypeScript build: loaded as they run. */
async function parsers(): Promise<Parsers> {
  const load = (file: string) => import(pathToFileURL(join(BENCH, 'lib', file)).href);
  return { ...(await load('h2load-output.mjs')), ...(await load('wrk-output.mjs')) } as Parsers;
}

const fixture = (name: string) => readFileSync(join(BENCH, 'fixtures', name), 'utf8');

describe('bench: h2load output', () => {
  let p: Parsers;
  before(async () => {
    p = await parsers();
  });

  it('reads a saturation run: req/s over the measured time, elapsed including the warm-up', () => {
    // -D 2 --warm-up-time=1: 26269 answers in the 2 s measured, "finished in 3.00s".
    assert.deepEqual(p.parseH2loadOutput(fixture('h2load-saturation.txt')), {
      tool: 'h2load',
      reqPerS: 13134.5,
      elapsedS: 3,
      started: 26269,
      done: 26269,
      failed: 0,
    });
  });

  it('reads a run shorter than a second, whose duration h2load prints in ms', () => {
    const out = p.parseH2loadOutput(fixture('h2load-requests.txt'));
    assert.equal(out.elapsedS, 0.0414);
    assert.equal(out.reqPerS, 4830.92);
    assert.equal(out.done, 200);
  });

  it('counts failed requests once: errored and timeout are part of failed', () => {
    // 20 requests: 8 answered, 12 failed (all errored, 8 of them by the inactivity timeout).
    const out = p.parseH2loadOutput(fixture('h2load-timeout.txt'));
    assert.deepEqual(
      { started: out.started, done: out.done, failed: out.failed },
      { started: 16, done: 8, failed: 12 },
    );
  });

  it('reads zero requests: nobody listening, and a server that never answers', () => {
    const refused = p.parseH2loadOutput(fixture('h2load-refused.txt'));
    assert.deepEqual([refused.reqPerS, refused.started, refused.done], [0, 0, 0]);
    const hung = p.parseH2loadOutput(fixture('h2load-hang.txt'));
    assert.deepEqual([hung.reqPerS, hung.started, hung.done, hung.failed], [0, 8, 0, 0]);
    assert.equal(hung.elapsedS, 2.01);
  });

  it('refuses output without its summary, quoting it', () => {
    assert.throws(() => p.parseH2loadOutput(''), /cannot read h2load output/);
    assert.throws(
      () => p.parseH2loadOutput(fixture('wrk-saturation.txt')),
      /cannot read h2load output:\nRunning 2s test/,
    );
  });

  it('reads latency percentiles in ms from the per-request log (checked with sort -g)', () => {
    // --rps=50 for 4 clients, 2 s: 400 lines; column 3 is µs.
    assert.deepEqual(p.parseH2loadLog(fixture('h2load-rps.log')), {
      p50: 2.317,
      p90: 5.506,
      p99: 8.762,
      p999: 8.888,
      max: 8.888,
    });
    assert.deepEqual(p.parseH2loadOutput(fixture('h2load-rps.txt')).done, 400);
  });

  it('reads an empty log as no percentiles', () => {
    assert.deepEqual(p.parseH2loadLog(''), {});
  });
});

describe('bench: wrk output', () => {
  let p: Parsers;
  before(async () => {
    p = await parsers();
  });

  it('reads a saturation run with its latency distribution', () => {
    assert.deepEqual(p.parseWrkOutput(fixture('wrk-saturation.txt')), {
      tool: 'wrk',
      reqPerS: 27506.11,
      done: 57760,
      failed: 0,
      latencyMs: { p50: 0.251, p90: 0.777, p99: 3.8 },
    });
  });

  it('counts non-2xx answers as failed', () => {
    const out = p.parseWrkOutput(fixture('wrk-503.txt'));
    assert.deepEqual([out.done, out.failed], [20861, 20861]);
    assert.deepEqual(out.latencyMs, { p50: 0.342, p90: 1.15, p99: 4.94 });
  });

  it('keeps socket errors: timeouts and reset connections', () => {
    const timeout = p.parseWrkOutput(fixture('wrk-timeout.txt'));
    assert.equal(timeout.socketErrors, 'connect 0, read 0, write 0, timeout 8');
    assert.deepEqual([timeout.reqPerS, timeout.done], [2, 8]);
    const reset = p.parseWrkOutput(fixture('wrk-reset.txt'));
    assert.equal(reset.socketErrors, 'connect 0, read 3907, write 0, timeout 0');
    assert.equal(reset.latencyMs.p99, 5.31);
  });

  it('reads zero requests from a server that never answers', () => {
    const out = p.parseWrkOutput(fixture('wrk-hang.txt'));
    assert.deepEqual([out.reqPerS, out.done, out.failed], [0, 0, 0]);
    assert.equal(out.socketErrors, undefined);
  });

  it('refuses output without Requests/sec (nobody listening), quoting it', () => {
    assert.throws(
      () => p.parseWrkOutput(fixture('wrk-refused.txt')),
      /cannot read wrk output:\nunable to connect to 127\.0\.0\.1:47199/,
    );
  });

  it('converts every unit wrk prints to ms', () => {
    const cases: [string, number | undefined][] = [
      ['251.00us', 0.251],
      ['3.80ms', 3.8],
      ['1.50s', 1500],
      ['2.00m', 120_000],
      ['0.00us', 0],
      ['1.00h', undefined],
      ['', undefined],
    ];
    for (const [text, ms] of cases) assert.equal(p.wrkUnitMs(text), ms, text);
  });
});
