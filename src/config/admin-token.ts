// The admin endpoint's bearer token (admin_token or the file admin_token_file names), read like
// the other secrets. Problems name the setting, never what it holds.

import { secretOf } from './challenge-config';
import { settingProblem, type ConfigProblem } from './config-error';
import type { Settings } from './schema';

/** Shortest token accepted: guessing one must be hopeless even without rate limits. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

/** An Authorization header carries it as is: visible ASCII, no spaces. */
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;

/** The token; undefined when none is set (the endpoint is off) or with a problem pushed. */
export function resolveAdminToken(s: Settings, problems: ConfigProblem[]): string | undefined {
  const token = secretOf(s, 'admin_token', 'admin_token_file', problems);
  if (token === '') return undefined;
  const file = s.admin_token_file;
  const setting = file === '' ? 'admin_token' : 'admin_token_file';
  const must = file === '' ? 'must be' : `${file} must hold`;
  if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
    problems.push(settingProblem(setting, `${must} at least ${MIN_ADMIN_TOKEN_LENGTH} characters`));
    return undefined;
  }
  if (!TOKEN_CHARACTERS.test(token)) {
    problems.push(settingProblem(setting, `${must} visible ASCII characters only (no spaces)`));
    return undefined;
  }
  return token;
}
