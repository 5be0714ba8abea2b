import { strict as assert } from 'node:assert';
import type { HeaderEntry } from '../../../src/core/header-list';
import type { RtiInput } from '../../../src/core/rti-port';
import { MAX_FIELD_CHARS } from '../../../src/rti/rti-wire';
import { parseRtiV4Response, toRtiV4Body } from '../../../src/rti/rti-wire-v4';
import { RTI_V41_PATH, toRtiV41Body, V41_HEADERS } from '../../../src/rti/rti-wire-v41';
import { WIRE_FORMATS } from '../../../src/rti/wire-formats';
import { rtiInput, TEST_CREDENTIALS } from '../../helpers/rti-input';

/** A Chrome navigation with every header v4.1 adds, and some it must not send. */
const CHROME: readonly HeaderEntry[] = [
  ['host', 'shop.example.com'],
  ['user-agent', 'Mozilla/5.0 Chrome/126.0'],
  ['sec-ch-ua', '"Chromium";v="126", "Not.A/Brand";v="24"'],
  ['sec-ch-ua-mobile', '?0'],
  ['sec-ch-ua-platform', '"Linux"'],
  ['sec-fetch-site', 'none'],
  ['sec-fetch-mode', 'navigate'],
  ['sec-fetch-user', '?1'],
  ['sec-fetch-dest', 'document'],
  ['signature-agent', '"https://agent.example"'],
  ['signature-input', 'sig1=("@authority");created=1700000000;keyid="k1"'],
  ['signature', 'sig1=:dGVzdA==:'],
  ['cookie', '_cq_s=abc; session=secret'],
  ['authorization', 'Bearer secret-token'],
  ['x-cheq-tls-cipher', 'client-chosen'],
];

interface Body {
  readonly [field: string]: unknown;
  readonly endUserParams: { readonly [field: string]: unknown; readonly headers: object };
}

function bodyOf(input: RtiInput): Body {
  return JSON.parse(toRtiV41Body(input, TEST_CREDENTIALS)) as Body;
}

describe('toRtiV41Body', () => {
  it('is posted to /defend/4.1/traffic, as JSON', () => {
    assert.equal(RTI_V41_PATH, '/defend/4.1/traffic');
    assert.equal(WIRE_FORMATS['v4.1'].path, RTI_V41_PATH);
    assert.equal(WIRE_FORMATS['v4.1'].headers['content-type'], 'application/json');
  });

  it('sends the v4 body plus sCookie and customId2 (RTI reports it as ids.customParam2)', () => {
    const input = rtiInput(
      { sCookie: 'c2Vzc2lvbg==', proxyRequestId: 'req-42', duidCookie: 'duid-1' },
      CHROME,
    );
    const v4 = JSON.parse(toRtiV4Body(input, TEST_CREDENTIALS)) as Body;
    const body = bodyOf(input);
    const { sCookie, customId2, endUserParams, ...rest } = body;
    const { endUserParams: v4Params, ...v4Rest } = v4;
    assert.deepEqual(rest, v4Rest);
    assert.equal(sCookie, 'c2Vzc2lvbg==');
    assert.equal(customId2, 'req-42');
    const { headers, ...params } = endUserParams;
    const { headers: v4Headers, ...v4ParamsRest } = v4Params;
    assert.deepEqual(params, v4ParamsRest);
    assert.deepEqual(
      Object.fromEntries(Object.entries(headers).filter(([name]) => name in v4Headers)),
      v4Headers,
    );
  });

  it('sends the Sec-Fetch, client-hint and RFC 9421 signature headers by value', () => {
    const { headers } = bodyOf(rtiInput({}, CHROME)).endUserParams as {
      headers: Record<string, string>;
    };
    for (const [name, value] of CHROME) {
      if (name.startsWith('sec-') || name.startsWith('signature')) {
        assert.equal(headers[name], value, name);
      }
    }
  });

  it('never sends cookie, authorization or a control header as a client header', () => {
    const { headers } = bodyOf(rtiInput({}, CHROME)).endUserParams;
    for (const name of ['cookie', 'authorization', 'x-cheq-tls-cipher']) {
      assert.ok(!(name in headers), name);
    }
  });

  it('sends only the listed headers: made-up sec-ch-ua-* names cannot grow the call', () => {
    const made: HeaderEntry[] = Array.from({ length: 500 }, (_, i) => [`sec-ch-ua-x${i}`, 'y']);
    const { headers } = bodyOf(rtiInput({}, [...CHROME, ...made])).endUserParams;
    assert.ok(Object.keys(headers).every(name => !name.startsWith('sec-ch-ua-x')));
    assert.ok(V41_HEADERS.every(name => name === name.toLowerCase()));
  });

  it('caps each added header at MAX_FIELD_CHARS', () => {
    const long = 's'.repeat(MAX_FIELD_CHARS + 10);
    const { headers } = bodyOf(rtiInput({}, [['signature', long]])).endUserParams as {
      headers: Record<string, string>;
    };
    assert.equal(headers['signature']?.length, MAX_FIELD_CHARS);
  });

  it('sends the proxy-set TLS and geo facts as cheq_* pseudo-headers', () => {
    const { headers } = bodyOf(
      rtiInput({
        tlsCipher: 'TLS_AES_128_GCM_SHA256',
        tlsVersion: 'TLSv1.3',
        geoRegion: 'CA',
      }),
    ).endUserParams as { headers: Record<string, string> };
    assert.equal(headers['cheq_tls_cipher'], 'TLS_AES_128_GCM_SHA256');
    assert.equal(headers['cheq_tls_version'], 'TLSv1.3');
    assert.equal(headers['cheq_geo_region'], 'CA');
  });

  it('leaves out each fact the proxy did not know (empty without TLS), and sCookie, customId2', () => {
    const body = bodyOf(rtiInput({ tlsCipher: '', tlsVersion: '', geoRegion: undefined }));
    for (const name of ['cheq_tls_cipher', 'cheq_tls_version', 'cheq_geo_region']) {
      assert.ok(!(name in body.endUserParams.headers), name);
    }
    assert.ok(!('sCookie' in body));
    assert.ok(!('customId2' in body));
  });

  it('sends no demo verdict unless the core read one (demo_verdict_cookie)', () => {
    assert.ok(!('demoVerdict' in bodyOf(rtiInput())));
    assert.equal(bodyOf(rtiInput({ demoVerdict: 'suspicious' }))['demoVerdict'], 'suspicious');
  });
});

