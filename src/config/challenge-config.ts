// The served challenge's secrets and the block page template, read once per configuration load:
// each secret inline or from its file (one of them), the template from its file. Problems name
// the setting and the file, never what a secret holds.

import { readFileSync, statSync } from 'node:fs';
import { MIN_SECRET_BYTES, SigningKeys } from '../challenge/signing-keys';
import { blockPageTemplate, type BlockPageTemplate } from '../core/block-page';
import { settingProblem, type ConfigProblem } from './config-error';
import type { SettingName, Settings } from './schema';

/** Largest block page template. */
export const MAX_TEMPLATE_BYTES = 64 * 1024;

/** The signing keys; undefined when no challenge_secret is set (no challenge is served). */
export function resolveChallengeSecrets(
  s: Settings,
  problems: ConfigProblem[],
): SigningKeys | undefined {
  const current = secretOf(s, 'challenge_secret', 'challenge_secret_file', problems);
  const previous = secretOf(
    s,
    'challenge_previous_secret',
    'challenge_previous_secret_file',
    problems,
  );
  for (const [name, value] of [
    ['challenge_secret', current],
    ['challenge_previous_secret', previous],
  ] as const) {
    if (value !== '' && Buffer.byteLength(value) < MIN_SECRET_BYTES) {
      problems.push(settingProblem(name, `must be at least ${MIN_SECRET_BYTES} bytes long`));
    }
  }
  if (previous !== '' && current === '') {
    problems.push(
      settingProblem('challenge_previous_secret', 'is set without challenge_secret', {
        with: { join: 'and', settings: ['challenge_secret'] },
      }),
    );
  }
  if (current === '') return undefined;
  return SigningKeys.create(current, previous);
}

/** What a site's challenge and block page read from files. */
export interface SiteChallengeFiles {
  /** The captcha provider's secret key ('' for `browser`). */
  readonly providerSecret: string;
  readonly blockPage: BlockPageTemplate | undefined;
}

/** A site's (or the top level's) provider secret and block page template. */
export function resolveSiteChallenge(s: Settings, problems: ConfigProblem[]): SiteChallengeFiles {
  const providerSecret = secretOf(
    s,
    'challenge_provider_secret',
    'challenge_provider_secret_file',
    problems,
  );
  if (s.challenge_provider !== 'browser') {
    const needs = `must be set when challenge_provider is ${s.challenge_provider}`;
    if (String(s.challenge_site_key).trim() === '') {
      problems.push(settingProblem('challenge_site_key', needs));
    }
    if (providerSecret === '') {
      problems.push(
        settingProblem('challenge_provider_secret', needs, {
          with: { join: 'or', settings: ['challenge_provider_secret_file'] },
        }),
      );
    }
  }
  if (s.block_strategy === 'challenge' && s.challenge_provider === 'browser') {
    // A pass turns a block served as a challenge into allow: a script must not earn one.
    problems.push(
      settingProblem(
        'block_strategy',
        'is challenge with challenge_provider browser: a browser proof of work only proves ' +
          "that JavaScript ran; a block's challenge needs a captcha provider",
        { with: { join: 'and', settings: ['challenge_provider'] } },
      ),
    );
  }
  return { providerSecret, blockPage: readBlockPageTemplate(s, problems) };
}

/**
 * A secret given inline or in a file, '' when neither; both set is a problem. Tolerant of
 * non-string values from a config file, which validation reports separately.
 */
export function secretOf(
  s: Settings,
  inlineKey: SettingName,
  fileKey: SettingName,
  problems: ConfigProblem[],
): string {
  const inline = typeof s[inlineKey] === 'string' ? s[inlineKey].trim() : '';
  const file = typeof s[fileKey] === 'string' ? s[fileKey] : '';
  if (file === '') return inline;
  if (inline !== '') {
    problems.push(
      settingProblem(inlineKey, 'set only one', { with: { join: 'and', settings: [fileKey] } }),
    );
    return '';
  }
  try {
    const value = readFileSync(file, 'utf8').trim();
    if (value === '') problems.push(settingProblem(fileKey, `${file} is empty`));
    return value;
  } catch (err: unknown) {
    problems.push(settingProblem(fileKey, `cannot read ${file} (${errorCode(err)})`));
    return '';
  }
}

/** The block page template block_page_template names; undefined when it names none. */
export function readBlockPageTemplate(
  s: Settings,
  problems: ConfigProblem[],
): BlockPageTemplate | undefined {
  const file = typeof s.block_page_template === 'string' ? s.block_page_template : '';
  if (file === '') return undefined;
  try {
    // Checked before reading: a device or a huge file must not be read whole.
    const stats = statSync(file);
    if (!stats.isFile()) {
      problems.push(settingProblem('block_page_template', `${file} is not a file`));
      return undefined;
    }
    if (stats.size > MAX_TEMPLATE_BYTES) {
      problems.push(
        settingProblem('block_page_template', `${file} is larger than ${MAX_TEMPLATE_BYTES} bytes`),
      );
      return undefined;
    }
    return blockPageTemplate(readFileSync(file, 'utf8'));
  } catch (err: unknown) {
    problems.push(settingProblem('block_page_template', `cannot read ${file} (${errorCode(err)})`));
    return undefined;
  }
}

function errorCode(err: unknown): string {
  return err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
}
