import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { createContext, Script } from 'node:vm';
import {
  renderChallengePage,
  type CaptchaWidget,
  type ChallengePageRequest,
} from '../../../src/challenge/challenge-page';
import { issueChallengeToken } from '../../../src/challenge/challenge-token';
import { checkProofOfWork, leadingZeroBits } from '../../../src/challenge/proof-of-work';
import { KEYS } from './keys';
import { CHALLENGE_PAGE_SCRIPT } from '../../../src/challenge/challenge-page-script';

const T0 = 1_800_000_000_000;
const TOKEN = issueChallengeToken(KEYS, {
  site: 'shop',
  binding: 'binding-of-chrome-on-l',
  nowMs: T0,
  returnUrl: `/products/shoes?colour=red&size=42&ref=${'x'.repeat(60)}`,
  provider: 'browser',
  difficulty: 16,
});
const BROWSER: ChallengePageRequest = {
  token: TOKEN,
  challengePath: '/_cheq/challenge',
  provider: { kind: 'browser', difficulty: 16 },
};
const TURNSTILE_LIKE: CaptchaWidget = {
  scriptUrl: siteKey => `https://captcha.example/api.js?render=${siteKey}`,
  csp: {
    scriptSrc: ['https://captcha.example'],
    frameSrc: ['https://frames.captcha.example'],
    styleSrc: ['https://styles.captcha.example'],
    connectSrc: [],
  },
  widgetHtml: siteKey => `<div class="widget" data-sitekey="${siteKey}"></div>`,
  responseField: 'widget-response',
  execute: false,
};
const HOSTILE = `"'><script>alert(1)</script><img src=x onerror=alert(2)>&amp;\u2028</main>`;

const HASH_PATTERN = /'(sha256-[A-Za-z0-9+/]+=*)'/g;

function header(page: { headers: readonly (readonly [string, string])[] }, name: string): string {
  const found = page.headers.find(([n]) => n === name);
  assert.ok(found, `header ${name}`);
  return found[1];
}

/** Inline <script> and <style> contents, i.e. without a src attribute. */
function inline(body: string, tag: 'script' | 'style'): string[] {
  const pattern = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g');
  return [...body.matchAll(pattern)].map(match => match[1] as string);
}

/** The #cq element's data-* attributes, unescaped as a browser parses them. */
function dataAttributes(body: string): Map<string, string> {
  const main = /<main id="cq"([^>]*)>/.exec(body);
  assert.ok(main, 'the #cq element');
  const attributes = new Map<string, string>();
  for (const [, name, value] of (main[1] as string).matchAll(/ data-([a-z-]+)="([^"]*)"/g)) {
    const text = (value as string).replace(/&#(\d+);/g, (_, code: string) =>
      String.fromCharCode(Number(code)),
    );
    attributes.set(name as string, text);
  }
  return attributes;
}

interface Sandbox {
  navigated: Promise<URL>;
  /** Runs the page's pending setInterval callbacks once. */
  tick(): void;
}

/** One VM context and compiled script for every run: creating a context costs milliseconds. */
const vmContext = createContext({});
const pageScript = new Script(CHALLENGE_PAGE_SCRIPT);

/** Runs the page's inline script in a VM with just the DOM it uses. */
function runPage(
  body: string,
  window: Record<string, unknown> = {},
  fields = new Map<string, { value: string }>(),
): Sandbox {
  const attributes = dataAttributes(body);
  const intervals = new Set<() => void>();
  let resolve!: (url: URL) => void;
  const navigated = new Promise<URL>(r => (resolve = r));
  const context = {
    window,
    document: {
      getElementById: (id: string) =>
        id === 'cq'
          ? { getAttribute: (name: string) => attributes.get(name.slice(5)) ?? null }
          : null,
      getElementsByName: (name: string) => (fields.has(name) ? [fields.get(name)] : []),
    },
    location: { replace: (url: string) => resolve(new URL(url, 'https://shop.example')) },
    setTimeout: (fn: () => void) => setImmediate(fn),
    setInterval: (fn: () => void) => (intervals.add(fn), fn),
    clearInterval: (fn: () => void) => intervals.delete(fn),
  };
  assert.deepEqual(inline(body, 'script'), [CHALLENGE_PAGE_SCRIPT]);
  pageScript.runInContext(Object.assign(vmContext, context));
  return { navigated, tick: () => intervals.forEach(fn => fn()) };
}

