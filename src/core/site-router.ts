// Which configured site a request belongs to: Envoy's context_extensions cheq_site names it,
// else its host does (exact names first, then the longest `*.suffix`), else the top level
// serves it, or nothing does (allowed without calling RTI).

import type { Decide } from './decide';
import type { RequestAttributes } from './request-attributes';

export interface RoutedSite {
  readonly name: string;
  /** Lower-case host names, exact or `*.suffix`. */
  readonly hosts: readonly string[];
  readonly decide: Decide;
}

export function createSiteRouter(
  sites: readonly RoutedSite[],
  /** Requests no site matches: the top level's chain, or the no-site answer. */
  fallback: Decide,
): Decide {
  if (sites.length === 0) return fallback;
  const byName = new Map<string, Decide>();
  const byHost = new Map<string, Decide>();
  const bySuffix: (readonly [suffix: string, decide: Decide])[] = [];
  for (const site of sites) {
    byName.set(site.name, site.decide);
    for (const host of site.hosts) {
      if (host.startsWith('*.')) bySuffix.push([host.slice(1), site.decide]);
      else byHost.set(host, site.decide);
    }
  }
  bySuffix.sort((a, b) => b[0].length - a[0].length);

  const siteOf = (attrs: RequestAttributes): Decide => {
    const named = attrs.route.site;
    if (named !== undefined) {
      const decide = byName.get(named);
      if (decide) return decide;
    }
    const host = hostName(attrs.host);
    const exact = byHost.get(host);
    if (exact) return exact;
    for (const [suffix, decide] of bySuffix) if (host.endsWith(suffix)) return decide;
    return fallback;
  };
  return (attrs, options) => siteOf(attrs)(attrs, options);
}

/** The host without port, lower-case, without a trailing dot (`Shop.Example.com.:443`). */
export function hostName(authority: string): string {
  let host = authority;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end < 0 ? host : host.slice(0, end + 1);
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) host = host.slice(0, colon);
  }
  host = host.toLowerCase();
  return host.endsWith('.') ? host.slice(0, -1) : host;
}
