// Warm-up before reporting ready: realistic checks through throwaway gRPC and HTTP listeners on
// a decision chain of their own, against the built-in RTI emulator in this process, so that V8
// has optimized the check path (grpc-js, http2, protobufjs, node:http, both adapters, the core,
// undici) before real checks arrive. Nothing is sent to the configured RTI.

import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
import { loadExtAuthzPackage } from '../adapters/grpc/load-protos';
import { AUTH_REQUEST_PATH } from '../adapters/http/nginx-auth-request';
import { startRtiEmulator } from '../emulator/rti-emulator';
import { toAuthRequestHeaders, toCheckRequest, warmUpRequest } from './warm-up-requests';

/** The throwaway listeners the warm-up checks go through, started on the emulator's URL. */
export interface WarmUpTarget {
  readonly grpcPort: number;
  readonly httpPort: number;
  close(): Promise<void>;
}

export interface WarmUpReport {
  /** Checks answered. */
  readonly checks: number;
  /** Checks that got no answer (an error of the warm-up clients, not a fail-open). */
  readonly errors: number;
  /** False when the time budget ran out before every check was sent. */
  readonly complete: boolean;
}

/** Checks in flight at once, like a few proxies' connections: enough to run the pool's paths. */
const CONCURRENCY = 8;
/** A warm-up check unanswered by then is given up (RTI timeouts are far shorter). */
const CHECK_TIMEOUT_MS = 2000;

/**
 * Sends `checks` checks, alternately over gRPC and HTTP, through the listeners `startTarget`
 * starts on the emulator's URL; stops sending once `budgetMs` is spent. Closes everything.
 */
export async function warmUp(
  checks: number,
  budgetMs: number,
  startTarget: (rtiEndpoint: URL) => Promise<WarmUpTarget>,
): Promise<WarmUpReport> {
  const deadline = performance.now() + budgetMs;
  const emulator = await startRtiEmulator();
  let target: WarmUpTarget | undefined;
  let client: grpc.Client | undefined;
  let pool: Pool | undefined;
  try {
    target = await startTarget(new URL(emulator.url));
    const { proto } = loadExtAuthzPackage();
    const grpcClient = new proto.envoy.service.auth.v3.Authorization(
      `127.0.0.1:${target.grpcPort}`,
      grpc.credentials.createInsecure(),
    );
    client = grpcClient;
    const httpPool = new Pool(`http://127.0.0.1:${target.httpPort}`, {
      connections: CONCURRENCY,
      headersTimeout: CHECK_TIMEOUT_MS,
      bodyTimeout: CHECK_TIMEOUT_MS,
    });
    pool = httpPool;

    const overGrpc = (i: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const options = { deadline: Date.now() + CHECK_TIMEOUT_MS };
        grpcClient.Check(toCheckRequest(warmUpRequest(i)), options, err =>
          err ? reject(err) : resolve(),
        );
      });
    const overHttp = async (i: number): Promise<void> => {
      const { body } = await httpPool.request({
        path: AUTH_REQUEST_PATH,
        method: 'GET',
        headers: toAuthRequestHeaders(warmUpRequest(i)),
      });
      await body.dump();
    };

    let sent = 0;
    let answered = 0;
    let errors = 0;
    const sender = async (): Promise<void> => {
      while (sent < checks && performance.now() < deadline) {
        const i = sent++;
        try {
          await (i % 2 === 0 ? overGrpc(i) : overHttp(i));
          answered++;
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, checks) }, sender));
    return { checks: answered, errors, complete: sent >= checks };
  } finally {
    client?.close();
    await pool?.destroy();
    await target?.close();
    await emulator.close();
  }
}
