// Reading the headers of a CheckResponse our gRPC listener answered with, as the tests look at
// them: on an allow (ok_response), the headers Envoy would add to the upstream request.

import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';

/** An allow's upstream headers by name (a repeated name keeps its last value); {} on a deny. */
export function okHeaders(response: CheckResponse__Output): Record<string, string> {
  return Object.fromEntries(
    (response.ok_response?.headers ?? []).map(h => [h.header?.key ?? '', h.header?.value ?? '']),
  );
}

/** The first upstream header `name` of an allow; undefined on a deny or when it is not set. */
export function okHeader(response: CheckResponse__Output, name: string): string | undefined {
  return response.ok_response?.headers?.find(h => h.header?.key === name)?.header?.value;
}

/** The x-cheq-decision an allow tells the upstream (`valid`, `fail_open`, …); undefined on a deny. */
export function decisionHeader(response: CheckResponse__Output): string | undefined {
  return okHeader(response, 'x-cheq-decision');
}
