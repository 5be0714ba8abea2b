// What each HTTP integration (NGINX, Envoy HTTP mode, forward auth) provides to the one HTTP
// listener: how to read the original request, and how to render a Decision for its proxy.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIPv4 } from 'node:net';
import { HeaderList, type HeaderEntry } from '../../core/header-list';
import type { DecideOptions } from '../../core/decide';
import type { Decision } from '../../core/decision';
import {
  normalizeMethod,
  safeId,
  splitPathAndQuery,
  type RequestAttributes,
  type Transport,
} from '../../core/request-attributes';

/** How a proxy describes the original request to an HTTP endpoint. */
export interface OriginalRequest {
  readonly transport: Transport;
  /** The original method, and the header it came from (named in a 400). */
  readonly method: { readonly value: string | undefined; readonly header: string };
  /** The original request target (path and query), and its header when it came from one. */
  readonly target: { readonly value: string | undefined; readonly header: string };
  /** The original host, else the request's Host. */
  readonly host: string | undefined;
  /**
   * The proxy's own downstream peer, as it reports it: the first hop toward the client (the
   * proxy calling us is trusted by construction). Absent or empty: the socket peer is.
   */
  readonly reportedPeer: string | undefined;
  /**
   * What that peer said of the client (Envoy's x-envoy-external-address): believed only when
   * the peer is in trusted_proxies, as on the gRPC path.
   */
  readonly reportedClient?: string | undefined;
  /** Headers the proxy added for us: not the end user's. */
  readonly controlHeaders: ReadonlySet<string>;
}

/** Longest odd method kept as sent; NGINX passes any method it can parse. */
const MAX_ODD_METHOD_CHARS = 32;

/**
 * The attributes of the original request, or the 400 for the first control header that is
 * missing or malformed. The first hop to the client is the peer the proxy reports, else the
 * socket peer (the proxy itself).
 * Whatever a client puts in its request target or method is decided, never a 400: the shipped
 * NGINX config fails open on a 400. An absolute-form target's path is `$request_uri`; an odd
 * target (`?x`, `*`) is an ambiguous path, and an odd method is kept as sent (a signal for RTI).
 */
export function readOriginalRequest(
  req: IncomingMessage,
  original: OriginalRequest,
): RequestAttributes | Rejection {
  const { target } = original;
  if (target.value === undefined || target.value === '') return reject(target.header, 'missing');
  const methodValue = original.method.value;
  if (methodValue === undefined || methodValue === '') {
    return reject(original.method.header, 'missing');
  }
  const method = normalizeMethod(methodValue) ?? methodValue.slice(0, MAX_ODD_METHOD_CHARS);
  const proto = headerValue(req, 'x-forwarded-proto');
  const scheme = proto === undefined ? 'http' : validScheme(proto);
  if (!scheme) return reject('X-Forwarded-Proto', 'invalid');
  const host = original.host || headerValue(req, 'host') || '';
  return {
    transport: original.transport,
    requestId: safeId(headerValue(req, 'x-request-id')),
    method,
    scheme,
    host,
    ...splitPathAndQuery(target.value),
    headers: endUserHeaders(req, original.controlHeaders, host),
    peerAddress: original.reportedPeer || socketPeer(req),
    proxyClientIp: original.reportedClient,
    receivedAtMs: Date.now(),
    route: {},
  };
}

/** A request the endpoint cannot read: answered with a 4xx and counted by `reason`. */
export interface Rejection {
  readonly status: 400;
  /** Stable, bounded metric label, e.g. `missing_x_original_uri`. */
  readonly reason: string;
  readonly message: string;
}

export interface HttpEndpoint {
  readonly transport: Transport;
  /** @param path the request path after the endpoint's own path */
  toAttributes(req: IncomingMessage, path: string): RequestAttributes | Rejection;
  /** Options of its checks beyond the cancellation (the NGINX page endpoint's ticket). */
  decideOptions?(req: IncomingMessage): Pick<DecideOptions, 'pageTicket'>;
  respond(res: ServerResponse, decision: Decision): void;
}

export function isRejection(value: RequestAttributes | Rejection): value is Rejection {
  return 'reason' in value && 'message' in value;
}

