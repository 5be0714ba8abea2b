// @ts-check
// Phase http: saturation of the NGINX auth_request endpoint, wrk closed loop against ours,
// (4) node:http + undici and (3) bare node:http, in interleaved rounds. Starts and stops its
// references itself.

import { log } from '../lib/processes.mjs';
import { rounds, saturation } from '../lib/rounds.mjs';
import { versus } from '../lib/report-table.mjs';
import { throughputVerdict } from '../lib/targets.mjs';

/**
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {import('../lib/context.mjs').Target} ours ours on its HTTP port
 */
export async function httpSaturation(bench, ours) {
  log('starting the HTTP references');
  const httpUndici = await bench.start(bench.servers.reference('http-undici', bench.rtiUrl));
  const httpBare = await bench.start(bench.servers.reference('http-bare', bench.rtiUrl));
  const targets = [
    ours,
    { key: 'httpUndici', server: httpUndici, port: Number(httpUndici.info['port']) },
    { key: 'httpBare', server: httpBare, port: Number(httpBare.info['port']) },
  ];
  const all = await rounds(
    bench.knobs.rounds,
    'HTTP auth-request saturation (wrk)',
    targets,
    (t, round) => bench.one(t, () => bench.load.wrk(t.port, { warmupS: bench.warmupS(round) })),
  );
  await httpUndici.stop();
  await httpBare.stop();
  return saturation(all, 'httpUndici');
}

/**
 * @param {import('../lib/rounds.mjs').Saturation} summary
 * @param {import('../lib/report-table.mjs').TableRows} table
 */
export function httpRows(summary, table) {
  table.sat('HTTP ours', summary, 'ours', versus(summary, 'httpBare', '(3)'));
  table.sat('HTTP (4) node:http + undici', summary, 'httpUndici');
  table.sat('HTTP (3) bare node:http', summary, 'httpBare');
}

/**
 * @param {import('../lib/rounds.mjs').Saturation} summary
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function httpVerdicts(summary, add) {
  throughputVerdict(summary, 'HTTP auth-request throughput / reference (4) http-undici', add);
}
