// An operator's request to forget remembered blocks (the admin endpoint's body, the `forget`
// command's flags): validated strictly, then turned into the memory changes that carry it out,
// by the same key functions the checks remember under.

import { isIP } from 'node:net';
import { servedSites, type AppConfig } from '../config/load-config';
import { memoryScope } from '../core/memory-scope';
import { readHopAddress } from '../core/trusted-proxies';
import { duidKey, ipTag, ipUaKey } from './visitor-keys';
import type { MemoryChange, VerdictMemory } from './verdict-memory';

/** Longest User-Agent accepted, in bytes (proxies rarely pass longer headers). */
export const MAX_USER_AGENT_BYTES = 8 * 1024;
/** Longest device id accepted, in characters. */
export const MAX_DUID_LENGTH = 256;
/** Longest site name looked up (names are short labels). */
const MAX_SITE_LENGTH = 256;

/** Whom to forget: one IP (every User-Agent, or one), one device id, or everyone. */
export type ForgetTarget =
  | { readonly kind: 'ip'; readonly ip: string; readonly userAgent?: string }
  | { readonly kind: 'duid'; readonly duid: string }
  | { readonly kind: 'all' };

export interface ForgetRequest {
  readonly target: ForgetTarget;
  /** One served site; undefined: every served site. */
  readonly site?: string;
}

/** What forgetting came to: entries forgotten here, or why the request was refused. */
export type ForgetOutcome = { readonly forgotten: number } | { readonly refused: string };

const FIELDS = new Set(['ip', 'user_agent', 'duid', 'all', 'site']);

/**
 * Reads `{"ip"}`, `{"ip","user_agent"}`, `{"duid"}` or `{"all":true}`, each with an optional
 * `"site"`. Anything else is refused with a reason that quotes no value.
 */
export function parseForgetRequest(value: unknown): ForgetRequest | { readonly refused: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { refused: 'the body must be a JSON object' };
  }
  const body = value as Record<string, unknown>;
  const unknown = Object.keys(body).filter(key => !FIELDS.has(key));
  if (unknown.length > 0) {
    return { refused: `unknown field(s): ${unknown.map(quoteKey).join(', ')}` };
  }
  const { ip, user_agent: userAgent, duid, all, site } = body;
  const given = [ip, duid, all].filter(field => field !== undefined).length;
  if (given !== 1) return { refused: 'give exactly one of ip, duid and all' };
  if (userAgent !== undefined && ip === undefined) return { refused: 'user_agent needs ip' };
  if (site !== undefined && (typeof site !== 'string' || site === '')) {
    return { refused: 'site must be a non-empty string' };
  }
  if (typeof site === 'string' && site.length > MAX_SITE_LENGTH) {
    return { refused: `site must be at most ${MAX_SITE_LENGTH} characters` };
  }
  const target = targetOf(ip, userAgent, duid, all);
  if ('refused' in target) return target;
  if (target.kind === 'all' && site !== undefined) {
    // Keys are digests: which site an entry belongs to cannot be told from it.
    return { refused: 'site cannot be given with all' };
  }
  return site === undefined ? { target } : { target, site };
}

function targetOf(
  ip: unknown,
  userAgent: unknown,
  duid: unknown,
  all: unknown,
): ForgetTarget | { readonly refused: string } {
  if (all !== undefined) return all === true ? { kind: 'all' } : { refused: 'all must be true' };
  if (duid !== undefined) {
    if (typeof duid !== 'string' || duid === '' || duid.length > MAX_DUID_LENGTH) {
      return { refused: `duid must be a string of 1 to ${MAX_DUID_LENGTH} characters` };
    }
    return { kind: 'duid', duid };
  }
  // Read as the checks read a client address: an IPv4-mapped IPv6 address is its IPv4 one.
  const hop = typeof ip === 'string' && isIP(ip) !== 0 ? readHopAddress(ip) : undefined;
  if (hop === undefined) return { refused: 'ip must be an IPv4 or IPv6 address' };
  if (userAgent === undefined) return { kind: 'ip', ip: hop.ip };
  if (typeof userAgent !== 'string' || Buffer.byteLength(userAgent) > MAX_USER_AGENT_BYTES) {
    return { refused: `user_agent must be a string of at most ${MAX_USER_AGENT_BYTES} bytes` };
  }
  return { kind: 'ip', ip: hop.ip, userAgent };
}

/** The request as the endpoint's JSON body: what parseForgetRequest reads back. */
export function forgetBody({ target, site }: ForgetRequest): Record<string, unknown> {
  const fields: Record<string, unknown> =
    target.kind === 'all'
      ? { all: true }
      : target.kind === 'duid'
        ? { duid: target.duid }
        : {
            ip: target.ip,
            ...(target.userAgent === undefined ? {} : { user_agent: target.userAgent }),
          };
  return site === undefined ? fields : { ...fields, site };
}

/** A client's field name in a message: shortened, control characters escaped. */
function quoteKey(key: string): string {
  return JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
}

/** A served site: its name, and the scope its blocks are remembered under (memory-scope.ts). */
export interface ServedSite {
  readonly name: string;
  readonly scope: string;
}

/** Each served site of a configuration and the scope its blocks are remembered under. */
export function memorySitesOf(config: AppConfig): ServedSite[] {
  return servedSites(config).map(site => ({
    name: site.name,
    scope: memoryScope(site.name, site.core),
  }));
}

/**
 * The changes that carry a request out over `servedSites` (the configuration in use); refused
 * when it names a site not served. One User-Agent of an IP also forgets the device ids stored
 * with that IP (`deviceKeysOf`, a store's): the visitor's own is among them, and forgetting
 * another device of that address too is the safe side. Without a store to read them from (the
 * `forget` command publishing to Redis itself) it forgets every key of the IP instead.
 */
export function forgetChanges(
  request: ForgetRequest,
  servedSites: readonly ServedSite[],
  deviceKeysOf?: (tag: string) => readonly string[],
): readonly MemoryChange[] | { readonly refused: string } {
  const { target, site } = request;
  if (target.kind === 'all') return [{ op: 'forget_all' }];
  const named = site === undefined ? servedSites : servedSites.filter(s => s.name === site);
  if (named.length === 0) return { refused: 'site names none of the served sites' };
  return named.flatMap(({ scope }): MemoryChange[] => {
    const visitor = { site: scope, clientIp: undefined, userAgent: undefined, duid: undefined };
    if (target.kind === 'duid') {
      const key = duidKey({ ...visitor, duid: target.duid });
      return key === undefined ? [] : [{ op: 'forget', key }];
    }
    const tag = ipTag(scope, target.ip);
    if (tag === undefined) return [];
    if (target.userAgent === undefined || deviceKeysOf === undefined) {
      return [{ op: 'forget_ip', tag }];
    }
    const key = ipUaKey({ ...visitor, clientIp: target.ip, userAgent: target.userAgent });
    const keys = key === undefined ? deviceKeysOf(tag) : [key, ...deviceKeysOf(tag)];
    return keys.map(forgotten => ({ op: 'forget', key: forgotten }));
  });
}

/** Carries a request out on `memory` as an operator's changes (told to the peers). */
export function applyForget(
  memory: VerdictMemory,
  request: ForgetRequest,
  servedSites: readonly ServedSite[],
): ForgetOutcome {
  const changes = forgetChanges(request, servedSites, tag => memory.deviceKeysOf(tag));
  if ('refused' in changes) return changes;
  const before = memory.counts.forgotten.admin;
  for (const change of changes) memory.apply(change, 'admin');
  return { forgotten: memory.counts.forgotten.admin - before };
}
