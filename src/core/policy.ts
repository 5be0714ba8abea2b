// Pure policy: RTI's verdict and the configuration in, the action out (rti-api.md §2, §5, §5.1).
// The configured rules are tried in order, then the defaults of the API generation in CHEQ's
// priority (block > challenge > redirect > allow); the first that matches acts, and its name says
// why (check --explain, debug logs).

import type { Action, DecisionReason, HttpStatus, Mode } from './decision';
import type { RtiVerdict, Verdict } from './rti-port';
import { applyStrategy, type BlockStrategy, type ChallengeStrategy } from './strategy';

export type ApiVersion = 'v1' | 'v4' | 'v4.1';

/** What a rule does with a request it matches (CHEQ's action model). */
export type RuleAction = 'allow' | 'block' | 'challenge' | 'redirect';

/** Every condition given must hold; a list matches when it holds any of the verdict's values. */
export interface RuleCondition {
  readonly verdicts?: ReadonlySet<Verdict>;
  readonly codes?: ReadonlySet<number>;
  readonly reasons?: ReadonlySet<number>;
  readonly minRiskScore?: number;
}

export interface PolicyRule {
  readonly name: string;
  readonly when: RuleCondition;
  readonly action: RuleAction;
}

export interface PolicyConfig {
  /** Picks the default rules: v1 acts on code groups only, v4 and v4.1 on verdicts and codes. */
  readonly apiVersion: ApiVersion;
  /** Tried in order before the defaults. */
  readonly rules: readonly PolicyRule[];
  readonly blockRedirectCodes: ReadonlySet<number>;
  readonly challengeCodes: ReadonlySet<number>;
  readonly redirectCodes: ReadonlySet<number>;
  /** Detection reason codes (v4 cheqDetection.reasons) of each default group. */
  readonly blockReasons: ReadonlySet<number>;
  readonly challengeReasons: ReadonlySet<number>;
  readonly redirectReasons: ReadonlySet<number>;
  /** Where blocked navigations go with block_strategy `redirect`, and redirected ones. */
  readonly redirectUrl: string | undefined;
  /** As resolved at configuration time (strategy.ts resolveStrategies). */
  readonly blockStrategy: BlockStrategy;
  readonly challengeStrategy: ChallengeStrategy;
  /** Where challenged navigations go with challenge_strategy `redirect`. */
  readonly challengeUrl: string | undefined;
}

export interface PolicyOutcome {
  readonly action: Action;
  readonly reason: DecisionReason;
  /** The rule that decided: a configured rule's name, or `default:…`. */
  readonly rule: string;
  /** Set when the strategy chose another status than the action's own (not_found: 404). */
  readonly httpStatus?: HttpStatus;
  readonly location?: string;
  /** Upstream is told to challenge the visitor. */
  readonly challenge: boolean;
  /** Allowed instead of acted on (monitoring, not_enforced): what blocking would have done, and why. */
  readonly would?: { readonly action: Action; readonly reason: DecisionReason };
}

export function applyPolicy(
  verdict: RtiVerdict,
  mode: Mode,
  config: PolicyConfig,
  /** Asked only when a redirect is configured for the action chosen: it reads several headers. */
  isNavigation: () => boolean,
): PolicyOutcome {
  const { action, rule } = chooseRule(verdict, config);
  const enforced = enforce(action, rule, verdict, config, isNavigation);
  if (mode === 'blocking' || enforced.reason === 'valid') return enforced;
  if (enforced.action === 'allow' && !enforced.challenge) return enforced;
  const would = { action: enforced.action, reason: enforced.reason };
  return { action: 'allow', reason: 'monitoring', rule, challenge: false, would };
}

export interface ChosenRule {
  readonly action: RuleAction;
  readonly rule: string;
}

/**
 * The first configured rule that matches, else the generation's default in CHEQ's priority:
 * block > challenge > redirect > allow, so a code or reason in two groups is blocked rather than
 * challenged (rti-api.md §5.1). v1 (as CHEQ's middlewares) acts on invalid traffic only; v4 and
 * later (as CHEQ's CDN workers) also on the verdict, and on a listed code whatever the verdict.
 */
export function chooseRule(verdict: RtiVerdict, config: PolicyConfig): ChosenRule {
  for (const rule of config.rules) {
    if (matches(rule.when, verdict)) return { action: rule.action, rule: rule.name };
  }
  const v1 = config.apiVersion === 'v1';
  if (v1 && verdict.verdict === 'benign') return { action: 'allow', rule: 'default:benign' };
  if (!v1 && verdict.verdict === 'malicious') return { action: 'block', rule: 'default:malicious' };
  const block = listedIn('block', config.blockRedirectCodes, config.blockReasons, verdict);
  if (block) return block;
  if (!v1 && verdict.verdict === 'suspicious') {
    return { action: 'challenge', rule: 'default:suspicious' };
  }
  return (
    listedIn('challenge', config.challengeCodes, config.challengeReasons, verdict) ??
    listedIn('redirect', config.redirectCodes, config.redirectReasons, verdict) ?? {
      action: 'allow',
      rule: v1 ? 'default:unlisted_code' : 'default:benign',
    }
  );
}

/** `default:<action>_codes` or `default:<action>_reasons` when the verdict is in that group. */
function listedIn(
  action: Exclude<RuleAction, 'allow'>,
  codes: ReadonlySet<number>,
  reasons: ReadonlySet<number>,
  verdict: RtiVerdict,
): ChosenRule | undefined {
  if (codes.has(verdict.code)) return { action, rule: `default:${action}_codes` };
  if (verdict.reasons.some(reason => reasons.has(reason))) {
    return { action, rule: `default:${action}_reasons` };
  }
  return undefined;
}

function matches(when: RuleCondition, verdict: RtiVerdict): boolean {
  if (when.verdicts && !when.verdicts.has(verdict.verdict)) return false;
  if (when.codes && !when.codes.has(verdict.code)) return false;
  if (when.reasons && !verdict.reasons.some(reason => when.reasons?.has(reason))) return false;
  if (when.minRiskScore !== undefined) {
    if (verdict.riskScore === undefined || verdict.riskScore < when.minRiskScore) return false;
  }
  return true;
}

function enforce(
  action: RuleAction,
  rule: string,
  verdict: RtiVerdict,
  config: PolicyConfig,
  isNavigation: () => boolean,
): PolicyOutcome {
  switch (action) {
    case 'allow': {
      const reason = verdict.verdict === 'benign' ? 'valid' : 'threat_unlisted';
      return { action: 'allow', reason, rule, challenge: false };
    }
    case 'block': {
      const stop = applyStrategy(config.blockStrategy, config.redirectUrl, isNavigation);
      return { ...stop, reason: 'threat_block', rule };
    }
    case 'challenge': {
      const stop = applyStrategy(config.challengeStrategy, config.challengeUrl, isNavigation);
      return { ...stop, reason: 'threat_challenge', rule };
    }
    case 'redirect': {
      // CHEQ's REDIRECT action: to redirect_url for a navigation, else (or without one) a 403.
      const stop = applyStrategy('redirect', config.redirectUrl, isNavigation);
      return { ...stop, reason: 'threat_redirect', rule };
    }
  }
}
