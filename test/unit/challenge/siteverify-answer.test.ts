import { strict as assert } from 'node:assert';
import type { VerifyResult } from '../../../src/challenge/challenge-verifier';
import type { CaptchaProvider } from '../../../src/challenge/providers/captcha-provider';
import { CAPTCHA_PROVIDERS } from '../../../src/challenge/providers/challenge-providers';
import { judgeSiteverifyAnswer } from '../../../src/challenge/providers/siteverify-answer';

const TS = CAPTCHA_PROVIDERS.turnstile;
const V2 = CAPTCHA_PROVIDERS['recaptcha-v2'];
const V3 = CAPTCHA_PROVIDERS['recaptcha-v3'];
const HOST = 'shop.example';

const OK: VerifyResult = { ok: true };
const REJECTED: VerifyResult = { ok: false, why: 'rejected' };
const BAD: VerifyResult = { ok: false, why: 'bad_answer' };
const UNAVAILABLE: VerifyResult = { ok: false, why: 'unavailable' };
const LOW: VerifyResult = { ok: false, why: 'low_score' };

/** [case, provider, answer (JSON text, or a value to stringify), served host, result] */
type Case = [string, CaptchaProvider, unknown, string | undefined, VerifyResult];

const yes = (fields: Record<string, unknown> = {}): unknown => ({ success: true, ...fields });
const no = (...codes: string[]): unknown => ({ success: false, 'error-codes': codes });

const CASES: Case[] = [
  ['a success for our host', V2, yes({ hostname: HOST }), HOST, OK],
  ['no host to compare with', V2, yes({ hostname: 'other.example' }), undefined, OK],
  ['no hostname answered', V2, yes(), HOST, OK],
  ['the host in upper case', V2, yes({ hostname: 'SHOP.example' }), HOST, OK],
  ['a trailing dot', V2, yes({ hostname: `${HOST}.` }), HOST, OK],
  ['our port on the served host', V2, yes({ hostname: HOST }), `${HOST}:8080`, OK],
  ['a host that starts like ours', V2, yes({ hostname: `${HOST}.evil` }), HOST, REJECTED],
  ['a parent domain', V2, yes({ hostname: 'example' }), HOST, REJECTED],
  ['a hostname that is not text', V2, yes({ hostname: [HOST] }), HOST, BAD],
  ['a refusal', V2, no('timeout-or-duplicate'), HOST, REJECTED],
  ['a refusal without codes', V2, { success: false }, HOST, REJECTED],
  ['our secret refused', V2, no('missing-input-secret'), HOST, UNAVAILABLE],
  ['a key and secret that do not match', V2, no('sitekey-secret-mismatch'), HOST, UNAVAILABLE],
  ['success as text', V2, { success: 'true' }, HOST, BAD],
  ['no success field', V2, { hostname: HOST }, HOST, BAD],
  ['a JSON list', V2, [yes()], HOST, BAD],
  ['JSON null', V2, 'null', HOST, BAD],
  ['an HTML page', V2, '<html>', HOST, BAD],
  ['an empty body', V2, '', HOST, BAD],
  ['our action', TS, yes({ action: 'challenge' }), HOST, OK],
  ['an empty action', TS, yes({ action: '' }), HOST, OK],
  ['another action', TS, yes({ action: 'login' }), HOST, REJECTED],
  ['an action that is not text', TS, yes({ action: 7 }), HOST, BAD],
  ['a score from a provider not judged by it', V2, yes({ score: 0 }), HOST, OK],
  ['a v3 score at the minimum', V3, yes({ score: 0.5 }), HOST, { ok: true, score: 0.5 }],
  ['a v3 score under it', V3, yes({ score: 0.49 }), HOST, LOW],
  ['a v3 answer without a score', V3, yes(), HOST, BAD],
  ['a v3 score as text', V3, yes({ score: '0.9' }), HOST, BAD],
  ['a v3 score above 1', V3, yes({ score: 2 }), HOST, BAD],
  ['a negative v3 score', V3, yes({ score: -1 }), HOST, BAD],
  ['a v3 refusal with a high score', V3, { success: false, score: 0.9 }, HOST, REJECTED],
];

describe('judgeSiteverifyAnswer', () => {
  for (const [what, provider, answer, hostname, result] of CASES) {
    it(`${provider.name}, ${what}: ${result.ok ? 'ok' : result.why}`, () => {
      const text = typeof answer === 'string' ? answer : JSON.stringify(answer);
      assert.deepEqual(judgeSiteverifyAnswer(text, { provider, hostname, minScore: 0.5 }), result);
    });
  }
});
