// The bench's table of BENCH_* variables: defaults, a script's own default, and every bad value
// named in one error.

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface KnobsModule {
  readKnobs(script: string, env: Record<string, string>): Record<string, unknown>;
  knobsHelp(): string;
  KNOBS: Record<string, { env: string }>;
}

const knobsModule = async () =>
  (await import(
    pathToFileURL(join(__dirname, '..', '..', '..', '..', 'bench', 'lib', 'knobs.mjs')).href
  )) as KnobsModule;

describe('bench: BENCH_* knobs', () => {
  let m: KnobsModule;
  before(async () => {
    m = await knobsModule();
  });

  it('reads the defaults, the RTI stand-in on the load core unless told otherwise', () => {
    const knobs = m.readKnobs('run', {});
    assert.equal(knobs['rounds'], 5);
    assert.equal(knobs['grpcTimeout'], '200m');
    assert.equal(knobs['rtiCpu'], '1');
    assert.deepEqual(
      [...(knobs['phases'] as Set<string>)],
      [
        'grpc',
        'grpc-v4',
        'rate',
        'hang',
        'http',
        'http-v4',
        'workers',
        'protection',
        'challenge',
        'memory',
      ],
    );
    assert.equal(m.readKnobs('run', { BENCH_LOAD_CPU: '3' })['rtiCpu'], '3');
  });

  it('gives a script its own default, and a value set wins over it', () => {
    assert.equal(m.readKnobs('compare-builds', {})['rounds'], 16);
    assert.equal(m.readKnobs('compare-node-flags', {})['rounds'], 6);
    assert.equal(m.readKnobs('compare-builds', { BENCH_ROUNDS: '2' })['rounds'], 2);
  });

  it('parses each form: phases in their order, flags, JSON, node args, an empty timeout', () => {
    const knobs = m.readKnobs('run', {
      BENCH_PHASES: 'protection, grpc',
      BENCH_MILLION: '1',
      BENCH_AB_ENV: '{"CHEQ_API_VERSION":"v4"}',
      BENCH_NODE_ARGS: '--max-semi-space-size=8  --no-opt',
      BENCH_GRPC_TIMEOUT: '',
      BENCH_RATE_FRACTION: '0.25',
      BENCH_CHALLENGE_DIFFICULTY: '24',
      BENCH_MEMORY_PARTS: 'sync,fill',
    });
    assert.deepEqual([...(knobs['phases'] as Set<string>)], ['grpc', 'protection']);
    assert.deepEqual([...(knobs['memoryParts'] as Set<string>)], ['fill', 'sync']);
    assert.deepEqual(
      [...(m.readKnobs('run', {})['memoryParts'] as Set<string>)],
      ['scenarios', 'fill', 'sync'],
    );
    assert.equal(knobs['million'], true);
    assert.deepEqual(knobs['abEnv'], { CHEQ_API_VERSION: 'v4' });
    assert.deepEqual(knobs['nodeArgs'], ['--max-semi-space-size=8', '--no-opt']);
    assert.equal(knobs['grpcTimeout'], '');
    assert.equal(knobs['rateFraction'], 0.25);
    assert.equal(knobs['challengeDifficulty'], 24);
  });

  it('names every bad value and unknown BENCH_ variable in one error', () => {
    assert.throws(
      () =>
        m.readKnobs('run', {
          BENCH_ROUNDS: '0',
          BENCH_DURATION_S: '2s',
          BENCH_PHASES: 'grpc,gprc',
          BENCH_MEMORY_PARTS: 'fill,full',
          BENCH_AB_ENV: '{"A":1}',
          BENCH_MILLION: 'yes',
          BENCH_SERVER_CPU: 'zero',
          BENCH_CHALLENGE_DIFFICULTY: '7',
          BENCH_ROUND: '3',
          NOT_OURS: 'x',
        }),
      (err: Error) => {
        assert.equal(err.name, 'KnobError');
        for (const expected of [
          'BENCH_ROUND: unknown variable',
          'BENCH_ROUNDS="0": must be ≥ 1',
          'BENCH_DURATION_S="2s": not a whole number ≥ 0 (expected s)',
          'BENCH_PHASES="grpc,gprc": unknown gprc',
          'BENCH_MEMORY_PARTS="fill,full": unknown full',
          'BENCH_AB_ENV="{\\"A\\":1}": not a JSON object of strings',
          'BENCH_MILLION="yes": not 0 or 1',
          'BENCH_SERVER_CPU="zero": not a taskset core list',
          'BENCH_CHALLENGE_DIFFICULTY="7": must be 8 to 24 (expected bits)',
        ]) {
          assert.ok(err.message.includes(expected), `${expected} in:\n${err.message}`);
        }
        assert.ok(!err.message.includes('NOT_OURS'));
        return true;
      },
    );
  });

  it('lists every variable in --help, each once', () => {
    const help = m.knobsHelp();
    for (const { env } of Object.values(m.KNOBS)) {
      assert.equal(help.split('\n').filter(line => line.startsWith(`${env} `)).length, 1, env);
    }
  });
});
