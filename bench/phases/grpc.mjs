// @ts-check
// Phase grpc: saturation over gRPC, h2load closed loop (-c × -m in flight) against ours,
// (2) grpc-js + undici and (1) bare grpc-js, in interleaved rounds.

import { rounds, saturation } from '../lib/rounds.mjs';
import { versus } from '../lib/report-table.mjs';
import { throughputVerdict } from '../lib/targets.mjs';

/**
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {import('../lib/context.mjs').Target[]} targets ours, grpcUndici, grpcBare
 */
export async function grpcSaturation(bench, targets) {
  const all = await rounds(bench.knobs.rounds, 'gRPC saturation (h2load)', targets, (t, round) =>
    bench.one(t, () => bench.load.h2load(t.port, { warmupS: bench.warmupS(round) })),
  );
  return saturation(all, 'grpcUndici');
}

/**
 * @param {import('../lib/rounds.mjs').Saturation} summary
 * @param {import('../lib/report-table.mjs').TableRows} table
 */
export function grpcRows(summary, table) {
  table.sat('gRPC ours', summary, 'ours', versus(summary, 'grpcBare', '(1)'));
  table.sat('gRPC (2) grpc-js + undici', summary, 'grpcUndici');
  table.sat('gRPC (1) bare grpc-js', summary, 'grpcBare');
}

/**
 * @param {import('../lib/rounds.mjs').Saturation} summary
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function grpcVerdicts(summary, add) {
  throughputVerdict(summary, 'gRPC Check throughput / reference (2) grpc-undici', add);
}
