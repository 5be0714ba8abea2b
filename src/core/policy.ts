// Pure policy: RTI's verdict and the configuration in, the action out (rti-api.md §2, §5).
// The configured rules are tried in order, then the defaults of the API generation; the first
// that matches acts, and its name says why (check --explain, debug logs).

import type { Action, DecisionReason, HttpStatus, Mode } from './decision';
import type { RtiVerdict, Verdict } from './rti-port';
import { applyStrategy, type BlockStrategy, type ChallengeStrategy } from './strategy';

export type ApiVersion = 'v1' | 'v4';

/** What a rule does with a request it matches. */
export type RuleAction = 'allow' | 'block' | 'challenge';

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
  /** Picks the default rules: v1 acts on code groups only, v4 on verdicts and code groups. */
  readonly apiVersion: ApiVersion;
  /** Tried in order before the defaults. */
  readonly rules: readonly PolicyRule[];
  readonly blockRedirectCodes: ReadonlySet<number>;
  readonly challengeCodes: ReadonlySet<number>;
  /** Where blocked navigations go with block_strategy `redirect`. */
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

/** The first configured rule that matches, else the generation's default. */
export function chooseRule(
  verdict: RtiVerdict,
  config: PolicyConfig,
): { readonly action: RuleAction; readonly rule: string } {
  for (const rule of config.rules) {
    if (matches(rule.when, verdict)) return { action: rule.action, rule: rule.name };
  }
  return config.apiVersion === 'v4' ? defaultV4(verdict, config) : defaultV1(verdict, config);
}

/** v1 (as CHEQ's middlewares): only invalid traffic is acted on, by its code's group. */
function defaultV1(verdict: RtiVerdict, config: PolicyConfig): ReturnType<typeof chooseRule> {
  if (verdict.verdict === 'benign') return { action: 'allow', rule: 'default:benign' };
  if (config.blockRedirectCodes.has(verdict.code)) {
    return { action: 'block', rule: 'default:block_codes' };
  }
  if (config.challengeCodes.has(verdict.code)) {
    return { action: 'challenge', rule: 'default:challenge_codes' };
  }
  return { action: 'allow', rule: 'default:unlisted_code' };
}

/** v4 (as CHEQ's CDN workers): malicious or a block code blocks, suspicious or a challenge code challenges. */
function defaultV4(verdict: RtiVerdict, config: PolicyConfig): ReturnType<typeof chooseRule> {
  if (verdict.verdict === 'malicious') return { action: 'block', rule: 'default:malicious' };
  if (config.blockRedirectCodes.has(verdict.code)) {
    return { action: 'block', rule: 'default:block_codes' };
  }
  if (verdict.verdict === 'suspicious') {
    return { action: 'challenge', rule: 'default:suspicious' };
  }
  if (config.challengeCodes.has(verdict.code)) {
    return { action: 'challenge', rule: 'default:challenge_codes' };
  }
  return { action: 'allow', rule: 'default:benign' };
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
  }
}
