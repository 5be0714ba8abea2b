// Resolves what RTI is told about a request (rti-api.md §1): client IP, absolute URL, event
// type, channel, CHEQ cookie, header names without the ones a proxy adds.

import { looseReadings, pathReadings, unambiguousPath } from './canonical-path';
import { resolveClientIp } from './client-ip';
import { EVENT_TYPES } from './event-types';
import { readCookies } from './header-list';
import type { PathMap } from './path-pattern';
import type { RequestAttributes } from './request-attributes';
import type { RtiInput } from './rti-port';
import type { TrustedProxies } from './trusted-proxies';

export const DEFAULT_EVENT_TYPE = 'page_load';
export const CUSTOM_EVENT_TYPE = 'custom';
export const CHEQ_COOKIE = '_cheq_rti';
/** CHEQ's tag's device id and page-view id cookies, sent to v4. */
export const DUID_COOKIE = '_cq_duid';
export const PVID_COOKIE = '_cq_pvid';
/** CHEQ's session cookie, sent to v4.1 as sCookie. */
export const SESSION_COOKIE = '_cq_s';
/** The demo's cookie telling the emulator which verdict to give (docs/development.md). */
export const DEMO_VERDICT_COOKIE = 'cheq_demo_verdict';
const CHEQ_COOKIES = [CHEQ_COOKIE, DUID_COOKIE, PVID_COOKIE, SESSION_COOKIE, DEMO_VERDICT_COOKIE];
const DEMO_VERDICTS = new Set(['benign', 'suspicious', 'malicious']);

export interface RtiInputConfig {
  readonly routeToEventType: PathMap<string>;
  readonly trustedIpHeader: string | undefined;
  /** The proxies believed about the client address (process-wide: the same for every site). */
  readonly trustedProxies: TrustedProxies;
  readonly ja3Header: string | undefined;
  readonly ja4Header: string | undefined;
  readonly channelParam: string | undefined;
  /** Header names (lower-case; a trailing `*` makes a prefix) left out of HeaderNames. */
  readonly ignoredHeaderNames: readonly string[];
  /**
   * The headers (lower-case) in which the proxy passes the TLS cipher, TLS version and geo
   * region: read as those, never reported to RTI as the client's own headers.
   */
  readonly tlsCipherHeader: string;
  readonly tlsVersionHeader: string;
  readonly geoRegionHeader: string;
  /** Demo only: pass the end user's cheq_demo_verdict cookie on to the RTI emulator. */
  readonly demoVerdictCookie: boolean;
}

/**
 * Event type from the route settings, else the configured path mapping, else page_load. The
 * event type sets how strictly RTI judges, so a client must not pick a milder one by writing a
 * path the backend reads as another: an ambiguous path is mapped by its most resolved reading
 * that an entry matches (`/search/..;/checkout` as /checkout), and a reading's forms without a
 * trailing slash or in lower case count as it when they match an earlier entry (`/CHECKOUT/` as
 * /checkout), as many backends route them.
 * A route event type outside RTI's list is ignored rather than sent to fail at RTI.
 */
export function resolveEventType(attrs: RequestAttributes, config: RtiInputConfig): string {
  const fromRoute = attrs.route.eventType;
  if (fromRoute !== undefined && EVENT_TYPES.has(fromRoute)) return fromRoute;
  const routes = config.routeToEventType;
  if (routes.isEmpty) return DEFAULT_EVENT_TYPE;
  const path = unambiguousPath(attrs.path);
  const mapped =
    path === undefined
      ? lookupReadings(routes, pathReadings(attrs.path))
      : lookupReading(routes, path);
  return mapped ?? DEFAULT_EVENT_TYPE;
}

/** Readings most resolved first: the one the backend most likely serves wins over entry order. */
function lookupReadings(routes: PathMap<string>, readings: readonly string[]): string | undefined {
  for (const reading of readings) {
    const mapped = lookupReading(routes, reading);
    if (mapped !== undefined) return mapped;
  }
  return undefined;
}

