// Validation problems are values (issue #21): { setting, env, message }, and the site or file when
// they are in one, built by our own checks; the printed line is worded from them in one place.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatProblem, type ConfigProblem } from '../../../src/config/config-error';
import { ConfigError, loadConfig, type ConfigSources } from '../../../src/config/load-config';

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: 'key-1',
  CHEQ_TAG_HASH: 'tag-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

function detailsOf(sources: ConfigSources): readonly ConfigProblem[] {
  try {
    loadConfig(sources);
  } catch (err: unknown) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.deepEqual(err.problems, err.details.map(formatProblem));
    return err.details;
  }
  assert.fail('expected a ConfigError');
}

describe('ConfigError: structured problems', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cheq-rti-authz-problems-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names the setting and its variable for a bad value, with the value', () => {
    assert.deepEqual(detailsOf({ env: { ...REQUIRED, CHEQ_TIMEOUT_MS: 'soon' }, args: [] }), [
      {
        setting: 'timeout_ms',
        env: 'CHEQ_TIMEOUT_MS',
        message: `must be an integer from 1 to ${2 ** 31 - 1}: value was "soon"`,
      },
    ]);
  });

  it('never quotes a sensitive value', () => {
    const [problem] = detailsOf({
      env: { ...REQUIRED, CHEQ_API_ENDPOINT: 'https://user:PW-SECRET@rti.example.com' },
      args: [],
    });
    assert.equal(problem?.setting, 'api_endpoint');
    assert.ok(!JSON.stringify(problem).includes('PW-SECRET'));
  });

  it('names the other settings of a problem that involves several', () => {
    const [problem] = detailsOf({
      env: { ...REQUIRED, CHEQ_BLOCK_REDIRECT_CODES: '2,4', CHEQ_CHALLENGE_CODES: '4' },
      args: [],
    });
    assert.deepEqual(problem, {
      setting: 'block_redirect_codes',
      env: 'CHEQ_BLOCK_REDIRECT_CODES',
      with: { join: 'and', settings: ['challenge_codes'] },
      message: 'code 4 is in both groups',
    });
    assert.equal(
      formatProblem(problem),
      'block_redirect_codes (CHEQ_BLOCK_REDIRECT_CODES) and challenge_codes (CHEQ_CHALLENGE_CODES): code 4 is in both groups',
    );
  });

  it('names the site for a site value, and words it without variables', () => {
    const sites = JSON.stringify([{ name: 'shop', hosts: ['shop.example'], mode: 'block' }]);
    const [problem] = detailsOf({ env: { ...REQUIRED, CHEQ_SITES: sites }, args: [] });
    assert.equal(problem?.site, 'sites[1] shop');
    assert.equal(problem?.setting, 'mode');
    assert.equal(
      formatProblem(problem),
      `sites[1] shop: mode: must be one of the possible values: ["monitoring","blocking"]: value was "block"`,
    );
  });

  it('names the file for a key that is no setting, with a hint', () => {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ tiemout_ms: 5 }));
    assert.deepEqual(detailsOf({ env: { ...REQUIRED, CHEQ_CONFIG_FILE: file }, args: [] }), [
      { file, setting: 'tiemout_ms', message: 'not a setting (did you mean timeout_ms?)' },
    ]);
  });

  it('names a flag that is no setting', () => {
    assert.deepEqual(detailsOf({ env: REQUIRED, args: ['--mod', 'blocking'] }), [
      { setting: '--mod', message: 'not a setting (did you mean --mode?)' },
    ]);
  });
});
