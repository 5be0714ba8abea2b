// Decision values as the core builds them: the action's status, the upstream verdict headers
// on allow, a deny's body (block page, JSON, text or the stealth 404) with its NGINX page
// ticket, and the headers echoed to the client.

import {
  incidentIds,
  NOT_FOUND_BODY,
  renderBlockAnswer,
  type BlockPageTemplate,
} from './block-page';
import type {
  Action,
  ClientHeader,
  Decision,
  DecisionReason,
  FailureCause,
  HttpStatus,
  Mode,
} from './decision';
import { statusOf } from './decision';
import { writePageTicket } from './page-ticket';
import { SAFE_ID, type RequestAttributes } from './request-attributes';
import type { RtiCallErrorCode, RtiVerdict } from './rti-port';
import {
  RTI_RESULT_HEADER,
  upstreamVerdictHeaders,
  type VerdictHeaderNames,
} from './verdict-headers';
import type { ApiVersion } from './policy';

/** What building a decision reads from the configuration (CoreConfig has all of it). */
export interface DecisionConfig {
  readonly verdictHeaderNames: VerdictHeaderNames | undefined;
  readonly blockPage: BlockPageTemplate | undefined;
  readonly apiVersion: ApiVersion;
  /** Echo x-cheq-rti-result to the client too (debug_rti_result). */
  readonly debugRtiResult: boolean;
}

export function buildDecision(
  config: DecisionConfig,
  site: string,
  action: Action,
  reason: DecisionReason,
  mode: Mode,
  attrs: RequestAttributes,
  extra: DecisionExtra,
): Decision {
  const { verdict, challenge = false, httpStatus = statusOf(action), ...rest } = extra;
  const upstream =
    action === 'allow'
      ? upstreamVerdictHeaders(config.verdictHeaderNames, reason, verdict, challenge, attrs.headers)
      : undefined;
  // The stealth 404 says nothing of us: no ids, no cookie, no verdict headers.
  const stealth = httpStatus === 404;
  return {
    action,
    reason,
    mode,
    site,
    httpStatus,
    upstreamHeaders: upstream?.set ?? [],
    upstreamHeadersToRemove: upstream?.remove ?? [],
    ...rest,
    ...(verdict === undefined ? {} : { verdict }),
    ...(verdict?.setCookie === undefined || stealth ? {} : { setCookie: verdict.setCookie }),
    ...withClientHeaders(
      action === 'deny' ? denyAnswer(config, attrs, httpStatus, verdict?.rayId) : {},
      // The stealth 404 says nothing of us: not even the echoed request id.
      stealth ? [] : echoedHeaders(config, action, verdict, attrs.requestId),
    ),
  };
}

/** A deny's page headers, then the echoed ones; no field at all when there are none. */
function withClientHeaders(
  answer: Pick<Decision, 'body' | 'clientHeaders' | 'page'>,
  echoed: readonly ClientHeader[],
): Pick<Decision, 'body' | 'clientHeaders' | 'page'> {
  const clientHeaders = [...(answer.clientHeaders ?? []), ...echoed];
  return clientHeaders.length === 0 ? answer : { ...answer, clientHeaders };
}

/** The body, page headers and NGINX page ticket of a deny. */
export function denyAnswer(
  config: DecisionConfig,
  attrs: RequestAttributes,
  httpStatus: HttpStatus,
  rayId: string | undefined,
): Pick<Decision, 'body' | 'clientHeaders' | 'page'> {
  if (httpStatus === 404) return { body: NOT_FOUND_BODY, page: writePageTicket(NOT_FOUND) };
  const { requestId } = attrs;
  const ray = rayId || undefined;
  const { body, clientHeaders } = renderBlockAnswer(
    attrs.headers,
    incidentIds(attrs.headers, requestId, ray),
    config.blockPage,
  );
  return {
    body,
    clientHeaders,
    page: writePageTicket({
      kind: 'block',
      ...(requestId === undefined ? {} : { requestId }),
      ...(ray === undefined ? {} : { rayId: ray }),
    }),
  };
}

const NOT_FOUND = { kind: 'not_found' } as const;

/** The proxy's request id, echoed to the client on v4.1 (rti-api.md §5.1). */
export const CDN_REQUEST_ID_HEADER = 'x-cheq-cdn-request-id';

/**
 * v4.1 echoes the proxy's request id to the client as CHEQ's edge does; debug_rti_result echoes
 * the verdict the upstream got. Values that could not travel in a header are left out.
 */
function echoedHeaders(
  config: DecisionConfig,
  action: Action,
  verdict: RtiVerdict | undefined,
  requestId: string | undefined,
): ClientHeader[] {
  const headers: ClientHeader[] = [];
  if (config.apiVersion === 'v4.1' && requestId !== undefined && SAFE_ID.test(requestId)) {
    headers.push([CDN_REQUEST_ID_HEADER, requestId]);
  }
  if (config.debugRtiResult && action === 'allow' && verdict?.rtiResult !== undefined) {
    headers.push([RTI_RESULT_HEADER, verdict.rtiResult]);
  }
  return headers;
}

export interface DecisionExtra {
  readonly eventType?: string;
  readonly verdict?: RtiVerdict;
  readonly rule?: string;
  readonly challenge?: boolean;
  /** The strategy's status when it is not the action's own (not_found: 404). */
  readonly httpStatus?: HttpStatus;
  readonly location?: string;
  readonly would?: Decision['would'];
  readonly failure?: FailureCause;
  readonly remembered?: Decision['remembered'];
  readonly failureDetail?: string;
  readonly rti?: { readonly outcome: 'ok' | RtiCallErrorCode; readonly durationMs: number };
}
