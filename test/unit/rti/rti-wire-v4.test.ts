import { strict as assert } from 'node:assert';
import type { HeaderEntry } from '../../../src/core/header-list';
import { RtiError, type RtiInput } from '../../../src/core/rti-port';
import {
  END_USER_HEADERS,
  MAX_FIELD_CHARS,
  MAX_HEADER_NAMES,
  type RtiCredentials,
} from '../../../src/rti/rti-wire';
import { RTI_V4_PATH, parseRtiV4Response, toRtiV4Body } from '../../../src/rti/rti-wire-v4';
import { rtiInput, TEST_CREDENTIALS } from '../../helpers/rti-input';
import { rtiVerdict } from '../../helpers/verdicts';

const BROWSER: readonly HeaderEntry[] = [
  ['host', 'shop.example.com'],
  ['user-agent', 'Mozilla/5.0'],
  ['accept', 'text/html'],
  ['cookie', '_cq_duid=duid-1; _cq_pvid=pvid-1; session=secret'],
  ['authorization', 'Bearer secret-token'],
  ['sec-fetch-mode', 'navigate'],
  ['accept-language', 'en-US'],
];

interface V4Body {
  readonly [field: string]: unknown;
  readonly endUserParams: { readonly [field: string]: unknown; readonly headers: object };
}

function bodyOf(input: RtiInput, credentials: RtiCredentials = TEST_CREDENTIALS): V4Body {
  return JSON.parse(toRtiV4Body(input, credentials)) as V4Body;
}

