import { strict as assert } from 'node:assert';
import { HeaderList } from '../../../src/core/header-list';
import { RtiError, type RtiInput } from '../../../src/core/rti-port';
import {
  MAX_FIELD_CHARS,
  MAX_HEADER_NAMES,
  parseRtiResponse,
  toRtiForm,
  type RtiCredentials,
} from '../../../src/rti/rti-wire';
import { rtiInput, TEST_CREDENTIALS } from '../../helpers/rti-input';
import { rtiVerdict } from '../../helpers/verdicts';

function formOf(input: RtiInput, credentials: RtiCredentials = TEST_CREDENTIALS): URLSearchParams {
  return new URLSearchParams(toRtiForm(input, credentials));
}

/** Every field name once, in order; fails on a repeated field. */
function fieldNames(form: URLSearchParams): string[] {
  const names = [...form.keys()];
  assert.equal(new Set(names).size, names.length, `repeated field in ${names.join(',')}`);
  return names;
}

const HEADER_FIELDS: readonly [field: string, header: string][] = [
  ['UserAgent', 'user-agent'],
  ['XForwardedFor', 'x-forwarded-for'],
  ['Referer', 'referer'],
  ['Accept', 'accept'],
  ['AcceptEncoding', 'accept-encoding'],
  ['AcceptLanguage', 'accept-language'],
  ['AcceptCharset', 'accept-charset'],
  ['Origin', 'origin'],
  ['XRequestedWith', 'x-requested-with'],
  ['Connection', 'connection'],
  ['Pragma', 'pragma'],
  ['CacheControl', 'cache-control'],
  ['ContentType', 'content-type'],
  ['TrueClientIP', 'true-client-ip'],
  ['XRealIP', 'x-real-ip'],
  ['RemoteAddr', 'remote-addr'],
  ['Forwarded', 'forwarded'],
];

describe('toRtiForm', () => {
  it('sends exactly the fields that have values, with their values', () => {
    const form = formOf(
      rtiInput(
        {
          eventType: 'custom',
          cheqCookie: 'cookie-1',
          ja3: '771,4865,0',
          channel: 'newsletter',
        },
        [
          ['host', 'shop.example.com'],
          ['user-agent', 'Mozilla/5.0'],
          ['accept', 'application/json'],
          ['cookie', '_cheq_rti=cookie-1'],
        ],
      ),
    );
    assert.deepEqual(fieldNames(form), [
      'ApiKey',
      'TagHash',
      'EventType',
      'ClientIP',
      'RequestURL',
      'RequestTime',
      'Method',
      'HeaderNames',
      'Host',
      'UserAgent',
      'Accept',
      'CheqCookie',
      'ResourceType',
      'JA3',
      'Channel',
      'MiddlewareVersion',
    ]);
    assert.deepEqual(Object.fromEntries(form), {
      ApiKey: 'key-123',
      TagHash: 'tag-abc',
      EventType: 'custom',
      ClientIP: '203.0.113.7',
      RequestURL: 'https://shop.example.com/p?x=1',
      RequestTime: '1700000000500',
      Method: 'GET',
      HeaderNames: 'host,user-agent,accept,cookie',
      Host: 'shop.example.com',
      UserAgent: 'Mozilla/5.0',
      Accept: 'application/json',
      CheqCookie: 'cookie-1',
      ResourceType: 'application/json',
      JA3: '771,4865,0',
      Channel: 'newsletter',
      MiddlewareVersion: 'cheq-rti-authz_0.1.0',
    });
  });

  it('leaves out every empty or missing optional field', () => {
    const form = formOf(
      rtiInput({
        clientIp: undefined,
        cheqCookie: undefined,
        duidCookie: undefined,
        pvidCookie: undefined,
        ja3: undefined,
        ja4: undefined,
        channel: undefined,
        headerNames: [],
      }),
    );
    assert.deepEqual(fieldNames(form), [
      'ApiKey',
      'TagHash',
      'EventType',
      'RequestURL',
      'RequestTime',
      'Method',
      'Host',
      'ResourceType',
      'MiddlewareVersion',
    ]);
  });

  it('leaves out a field whose value is an empty string', () => {
    const form = formOf(
      rtiInput({ cheqCookie: '', channel: '', ja3: '', clientIp: '' }, [
        ['referer', ''],
        ['user-agent', 'UA'],
      ]),
    );
    for (const field of ['CheqCookie', 'Channel', 'JA3', 'ClientIP', 'Referer']) {
      assert.equal(form.has(field), false, field);
    }
    assert.equal(form.get('UserAgent'), 'UA');
  });

  it('never sends the strings "undefined", "null" or "None"', () => {
    const body = toRtiForm(
      rtiInput({ clientIp: undefined, cheqCookie: undefined, ja3: undefined, channel: undefined }),
      TEST_CREDENTIALS,
    );
    const form = new URLSearchParams(body);
    for (const value of form.values()) {
      assert.equal(['undefined', 'null', 'None', ''].includes(value), false, body);
    }
    assert.equal(/undefined|None|null/.test(body), false, body);
  });

  it('comma-joins HeaderNames in the given order', () => {
    const form = formOf(rtiInput({ headerNames: ['host', 'cookie', 'accept', 'user-agent'] }));
    assert.equal(form.get('HeaderNames'), 'host,cookie,accept,user-agent');
  });

  for (const [field, header] of HEADER_FIELDS) {
    it(`maps the ${header} header to ${field}`, () => {
      const value = `value of ${header}; with=chars&and?more`;
      const form = formOf(rtiInput({}, [[header, value]]));
      assert.equal(form.get(field), value);
      const others = HEADER_FIELDS.map(([f]) => f).filter(f => f !== field);
      for (const other of others) assert.equal(form.has(other), false, other);
    });
  }

  it('joins a repeated header into one field value', () => {
    const form = formOf(
      rtiInput({}, [
        ['x-forwarded-for', '203.0.113.7'],
        ['x-forwarded-for', '10.0.0.1'],
      ]),
    );
    assert.deepEqual(form.getAll('XForwardedFor'), ['203.0.113.7, 10.0.0.1']);
  });

  it('sends Host from the input host, not from a Host header', () => {
    const form = formOf(rtiInput({ host: 'real.example' }, [['host', 'forged.example']]));
    assert.deepEqual(form.getAll('Host'), ['real.example']);
  });

  it('round-trips values that need form encoding', () => {
    const url = 'https://shop.example.com/a b?q=ü&x=1+2#';
    const form = formOf(rtiInput({ requestUrl: url }));
    assert.equal(form.get('RequestURL'), url);
  });
});

