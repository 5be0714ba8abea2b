// @ts-check
// Phase workers: WORKERS=1 against WORKERS=2, both free to use every core (the load generator
// and the RTI stand-in too, so on a 2-core machine the gain is bounded by what h2load leaves).

import { cpus } from 'node:os';
import { observe } from '../lib/observe.mjs';
import { log } from '../lib/processes.mjs';
import { rounds, saturation } from '../lib/rounds.mjs';

/** @param {import('../lib/context.mjs').Bench} bench */
export async function workersScaling(bench) {
  const everyCore = `0-${cpus().length - 1}`;
  log(`starting our server with WORKERS=1 and WORKERS=2 on cores ${everyCore}`);
  /** @type {import('../lib/context.mjs').Target[]} */
  const targets = [];
  for (const workers of [1, 2]) {
    const server = await bench.start(
      bench.servers.ours(bench.rtiUrl, { env: { WORKERS: String(workers) }, cpu: everyCore }),
    );
    targets.push({ key: `workers${workers}`, server, port: Number(server.info['grpcPort']) });
  }
  const result = saturation(
    await rounds(
      bench.knobs.rounds,
      'gRPC saturation, WORKERS=1 and 2 (h2load)',
      targets,
      (t, round) =>
        observe(undefined, () =>
          bench.load.h2load(t.port, { warmupS: bench.warmupS(round), cpu: everyCore }),
        ),
    ),
    'workers1',
  );
  for (const t of targets) await t.server.stop();
  return result;
}

/**
 * Measured, not a target: how much a second worker gives.
 * @param {import('../lib/rounds.mjs').Saturation} workers
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function workersVerdicts(workers, add) {
  const scaling = workers.ratio['workers2'] ?? { median: undefined, rounds: [] };
  add(
    'WORKERS=2 throughput / WORKERS=1 (all cores shared with the load generator)',
    scaling.median,
    'measured',
    undefined,
    `${Math.round(workers.median['workers1']?.['reqPerS'])} → ${Math.round(workers.median['workers2']?.['reqPerS'])} req/s; rounds ${scaling.rounds.join(', ')}`,
  );
}
