// The RTI v4.1 wire format (rti-api.md §5.1): the v4 body plus CHEQ's session cookie, the
// browser's request-context headers, the proxy's TLS and geo facts and its request id. The answer
// is read as v4's.

import type { RtiInput } from '../core/rti-port';
import { cap, optional, rtiV4Payload } from './rti-wire-v4';
import type { RtiCredentials } from './rti-wire';

export const RTI_V41_PATH = '/defend/4.1/traffic';

/**
 * Headers v4.1 adds to those v4 sends, by exact name: Fetch Metadata, User-Agent Client Hints and
 * RFC 9421 message signatures, as CHEQ's edge workers send them. A fixed list, not a prefix, so a
 * client cannot grow the call with made-up `sec-ch-ua-*` headers.
 */
export const V41_HEADERS: readonly string[] = [
  'sec-fetch-dest',
  'sec-fetch-mode',
  'sec-fetch-site',
  'sec-fetch-user',
  'sec-fetch-storage-access',
  'sec-ch-ua',
  'sec-ch-ua-mobile',
  'sec-ch-ua-platform',
  'sec-ch-ua-platform-version',
  'sec-ch-ua-arch',
  'sec-ch-ua-bitness',
  'sec-ch-ua-model',
  'sec-ch-ua-full-version',
  'sec-ch-ua-full-version-list',
  'sec-ch-ua-wow64',
  'sec-ch-device-memory',
  'signature',
  'signature-input',
  'signature-agent',
];

export function toRtiV41Body(input: RtiInput, credentials: RtiCredentials): string {
  const payload = rtiV4Payload(input, credentials);
  const { headers } = payload.endUserParams;
  for (const name of V41_HEADERS) {
    const value = input.headers.get(name);
    if (value) headers[name] = cap(value);
  }
  // Pseudo-headers, as cheq_ja3: each left out when the proxy set none (or an empty one: no TLS).
  if (input.tlsCipher) headers['cheq_tls_cipher'] = cap(input.tlsCipher);
  if (input.tlsVersion) headers['cheq_tls_version'] = cap(input.tlsVersion);
  if (input.geoRegion) headers['cheq_geo_region'] = cap(input.geoRegion);
  return JSON.stringify({
    ...payload,
    sCookie: optional(input.sCookie),
    // CHEQ's workers send their request id as customId2; RTI reports it back as ids.customParam2.
    customId2: optional(input.proxyRequestId),
  });
}