describe('toRtiForm ResourceType', () => {
  const cases: readonly [string | undefined, string][] = [
    [undefined, 'text/html'],
    ['', 'text/html'],
    ['*/*', 'text/html'],
    ['image/*', 'text/html'],
    ['text/html,application/xhtml+xml,*/*;q=0.8', 'text/html'],
    ['application/json, text/plain, */*', 'application/json'],
    ['Application/JSON;charset=utf-8', 'application/json'],
    ['image/avif,image/webp,*/*', 'image/avif'],
    ['text/css,*/*;q=0.1', 'text/css'],
    ['garbage', 'text/html'],
    ['<script>/x', 'text/html'],
  ];
  for (const [accept, expected] of cases) {
    it(`is ${expected} for Accept ${JSON.stringify(accept)}`, () => {
      const headers: [string, string][] = accept === undefined ? [] : [['accept', accept]];
      assert.equal(formOf(rtiInput({}, headers)).get('ResourceType'), expected);
    });
  }
});

describe('parseRtiResponse', () => {
  it('reads a valid answer', () => {
    const verdict = parseRtiResponse(
      JSON.stringify({
        version: 1,
        isInvalid: true,
        threatTypeCode: 2,
        requestId: 'rti-123',
        setCookie: '_cheq_rti=abc; Path=/; Max-Age=86400; SameSite=Lax',
      }),
    );
    assert.deepEqual(verdict, {
      verdict: 'malicious',
      code: 2,
      reasons: [],
      riskScore: undefined,
      ruleName: undefined,
      requestId: 'rti-123',
      rayId: undefined,
      setCookie: '_cheq_rti=abc; Path=/; Max-Age=86400; SameSite=Lax',
    });
  });

  it('maps isInvalid onto the verdict: benign, suspicious for the suspicious-activity codes, else malicious', () => {
    const read = (isInvalid: boolean, threatTypeCode: number): string =>
      parseRtiResponse(JSON.stringify({ isInvalid, threatTypeCode })).verdict;
    assert.equal(read(false, 0), 'benign');
    assert.equal(read(false, 19), 'benign');
    for (const code of [4, 5, 13, 14, 15, 21])
      assert.equal(read(true, code), 'suspicious', `${code}`);
    for (const code of [2, 3, 6, 7, 8, 9, 10, 11, 16, 17, 18, 20, 99]) {
      assert.equal(read(true, code), 'malicious', `${code}`);
    }
  });

  it('reads a minimal valid answer and ignores extra fields', () => {
    const verdict = parseRtiResponse(
      '{"isInvalid":false,"threatTypeCode":0,"extra":{"nested":[1,2]},"version":9}',
    );
    assert.deepEqual(verdict, rtiVerdict());
    assert.equal('extra' in verdict, false);
  });

  const bad: readonly [name: string, text: string][] = [
    ['not JSON', '<html>502 Bad Gateway</html>'],
    ['empty', ''],
    ['JSON null', 'null'],
    ['a JSON string', '"ok"'],
    ['a JSON number', '0'],
    ['a JSON array', '[{"isInvalid":false,"threatTypeCode":0}]'],
    ['missing threatTypeCode', '{"isInvalid":true}'],
    ['threatTypeCode null', '{"isInvalid":true,"threatTypeCode":null}'],
    ['threatTypeCode as a string', '{"isInvalid":true,"threatTypeCode":"2"}'],
    ['non-integer threatTypeCode', '{"isInvalid":true,"threatTypeCode":2.5}'],
    ['unsafe integer threatTypeCode', '{"isInvalid":true,"threatTypeCode":9007199254740993}'],
    ['missing isInvalid', '{"threatTypeCode":0}'],
    ['isInvalid as a string', '{"isInvalid":"false","threatTypeCode":0}'],
    ['isInvalid as a number', '{"isInvalid":0,"threatTypeCode":0}'],
    ['truncated JSON', '{"isInvalid":false,"threatTypeCode":'],
  ];
  for (const [name, text] of bad) {
    it(`rejects ${name} with rti_bad_response`, () => {
      assert.throws(
        () => parseRtiResponse(text),
        (err: unknown) => err instanceof RtiError && err.code === 'rti_bad_response',
      );
    });
  }

  it('keeps the JSON parse error as the cause', () => {
    assert.throws(
      () => parseRtiResponse('{'),
      (err: unknown) => err instanceof RtiError && err.cause instanceof SyntaxError,
    );
  });

  const unsafeCookies: readonly [string, unknown][] = [
    ['a CR/LF (header injection)', '_cheq_rti=a\r\nLocation: https://evil.example'],
    ['a bare LF', '_cheq_rti=a\nX: y'],
    ['a NUL', '_cheq_rti=a\u0000'],
    ['non-ASCII', '_cheq_rti=ü'],
    ['an empty string', ''],
    ['a number', 42],
    ['an object', { value: 'x' }],
    ['more than 4096 characters', `_cheq_rti=${'a'.repeat(4096)}`],
  ];
  for (const [name, setCookie] of unsafeCookies) {
    it(`drops a setCookie with ${name} but keeps the verdict`, () => {
      const verdict = parseRtiResponse(
        JSON.stringify({ isInvalid: true, threatTypeCode: 2, requestId: 'r', setCookie }),
      );
      assert.equal(verdict.setCookie, undefined);
      assert.equal(verdict.verdict, 'malicious');
      assert.equal(verdict.code, 2);
      assert.equal(verdict.requestId, 'r');
    });
  }

  it('keeps a setCookie of exactly 4096 characters with tabs and spaces', () => {
    const setCookie = `_cheq_rti=a;\tPath=/; ${'b'.repeat(4096 - 21)}`;
    assert.equal(setCookie.length, 4096);
    const verdict = parseRtiResponse(
      JSON.stringify({ isInvalid: false, threatTypeCode: 0, setCookie }),
    );
    assert.equal(verdict.setCookie, setCookie);
  });

  it('drops a requestId longer than 256 characters', () => {
    const verdict = parseRtiResponse(
      JSON.stringify({ isInvalid: false, threatTypeCode: 0, requestId: 'r'.repeat(257) }),
    );
    assert.equal(verdict.requestId, undefined);
  });

  it('keeps a requestId of exactly 256 characters', () => {
    const requestId = 'r'.repeat(256);
    const verdict = parseRtiResponse(
      JSON.stringify({ isInvalid: false, threatTypeCode: 0, requestId }),
    );
    assert.equal(verdict.requestId, requestId);
  });

  it('drops a requestId with CR/LF or that is not a string', () => {
    for (const requestId of ['a\r\nb', 123, null]) {
      const verdict = parseRtiResponse(
        JSON.stringify({ isInvalid: false, threatTypeCode: 0, requestId }),
      );
      assert.equal(verdict.requestId, undefined, JSON.stringify(requestId));
    }
  });
});

describe('toRtiForm limits', () => {
  it('caps each field value and the number of header names', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `x-h${i}`);
    const form = new URLSearchParams(
      toRtiForm(
        rtiInput({
          host: 'a.example',
          clientIp: undefined,
          requestUrl: `https://a.example/${'p'.repeat(20_000)}`,
          requestTimeMs: 1,
          headers: new HeaderList([['user-agent', 'u'.repeat(1024 * 1024)]]),
          headerNames: names,
        }),
        { apiKey: 'k', tagHash: 't', middlewareVersion: 'm' },
      ),
    );
    assert.equal(form.get('UserAgent')?.length, MAX_FIELD_CHARS);
    assert.equal(form.get('RequestURL')?.length, MAX_FIELD_CHARS);
    assert.equal(form.get('HeaderNames')?.split(',').length, MAX_HEADER_NAMES);
  });
});
