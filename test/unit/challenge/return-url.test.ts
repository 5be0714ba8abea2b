import { strict as assert } from 'node:assert';
import { MAX_RETURN_URL_LENGTH, toReturnUrl } from '../../../src/challenge/return-url';

describe('toReturnUrl', () => {
  const kept = [
    '/',
    '/cart',
    '/cart?item=1&qty=2',
    '/a/b/../c?x=%2F%2Fevil.com',
    '/search?q=<script>"\'',
    '/path#frag',
    '/' + 'a'.repeat(MAX_RETURN_URL_LENGTH - 1),
  ];
  for (const url of kept) {
    it(`keeps ${JSON.stringify(url.slice(0, 40))}`, () => assert.equal(toReturnUrl(url), url));
  }

  const refused: [string, string][] = [
    ['empty', ''],
    ['relative', 'cart'],
    ['absolute URL', 'https://evil.example/'],
    ['scheme-relative', '//evil.example/x'],
    ['backslash (browsers read /\\ as //)', '/\\evil.example'],
    ['javascript scheme', 'javascript:alert(1)'],
    ['a tab browsers strip into //', '/\t/evil.example'],
    ['a newline (header splitting)', '/a\r\nSet-Cookie: x=1'],
    ['a space', '/a b'],
    ['a NUL', '/a\u0000'],
    ['DEL', '/a\u007f'],
    ['non-ASCII (not Location-safe)', '/caf\u00e9'],
    ['a line separator', '/a\u2028'],
    ['too long', '/' + 'a'.repeat(MAX_RETURN_URL_LENGTH)],
  ];
  for (const [name, url] of refused) {
    it(`replaces ${name} with /`, () => assert.equal(toReturnUrl(url), '/'));
  }
});
