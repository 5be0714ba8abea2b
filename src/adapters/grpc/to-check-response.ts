// Decision → Envoy CheckResponse, with the header encoding that works across Envoy versions
// (integration-contracts.md §1.4): ok_response headers overwrite (append:false); Set-Cookie on
// allow is appended (append:true); denied_response headers never carry `append`.

import type { Decision } from '../../core/decision';
import type { _envoy_config_core_v3_HeaderValueOption_HeaderAppendAction__Output as HeaderAppendAction } from '../../generated/envoy/config/core/v3/HeaderValueOption';
import type { StatusCode__Output as HttpStatusCode } from '../../generated/envoy/type/v3/StatusCode';

/**
 * The CheckResponse fields we answer with, keyed and typed as the protos (snake_case, enums as
 * numbers; Struct values camelCase): each answer is a CheckResponse as protobufjs takes it (the
 * tests encode it both ways), and ./check-response-encoder writes exactly these fields.
 */
export interface CheckAnswer {
  readonly status: { readonly code: number; readonly message?: string };
  readonly denied_response?: DeniedAnswer;
  readonly ok_response?: OkAnswer;
  readonly dynamic_metadata?: { readonly fields: Readonly<Record<string, MetadataValue>> };
}

export interface DeniedAnswer {
  readonly status: { readonly code: HttpStatusCode };
  readonly headers: readonly HeaderOption[];
  readonly body: string;
}

export interface OkAnswer {
  readonly headers: readonly HeaderOption[];
  readonly headers_to_remove: readonly string[];
  readonly response_headers_to_add: readonly HeaderOption[];
}

export interface HeaderOption {
  readonly header: { readonly key: string; readonly value: string };
  /** google.protobuf.BoolValue: unset and false mean different things to ext_authz. */
  readonly append?: { readonly value: boolean };
  readonly append_action?: HeaderAppendAction;
}

export interface MetadataValue {
  readonly stringValue?: string;
  readonly numberValue?: number;
}

const OK = 0;
const PERMISSION_DENIED = 7;
const OVERWRITE_IF_EXISTS_OR_ADD = 2;

export function toCheckResponse(decision: Decision): CheckAnswer {
  const dynamic_metadata = metadataOf(decision);
  if (decision.action === 'allow') {
    return {
      status: { code: OK },
      ok_response: {
        headers: decision.upstreamHeaders.map(([key, value]) => ({
          header: { key, value },
          append: { value: false },
        })),
        headers_to_remove: decision.upstreamHeadersToRemove,
        response_headers_to_add: [
          ...(decision.setCookie
            ? [
                {
                  header: { key: 'set-cookie', value: decision.setCookie },
                  append: { value: true },
                },
              ]
            : []),
          ...(decision.clientHeaders ?? []).map(([key, value]) => ({
            header: { key, value },
            append: { value: false },
          })),
        ],
      },
      dynamic_metadata,
    };
  }
  // The stealth 404 is a plain 404: only no-store (a CDN must not keep a bot's 404 for everyone)
  // and its content type, as any 404 of ours.
  const stealth = decision.httpStatus === 404;
  const headers: HeaderOption[] = [overwrite('cache-control', 'no-store')];
  if (decision.action === 'redirect' && decision.location) {
    headers.push(overwrite('location', decision.location));
  }
  if (decision.body) headers.push(overwrite('content-type', decision.body.contentType));
  if (!stealth) {
    for (const [key, value] of decision.clientHeaders ?? []) headers.push(overwrite(key, value));
    if (decision.setCookie) {
      headers.push({ header: { key: 'set-cookie', value: decision.setCookie } });
    }
  }
  return {
    status: { code: PERMISSION_DENIED, message: `cheq-rti-authz: ${decision.reason}` },
    denied_response: {
      status: { code: decision.httpStatus },
      headers,
      body: decision.body?.text ?? '',
    },
    dynamic_metadata,
  };
}

function overwrite(key: string, value: string): HeaderOption {
  return { header: { key, value }, append_action: OVERWRITE_IF_EXISTS_OR_ADD };
}

/**
 * Emitted by Envoy under the namespace envoy.filters.http.ext_authz, for access logs:
 * %DYNAMIC_METADATA(envoy.filters.http.ext_authz:cheq_action)%. Struct keys are camelCase.
 */
function metadataOf(decision: Decision): NonNullable<CheckAnswer['dynamic_metadata']> {
  const fields: Record<string, MetadataValue> = {
    cheq_action: { stringValue: decision.action },
    cheq_reason: { stringValue: decision.reason },
  };
  const { verdict } = decision;
  if (verdict) {
    fields['cheq_verdict'] = { stringValue: verdict.verdict };
    fields['cheq_threat_type'] = { numberValue: verdict.code };
    if (verdict.riskScore !== undefined) {
      fields['cheq_risk_score'] = { numberValue: verdict.riskScore };
    }
    if (verdict.rayId) fields['cheq_ray_id'] = { stringValue: verdict.rayId };
  }
  if (decision.rule) fields['cheq_rule'] = { stringValue: decision.rule };
  const { remembered } = decision;
  // Why RTI could not be asked: a fail-open's cause, or the one a remembered block stood in for.
  const failure = decision.failure ?? remembered?.cause;
  if (failure) fields['cheq_failure'] = { stringValue: failure };
  if (remembered) {
    fields['cheq_memory_key'] = { stringValue: remembered.key };
    const expiresAt = new Date(remembered.expiresAtMs).toISOString();
    fields['cheq_memory_expires_at'] = { stringValue: expiresAt };
  }
  return { fields };
}
