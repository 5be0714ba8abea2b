import { strict as assert } from 'node:assert';
import { HeaderList, type HeaderEntry } from '../../../src/core/header-list';
import { VISITOR_BINDING_LENGTH, visitorBinding } from '../../../src/challenge/visitor-binding';

const CHROME: HeaderEntry[] = [
  ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36'],
  ['accept-language', 'en-GB,en;q=0.9'],
  ['sec-ch-ua-platform', '"Linux"'],
];

function bind(entries: HeaderEntry[], site = 'shop'): string {
  return visitorBinding(site, new HeaderList(entries));
}

function replace(name: string, value: string): HeaderEntry[] {
  return CHROME.map(([n, v]) => [n, n === name ? value : v] as const);
}

describe('visitorBinding', () => {
  it('is 16 bytes of base64url, the same for the same browser', () => {
    const binding = bind(CHROME);
    assert.match(binding, /^[A-Za-z0-9_-]+$/);
    assert.equal(binding.length, VISITOR_BINDING_LENGTH);
    assert.equal(bind(CHROME), binding);
  });

  it('ignores the client IP, cookies and other headers (a phone changing address keeps its pass)', () => {
    const moved: HeaderEntry[] = [
      ['x-forwarded-for', '198.51.100.7'],
      ['x-real-ip', '198.51.100.7'],
      ['cookie', '_cq_se=x'],
      ['accept', 'text/html'],
      ...CHROME,
    ];
    assert.equal(bind(moved), bind(CHROME));
  });

  for (const name of ['user-agent', 'accept-language', 'sec-ch-ua-platform']) {
    it(`changes when ${name} changes`, () => {
      assert.notEqual(bind(replace(name, 'other')), bind(CHROME));
    });
  }

  it('changes with the site', () => {
    assert.notEqual(bind(CHROME, 'blog'), bind(CHROME, 'shop'));
  });

  it('keeps fields apart: moving text between two fields changes the binding', () => {
    const a = bind([
      ['user-agent', 'ab'],
      ['accept-language', 'c'],
    ]);
    const b = bind([
      ['user-agent', 'a'],
      ['accept-language', 'bc'],
    ]);
    assert.notEqual(a, b);
    assert.notEqual(bind([['user-agent', 'UA']], 'site'), bind([['user-agent', 'teUA']], 'si'));
  });

  it('treats an absent header as an empty one', () => {
    assert.equal(bind([]), bind([['user-agent', '']]));
  });
});
