// Valid but dangerous configurations, for check-config: blocking with nothing excluded for health
// checks, hosts no site serves, a redirect action with nowhere to go, reason lists v1 cannot meet,
// and proxies (the shipped Envoy, Istio and NGINX files, or the operator's own) that give
// up on a check before this server's own deadline would answer it.

import { parse as parseYaml } from 'yaml';
import { servedSites, type AppConfig, type SiteConfig } from './load-config';

/** Paths load balancers and uptime checks commonly probe through the gateway. */
const HEALTH_CHECK_PATHS = [
  '/healthz',
  '/health',
  '/readyz',
  '/livez',
  '/ready',
  '/ping',
  '/status',
];

/** A proxy's time limit for one check, as found in its configuration file. */
export interface ProxyTimeout {
  readonly file: string;
  /** Which setting, e.g. `ext_authz grpc_service timeout` or `proxy_read_timeout`. */
  readonly setting: string;
  readonly ms: number;
}

/** Keys under which Envoy and Istio configure the ext_authz call, whose `timeout` bounds a check. */
const EXT_AUTHZ_KEYS = new Set([
  'grpc_service',
  'http_service',
  'envoyExtAuthzGrpc',
  'envoyExtAuthzHttp',
]);

/**
 * The check time limits a proxy configuration sets: Envoy or Istio YAML (a `timeout` under the
 * ext_authz service), or NGINX (`proxy_read_timeout`, which bounds the auth_request subrequest).
 */
export function proxyTimeoutsOf(file: string, text: string): ProxyTimeout[] {
  if (/\.ya?ml$/i.test(file)) {
    const found: ProxyTimeout[] = [];
    for (const document of text.split(/^---\s*$/m)) {
      let parsed: unknown;
      try {
        parsed = parseYaml(document);
      } catch {
        continue;
      }
      walk(parsed, undefined, (key, timeout) => {
        const ms = durationMs(timeout);
        if (ms !== undefined) found.push({ file, setting: `ext_authz ${key} timeout`, ms });
      });
    }
    return found;
  }
  return [...text.matchAll(/^\s*proxy_read_timeout\s+([0-9.]+(?:ms|s|m)?)\s*;/gm)].flatMap(
    match => {
      const ms = durationMs(match[1]);
      return ms === undefined ? [] : [{ file, setting: 'proxy_read_timeout', ms }];
    },
  );
}

/** Calls `found` with each `timeout` inside an ext_authz service block. */
function walk(
  node: unknown,
  within: string | undefined,
  found: (key: string, timeout: unknown) => void,
): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, within, found);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  for (const [key, value] of Object.entries(node)) {
    if (within !== undefined && key === 'timeout') found(within, value);
    walk(value, EXT_AUTHZ_KEYS.has(key) ? key : within, found);
  }
}

/** `0.25s`, `250ms`, `1m`, or NGINX's bare seconds; undefined when not a duration. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(String(value).trim());
  if (!match) return undefined;
  const unit = match[2] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000;
  return Math.round(Number(match[1]) * factor);
}

/** Warnings about a valid configuration, each naming the site (and the proxy file) concerned. */
export function configAdvice(config: AppConfig, proxyTimeouts: readonly ProxyTimeout[]): string[] {
  const advice: string[] = [];
  if (config.sites.length > 0 && config.defaultSite === undefined) {
    advice.push(
      'sites without a top-level tag_hash: a request for a host no site lists is allowed without ' +
        'asking RTI, and the client chooses its Host header. Route only the listed hosts to ' +
        'protected apps (NGINX: a default_server that answers return 444; Envoy: cheq_site in ' +
        'context_extensions, no catch-all "*" domain), or set a top-level tag_hash',
    );
  }
  for (const site of servedSites(config)) {
    const name = `site ${site.name}`;
    if (site.core.mode === 'blocking' && !HEALTH_CHECK_PATHS.some(excludes(site))) {
      advice.push(
        `${name}: blocking with no uri_exclusion or ignore_paths entry for health checks (${HEALTH_CHECK_PATHS.join(', ')}): ` +
          'a load balancer or uptime probe through the gateway sends no browser headers or cookies and may be denied',
      );
    }
    advice.push(...policyAdvice(site).map(line => `${name}: ${line}`));
    const needed = site.core.timeoutMs + site.core.deadlineMarginMs;
    for (const proxy of proxyTimeouts) {
      if (proxy.ms < needed) {
        advice.push(
          `${name}: ${proxy.file}: ${proxy.setting} ${proxy.ms} ms is below timeout_ms ` +
            `${site.core.timeoutMs} + deadline_margin_ms ${site.core.deadlineMarginMs}: the proxy ` +
            'gives up first and applies its own failure mode instead of our answer',
        );
      }
    }
    advice.push(...verifyTimeoutAdvice(site, name, proxyTimeouts));
  }
  return advice;
}

