// The challenges family: what happened to served challenges, by site, provider and outcome
// (served, passed, failed, expired, replayed, loop, would_serve, unavailable), counted from each
// decision's challengeEvent. The pass rate is passed / served; loops / passed shows visitors whose
// pass does not stick (a proxy dropping Set-Cookie).

import type { Registry } from 'prom-client';
import { CHALLENGE_OUTCOMES, type ChallengeProviderName } from '../../core/decision';
import { scrapeTimeCounter } from '../scrape-time-counts';

/** A site and the challenge provider it is configured with. */
export type SiteChallengeProvider = readonly [site: string, provider: ChallengeProviderName];

/** `providers`: the label sets counted from the start (0 series for every outcome of each). */
export function createChallengeMetrics(
  registers: Registry[],
  providers: readonly SiteChallengeProvider[],
) {
  const challenges = scrapeTimeCounter({
    name: 'cheq_authz_challenges_total',
    help: 'What happened to challenges, by site, provider and outcome: served (the page, or the 403 saying a challenge is required), passed (verified: the pass cookie is set), failed (a wrong answer, a forged or foreign token), expired (a token past its 2 minutes), replayed (a used token), loop (challenged again while holding a pass: the cookie did not come back), would_serve (monitoring mode or outside enforce_percent), unavailable (no signing secret: allowed instead).',
    labelNames: ['site', 'provider', 'outcome'] as const,
    registers,
  });
  for (const [site, provider] of providers) {
    for (const outcome of CHALLENGE_OUTCOMES) challenges.labels(site, provider, outcome);
  }
  return { challenges };
}
