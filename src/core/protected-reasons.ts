import type { DecisionReason } from './decision.js';

/**
 * The reasons of checks answered from a real RTI verdict, or by the served challenge: the
 * numerator of the protected share in the alert rules, the bench and the tests. A served
 * challenge is `threat_challenge`; `challenge_passed` had a verdict too; `challenge_verify` (the
 * verify request, decided without RTI) never reaches the upstream; `remembered_block` carries out
 * a verdict RTI gave the visitor minutes before (the verdict memory). `excluded`, `ignored` and
 * `preflight` are not screened by design, `no_site` and `fail_open` are screened without a verdict.
 */
export const PROTECTED_REASONS = [
  'valid',
  'threat_block',
  'threat_challenge',
  'threat_redirect',
  'threat_unlisted',
  'monitoring',
  'not_enforced',
  'challenge_passed',
  'challenge_verify',
  'remembered_block',
] as const satisfies readonly DecisionReason[];
