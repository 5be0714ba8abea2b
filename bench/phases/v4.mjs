// @ts-check
// Phases grpc-v4 and http-v4: the gRPC and HTTP saturations again with ours on RTI v4
// (CHEQ_API_VERSION=v4) against a reference making the v4 JSON call, in rounds of their own.
// One v4 process of ours serves both; every RTI call must have gone to the v4 path.

import { log } from '../lib/processes.mjs';
import { protectedNote } from '../lib/protection.mjs';
import { rounds, saturation } from '../lib/rounds.mjs';
import { rssMb } from '../lib/observe.mjs';
import { TARGETS, roundsNote } from '../lib/targets.mjs';

/** The RTI v4 path (rti-api.md §5); the stand-in counts the calls made to it. */
const V4_PATH = '/defend/4.0/traffic';

/**
 * @typedef {import('../lib/rounds.mjs').Saturation
 *   & { v4Calls: Record<string, { v4: number, all: number, onlyV4: boolean }> }} V4Saturation
 */

/** @param {import('../lib/context.mjs').Bench} bench */
export function v4Phases(bench) {
  /** @type {import('../lib/context.mjs').Started | undefined} */
  let oursV4;
  /** Our server on RTI v4, started for the first v4 phase. */
  const startOursV4 = async () => {
    if (!oursV4) {
      log('starting our server with CHEQ_API_VERSION=v4');
      oursV4 = await bench.start(
        bench.servers.ours(bench.rtiUrl, { env: { CHEQ_API_VERSION: 'v4' } }),
      );
    }
    return oursV4;
  };
  /**
   * @param {'gRPC' | 'HTTP'} transport
   * @param {'grpc-undici-v4' | 'http-undici-v4'} kind
   * @param {'grpcUndiciV4' | 'httpUndiciV4'} key
   * @returns {Promise<V4Saturation>}
   */
  const phase = async (transport, kind, key) => {
    const ours = await startOursV4();
    log(`starting the ${transport} reference on RTI v4`);
    const reference = await bench.start(bench.servers.reference(kind, bench.rtiUrl));
    const grpc = transport === 'gRPC';
    const targets = [
      {
        key: 'ours',
        server: ours,
        port: Number(ours.info[grpc ? 'grpcPort' : 'httpPort']),
        metricsPort: Number(ours.info['metricsPort']),
      },
      { key, server: reference, port: Number(reference.info['port']) },
    ];
    const label = `${transport} ${grpc ? '' : 'auth-request '}saturation on RTI v4 (${grpc ? 'h2load' : 'wrk'})`;
    const all = await rounds(bench.knobs.rounds, label, targets, (t, round) => {
      const options = { warmupS: bench.warmupS(round) };
      return grpc
        ? bench.one(t, () => bench.load.h2load(t.port, options))
        : bench.one(t, () => bench.load.wrk(t.port, options));
    });
    await reference.stop();
    return withV4Calls(saturation(all, key));
  };
  return {
    grpc: () => phase('gRPC', 'grpc-undici-v4', 'grpcUndiciV4'),
    http: () => phase('HTTP', 'http-undici-v4', 'httpUndiciV4'),
    /** Stops our v4 server, if a v4 phase ran; its pid and RSS at the end. */
    async finish() {
      if (!oursV4) return undefined;
      const done = { pid: oursV4.pid, rssAfterMb: rssMb(oursV4.pid) };
      const code = await oursV4.stop();
      if (code !== 0)
        log(`our v4 server exited with ${code}:\n${oursV4.tail.slice(-5).join('\n')}`);
      return done;
    },
  };
}

/**
 * A v4 phase's RTI calls, per target summed over its rounds, as the stand-in counted them: all
 * of them and those made to /defend/4.0/traffic. Every call must be a v4 one, or the phase did
 * not measure RTI v4.
 * @param {import('../lib/rounds.mjs').Saturation} summary
 * @returns {V4Saturation}
 */
function withV4Calls(summary) {
  /** @type {V4Saturation['v4Calls']} */
  const v4Calls = {};
  for (const key of Object.keys(summary.median)) {
    const calls = { v4: 0, all: 0 };
    for (const round of summary.rounds) {
      const c = round[key]?.['rtiCalls'] ?? {};
      calls.v4 += c.v4 ?? 0;
      calls.all += (c.verdicts ?? 0) + (c.hung ?? 0);
    }
    v4Calls[key] = { ...calls, onlyV4: calls.all > 0 && calls.v4 === calls.all };
  }
  return { ...summary, v4Calls };
}

/**
 * "6154/6154 RTI calls to /defend/4.0/traffic" for a v4 phase's target, [!] if not all.
 * @param {V4Saturation} summary
 * @param {string} key
 */
const v4CallsNote = (summary, key) => {
  const calls = summary.v4Calls[key] ?? { v4: 0, all: 0, onlyV4: false };
  return `${calls.v4}/${calls.all} RTI calls to ${V4_PATH}${calls.onlyV4 ? '' : ' [!] not all'}`;
};

/**
 * The v4 rows sit under their v1 counterparts; each says how many RTI calls went to v4.
 * @param {'gRPC' | 'HTTP'} transport
 * @param {V4Saturation} summary
 * @param {import('../lib/report-table.mjs').TableRows} table
 */
export function v4Rows(transport, summary, table) {
  const [refName, refKey] =
    transport === 'gRPC'
      ? ['gRPC v4 (2v4) grpc-js + undici', 'grpcUndiciV4']
      : ['HTTP v4 (4v4) node:http + undici', 'httpUndiciV4'];
  table.sat(`${transport} v4 ours`, summary, 'ours', `; ${v4CallsNote(summary, 'ours')}`);
  table.sat(refName, summary, refKey, `; ${v4CallsNote(summary, refKey)}`);
}

/**
 * Throughput on RTI v4 ÷ the v4 reference ≥ the target, and every RTI call on v4.
 * @param {'gRPC' | 'HTTP'} transport
 * @param {V4Saturation} summary
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function v4Verdicts(transport, summary, add) {
  const [refKey, label] =
    transport === 'gRPC'
      ? ['grpcUndiciV4', 'gRPC Check throughput on RTI v4 / reference (2v4) grpc-undici-v4']
      : ['httpUndiciV4', 'HTTP auth-request throughput on RTI v4 / reference (4v4) http-undici-v4'];
  const ratio = summary.ratio['ours'] ?? { median: undefined, rounds: [] };
  add(
    label,
    ratio.median,
    `≥ ${TARGETS.throughputRatio}, every RTI call on v4`,
    Number(ratio.median) >= TARGETS.throughputRatio &&
      summary.v4Calls['ours']?.onlyV4 === true &&
      summary.v4Calls[refKey]?.onlyV4 === true,
    `${roundsNote(ratio)}; ours protected ${protectedNote(summary.median['ours'] ?? {})}; ours ${v4CallsNote(summary, 'ours')}, reference ${v4CallsNote(summary, refKey)}`,
  );
}
