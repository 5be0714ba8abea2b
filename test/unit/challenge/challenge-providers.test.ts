import { strict as assert } from 'node:assert';
import { WIDGET_ACTION } from '../../../src/challenge/providers/captcha-provider';
import { CHALLENGE_PROVIDER_NAMES } from '../../../src/challenge/providers/challenge-provider-name';
import {
  CAPTCHA_PROVIDERS,
  captchaProvider,
} from '../../../src/challenge/providers/challenge-providers';
import { isSiteKey } from '../../../src/challenge/providers/site-key';

const SITE_KEY = '1x00000000000000000000AA';

/** Whether a CSP source expression (origin, *.host wildcard, or path prefix) allows `url`. */
function allows(source: string, url: string): boolean {
  const target = new URL(url);
  const wildcard = /^https:\/\/\*\.(.+)$/.exec(source);
  if (wildcard?.[1] !== undefined) {
    return target.protocol === 'https:' && target.hostname.endsWith(`.${wildcard[1]}`);
  }
  const allowed = new URL(source);
  if (allowed.origin !== target.origin) return false;
  return allowed.pathname.endsWith('/')
    ? target.pathname.startsWith(allowed.pathname)
    : allowed.pathname === '/' || allowed.pathname === target.pathname;
}

describe('challenge providers', () => {
  it('describes every challenge_provider value but browser, which has no widget', () => {
    assert.equal(captchaProvider('browser'), undefined);
    for (const name of CHALLENGE_PROVIDER_NAMES.filter(name => name !== 'browser')) {
      assert.equal(captchaProvider(name)?.name, name);
    }
  });

  it('verifies at each provider’s documented siteverify endpoint', () => {
    assert.deepEqual(
      Object.fromEntries(Object.values(CAPTCHA_PROVIDERS).map(p => [p.name, p.siteverifyUrl])),
      {
        turnstile: 'https://challenges.cloudflare.com/turnstile/v0/siteverify',
        hcaptcha: 'https://api.hcaptcha.com/siteverify',
        'recaptcha-v2': 'https://www.google.com/recaptcha/api/siteverify',
        'recaptcha-v3': 'https://www.google.com/recaptcha/api/siteverify',
      },
    );
  });

  for (const provider of Object.values(CAPTCHA_PROVIDERS)) {
    describe(provider.name, () => {
      it('loads its widget script from a source its CSP allows, over https only', () => {
        const script = provider.scriptUrl(SITE_KEY);
        assert.ok(
          provider.csp.scriptSrc.some(source => allows(source, script)),
          script,
        );
        const { scriptSrc, frameSrc, styleSrc, connectSrc } = provider.csp;
        for (const source of [...scriptSrc, ...frameSrc, ...styleSrc, ...connectSrc]) {
          assert.match(source, /^https:\/\/[a-z0-9*.-]+(\/[a-z/]*)?$/);
        }
        assert.ok(provider.csp.frameSrc.length > 0, 'every widget runs in a frame');
      });

      it('puts the site key in its widget, or (v3) in its script URL', () => {
        if (provider.execute) {
          assert.equal(provider.widgetHtml(SITE_KEY), '');
          assert.equal(new URL(provider.scriptUrl(SITE_KEY)).searchParams.get('render'), SITE_KEY);
        } else {
          assert.match(provider.widgetHtml(SITE_KEY), new RegExp(`data-sitekey="${SITE_KEY}"`));
        }
      });

      it('refuses a site key that could break out of the attribute or the URL', () => {
        for (const bad of ['"><script>alert(1)</script>', 'a b', 'k&onload=x', '']) {
          // Where the key goes (the element, or v3's script URL), a bad one is refused.
          assert.throws(
            () => (provider.execute ? provider.scriptUrl(bad) : provider.widgetHtml(bad)),
            RangeError,
          );
        }
      });
    });
  }

  it('asks reCAPTCHA v3 for a scored token with our action, and only v3', () => {
    const v3 = CAPTCHA_PROVIDERS['recaptcha-v3'];
    assert.deepEqual([v3.execute, v3.scored, v3.action], [true, true, WIDGET_ACTION]);
    for (const other of Object.values(CAPTCHA_PROVIDERS).filter(p => p !== v3)) {
      assert.deepEqual([other.execute, other.scored], [false, false], other.name);
    }
  });

  it('names the Turnstile action in the widget so siteverify echoes it', () => {
    assert.match(
      CAPTCHA_PROVIDERS.turnstile.widgetHtml(SITE_KEY),
      new RegExp(`data-action="${WIDGET_ACTION}"`),
    );
  });

  it('takes the test keys of every provider as site keys', () => {
    for (const key of [
      '1x00000000000000000000AA',
      '0x4AAAAAAADnPIDROrmt1Wwj',
      '10000000-ffff-ffff-ffff-000000000001',
      '6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI',
    ]) {
      assert.ok(isSiteKey(key), key);
    }
    assert.ok(!isSiteKey('x'.repeat(129)));
  });
});
