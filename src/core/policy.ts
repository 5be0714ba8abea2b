// Pure policy: RTI's verdict and the configuration in, the action out (rti-api.md §2).

import type { Action, DecisionReason, Mode } from './decision';
import type { RtiVerdict } from './rti-port';

export type ChallengeAction = 'allow' | 'deny' | 'redirect';

export interface PolicyConfig {
  readonly blockRedirectCodes: ReadonlySet<number>;
  readonly challengeCodes: ReadonlySet<number>;
  /** Where blocked navigations go; undefined: deny with 403. */
  readonly redirectUrl: string | undefined;
  readonly challengeAction: ChallengeAction;
  /** Where challenged navigations go when challengeAction is `redirect`. */
  readonly challengeUrl: string | undefined;
}

export interface PolicyOutcome {
  readonly action: Action;
  readonly reason: DecisionReason;
  readonly location?: string;
  /** Upstream is told to challenge the visitor. */
  readonly challenge: boolean;
  /** Monitoring mode only: what blocking mode would have done, and why. */
  readonly would?: { readonly action: Action; readonly reason: DecisionReason };
}

export function applyPolicy(
  verdict: RtiVerdict,
  mode: Mode,
  config: PolicyConfig,
  isNavigation: boolean,
): PolicyOutcome {
  const enforced = enforce(verdict, config, isNavigation);
  if (mode === 'blocking' || enforced.reason === 'valid') return enforced;
  if (enforced.action === 'allow' && !enforced.challenge) return enforced;
  const would = { action: enforced.action, reason: enforced.reason };
  return { action: 'allow', reason: 'monitoring', challenge: false, would };
}

function enforce(verdict: RtiVerdict, config: PolicyConfig, isNavigation: boolean): PolicyOutcome {
  if (!verdict.isInvalid) return { action: 'allow', reason: 'valid', challenge: false };
  const code = verdict.threatTypeCode;
  if (config.blockRedirectCodes.has(code)) {
    return stopVisitor('threat_block', config.redirectUrl, isNavigation);
  }
  if (config.challengeCodes.has(code)) {
    switch (config.challengeAction) {
      case 'allow':
        return { action: 'allow', reason: 'threat_challenge', challenge: true };
      case 'deny':
        return { action: 'deny', reason: 'threat_challenge', challenge: false };
      case 'redirect':
        return stopVisitor('threat_challenge', config.challengeUrl, isNavigation);
    }
  }
  return { action: 'allow', reason: 'threat_unlisted', challenge: false };
}

/** Redirects navigations when a target is configured; everything else gets the 403. */
function stopVisitor(
  reason: DecisionReason,
  location: string | undefined,
  isNavigation: boolean,
): PolicyOutcome {
  if (location && isNavigation) return { action: 'redirect', reason, location, challenge: false };
  return { action: 'deny', reason, challenge: false };
}
