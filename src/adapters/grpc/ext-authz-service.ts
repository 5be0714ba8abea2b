// The gRPC adapter: envoy.service.auth.v3.Authorization/Check onto the decision core.
// Calls back exactly once on every path; never answers with an RPC error (we fail open).

import type * as grpc from '@grpc/grpc-js';
import type { Decide } from '../../core/decide';
import type { CheckRequest } from '../../generated/envoy/service/auth/v3/CheckRequest';
import type { Logger } from '../../observability/logger';
import { serverServiceDefinition } from './check-codec';
import type { ExtAuthzPackage } from './load-protos';
import { toAttributes } from './to-attributes';
import { toCheckResponse, type CheckAnswer } from './to-check-response';

/** Last-resort answer when our own code throws outside the core: allow. */
const FALLBACK_ALLOW: CheckAnswer = { status: { code: 0 } };

export function addExtAuthzService(
  server: grpc.Server,
  pkg: ExtAuthzPackage,
  decide: Decide,
  log: Logger,
): void {
  const handlers = {
    Check(
      call: grpc.ServerUnaryCall<CheckRequest, CheckAnswer>,
      callback: grpc.sendUnaryData<CheckAnswer>,
    ): void {
      const fallback = (err: unknown): void => {
        log.error({ err }, 'check failed outside the decision core; allowing');
        callback(null, FALLBACK_ALLOW);
      };
      try {
        decide(toAttributes(call.request), {
          deadlineMs: deadlineMsOf(call.getDeadline()),
          // grpc-js reports every stream close as 'cancelled', answered ones too (ignored), and
          // only once: on() spares once()'s wrapper.
          cancellation: {
            onCancel: listener => (call.cancelled ? listener() : call.on('cancelled', listener)),
          },
        })
          .then(decision => callback(null, toCheckResponse(decision)))
          .catch(fallback);
      } catch (err: unknown) {
        fallback(err);
      }
    },
  };
  server.addService(serverServiceDefinition(pkg), handlers);
}

function deadlineMsOf(deadline: grpc.Deadline): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}