describe('challenge page', () => {
  it('is a 403 with no-store, CSP, no-referrer and DENY framing', () => {
    const page = renderChallengePage(BROWSER);
    assert.equal(page.status, 403);
    assert.equal(header(page, 'content-type'), 'text/html; charset=utf-8');
    assert.equal(header(page, 'cache-control'), 'no-store');
    assert.equal(header(page, 'referrer-policy'), 'no-referrer');
    assert.equal(header(page, 'x-frame-options'), 'DENY');
    assert.match(header(page, 'content-security-policy'), /default-src 'none'/);
    assert.match(header(page, 'content-security-policy'), /frame-ancestors 'none'/);
  });

  it('says what is happening, and that JavaScript is needed when it is off', () => {
    const { body } = renderChallengePage(BROWSER);
    assert.match(body, /Checking your browser\.\.\./);
    assert.match(body, /<noscript>[^<]*<p>JavaScript is required/);
  });

  it('lets exactly its own inline script and style run: the CSP hashes match them', () => {
    for (const request of [
      BROWSER,
      { ...BROWSER, provider: { kind: 'captcha', widget: TURNSTILE_LIKE, siteKey: 'k' } } as const,
    ]) {
      const page = renderChallengePage(request);
      const csp = header(page, 'content-security-policy');
      const allowed = new Set([...csp.matchAll(HASH_PATTERN)].map(match => match[1]));
      const inlineParts = [...inline(page.body, 'script'), ...inline(page.body, 'style')];
      assert.equal(inlineParts.length, 2);
      for (const part of inlineParts) {
        const hash = `sha256-${createHash('sha256').update(part).digest('base64')}`;
        assert.ok(allowed.has(hash), `${hash} in ${csp}`);
      }
      assert.equal(allowed.size, 2);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    }
  });

  it('loads nothing external for the browser provider and stays small', () => {
    const { body } = renderChallengePage(BROWSER);
    assert.doesNotMatch(body, /\bsrc=|https?:/);
    assert.ok(Buffer.byteLength(body) < 6 * 1024, `${Buffer.byteLength(body)} bytes`);
  });

  it('keeps a hostile token and challenge path inside their attributes', () => {
    const { body } = renderChallengePage({ ...BROWSER, token: HOSTILE, challengePath: HOSTILE });
    assert.equal(inline(body, 'script').length, 1, 'no script element added');
    assert.doesNotMatch(body, /<img/);
    assert.equal(body.split('</main>').length, 2, 'the #cq element is not closed early');
    const attributes = dataAttributes(body);
    assert.equal(attributes.get('token'), HOSTILE, 'round-trips as the browser parses it');
    assert.equal(attributes.get('verify'), `${HOSTILE}/verify`);
  });

  it('carries a token for a hostile return URL as inert base64url', () => {
    const token = issueChallengeToken(KEYS, {
      site: 'shop',
      binding: 'b',
      nowMs: T0,
      returnUrl: `/x?q=${HOSTILE.replace(/\s/g, '')}`,
      provider: 'browser',
      difficulty: 16,
    });
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const { body } = renderChallengePage({ ...BROWSER, token });
    assert.equal(dataAttributes(body).get('token'), token);
  });

  it('includes the provider widget: escaped site key, script, CSP sources per directive', () => {
    const page = renderChallengePage({
      ...BROWSER,
      provider: { kind: 'captcha', widget: TURNSTILE_LIKE, siteKey: HOSTILE },
    });
    const escapedKey = '&#34;&#39;&#62;&#60;script&#62;alert(1)&#60;/script&#62;';
    assert.ok(
      page.body.includes(`<script src="https://captcha.example/api.js?render=${escapedKey}`),
    );
    assert.ok(page.body.includes(`data-sitekey="${escapedKey}`));
    assert.equal(inline(page.body, 'script').length, 1);
    const directives = new Map(
      header(page, 'content-security-policy')
        .split('; ')
        .map(d => [d.split(' ')[0], d.split(' ').slice(1)] as const),
    );
    assert.ok(directives.get('script-src')?.includes('https://captcha.example'));
    assert.ok(directives.get('style-src')?.includes('https://styles.captcha.example'));
    assert.deepEqual(directives.get('frame-src'), ['https://frames.captcha.example']);
    assert.equal(directives.has('connect-src'), false, 'none asked for: default-src none holds');
  });

  describe('in-page proof of work (run in node:vm)', () => {
    function firstSolution(token: string, difficulty: number): string {
      for (let i = 0; ; i++) {
        const s = i.toString(36);
        const digest = createHash('sha256').update(`${token}.${s}`).digest();
        if (leadingZeroBits(digest) >= difficulty) return s;
      }
    }

    it('finds a solution proof-of-work.ts accepts and navigates to the verify URL', async () => {
      const page = renderChallengePage({
        ...BROWSER,
        provider: { kind: 'browser', difficulty: 12 },
      });
      const url = await runPage(page.body).navigated;
      assert.equal(url.pathname, '/_cheq/challenge/verify');
      assert.equal(url.searchParams.get('t'), TOKEN);
      const solution = url.searchParams.get('s') ?? '';
      assert.equal(checkProofOfWork(TOKEN, solution, 12), true);
      assert.equal(solution, firstSolution(TOKEN, 12), 'the first counter that works');
    });

    it('hashes like SHA-256 at every token length across block boundaries', async () => {
      // The prefix hashed is the token and a dot: whole blocks start at 64 and 128 bytes, and a
      // tail of 55 bytes or more (with the counter) needs a second block.
      for (const length of [1, 52, 53, 54, 55, 56, 57, 62, 63, 64, 65, 117, 118, 119, 127, 128]) {
        const token = 'T'.repeat(length);
        const page = renderChallengePage({
          ...BROWSER,
          token,
          provider: { kind: 'browser', difficulty: 8 },
        });
        const url = await runPage(page.body).navigated;
        assert.equal(url.searchParams.get('s'), firstSolution(token, 8), `token length ${length}`);
      }
    });
  });

  describe('in-page captcha wait (run in node:vm)', () => {
    it('navigates with the widget response once the widget fills its field', async () => {
      const field = { value: '' };
      const page = renderChallengePage({
        ...BROWSER,
        provider: { kind: 'captcha', widget: TURNSTILE_LIKE, siteKey: 'k' },
      });
      const sandbox = runPage(page.body, {}, new Map([['widget-response', field]]));
      let navigated = false;
      void sandbox.navigated.then(() => (navigated = true));
      sandbox.tick();
      await new Promise(setImmediate);
      assert.equal(navigated, false, 'waits while the field is empty');
      field.value = 'resp+/=&x';
      sandbox.tick();
      const url = await sandbox.navigated;
      assert.equal(url.pathname, '/_cheq/challenge/verify');
      assert.equal(url.searchParams.get('t'), TOKEN);
      assert.equal(url.searchParams.get('s'), 'resp+/=&x');
    });

    it('asks grecaptcha.execute with the site key when the widget says so (v3)', async () => {
      const calls: unknown[] = [];
      const grecaptcha = {
        ready: (fn: () => void) => fn(),
        execute: (key: string, options: unknown) => {
          calls.push([key, options]);
          return Promise.resolve('v3-token');
        },
      };
      const page = renderChallengePage({
        ...BROWSER,
        provider: {
          kind: 'captcha',
          widget: { ...TURNSTILE_LIKE, execute: true },
          siteKey: 'site-key-1',
        },
      });
      const sandbox = runPage(page.body, { grecaptcha });
      sandbox.tick();
      sandbox.tick();
      const url = await sandbox.navigated;
      assert.equal(url.searchParams.get('s'), 'v3-token');
      assert.equal(calls.length, 1, 'asked once');
      assert.deepEqual(JSON.parse(JSON.stringify(calls[0])), [
        'site-key-1',
        { action: 'challenge' },
      ]);
    });
  });
});