/**
 * A reading with its loose forms, by the earliest entry any matches: a catch-all listed last
 * (`/**`) must not take `/CHECKOUT` from `/checkout`. Most paths have no loose form.
 */
function lookupReading(routes: PathMap<string>, reading: string): string | undefined {
  const loose = looseReadings(reading);
  return loose.length === 0 ? routes.lookup(reading) : routes.lookupAny([reading, ...loose]);
}

export function buildRtiInput(
  attrs: RequestAttributes,
  eventType: string,
  config: RtiInputConfig,
): RtiInput {
  const { headers } = attrs;
  const [cheqCookie, duidCookie, pvidCookie, sCookie, demoVerdict] = readCookies(
    headers.get('cookie'),
    CHEQ_COOKIES,
  );
  const controlHeaders = [config.tlsCipherHeader, config.tlsVersionHeader, config.geoRegionHeader];
  return {
    eventType,
    host: attrs.host,
    clientIp: resolveClientIp(attrs, config.trustedIpHeader, config.trustedProxies),
    requestUrl: requestUrlOf(attrs),
    requestTimeMs: attrs.receivedAtMs,
    method: attrs.method,
    headers,
    headerNames: withoutIgnored(headers.names(), config.ignoredHeaderNames, controlHeaders),
    cheqCookie,
    duidCookie,
    pvidCookie,
    sCookie,
    proxyRequestId: attrs.requestId,
    tlsCipher: headers.get(config.tlsCipherHeader),
    tlsVersion: headers.get(config.tlsVersionHeader),
    geoRegion: headers.get(config.geoRegionHeader),
    demoVerdict:
      config.demoVerdictCookie && demoVerdict && DEMO_VERDICTS.has(demoVerdict)
        ? demoVerdict
        : undefined,
    ja3: config.ja3Header ? headers.get(config.ja3Header) : undefined,
    ja4: config.ja4Header ? headers.get(config.ja4Header) : undefined,
    channel: eventType === CUSTOM_EVENT_TYPE ? channelOf(attrs, config.channelParam) : undefined,
  };
}

/** The URL as the client sent it; a target that is no path (`*`) still gets its `/`. */
function requestUrlOf(attrs: RequestAttributes): string {
  const slash = attrs.path.startsWith('/') ? '' : '/';
  return `${attrs.scheme}://${attrs.host}${slash}${attrs.path}${attrs.query ? `?${attrs.query}` : ''}`;
}

interface HeaderNameFilter {
  readonly exact: ReadonlySet<string>;
  readonly prefixes: readonly string[];
}

/** The ignored-names list split once into exact names and prefixes, per configuration. */
const filters = new WeakMap<readonly string[], HeaderNameFilter>();

function filterOf(ignored: readonly string[]): HeaderNameFilter {
  let filter = filters.get(ignored);
  if (!filter) {
    filter = {
      exact: new Set(ignored.filter(entry => !entry.endsWith('*'))),
      prefixes: ignored.filter(entry => entry.endsWith('*')).map(entry => entry.slice(0, -1)),
    };
    filters.set(ignored, filter);
  }
  return filter;
}

function withoutIgnored(
  names: Iterable<string>,
  ignored: readonly string[],
  controlHeaders: readonly string[],
): string[] {
  const { exact, prefixes } = filterOf(ignored);
  const kept: string[] = [];
  for (const name of names) {
    if (exact.has(name) || prefixes.some(prefix => name.startsWith(prefix))) continue;
    if (!controlHeaders.includes(name)) kept.push(name);
  }
  return kept;
}

function channelOf(attrs: RequestAttributes, channelParam: string | undefined): string | undefined {
  if (attrs.route.channel) return attrs.route.channel;
  if (!channelParam || !attrs.query) return undefined;
  return new URLSearchParams(attrs.query).get(channelParam) ?? undefined;
}