describe('toRtiV4Body', () => {
  it('is posted to /defend/4.0/traffic', () => {
    assert.equal(RTI_V4_PATH, '/defend/4.0/traffic');
  });

  it('sends every field rti-api.md §5 names, in order, with its value', () => {
    const body = bodyOf(
      rtiInput(
        {
          eventType: 'add_to_cart',
          duidCookie: 'duid-1',
          pvidCookie: 'pvid-1',
          ja3: '771,4865-4866,0-23',
          ja4: 't13d1516h2_8daaf6152771_02713d6af862',
          channel: 'checkout',
        },
        BROWSER,
      ),
    );
    assert.deepEqual(Object.keys(body), [
      'tagHash',
      'apiKey',
      'endUserParams',
      'isHeaderNamesOrdered',
      'channel',
      'customId1',
      'duidCookie',
      'pvidCookie',
    ]);
    assert.deepEqual(Object.keys(body.endUserParams), [
      'clientIp',
      'requestUrl',
      'headerNames',
      'method',
      'headers',
    ]);
    assert.deepEqual(Object.keys(body.endUserParams.headers), [
      'host',
      'user-agent',
      'accept',
      'accept-language',
      'cheq_ja3',
      'cheq_ja4',
    ]);
    assert.deepEqual(body, {
      tagHash: 'tag-abc',
      apiKey: 'key-123',
      endUserParams: {
        clientIp: '203.0.113.7',
        requestUrl: 'https://shop.example.com/p?x=1',
        headerNames: 'host,user-agent,accept,cookie,authorization,sec-fetch-mode,accept-language',
        method: 'GET',
        headers: {
          host: 'shop.example.com',
          'user-agent': 'Mozilla/5.0',
          accept: 'text/html',
          'accept-language': 'en-US',
          cheq_ja3: '771,4865-4866,0-23',
          cheq_ja4: 't13d1516h2_8daaf6152771_02713d6af862',
        },
      },
      isHeaderNamesOrdered: true,
      channel: 'checkout',
      customId1: 'add_to_cart',
      duidCookie: 'duid-1',
      pvidCookie: 'pvid-1',
    });
  });

  it('comma-joins headerNames in arrival order, as given', () => {
    const body = bodyOf(rtiInput({ headerNames: ['user-agent', 'host', 'cookie', 'accept'] }));
    assert.equal(body.endUserParams['headerNames'], 'user-agent,host,cookie,accept');
    assert.equal(body['isHeaderNamesOrdered'], true);
  });

  for (const name of END_USER_HEADERS) {
    it(`sends the ${name} header under its lower-case name`, () => {
      const value = `value of ${name}; with "quotes" and \\ backslash`;
      const body = bodyOf(rtiInput({}, [[name, value]]));
      assert.deepEqual(body.endUserParams.headers, { host: 'shop.example.com', [name]: value });
    });
  }

  it('never sends the cookie or authorization header, nor headers RTI is not told about', () => {
    const text = toRtiV4Body(rtiInput({}, BROWSER), TEST_CREDENTIALS);
    const headers = bodyOf(rtiInput({}, BROWSER)).endUserParams.headers;
    for (const name of ['cookie', 'authorization', 'sec-fetch-mode']) {
      assert.equal(name in headers, false, name);
    }
    assert.equal(text.includes('secret'), false, text);
  });

  it('joins a repeated header into one value', () => {
    const body = bodyOf(
      rtiInput({}, [
        ['x-forwarded-for', '203.0.113.7'],
        ['x-forwarded-for', '10.0.0.1'],
      ]),
    );
    assert.deepEqual(body.endUserParams.headers, {
      host: 'shop.example.com',
      'x-forwarded-for': '203.0.113.7, 10.0.0.1',
    });
  });

  it('sends host from the input host, not from a Host header', () => {
    const body = bodyOf(rtiInput({ host: 'real.example' }, [['host', 'forged.example']]));
    assert.deepEqual(body.endUserParams.headers, { host: 'real.example' });
  });

  it('sends the _cq_duid and _cq_pvid cookies only when present', () => {
    assert.equal(bodyOf(rtiInput({ duidCookie: 'd-1' }))['duidCookie'], 'd-1');
    assert.equal(bodyOf(rtiInput({ pvidCookie: 'p-1' }))['pvidCookie'], 'p-1');
    const without = bodyOf(rtiInput({ duidCookie: '', pvidCookie: undefined }));
    assert.equal('duidCookie' in without, false);
    assert.equal('pvidCookie' in without, false);
  });

  it('sends the channel when set, otherwise the integration name', () => {
    assert.equal(bodyOf(rtiInput({ channel: 'newsletter' }))['channel'], 'newsletter');
    assert.equal(bodyOf(rtiInput({ channel: undefined }))['channel'], 'cheq-rti-authz');
    assert.equal(bodyOf(rtiInput({ channel: '' }))['channel'], 'cheq-rti-authz');
  });

  it('sends the event type as customId1', () => {
    assert.equal(bodyOf(rtiInput({ eventType: 'registration' }))['customId1'], 'registration');
  });

  it('adds cheq_ja3 and cheq_ja4 only when the proxy passed them', () => {
    const ja3Only = bodyOf(rtiInput({ ja3: '771,4865,0' })).endUserParams.headers;
    assert.deepEqual(ja3Only, { host: 'shop.example.com', cheq_ja3: '771,4865,0' });
    const ja4Only = bodyOf(rtiInput({ ja4: 't13d_a_b' })).endUserParams.headers;
    assert.deepEqual(ja4Only, { host: 'shop.example.com', cheq_ja4: 't13d_a_b' });
    const neither = bodyOf(rtiInput({ ja3: '', ja4: undefined })).endUserParams.headers;
    assert.deepEqual(neither, { host: 'shop.example.com' });
  });

  it('leaves out every empty or missing optional field', () => {
    const body = bodyOf(
      rtiInput({ clientIp: undefined, eventType: '', headerNames: [] }, [['referer', '']]),
    );
    assert.deepEqual(Object.keys(body), [
      'tagHash',
      'apiKey',
      'endUserParams',
      'isHeaderNamesOrdered',
      'channel',
    ]);
    assert.deepEqual(Object.keys(body.endUserParams), [
      'requestUrl',
      'headerNames',
      'method',
      'headers',
    ]);
    assert.equal(bodyOf(rtiInput({ clientIp: '' })).endUserParams['clientIp'], undefined);
  });

  it('never sends null or the string "undefined"', () => {
    const text = toRtiV4Body(
      rtiInput({ clientIp: undefined, duidCookie: undefined, ja3: undefined }),
      TEST_CREDENTIALS,
    );
    assert.equal(/undefined|null|None/.test(text), false, text);
  });

  it('sends the API key once, at the top level only', () => {
    const text = toRtiV4Body(rtiInput({}, BROWSER), TEST_CREDENTIALS);
    assert.equal(text.split('key-123').length, 2, text);
    assert.equal(bodyOf(rtiInput({}, BROWSER))['apiKey'], 'key-123');
  });

  it('caps each value and the number of header names', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `x-h${i}`);
    const long = 'v'.repeat(MAX_FIELD_CHARS + 100);
    const body = bodyOf(
      rtiInput(
        {
          requestUrl: `https://a.example/${'p'.repeat(20_000)}`,
          headerNames: names,
          duidCookie: long,
          pvidCookie: long,
          ja3: long,
          ja4: long,
          channel: long,
        },
        [['user-agent', 'u'.repeat(1024 * 1024)]],
      ),
    );
    const headers = body.endUserParams.headers as Record<string, string>;
    assert.equal(headers['user-agent']?.length, MAX_FIELD_CHARS);
    assert.equal(headers['cheq_ja3']?.length, MAX_FIELD_CHARS);
    assert.equal(headers['cheq_ja4']?.length, MAX_FIELD_CHARS);
    assert.equal((body.endUserParams['requestUrl'] as string).length, MAX_FIELD_CHARS);
    const headerNames = body.endUserParams['headerNames'] as string;
    assert.deepEqual(headerNames.split(','), names.slice(0, MAX_HEADER_NAMES));
    for (const field of ['duidCookie', 'pvidCookie', 'channel']) {
      assert.equal((body[field] as string).length, MAX_FIELD_CHARS, field);
    }
  });

  it('stays valid JSON with a lone surrogate or control characters in a header', () => {
    const userAgent = 'Mozilla\uD800/5.0\u0000\r\n"}';
    const body = bodyOf(rtiInput({}, [['user-agent', userAgent]]));
    assert.equal((body.endUserParams.headers as Record<string, string>)['user-agent'], userAgent);
  });
});