/** The authz timeout of the shipped NGINX, Envoy and Istio recipes (deploy/). */
const RECIPE_AUTHZ_TIMEOUT_MS = 250;

/**
 * A captcha verify that the proxy gives up on first is failed open by it: the verify request
 * goes to the upstream and the visitor never passes. Judged against the proxies given, else
 * against the shipped recipes' timeout.
 */
function verifyTimeoutAdvice(
  site: SiteConfig,
  name: string,
  proxyTimeouts: readonly ProxyTimeout[],
): string[] {
  const verifyMs = site.core.challenge?.verifyTimeoutMs;
  if (verifyMs === undefined || site.core.challengeProvider === 'browser') return [];
  const limits =
    proxyTimeouts.length > 0
      ? proxyTimeouts.map(proxy => ({ what: `${proxy.file}: ${proxy.setting}`, ms: proxy.ms }))
      : [{ what: "the shipped proxy recipes' authz timeout", ms: RECIPE_AUTHZ_TIMEOUT_MS }];
  return limits
    .filter(limit => verifyMs >= limit.ms)
    .map(
      limit =>
        `${name}: challenge_verify_timeout_ms ${verifyMs} is not below ${limit.what} ` +
        `${limit.ms} ms: the proxy gives up on a slow captcha verify first and fails it open to ` +
        "the upstream, and the visitor never passes; raise the proxy's timeout above it",
    );
}

/** Policy settings that cannot do what they say: a redirect without redirect_url, reasons on v1. */
function policyAdvice(site: SiteConfig): string[] {
  const { core } = site;
  const advice: string[] = [];
  const redirecting = [
    ...(core.redirectCodes.size > 0 ? ['redirect_codes'] : []),
    ...(core.redirectReasons.size > 0 ? ['redirect_reasons'] : []),
    ...core.rules.filter(rule => rule.action === 'redirect').map(rule => `rule ${rule.name}`),
  ];
  if (redirecting.length > 0 && core.redirectUrl === undefined) {
    advice.push(
      `${redirecting.join(', ')} choose the redirect action, but redirect_url is empty: ` +
        'those requests are denied with 403 instead',
    );
  }
  const reasonLists = (
    [
      ['block_reasons', core.blockReasons],
      ['challenge_reasons', core.challengeReasons],
      ['redirect_reasons', core.redirectReasons],
    ] as const
  ).filter(([, reasons]) => reasons.size > 0);
  if (core.apiVersion === 'v1' && reasonLists.length > 0) {
    advice.push(
      `${reasonLists.map(([setting]) => setting).join(', ')} never match with api_version v1: ` +
        'its answers carry no reason codes (v4 cheqDetection.reasons)',
    );
  }
  return advice;
}

function excludes(site: SiteConfig): (path: string) => boolean {
  return path => site.core.uriExclusion.matches(path) || site.core.ignorePaths.matches(path);
}
