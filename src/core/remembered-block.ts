// The verdict memory's rules in the decision core (issue #23): what an RTI answer teaches the
// memory, when the memory may answer instead of RTI, and what a remembered block does. RTI decides
// whenever it answers; the memory only speaks when it cannot be asked. Imports only ./.

import type { BlockMemory, Remembered, Visitor } from './block-memory';
import { DUID_COOKIE, type RtiInputConfig } from './build-rti-input';
import { resolveClientIp } from './client-ip';
import type { FailureCause, Mode } from './decision';
import { isEnforced, type BucketKey } from './enforcement';
import { readCookies } from './header-list';
import type { PolicyConfig, PolicyOutcome } from './policy';
import type { RequestAttributes } from './request-attributes';
import { applyStrategy } from './strategy';

/** What the memory decides instead of RTI: no policy rule chose it. */
export type RememberedOutcome = Omit<PolicyOutcome, 'rule'>;

const DUID_ONLY = [DUID_COOKIE];

/** The visitor a decision is about, from facts already resolved (the RTI input's). */
export function visitorOf(
  site: string,
  attrs: RequestAttributes,
  clientIp: string | undefined,
  duid: string | undefined,
): Visitor {
  return { site, clientIp, userAgent: attrs.headers.get('user-agent'), duid };
}

/** The visitor of a check RTI was not asked about: its client IP and device id read here. */
export function visitorOfAttributes(
  site: string,
  attrs: RequestAttributes,
  config: Pick<RtiInputConfig, 'trustedIpHeader' | 'trustedProxies'>,
): Visitor {
  const clientIp = resolveClientIp(attrs, config.trustedIpHeader, config.trustedProxies);
  const [duid] = readCookies(attrs.headers.get('cookie'), DUID_ONLY);
  return visitorOf(site, attrs, clientIp, duid);
}

/**
 * What RTI's answer, once the policy and enforce_percent ran, teaches the memory: a block
 * (carried out, or monitoring's would-block) is remembered, whatever the block strategy; any other
 * answer forgets the visitor; a block outside enforce_percent (`not_enforced`) does neither, so
 * that the memory never acts on a visitor the policy does not act on.
 */
export function learnFrom(
  outcome: PolicyOutcome,
  memory: BlockMemory,
  visitor: Visitor,
  ttlMs: number,
): void {
  if (outcome.reason === 'not_enforced') return;
  if (outcome.reason === 'threat_block' || outcome.would?.reason === 'threat_block') {
    memory.remember(visitor, ttlMs);
  } else {
    memory.forget(visitor);
  }
}

/**
 * The visitor's remembered block, when the memory may answer for a check RTI could not answer:
 * for any cause but a bug of ours (`internal_error`), and in blocking mode only for a visitor in
 * the enforced share at the enforce_percent in force now.
 */
export function recallBlock(
  memory: BlockMemory,
  visitor: Visitor,
  cause: FailureCause,
  mode: Mode,
  enforcePercent: number,
  enforceKey: BucketKey,
): Remembered | undefined {
  if (cause === 'internal_error') return undefined;
  const remembered = memory.recall(visitor);
  if (!remembered) return undefined;
  if (mode === 'blocking' && !isEnforced(visitor, enforcePercent, enforceKey)) return undefined;
  return remembered;
}

/**
 * What a remembered block does: in blocking mode, what block_strategy does to a block of RTI's;
 * in monitoring mode, a fail-open that says what blocking would have done.
 */
export function rememberedOutcome(
  config: Pick<PolicyConfig, 'blockStrategy' | 'redirectUrl'>,
  mode: Mode,
  isNavigation: () => boolean,
): RememberedOutcome {
  const stop = applyStrategy(config.blockStrategy, config.redirectUrl, isNavigation);
  if (mode === 'blocking') return { ...stop, reason: 'remembered_block' };
  const would = { action: stop.action, reason: 'remembered_block' } as const;
  return { action: 'allow', reason: 'fail_open', challenge: false, would };
}