/** A full v4 answer as rti-api.md §5 describes it. */
const FULL_ANSWER = {
  metadata: { timestamp: 1_700_000_000_000, version: '4.0', tagName: 'shop', sessionFound: true },
  decision: { verdict: 'malicious', ruleName: 'block-scrapers', riskScore: 92 },
  classification: { code: 2, name: 'Scrapers', group: 'Invalid Bot Activity' },
  ids: { rayId: 'ray-8f3a', pageViewId: 'pvid-1', duid: 'duid-1', uniqueVisitId: 'v-1' },
  device: { type: 'desktop' },
  network: { ip: '203.0.113.7', xForwardedFor: '203.0.113.7', geoIp: {}, as: {} },
  fingerprints: { ja3: '771,4865,0' },
  cheqDetection: {
    detectedClassificationCode: 2,
    isAutomated: true,
    isProxy: false,
    reasons: [201, 203, 7],
  },
};

function answer(fields: Record<string, unknown>): string {
  return JSON.stringify({ ...FULL_ANSWER, ...fields });
}

function assertBadResponse(text: string, field: RegExp): void {
  assert.throws(
    () => parseRtiV4Response(text),
    (err: unknown) =>
      err instanceof RtiError && err.code === 'rti_bad_response' && field.test(err.message),
  );
}

