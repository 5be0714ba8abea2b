import type { DecisionReason } from './decision.js';

/**
 * The reasons of checks answered from a real RTI verdict: the numerator of the protected share in
 * the alert rules, the bench and the tests. `excluded`, `ignored` and `preflight` are not screened
 * by design, `no_site` and `fail_open` are screened without a verdict.
 */
export const PROTECTED_REASONS = [
  'valid',
  'threat_block',
  'threat_challenge',
  'threat_unlisted',
  'monitoring',
  'not_enforced',
] as const satisfies readonly DecisionReason[];
