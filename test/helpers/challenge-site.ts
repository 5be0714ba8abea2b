// The served challenge as the browser tests and `npm run screenshots` set it up: our server in
// blocking mode with the `browser` provider, and the visitors the RTI stand-in (byUserAgent)
// calls suspicious or malicious.

import { checkProofOfWork } from '../../src/challenge/proof-of-work';

/** A 32-byte signing secret: test-only, never a real one. */
const TEST_CHALLENGE_SECRET = 'browser-tests-challenge-secret-0123456789';

/** Our server's settings: suspicious visitors are challenged, malicious ones blocked. */
export const CHALLENGE_SETTINGS = {
  CHEQ_MODE: 'blocking',
  CHEQ_CHALLENGE_STRATEGY: 'challenge',
  CHEQ_CHALLENGE_PROVIDER: 'browser',
  CHEQ_CHALLENGE_SECRET: TEST_CHALLENGE_SECRET,
} as const;

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156';
/** A browser RTI calls suspicious (byUserAgent: `vpn`, threat 14): challenged. */
export const SUSPICIOUS_BROWSER = `${CHROME} vpn`;
/** A browser RTI calls malicious (byUserAgent: `bot`, threat 2): blocked. */
export const BLOCKED_BROWSER = `${CHROME} bot`;

/** Where the challenge page sends its answer (challenge_path's default + `/verify`). */
export const VERIFY_PATH = '/_cheq/challenge/verify';

/** The challenge token a challenge page carries (in its data-token attribute). */
export function tokenIn(page: string): string | undefined {
  return /\sdata-token="([^"]+)"/.exec(page)?.[1];
}

/**
 * A proof-of-work answer that is wrong for `token` at `difficulty`: what a client without
 * JavaScript can send, never the lucky guess.
 */
export function wrongSolution(token: string, difficulty: number): string {
  let guess = 0;
  while (checkProofOfWork(token, String(guess), difficulty)) guess++;
  return String(guess);
}
