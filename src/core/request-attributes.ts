// The one request model every transport adapter produces and the decision core consumes.
// Must not import transport or RTI modules.

import type { HeaderList } from './header-list';

/**
 * Which adapter (and so which proxy integration) a request came through; a metric label.
 * `grpc`: Envoy/Istio gRPC Check; `nginx`: NGINX auth_request; `envoy_http`: Envoy/Istio HTTP
 * ext_authz; `forward_auth`: Traefik ForwardAuth, Caddy forward_auth.
 */
export type Transport = 'grpc' | 'nginx' | 'envoy_http' | 'forward_auth';

/** Per-route settings a proxy can pass (Envoy `context_extensions`). */
export interface RouteSettings {
  /** `cheq_event_type`: overrides the event type mapped from the path. */
  readonly eventType?: string;
  /** `cheq_mode`: `monitoring` or `blocking` for this route only. */
  readonly mode?: string;
  /** `cheq_channel`: custom event name for the `custom` event type. */
  readonly channel?: string;
  /** `cheq_site`: the configured site this request belongs to, whatever its host. */
  readonly site?: string;
  /** `cheq_enforce_percent`: 0-100, this route's share of would-block visitors acted on. */
  readonly enforcePercent?: string;
}

export interface RequestAttributes {
  readonly transport: Transport;
  /** `x-request-id` when the proxy sent one, else the proxy's own id, else undefined. */
  readonly requestId: string | undefined;
  readonly method: string;
  /** `http` or `https`. */
  readonly scheme: string;
  /** Host as the end user addressed it (`:authority`), port included when present. */
  readonly host: string;
  /** Path as received, percent-encoding intact, without the query (canonical-path.ts reads it). */
  readonly path: string;
  /** Query string without the leading `?`; empty when none. */
  readonly query: string;
  /** End-user request headers (no HTTP/2 pseudo-headers). */
  readonly headers: HeaderList;
  /**
   * The first hop toward the client: the calling proxy's own downstream peer, as it reports it
   * (the proxy is trusted by construction). NGINX X-Real-IP; Envoy HTTP x-real-ip, else
   * x-envoy-external-address; forward auth the rightmost X-Forwarded-For entry; without such a
   * header the HTTP socket peer (the proxy itself). gRPC: source.address. Undefined when unknown.
   */
  readonly peerAddress: string | undefined;
  /**
   * gRPC only: x-envoy-external-address, the next hop as an Envoy in front reports it; believed
   * only when `peerAddress` is in trusted_proxies. The HTTP endpoints leave it undefined.
   */
  readonly proxyClientIp: string | undefined;
  /** When the proxy received the request, epoch milliseconds. */
  readonly receivedAtMs: number;
  readonly route: RouteSettings;
}

/**
 * Splits a request target into path and query; never throws, whatever the bytes. A `#` before
 * the query stays in the path (clients do not send fragments; proxies and backends read one
 * differently, so the path decisions must see it); a fragment after the query is dropped.
 */
export function splitPathAndQuery(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  if (q < 0) return { path: target || '/', query: '' };
  const hash = target.indexOf('#', q);
  return {
    path: target.slice(0, q) || '/',
    query: target.slice(q + 1, hash < 0 ? undefined : hash),
  };
}

/**
 * An id we pass on (request ids, the ids in x-cheq-rti-result): UUIDs, NGINX's $request_id, Envoy's
 * ids. Nothing else: the ids travel into logs, headers and deny bodies, and a `;` or `,` would
 * add fields to the `name=value;…` headers an app reads (`x;verdict=benign`).
 */
export const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The value when it is a safe id (SAFE_ID); else undefined, as if absent. */
export function safeId(value: unknown): string | undefined {
  return typeof value === 'string' && SAFE_ID.test(value) ? value : undefined;
}

const METHOD = /^[A-Z][A-Z-]{0,31}$/;

/** The upper-cased method when it is an HTTP method token (at most 32 letters); else undefined. */
export function normalizeMethod(value: string | undefined): string | undefined {
  const method = value?.trim().toUpperCase();
  return method && METHOD.test(method) ? method : undefined;
}