describe('parseRtiV4Response', () => {
  it('reads a full answer', () => {
    assert.deepEqual(parseRtiV4Response(JSON.stringify(FULL_ANSWER)), {
      verdict: 'malicious',
      code: 2,
      reasons: [201, 203, 7],
      riskScore: 92,
      ruleName: 'block-scrapers',
      requestId: undefined,
      rayId: 'ray-8f3a',
      setCookie: undefined,
      rtiResult:
        'version=4.0;verdict=malicious;threat-type-code=2;' +
        'ids={"rayId":"ray-8f3a","pageViewId":"pvid-1","duid":"duid-1","uniqueVisitId":"v-1"}',
    });
  });

  it('reads a minimal answer: only decision.verdict and classification.code', () => {
    const verdict = parseRtiV4Response(
      '{"decision":{"verdict":"benign"},"classification":{"code":0}}',
    );
    assert.deepEqual(verdict, {
      ...rtiVerdict(),
      rtiResult: 'version=4.0;verdict=benign;threat-type-code=0;ids={}',
    });
    assert.ok(Object.isFrozen(verdict.reasons));
  });

  for (const verdict of ['benign', 'suspicious', 'malicious']) {
    it(`accepts the verdict ${verdict}`, () => {
      const parsed = parseRtiV4Response(answer({ decision: { verdict } }));
      assert.equal(parsed.verdict, verdict);
    });
  }

  it('never passes on a cookie: v4 answers carry none', () => {
    const parsed = parseRtiV4Response(answer({ setCookie: '_cq_duid=x; Path=/', requestId: 'r' }));
    assert.equal(parsed.setCookie, undefined);
    assert.equal(parsed.requestId, undefined);
  });

  const bad: readonly [name: string, text: string, field: RegExp][] = [
    ['not JSON', 'verdict=benign', /not JSON/],
    ['HTML', '<html><body>502 Bad Gateway</body></html>', /not JSON/],
    ['empty', '', /not JSON/],
    ['truncated JSON', '{"decision":{"verdict":"benign"},"classification":{"code":', /not JSON/],
    ['JSON null', 'null', /not an object/],
    ['a JSON string', '"benign"', /not an object/],
    ['a JSON number', '0', /not an object/],
    ['a JSON array', `[${JSON.stringify(FULL_ANSWER)}]`, /not an object/],
    ['a v1 answer', '{"isInvalid":false,"threatTypeCode":0}', /decision/],
    ['missing decision', answer({ decision: undefined }), /decision/],
    ['decision null', answer({ decision: null }), /decision/],
    ['decision an array', answer({ decision: [{ verdict: 'benign' }] }), /decision/],
    ['decision a string', answer({ decision: 'benign' }), /decision/],
    ['missing verdict', answer({ decision: { riskScore: 1 } }), /decision\.verdict/],
    ['unknown verdict', answer({ decision: { verdict: 'block' } }), /decision\.verdict/],
    ['upper-case verdict', answer({ decision: { verdict: 'BENIGN' } }), /decision\.verdict/],
    ['verdict a number', answer({ decision: { verdict: 0 } }), /decision\.verdict/],
    ['missing classification', answer({ classification: undefined }), /classification\.code/],
    ['classification null', answer({ classification: null }), /classification\.code/],
    ['missing classification code', answer({ classification: {} }), /classification\.code/],
    ['code null', answer({ classification: { code: null } }), /classification\.code/],
    ['code a string', answer({ classification: { code: '2' } }), /classification\.code/],
    ['non-integer code', answer({ classification: { code: 2.5 } }), /classification\.code/],
    [
      'unsafe integer code',
      '{"decision":{"verdict":"benign"},"classification":{"code":9007199254740993}}',
      /classification\.code/,
    ],
  ];
  for (const [name, text, field] of bad) {
    it(`rejects ${name} with rti_bad_response naming what is wrong`, () => {
      assertBadResponse(text, field);
    });
  }

  it('keeps the JSON parse error as the cause', () => {
    assert.throws(
      () => parseRtiV4Response('{'),
      (err: unknown) => err instanceof RtiError && err.cause instanceof SyntaxError,
    );
  });

  it('keeps only safe-integer reasons, in order', () => {
    const reasons = [1, '2', 3.5, null, { code: 4 }, [5], 2 ** 53, -6, 7, true];
    const parsed = parseRtiV4Response(
      answer({ cheqDetection: { ...FULL_ANSWER.cheqDetection, reasons } }),
    );
    assert.deepEqual(parsed.reasons, [1, -6, 7]);
  });

  it('keeps the first 64 reasons', () => {
    const reasons = Array.from({ length: 1000 }, (_, i) => i);
    const parsed = parseRtiV4Response(answer({ cheqDetection: { reasons } }));
    assert.deepEqual(parsed.reasons, reasons.slice(0, 64));
  });

  for (const [name, cheqDetection] of [
    ['missing cheqDetection', undefined],
    ['cheqDetection null', null],
    ['missing reasons', { isAutomated: true }],
    ['reasons not an array', { reasons: '201,203' }],
    ['reasons an object', { reasons: { 0: 201 } }],
    ['no safe-integer reason', { reasons: ['201', 2.5] }],
  ] as const) {
    it(`reads no reasons from ${name}, keeping the verdict`, () => {
      const parsed = parseRtiV4Response(answer({ cheqDetection }));
      assert.deepEqual(parsed.reasons, []);
      assert.ok(Object.isFrozen(parsed.reasons));
      assert.equal(parsed.verdict, 'malicious');
      assert.equal(parsed.code, 2);
    });
  }

  for (const riskScore of [0, 42.5, 100]) {
    it(`keeps the risk score ${riskScore}`, () => {
      const parsed = parseRtiV4Response(answer({ decision: { verdict: 'benign', riskScore } }));
      assert.equal(parsed.riskScore, riskScore);
    });
  }

  for (const riskScore of [-1, 100.5, 1e308, '50', null, true, [50]]) {
    it(`drops the risk score ${JSON.stringify(riskScore)}, keeping the verdict`, () => {
      const parsed = parseRtiV4Response(answer({ decision: { verdict: 'benign', riskScore } }));
      assert.equal(parsed.riskScore, undefined);
      assert.equal(parsed.verdict, 'benign');
    });
  }

  const unsafeIds: readonly [name: string, value: unknown][] = [
    ['CR/LF (header injection)', 'ray-1\r\nSet-Cookie: evil=1'],
    ['a bare LF', 'ray-1\nX: y'],
    ['a NUL', 'ray-1\u0000'],
    ['non-ASCII', 'ray-ü'],
    ['an empty string', ''],
    ['a number', 42],
    ['an object', { id: 'ray-1' }],
    ['more than 256 characters', 'r'.repeat(257)],
  ];
  for (const [name, value] of unsafeIds) {
    it(`drops a rayId with ${name}, keeping the verdict`, () => {
      const parsed = parseRtiV4Response(answer({ ids: { rayId: value } }));
      assert.equal(parsed.rayId, undefined);
      assert.equal(parsed.verdict, 'malicious');
    });

    it(`drops a ruleName with ${name}, keeping the verdict`, () => {
      const parsed = parseRtiV4Response(
        answer({ decision: { verdict: 'suspicious', ruleName: value } }),
      );
      assert.equal(parsed.ruleName, undefined);
      assert.equal(parsed.verdict, 'suspicious');
    });
  }

  it('keeps a rayId and a ruleName of exactly 256 characters', () => {
    const id = 'r'.repeat(256);
    const parsed = parseRtiV4Response(
      answer({ decision: { verdict: 'benign', ruleName: id }, ids: { rayId: id } }),
    );
    assert.equal(parsed.rayId, id);
    assert.equal(parsed.ruleName, id);
  });

  it('reads no rayId when ids is missing or not an object', () => {
    for (const ids of [undefined, null, 'ray-1', ['ray-1']]) {
      assert.equal(parseRtiV4Response(answer({ ids })).rayId, undefined, JSON.stringify(ids));
    }
  });
});
