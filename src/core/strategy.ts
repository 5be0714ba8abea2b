// How a block or a challenge is carried out (block_strategy, challenge_strategy, CHEQ's
// ACCESS_DENIED / NOT_FOUND / REDIRECT / CAPTCHA): the policy picks the rule's action, the
// strategy turns it into what the client gets. Pure; imports only ./.

import type { Action, HttpStatus } from './decision';

export const BLOCK_STRATEGIES = ['access_denied', 'not_found', 'redirect', 'challenge'] as const;
export type BlockStrategy = (typeof BLOCK_STRATEGIES)[number];

/** `allow`: the request goes through with the upstream header `<prefix>challenge: 1`. */
export const CHALLENGE_STRATEGIES = [...BLOCK_STRATEGIES, 'allow'] as const;
export type ChallengeStrategy = (typeof CHALLENGE_STRATEGIES)[number];

export interface StrategyOutcome {
  readonly action: Action;
  /** Set only when it is not the action's own status (statusOf): not_found's 404. */
  readonly httpStatus?: HttpStatus;
  readonly location?: string;
  /** The upstream is told to challenge the visitor (strategy `allow`). */
  readonly challenge: boolean;
}

/**
 * What a strategy does to one request. A redirect needs a target and a navigation (a fetch or an
 * API client cannot follow one to a page): without either it is access_denied. The `challenge`
 * strategy is resolved at configuration time to something else when no signing secret exists.
 */
export function applyStrategy(
  strategy: ChallengeStrategy,
  location: string | undefined,
  isNavigation: () => boolean,
): StrategyOutcome {
  switch (strategy) {
    case 'allow':
      return { action: 'allow', challenge: true };
    case 'access_denied':
      return DENIED;
    case 'not_found':
      return { action: 'deny', httpStatus: 404, challenge: false };
    case 'redirect':
      return location !== undefined && isNavigation()
        ? { action: 'redirect', location, challenge: false }
        : DENIED;
    case 'challenge':
      return { action: 'challenge', challenge: false };
  }
}

const DENIED: StrategyOutcome = { action: 'deny', challenge: false };

/**
 * The strategies as configured: `challenge_strategy`, else its old name `challenge_action` (`deny`
 * meant access_denied), else `challenge`; `block_strategy`, else `redirect` when a redirect_url
 * is set, else access_denied (the behaviour before strategies). Without a signing secret nothing
 * can serve a challenge: a challenge strategy is `allow` (the upstream header, as CHEQ does), and
 * a block strategy `challenge` is access_denied (a block never lets a request through).
 */
export function resolveStrategies(settings: {
  readonly blockStrategy: BlockStrategy | '';
  readonly challengeStrategy: ChallengeStrategy | '';
  readonly challengeAction: 'allow' | 'deny' | 'redirect' | '';
  readonly redirectUrl: string | undefined;
  readonly canChallenge: boolean;
}): { readonly block: BlockStrategy; readonly challenge: ChallengeStrategy } {
  const { blockStrategy, challengeStrategy, challengeAction, redirectUrl, canChallenge } = settings;
  const oldName = challengeAction === 'deny' ? 'access_denied' : challengeAction;
  const challenge = challengeStrategy || oldName || 'challenge';
  const block = blockStrategy || (redirectUrl === undefined ? 'access_denied' : 'redirect');
  if (canChallenge) return { block, challenge };
  return {
    block: block === 'challenge' ? 'access_denied' : block,
    challenge: challenge === 'challenge' ? 'allow' : challenge,
  };
}
