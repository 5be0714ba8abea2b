// One configuration's decision chain: for each site (and the top level) the decision core over
// its own RTI client (credentials, API generation) on the shared endpoint's pool and breaker,
// behind the site router. Built at start and again on every reload; a check keeps the chain it
// started on.

import type { Dispatcher } from 'undici';
import { CAPTCHA_PROVIDERS } from './challenge/providers/challenge-providers';
import { SiteverifyClient } from './challenge/providers/siteverify-client';
import type { ReplayGuard } from './challenge/replay-guard';
import { servedSites, type AppConfig, type SiteConfig } from './config/load-config';
import type { Admission } from './core/admission';
import type { BlockMemory } from './core/block-memory';
import { createDecide, unservedDecision, type Decide } from './core/decide';
import type { InFlightLimit } from './core/in-flight-limit';
import { createSiteRouter } from './core/site-router';
import { CircuitBreakingRti, type Responsiveness } from './rti/circuit-breaking-rti';
import { RtiClient } from './rti/rti-client';
import type { RtiEndpoints } from './rti/rti-endpoints';
import { WIRE_FORMATS } from './rti/wire-formats';
import { PACKAGE_NAME, VERSION } from './version';

export interface ChainDeps {
  readonly endpoints: RtiEndpoints;
  readonly loop: Responsiveness;
  readonly admission: Admission | undefined;
  /** Told of each RTI timeout the breaker did not hold against RTI. */
  readonly onLaggingTimeout: () => void;
  /** Challenge tokens and grants redeemed by this process, whatever the configuration. */
  readonly replayGuard: ReplayGuard;
  /** Captcha verify calls in flight in this process, whatever the configuration. */
  readonly verifyCalls: InFlightLimit;
  /** Connections to the captcha providers' verify endpoints, shared by every site. */
  readonly siteverify: Dispatcher;
  /** RTI's recent blocks, whatever the configuration: each site reads it with its own TTL. */
  readonly memory: BlockMemory;
}

const MIDDLEWARE_VERSION = `${PACKAGE_NAME}_${VERSION}`;

export function buildDecisionChain(config: AppConfig, deps: ChainDeps): Decide {
  const chainOf = (site: SiteConfig): Decide => {
    const { endpoint, breaker } = deps.endpoints.get(site.endpoint);
    const client = new RtiClient(endpoint, WIRE_FORMATS[site.core.apiVersion], {
      apiKey: site.apiKey,
      tagHash: site.tagHash,
      middlewareVersion: MIDDLEWARE_VERSION,
    });
    const rti = breaker
      ? new CircuitBreakingRti(client, breaker, deps.loop, deps.onLaggingTimeout)
      : client;
    const provider = site.core.challenge?.provider;
    const captcha =
      site.siteverify && provider !== undefined && provider !== 'browser'
        ? {
            widget: CAPTCHA_PROVIDERS[provider],
            verifier: new SiteverifyClient(site.siteverify, deps.siteverify),
          }
        : undefined;
    return createDecide(site.core, rti, {
      ...(deps.admission ? { admission: deps.admission } : {}),
      site: site.name,
      replayGuard: deps.replayGuard,
      verifyCalls: deps.verifyCalls,
      memory: deps.memory,
      ...(captcha ? { captcha } : {}),
    });
  };
  const { defaultSite, core } = config;
  const fallback: Decide = defaultSite
    ? chainOf(defaultSite)
    : attrs => Promise.resolve(unservedDecision(core, attrs));
  const sites = config.sites.map(site => ({ ...site, decide: chainOf(site) }));
  return createSiteRouter(sites, fallback);
}

/** The RTI endpoints a configuration calls. */
export function endpointsOf(config: AppConfig): URL[] {
  return servedSites(config).map(site => site.endpoint);
}
