// Envoy CheckRequest → RequestAttributes. Total: any message, however incomplete or odd
// (gRFC A92 clients send header_map only, no host or scheme), yields attributes. Typed with the
// generated input types, the loosest shape: the server hands over protobufjs's decoded messages
// (unset messages null, int64 a Long), tests hand over plain objects.

import type { CheckRequest } from '../../generated/envoy/service/auth/v3/CheckRequest';
import type { AttributeContext } from '../../generated/envoy/service/auth/v3/AttributeContext';
import { HeaderList, type HeaderEntry } from '../../core/header-list';
import {
  normalizeMethod,
  safeId,
  splitPathAndQuery,
  type RequestAttributes,
  type RouteSettings,
} from '../../core/request-attributes';

type HttpRequest = NonNullable<NonNullable<AttributeContext['request']>['http']>;
type Timestamp = NonNullable<NonNullable<AttributeContext['request']>['time']>;

/** context_extensions keys a route can set (Envoy ExtAuthzPerRoute check_settings). */
export const CONTEXT_EXTENSION_KEYS = {
  eventType: 'cheq_event_type',
  mode: 'cheq_mode',
  channel: 'cheq_channel',
  site: 'cheq_site',
  enforcePercent: 'cheq_enforce_percent',
} as const;

export function toAttributes(request: CheckRequest): RequestAttributes {
  const context = request.attributes ?? {};
  const http: HttpRequest = context.request?.http ?? {};
  const { entries, pseudo } = readHeaders(http);
  const hostHeader = entries.find(([name]) => name === 'host');
  const host = http.host || pseudo.authority || hostHeader?.[1] || '';
  // Envoy turns an HTTP/1 Host header into :authority. The browser did send Host, so RTI's
  // HeaderNames get it back (first, where HTTP/1 clients put it).
  if (!hostHeader && host && http.protocol?.startsWith('HTTP/1')) entries.unshift(['host', host]);
  const headers = new HeaderList(entries);
  const { path, query } = splitPathAndQuery(http.path || pseudo.path || '/');
  return {
    transport: 'grpc',
    requestId: safeId(headers.get('x-request-id')) ?? safeId(http.id),
    // Envoy only forwards valid methods; anything else is not sent to RTI.
    method: normalizeMethod(http.method || pseudo.method || 'GET') ?? '',
    scheme: http.scheme || pseudo.scheme || headers.get('x-forwarded-proto') || 'http',
    host,
    path,
    query: query || http.query || '',
    headers,
    proxyClientIp: headers.get('x-envoy-external-address'),
    peerAddress: context.source?.address?.socket_address?.address || undefined,
    receivedAtMs: timestampMs(context.request?.time) ?? Date.now(),
    route: routeSettings(context.context_extensions),
  };
}

/** The pseudo-headers that stand in for HttpRequest fields Envoy left empty. */
interface PseudoHeaders {
  authority?: string;
  path?: string;
  method?: string;
  scheme?: string;
}

/**
 * Headers from `header_map` (raw bytes, duplicates kept; encode_raw_headers) and from the
 * `headers` map (values comma-joined), pseudo-headers set apart.
 */
function readHeaders(http: HttpRequest): { entries: HeaderEntry[]; pseudo: PseudoHeaders } {
  const entries: HeaderEntry[] = [];
  const pseudo: PseudoHeaders = {};
  const add = (name: string, value: string): void => {
    if (name.charCodeAt(0) !== 58 /* ':' */) entries.push([name, value]);
    // Other pseudo-headers are not the end user's and stand in for nothing.
    else if (name === ':authority') pseudo.authority = value;
    else if (name === ':path') pseudo.path = value;
    else if (name === ':method') pseudo.method = value;
    else if (name === ':scheme') pseudo.scheme = value;
  };
  const raw = http.header_map?.headers;
  // Envoy sends one form or the other; both only from unusual clients (then raw wins).
  const seen = raw?.length ? new Set<string>() : undefined;
  for (const header of raw ?? []) {
    if (!header.key) continue;
    const name = header.key.toLowerCase();
    seen?.add(name);
    add(name, header.raw_value?.length ? utf8(header.raw_value) : (header.value ?? ''));
  }
  const map = http.headers;
  if (map) {
    for (const key in map) {
      const name = key.toLowerCase();
      if (!seen?.has(name)) add(name, map[key] ?? '');
    }
  }
  return { entries, pseudo };
}

function utf8(bytes: Buffer | Uint8Array | string): string {
  if (typeof bytes === 'string') return bytes;
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)).toString('utf8');
}

function timestampMs(time: Timestamp | null | undefined): number | undefined {
  if (!time?.seconds) return undefined;
  // A Long's String() is its decimal value, like proto-loader's `longs: String`.
  const ms = Number(String(time.seconds)) * 1000 + Math.floor((time.nanos ?? 0) / 1e6);
  // A time outside what Date represents (or RTI's integer form) is Envoy's bug: use our clock.
  return Number.isSafeInteger(ms) && ms > 0 && ms <= MAX_DATE_MS ? ms : undefined;
}

/** The largest time a JavaScript Date holds (year 275760). */
const MAX_DATE_MS = 8.64e15;

function routeSettings(extensions: Record<string, string> | null | undefined): RouteSettings {
  if (!extensions) return {};
  const pick = (key: string): string | undefined => extensions[key] || undefined;
  const eventType = pick(CONTEXT_EXTENSION_KEYS.eventType);
  const mode = pick(CONTEXT_EXTENSION_KEYS.mode);
  const channel = pick(CONTEXT_EXTENSION_KEYS.channel);
  const site = pick(CONTEXT_EXTENSION_KEYS.site);
  const enforcePercent = pick(CONTEXT_EXTENSION_KEYS.enforcePercent);
  return {
    ...(eventType === undefined ? {} : { eventType }),
    ...(mode === undefined ? {} : { mode }),
    ...(channel === undefined ? {} : { channel }),
    ...(site === undefined ? {} : { site }),
    ...(enforcePercent === undefined ? {} : { enforcePercent }),
  };
}
