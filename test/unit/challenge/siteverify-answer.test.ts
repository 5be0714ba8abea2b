import { strict as assert } from 'node:assert';
import type { VerifyResult } from '../../../src/challenge/challenge-verifier';
import { CAPTCHA_PROVIDERS } from '../../../src/challenge/providers/challenge-providers';
import { judgeSiteverifyAnswer } from '../../../src/challenge/providers/siteverify-answer';

const turnstile = CAPTCHA_PROVIDERS.turnstile;
const v3 = CAPTCHA_PROVIDERS['recaptcha-v3'];
const v2 = CAPTCHA_PROVIDERS['recaptcha-v2'];
const ok = { success: true, hostname: 'shop.example' };

describe('judgeSiteverifyAnswer', () => {
  const cases: [string, typeof turnstile, string, string | undefined, VerifyResult][] = [
    ['a plain success', v2, JSON.stringify(ok), 'shop.example', { ok: true }],
    ['no hostname expected', v2, JSON.stringify(ok), undefined, { ok: true }],
    ['no hostname answered', v2, '{"success":true}', 'shop.example', { ok: true }],
    [
      'an upper-case host',
      v2,
      JSON.stringify({ ...ok, hostname: 'SHOP.example' }),
      'shop.example',
      { ok: true },
    ],
    [
      'a trailing dot',
      v2,
      JSON.stringify({ ...ok, hostname: 'shop.example.' }),
      'shop.example',
      { ok: true },
    ],
    ['our port on the served host', v2, JSON.stringify(ok), 'shop.example:8080', { ok: true }],
    [
      'another host',
      v2,
      JSON.stringify({ ...ok, hostname: 'shop.example.evil' }),
      'shop.example',
      { ok: false, why: 'rejected' },
    ],
    [
      'a parent domain',
      v2,
      JSON.stringify({ ...ok, hostname: 'example' }),
      'shop.example',
      { ok: false, why: 'rejected' },
    ],
    [
      'a hostname that is not text',
      v2,
      JSON.stringify({ ...ok, hostname: ['shop.example'] }),
      'shop.example',
      { ok: false, why: 'bad_answer' },
    ],
    [
      'success false',
      v2,
      '{"success":false,"error-codes":["timeout-or-duplicate"]}',
      'shop.example',
      { ok: false, why: 'rejected' },
    ],
    [
      'success false without codes',
      v2,
      '{"success":false}',
      'shop.example',
      { ok: false, why: 'rejected' },
    ],
    [
      'our secret refused',
      v2,
      '{"success":false,"error-codes":["missing-input-secret"]}',
      'shop.example',
      { ok: false, why: 'unavailable' },
    ],
    [
      'a key/secret mismatch',
      v2,
      '{"success":false,"error-codes":["sitekey-secret-mismatch"]}',
      undefined,
      { ok: false, why: 'unavailable' },
    ],
    ['success as text', v2, '{"success":"true"}', undefined, { ok: false, why: 'bad_answer' }],
    [
      'no success field',
      v2,
      '{"hostname":"shop.example"}',
      undefined,
      { ok: false, why: 'bad_answer' },
    ],
    ['a JSON list', v2, '[{"success":true}]', undefined, { ok: false, why: 'bad_answer' }],
    ['JSON null', v2, 'null', undefined, { ok: false, why: 'bad_answer' }],
    ['not JSON', v2, '<html>', undefined, { ok: false, why: 'bad_answer' }],
    ['empty', v2, '', undefined, { ok: false, why: 'bad_answer' }],
    [
      'our action',
      turnstile,
      '{"success":true,"action":"cheq_challenge"}',
      undefined,
      { ok: true },
    ],
    ['no action', turnstile, '{"success":true,"action":""}', undefined, { ok: true }],
    [
      'another action',
      turnstile,
      '{"success":true,"action":"login"}',
      undefined,
      { ok: false, why: 'rejected' },
    ],
    [
      'an action that is not text',
      turnstile,
      '{"success":true,"action":7}',
      undefined,
      { ok: false, why: 'bad_answer' },
    ],
    ['a v2 answer with a score', v2, '{"success":true,"score":0}', undefined, { ok: true }],
    [
      'a v3 score at the minimum',
      v3,
      '{"success":true,"score":0.5}',
      undefined,
      { ok: true, score: 0.5 },
    ],
    [
      'a v3 score under it',
      v3,
      '{"success":true,"score":0.49}',
      undefined,
      { ok: false, why: 'low_score' },
    ],
    [
      'a v3 answer without score',
      v3,
      '{"success":true}',
      undefined,
      { ok: false, why: 'bad_answer' },
    ],
    [
      'a v3 score as text',
      v3,
      '{"success":true,"score":"0.9"}',
      undefined,
      { ok: false, why: 'bad_answer' },
    ],
    [
      'a v3 score above 1',
      v3,
      '{"success":true,"score":2}',
      undefined,
      { ok: false, why: 'bad_answer' },
    ],
    [
      'a negative v3 score',
      v3,
      '{"success":true,"score":-1}',
      undefined,
      { ok: false, why: 'bad_answer' },
    ],
    [
      'a failed v3 answer with a high score',
      v3,
      '{"success":false,"score":0.9}',
      undefined,
      { ok: false, why: 'rejected' },
    ],
  ];
  for (const [what, provider, text, hostname, result] of cases) {
    it(`${provider.name}: ${what} -> ${result.ok ? 'ok' : result.why}`, () => {
      assert.deepEqual(judgeSiteverifyAnswer(text, { provider, hostname, minScore: 0.5 }), result);
    });
  }
});