export function reject(header: string, problem: 'missing' | 'invalid'): Rejection {
  const name = header.toLowerCase();
  return {
    status: 400,
    reason: `${problem}_${name.replace(/-/g, '_')}`,
    message: `${problem === 'missing' ? 'missing' : 'invalid'} ${header} header`,
  };
}

/**
 * The end user's headers in arrival order (Node keeps the raw order), without the control
 * headers the proxy added for us. `host` is replaced by the original host, where it stood.
 */
export function endUserHeaders(
  req: IncomingMessage,
  controlHeaders: ReadonlySet<string>,
  originalHost: string,
): HeaderList {
  const raw = req.rawHeaders;
  const entries: HeaderEntry[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (controlHeaders.has(name)) continue;
    entries.push([name, name === 'host' ? originalHost : (raw[i + 1] as string)]);
  }
  return new HeaderList(entries);
}

/**
 * The first value of a header (`name` in lower case); a repeated control header is not joined
 * into one. Scans rawHeaders: cheaper than having Node build headersDistinct for every request.
 */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const rawName = raw[i] as string;
    if (rawName.length === name.length && rawName.toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}

const SCHEMES = new Set(['http', 'https']);

function validScheme(value: string | undefined): string | undefined {
  const scheme = value?.split(',', 1)[0]?.trim().toLowerCase();
  return scheme && SCHEMES.has(scheme) ? scheme : undefined;
}

/**
 * The last entry of a list header such as X-Forwarded-For, over all its lines: the one the
 * proxy appended, nearest to us.
 */
export function lastListItem(req: IncomingMessage, name: string): string | undefined {
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    const rawName = raw[i] as string;
    if (rawName.length !== name.length || rawName.toLowerCase() !== name) continue;
    const value = raw[i + 1] as string;
    const item = value.slice(value.lastIndexOf(',') + 1).trim();
    if (item !== '') return item;
  }
  return undefined;
}

/** The socket peer (the proxy calling us), an IPv4-mapped IPv6 address read as IPv4. */
function socketPeer(req: IncomingMessage): string | undefined {
  const address = req.socket.remoteAddress;
  return address?.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/**
 * Writes a complete answer; an explicit Content-Length keeps proxy connections reusable.
 * writeHead with a flat list is Node's fast path (setHeader keeps a header object per answer);
 * Node validates names and values either way.
 */
export function writeAnswer(
  res: ServerResponse,
  status: number,
  headers: readonly (readonly [string, string])[],
  body = '',
): void {
  const length = Buffer.byteLength(body);
  const flat: string[] = [];
  for (const [name, value] of headers) flat.push(name, value);
  flat.push('content-length', String(length));
  res.writeHead(status, flat);
  res.end(length > 0 ? body : undefined);
}

/**
 * Headers every deny, challenge or redirect carries: no caching, the target, the page's own
 * headers (CSP...), the cookie. The stealth 404 carries only no-store, as our own plain 404 does:
 * a CDN in front must not keep a bot's 404 for everyone.
 */
export function stopHeaders(decision: Decision): [string, string][] {
  const headers: [string, string][] = [NO_STORE];
  if (decision.httpStatus === 404) return headers;
  if (decision.location) headers.push(['location', decision.location]);
  for (const [name, value] of decision.clientHeaders ?? []) headers.push([name, value]);
  if (decision.setCookie) headers.push(['set-cookie', decision.setCookie]);
  return headers;
}

/**
 * A deny, challenge or redirect as the client gets it (for a proxy that passes our answer to
 * the client as it is): status, headers and body.
 */
export function writeStop(res: ServerResponse, decision: Decision): void {
  const headers = stopHeaders(decision);
  if (decision.body) headers.push(['content-type', decision.body.contentType]);
  writeAnswer(res, decision.httpStatus, headers, decision.body?.text);
}

/** Every answer that stops a request, our own plain 404 included, is never cached. */
export const NO_STORE: [string, string] = ['cache-control', 'no-store'];

/** Verdict headers for the upstream, the CHEQ cookie and other client headers, on allow. */
export function allowHeaders(decision: Decision): [string, string][] {
  const headers: [string, string][] = decision.upstreamHeaders.map(([k, v]) => [k, v]);
  if (decision.setCookie) headers.push(['set-cookie', decision.setCookie]);
  for (const [name, value] of decision.clientHeaders ?? []) headers.push([name, value]);
  return headers;
}
