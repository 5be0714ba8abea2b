// @ts-check
// The processes the bench measures: our server (dist/main.js, or another build's), the
// reference servers and the RTI stand-in, each pinned to its core and started until ready.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { environment } from './knobs.mjs';
import { BENCH_DIR, MAIN, ROOT } from './paths.mjs';
import { pinned, startProcess } from './processes.mjs';

/** @typedef {import('./processes.mjs').Started} Started */
/** @typedef {Started & { url: string, controlUrl: string }} StandIn */

/**
 * Our server's own defaults instead of the bench's circuit breaker off, in-flight bound of
 * 100000 and the references' RTI connections (see `ours`): the protection phase measures the
 * server as it ships.
 * @type {Record<string, string | undefined>}
 */
export const AS_SHIPPED = {
  CHEQ_RTI_CIRCUIT_BREAKER: undefined,
  CHEQ_RTI_MAX_IN_FLIGHT: undefined,
  CHEQ_RTI_CONNECTIONS: undefined,
};

/**
 * The flags between `node` and `dist/main.js` in the Dockerfile's ENTRYPOINT: our server runs
 * as shipped, and the references on the same runtime settings, so that ratios compare code.
 * @returns {string[]}
 */
function shippedNodeFlags() {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  /** @type {unknown} */
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]');
  if (
    !Array.isArray(entrypoint) ||
    entrypoint[0] !== 'node' ||
    entrypoint.at(-1) !== 'dist/main.js'
  ) {
    throw new Error(`unexpected Dockerfile ENTRYPOINT ${JSON.stringify(entrypoint)}`);
  }
  return entrypoint.slice(1, -1).map(String);
}

/**
 * This process's environment without any setting of our server (nor BENCH_*), plus `extra`;
 * an `extra` key set to undefined leaves that setting to the server's own default.
 * @param {Record<string, string | undefined>} extra
 */
function serverEnv(extra) {
  /** @type {NodeJS.ProcessEnv} */
  const clean = {};
  for (const [key, value] of Object.entries(environment())) {
    if (
      /^(CHEQ_|GRPC_|HTTP_|METRICS_|SHUTDOWN_|WORKERS$|HOST$|CONFIG_FILE$|LOG_LEVEL$|NODE_OPTIONS$|BENCH_)/.test(
        key,
      )
    ) {
      continue;
    }
    clean[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete clean[key];
    else clean[key] = value;
  }
  return clean;
}

/**
 * @typedef {object} OursOptions
 * @property {string[]} [nodeArgs] default: the Dockerfile's flags, then BENCH_NODE_ARGS
 * @property {Record<string, string | undefined>} [env] on top of the bench's settings
 * @property {string} [cpu] default: BENCH_SERVER_CPU
 * @property {string} [main] another build's main.js
 */

/** @param {import('./knobs.mjs').Knobs} knobs */
export function serverStarters(knobs) {
  const referenceNodeArgs = shippedNodeFlags();
  const ourNodeArgs = [...referenceNodeArgs, ...knobs.nodeArgs];

  /** @returns {Promise<StandIn>} */
  async function standIn() {
    const started = await startProcess(
      'rti-stand-in',
      pinned(knobs.rtiCpu, process.execPath, [join(BENCH_DIR, 'rti-stand-in.mjs')]),
      {
        env: {
          ...environment(),
          BENCH_RTI_LATENCY_MS: String(knobs.rtiLatencyMs),
          BENCH_RTI_PORT: '0',
        },
        ready: line => line['ready'] === 'rti-stand-in',
      },
    );
    return {
      ...started,
      url: `http://127.0.0.1:${started.info['port']}`,
      controlUrl: `http://127.0.0.1:${started.info['controlPort']}`,
    };
  }

  /**
   * Our server on the server core; info holds its ports (grpcPort, httpPort, metricsPort).
   * @param {string} rtiUrl
   * @param {OursOptions} [options]
   */
  function ours(
    rtiUrl,
    { nodeArgs = ourNodeArgs, env = {}, cpu = knobs.serverCpu, main = MAIN } = {},
  ) {
    return startProcess('cheq-rti-authz', pinned(cpu, process.execPath, [...nodeArgs, main]), {
      env: serverEnv({
        CHEQ_API_KEY: 'bench-api-key',
        CHEQ_TAG_HASH: 'bench-tag-hash',
        CHEQ_API_ENDPOINT: rtiUrl,
        CHEQ_MODE: 'blocking',
        CHEQ_TIMEOUT_MS: String(knobs.timeoutMs),
        CHEQ_RTI_CIRCUIT_BREAKER: 'false',
        CHEQ_RTI_MAX_IN_FLIGHT: '100000',
        CHEQ_RTI_CONNECTIONS: String(knobs.rtiConnections),
        // The names before the CHEQ_ prefix (issue 21): builds since then read them with a warning,
        // and compare-builds can still start a build from before, which refuses CHEQ_HOST.
        HOST: '127.0.0.1',
        GRPC_PORT: '0',
        HTTP_PORT: '0',
        METRICS_PORT: '0',
        LOG_LEVEL: knobs.logLevel,
        ...env,
      }),
      ready: line => line['msg'] === 'cheq-rti-authz listening',
      // Room for a warm-up before it listens.
      timeoutMs: 60_000,
    });
  }

  /**
   * One of bench/reference-servers.mjs on the server core; info.port is its port.
   * @param {string} kind
   * @param {string} rtiUrl
   * @param {{ nodeArgs?: string[], env?: Record<string, string> }} [options]
   */
  function reference(kind, rtiUrl, { nodeArgs = referenceNodeArgs, env = {} } = {}) {
    const script = join(BENCH_DIR, 'reference-servers.mjs');
    return startProcess(
      kind,
      pinned(knobs.serverCpu, process.execPath, [...nodeArgs, script, kind]),
      {
        env: {
          ...environment(),
          ...env,
          BENCH_PORT: '0',
          BENCH_RTI_URL: rtiUrl,
          BENCH_RTI_CONNECTIONS: String(knobs.rtiConnections),
          BENCH_TIMEOUT_MS: String(knobs.timeoutMs),
        },
        ready: line => line['ready'] === kind,
      },
    );
  }

  /**
   * redis-server (Debian's, on PATH) on the load core, on a free port of 127.0.0.1, its files
   * in a temporary directory removed when it stops; nothing is saved. url: redis://127.0.0.1:N.
   * @returns {Promise<Started & { url: string }>}
   */
  async function redis() {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'cheq-bench-redis-'));
    const started = await startProcess(
      'redis-server',
      pinned(knobs.loadCpu, 'redis-server', [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
        ...['--save', '', '--appendonly', 'no'],
      ]),
      {
        env: environment(),
        ready: () => false,
        readyText: line => line.includes('Ready to accept'),
      },
    );
    return {
      ...started,
      url: `redis://127.0.0.1:${port}`,
      stop: async () => {
        const code = await started.stop();
        rmSync(dir, { recursive: true, force: true });
        return code;
      },
    };
  }

  return { standIn, ours, reference, redis, ourNodeArgs, referenceNodeArgs };
}

/** A port of 127.0.0.1 free a moment ago (redis-server takes no port 0). @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (probe.address());
      probe.close(() => resolve(port));
    });
  });
}

/** @typedef {ReturnType<typeof serverStarters>} ServerStarters */
