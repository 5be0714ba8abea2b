// The API key of the top level or of one site: given inline (api_key) or read from the file
// api_key_file names, exactly one of them. Messages name the file, never what it holds.

import { readFileSync } from 'node:fs';
import { settingProblem, type ConfigProblem } from './config-error';
import type { Settings } from './schema';

/** The key, or '' with a problem pushed. */
export function resolveApiKey(s: Settings, problems: ConfigProblem[]): string {
  // Tolerant of non-string values from a config file, which validation reports separately.
  const inline = typeof s.api_key === 'string' ? s.api_key.trim() : '';
  const file = typeof s.api_key_file === 'string' ? s.api_key_file : '';
  if (inline !== '' && file !== '') {
    problems.push(
      settingProblem('api_key', 'set only one', {
        with: { join: 'and', settings: ['api_key_file'] },
      }),
    );
    return '';
  }
  if (file === '') {
    if (inline === '') {
      problems.push(
        settingProblem('api_key', 'must be set', {
          with: { join: 'or', settings: ['api_key_file'] },
        }),
      );
    }
    return inline;
  }
  let key: string;
  try {
    key = readFileSync(file, 'utf8').trim();
  } catch (err: unknown) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
    problems.push(settingProblem('api_key_file', `cannot read ${file} (${code})`));
    return '';
  }
  if (key === '') problems.push(settingProblem('api_key_file', `${file} is empty`));
  return key;
}
