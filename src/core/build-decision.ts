// Decision values as the core builds them: the action's status, upstream verdict headers on
// allow, and a deny's body (block page, JSON, text or the stealth 404) with its NGINX page ticket.

import {
  incidentIds,
  NOT_FOUND_BODY,
  renderBlockAnswer,
  type BlockPageTemplate,
} from './block-page';
import type { Action, Decision, DecisionReason, FailureCause, HttpStatus, Mode } from './decision';
import { statusOf } from './decision';
import { writePageTicket } from './page-ticket';
import type { RequestAttributes } from './request-attributes';
import type { RtiCallErrorCode, RtiVerdict } from './rti-port';
import { upstreamVerdictHeaders, type VerdictHeaderNames } from './verdict-headers';

/** What building a decision reads from the configuration. */
export interface DecisionConfig {
  readonly verdictHeaderNames: VerdictHeaderNames | undefined;
  readonly blockPage: BlockPageTemplate | undefined;
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
    ...(action === 'deny' ? denyAnswer(config, attrs, httpStatus, verdict?.rayId) : {}),
  };
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
  readonly failureDetail?: string;
  readonly rti?: { readonly outcome: 'ok' | RtiCallErrorCode; readonly durationMs: number };
}
