// policy_rules: ordered rules over RTI's verdict, code, reasons and risk score, from the config
// file (a list) or CHEQ_POLICY_RULES (the same list as JSON). Strict: an unknown key is an error,
// since a misspelt condition would otherwise match every request.

import type { PolicyRule, RuleAction, RuleCondition } from '../core/policy';
import { VERDICTS, type Verdict } from '../core/rti-port';

const ACTIONS: readonly RuleAction[] = ['allow', 'block', 'challenge', 'redirect'];
const RULE_KEYS = new Set(['name', 'when', 'action']);
const WHEN_KEYS = new Set(['verdict', 'codes', 'reasons', 'min_risk_score']);

/**
 * Parses policy_rules. `when` may be left out (or empty): the rule then matches every verdict,
 * a catch-all for the end of the list.
 * @throws Error naming the rule (1-based) and its offending field
 */
export function parsePolicyRules(value: unknown): PolicyRule[] {
  let list: unknown;
  try {
    list = typeof value === 'string' ? JSON.parse(value) : value;
  } catch {
    throw new Error('must be a JSON list of rules; it is not valid JSON');
  }
  if (!Array.isArray(list)) {
    throw new Error(
      'must be a list of rules: { name?, when: { verdict?, codes?, reasons?, min_risk_score? }, action }',
    );
  }
  const names = new Set<string>();
  return list.map((entry: unknown, index) => {
    const at = `rule ${index + 1}`;
    const rule = objectOf(entry, at);
    unknownKeys(rule, RULE_KEYS, at);
    const name = rule['name'] ?? `rule ${index + 1}`;
    if (typeof name !== 'string' || !/^[\w .:-]{1,64}$/.test(name)) {
      throw new Error(`${at}: name must be 1-64 letters, digits, spaces or . _ : -`);
    }
    if (names.has(name)) throw new Error(`${at}: name ${JSON.stringify(name)} is used twice`);
    names.add(name);
    const when = conditionOf(rule['when'], at);
    const action = rule['action'];
    if (!ACTIONS.includes(action as RuleAction)) {
      throw new Error(`${at}: action must be one of ${ACTIONS.join(', ')}`);
    }
    return { name, when, action: action as RuleAction };
  });
}

function conditionOf(value: unknown, at: string): RuleCondition {
  if (value === undefined) return {};
  const when = objectOf(value, `${at}: when`);
  unknownKeys(when, WHEN_KEYS, `${at}: when`);
  const condition: {
    verdicts?: ReadonlySet<Verdict>;
    codes?: ReadonlySet<number>;
    reasons?: ReadonlySet<number>;
    minRiskScore?: number;
  } = {};
  if (when['verdict'] !== undefined) {
    const verdicts = oneOrMany(when['verdict']);
    if (verdicts.length === 0 || !verdicts.every(v => VERDICTS.includes(v as Verdict))) {
      throw new Error(`${at}: when.verdict must be ${VERDICTS.join(', ')} or a list of them`);
    }
    condition.verdicts = new Set(verdicts as Verdict[]);
  }
  if (when['codes'] !== undefined) condition.codes = codeSet(when['codes'], `${at}: when.codes`);
  if (when['reasons'] !== undefined) {
    condition.reasons = codeSet(when['reasons'], `${at}: when.reasons`);
  }
  const minRiskScore = when['min_risk_score'];
  if (minRiskScore !== undefined) {
    if (typeof minRiskScore !== 'number' || !(minRiskScore >= 0 && minRiskScore <= 100)) {
      throw new Error(`${at}: when.min_risk_score must be a number from 0 to 100`);
    }
    condition.minRiskScore = minRiskScore;
  }
  return condition;
}

function objectOf(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${at}: must be an object`);
  }
  return value as Record<string, unknown>;
}

function unknownKeys(
  object: Record<string, unknown>,
  known: ReadonlySet<string>,
  at: string,
): void {
  const unknown = Object.keys(object).filter(key => !known.has(key));
  if (unknown.length > 0) {
    throw new Error(
      `${at}: unknown ${unknown.map(key => JSON.stringify(key)).join(', ')} (known: ${[...known].join(', ')})`,
    );
  }
}

function oneOrMany(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

function codeSet(value: unknown, at: string): ReadonlySet<number> {
  const codes = oneOrMany(value);
  if (
    codes.length === 0 ||
    !codes.every(code => Number.isSafeInteger(code) && (code as number) >= 0)
  ) {
    throw new Error(`${at} must be a non-negative integer or a non-empty list of them`);
  }
  return new Set(codes as number[]);
}