describe('the v4.1 answer', () => {
  const parse = WIRE_FORMATS['v4.1'].parse;

  it('is read as v4, unknown fields tolerated', () => {
    const verdict = parse(
      JSON.stringify({
        metadata: { version: '4.1', newThing: { a: 1 } },
        decision: { verdict: 'suspicious', riskScore: 61, futureField: true },
        classification: { code: 14 },
        ids: { rayId: 'ray-9', customParam2: 'req-42', somethingNew: 'x' },
        extra: [1, 2, 3],
      }),
    );
    assert.equal(verdict.verdict, 'suspicious');
    assert.equal(verdict.code, 14);
    assert.equal(verdict.rayId, 'ray-9');
    assert.equal(
      verdict.rtiResult,
      'version=4.1;verdict=suspicious;threat-type-code=14;' +
        'ids={"rayId":"ray-9","customParam2":"req-42"}',
    );
  });

  for (const garbage of ['', 'null', '[]', '<html>', '{"decision":{}}']) {
    it(`fails with rti_bad_response on ${JSON.stringify(garbage)}`, () => {
      assert.throws(() => parse(garbage), { code: 'rti_bad_response' });
    });
  }
});

describe('x-cheq-rti-result', () => {
  const answer = (fields: Record<string, unknown>): string =>
    JSON.stringify({ decision: { verdict: 'benign' }, classification: { code: 0 }, ...fields });

  it("names the generation called when RTI's metadata.version is no version number", () => {
    for (const version of [undefined, 4.1, '4.1; x=1', '4.1\r\nSet-Cookie: a=1', 'v4']) {
      const parsed = parseRtiV4Response(answer({ metadata: { version } }), '4.1');
      assert.ok(parsed.rtiResult?.startsWith('version=4.1;verdict=benign;'), String(version));
    }
  });

  it("keeps RTI's ids in order, null ones too, as CHEQ's workers do", () => {
    const parsed = parseRtiV4Response(
      answer({ ids: { rayId: 'r1', pageViewId: null, duid: 'd1' }, metadata: { version: '4.1' } }),
    );
    assert.equal(
      parsed.rtiResult,
      'version=4.1;verdict=benign;threat-type-code=0;ids={"rayId":"r1","pageViewId":null,"duid":"d1"}',
    );
  });

  it('drops unknown ids and ids that cannot travel in a header: one line of visible ASCII', () => {
    const parsed = parseRtiV4Response(
      answer({
        ids: {
          rayId: 'r1\r\nSet-Cookie: evil=1',
          duid: 'ü',
          pageViewId: 'p'.repeat(257),
          uniqueVisitId: { nested: 1 },
          customParam1: 'a"b\\c',
          attacker: 'y',
        },
      }),
    );
    assert.equal(
      parsed.rtiResult,
      'version=4.0;verdict=benign;threat-type-code=0;ids={"customParam1":"a\\"b\\\\c"}',
    );
    assert.match(parsed.rtiResult ?? '', /^[\x20-\x7e]+$/);
  });

  it('is not made from a v1 answer', () => {
    const v1 = WIRE_FORMATS.v1.parse('{"isInvalid":false,"threatTypeCode":0}');
    assert.equal(v1.rtiResult, undefined);
  });
});
