import { strict as assert } from 'node:assert';
import { HeaderList, readCookies } from '../../../src/core/header-list';

describe('HeaderList', () => {
  const headers = new HeaderList([
    ['host', 'shop.example.com'],
    ['accept', 'text/html'],
    ['cookie', 'a=1'],
    ['x-forwarded-for', '203.0.113.7'],
    ['accept', 'application/json'],
    ['cookie', '_cheq_rti=xyz'],
    ['x-forwarded-for', '198.51.100.1'],
    ['cookie', 'b=2'],
  ]);

  it('returns a single value as is', () => {
    assert.equal(headers.get('host'), 'shop.example.com');
  });

  it("joins repeated values with ', ' in arrival order", () => {
    assert.equal(headers.get('accept'), 'text/html, application/json');
    assert.equal(headers.get('x-forwarded-for'), '203.0.113.7, 198.51.100.1');
  });

  it("joins repeated cookie headers with '; ' (RFC 6265)", () => {
    assert.equal(headers.get('cookie'), 'a=1; _cheq_rti=xyz; b=2');
  });

  it('returns undefined for a missing header and has() says so', () => {
    assert.equal(headers.get('referer'), undefined);
    assert.equal(headers.has('referer'), false);
    assert.equal(headers.has('cookie'), true);
  });

  it('lists distinct names in first-seen order', () => {
    assert.deepEqual([...headers.names()], ['host', 'accept', 'cookie', 'x-forwarded-for']);
  });

  it('keeps the entries as given', () => {
    assert.equal(headers.entries.length, 8);
    assert.deepEqual(headers.entries[4], ['accept', 'application/json']);
  });

  it('keeps an empty value as an empty string, not as missing', () => {
    const list = new HeaderList([['x-empty', '']]);
    assert.equal(list.has('x-empty'), true);
    assert.equal(list.get('x-empty'), '');
  });

  it('is empty without entries', () => {
    const list = new HeaderList([]);
    assert.deepEqual([...list.names()], []);
    assert.equal(list.get('host'), undefined);
  });
});

describe('readCookies', () => {
  const cases: readonly [name: string, header: string | undefined, expected: string | undefined][] =
    [
      ['no Cookie header', undefined, undefined],
      ['an empty Cookie header', '', undefined],
      ['a single cookie', '_cheq_rti=abc', 'abc'],
      ['the cookie among several', 'a=1; _cheq_rti=abc; b=2', 'abc'],
      ['the cookie last, without spaces', 'a=1;b=2;_cheq_rti=abc', 'abc'],
      ['spaces around name and value', '  a=1 ;   _cheq_rti =  abc  ; b=2', 'abc'],
      ['tabs around the name', 'a=1;\t_cheq_rti\t=abc', 'abc'],
      ['an = inside the value', '_cheq_rti=v1=a==; x=y', 'v1=a=='],
      ['an empty value', 'a=1; _cheq_rti=; b=2', ''],
      ['malformed pairs around it', 'garbage; ;=;_cheq_rti=ok;junk', 'ok'],
      ['only malformed pairs', 'garbage;;; =x', undefined],
      [
        'a cookie whose name merely contains the name',
        'x_cheq_rti=no; _cheq_rti_old=no',
        undefined,
      ],
      ['a value that mentions the name', 'a=_cheq_rti=no', undefined],
      ['the first of two occurrences', '_cheq_rti=first; _cheq_rti=second', 'first'],
      ['a name in another case (names are case-sensitive)', '_CHEQ_RTI=abc', undefined],
      ['a quoted value, quotes kept', '_cheq_rti="abc"', '"abc"'],
    ];
  for (const [name, header, expected] of cases) {
    it(`returns ${JSON.stringify(expected)} for ${name}`, () => {
      assert.deepEqual(readCookies(header, ['_cheq_rti']), [expected]);
    });
  }

  it('reads several cookies in one pass, each in the order asked, undefined when not sent', () => {
    const header = '_cq_pvid=p1; a=1; _cheq_rti=c1; _cq_pvid=p2';
    assert.deepEqual(readCookies(header, ['_cheq_rti', '_cq_duid', '_cq_pvid']), [
      'c1',
      undefined,
      'p1',
    ]);
    assert.deepEqual(readCookies(undefined, ['a', 'b']), [undefined, undefined]);
  });
});
