import { strict as assert } from 'node:assert';
import { checkCodec } from '../../../../src/adapters/grpc/check-codec';
import { loadExtAuthzPackage } from '../../../../src/adapters/grpc/load-protos';
import { toCheckResponse, type CheckAnswer } from '../../../../src/adapters/grpc/to-check-response';
import { createDecide, type CoreConfig } from '../../../../src/core/decide';
import type { Decision } from '../../../../src/core/decision';
import { HeaderList, type HeaderEntry } from '../../../../src/core/header-list';
import { PathMap, PathPatternList } from '../../../../src/core/path-pattern';
import type { RequestAttributes } from '../../../../src/core/request-attributes';
import { RtiError, type RtiCheck, type RtiVerdict } from '../../../../src/core/rti-port';
import type { HeaderValueOption } from '../../../../src/generated/envoy/config/core/v3/HeaderValueOption';
import { VerdictMemory } from '../../../../src/memory/verdict-memory';
import { rtiVerdict, v1 } from '../../../helpers/verdicts';
import { coreConfig } from '../../core/core-config';

const SET_COOKIE = '_cheq_rti=tok; Path=/; Max-Age=3600; SameSite=Lax';

const CONFIG: CoreConfig = coreConfig({
  blockRedirectCodes: new Set([2, 3]),
  challengeCodes: new Set([14]),
  uriExclusion: new PathPatternList(['/healthz']),
  routeToEventType: new PathMap([]),
  ignoredHeaderNames: [],
});

const NAVIGATION: readonly HeaderEntry[] = [
  ['accept', 'text/html'],
  ['sec-fetch-mode', 'navigate'],
];

function attributes(path = '/', headers: readonly HeaderEntry[] = NAVIGATION): RequestAttributes {
  return {
    transport: 'grpc',
    requestId: 'req-9',
    method: 'GET',
    scheme: 'https',
    host: 'shop.example.com',
    path,
    query: '',
    headers: new HeaderList(headers),
    proxyClientIp: undefined,
    peerAddress: '203.0.113.7',
    receivedAtMs: 1_700_000_000_000,
    route: {},
  };
}

function answering(verdict: RtiVerdict): RtiCheck {
  return { check: () => Promise.resolve(verdict) };
}

function verdict(isInvalid: boolean, threatTypeCode: number, setCookie?: string): RtiVerdict {
  return v1(isInvalid, threatTypeCode, { requestId: 'rti-1', setCookie });
}

async function decision(
  rti: RtiCheck,
  config: Partial<CoreConfig> = {},
  attrs: RequestAttributes = attributes(),
): Promise<Decision> {
  return createDecide({ ...CONFIG, ...config }, rti)(attrs);
}

const REMEMBERED_UNTIL_MS = Date.UTC(2026, 11, 6, 18, 5, 0);

/** A block from the verdict memory: the visitor was blocked 5 minutes ago, RTI now times out. */
function rememberedBlock(): Promise<Decision> {
  const attrs = attributes();
  const memory = new VerdictMemory({ maxEntries: 1000, now: () => REMEMBERED_UNTIL_MS - 1 });
  const site = 'default';
  memory.remember({ site, clientIp: '203.0.113.7', userAgent: undefined, duid: undefined }, 1);
  const rti = { check: () => Promise.reject(new RtiError('rti_timeout', 'slow')) };
  return createDecide(CONFIG, rti, { memory, site, now: () => REMEMBERED_UNTIL_MS - 1 })(attrs);
}

function headerMap(
  options: readonly HeaderValueOption[] | undefined,
): Map<string, HeaderValueOption> {
  const map = new Map<string, HeaderValueOption>();
  for (const option of options ?? []) map.set(option.header?.key ?? '', option);
  return map;
}

describe('toCheckResponse', () => {
  describe('allow', () => {
    it('answers OK with upstream headers that overwrite and the Set-Cookie appended', async () => {
      const d = await decision(answering(verdict(false, 0, SET_COOKIE)));
      const response = toCheckResponse(d);
      assert.deepEqual(response.status, { code: 0 });
      assert.equal(response.denied_response, undefined);
      assert.deepEqual(response.ok_response, {
        headers: [
          { header: { key: 'x-cheq-decision', value: 'valid' }, append: { value: false } },
          { header: { key: 'x-cheq-threat-type', value: '0' }, append: { value: false } },
          { header: { key: 'x-cheq-invalid', value: 'false' }, append: { value: false } },
          { header: { key: 'x-cheq-rti-request-id', value: 'rti-1' }, append: { value: false } },
          { header: { key: 'x-cheq-verdict', value: 'benign' }, append: { value: false } },
        ],
        headers_to_remove: [
          'x-cheq-challenge',
          'x-cheq-risk-score',
          'x-cheq-ray-id',
          'x-cheq-rti-result',
        ],
        response_headers_to_add: [
          { header: { key: 'set-cookie', value: SET_COOKIE }, append: { value: true } },
        ],
      });
    });

    it('sets append false on every upstream header and never append_action', async () => {
      const d = await decision(answering(verdict(true, 14, SET_COOKIE)));
      assert.equal(d.reason, 'threat_challenge');
      const headers = toCheckResponse(d).ok_response?.headers ?? [];
      assert.equal(headers.length, 6);
      for (const option of headers) {
        assert.deepEqual(option.append, { value: false });
        assert.equal('append_action' in option, false);
      }
      assert.deepEqual(headerMap(headers).get('x-cheq-challenge')?.header, {
        key: 'x-cheq-challenge',
        value: '1',
      });
    });

    it('adds no Set-Cookie when RTI gave none', async () => {
      const d = await decision(answering(verdict(false, 0)));
      assert.deepEqual(toCheckResponse(d).ok_response?.response_headers_to_add, []);
    });

    it('removes forged verdict headers on fail open', async () => {
      const rti: RtiCheck = {
        check: () => Promise.reject(new RtiError('rti_timeout', 'slow')),
      };
      const response = toCheckResponse(await decision(rti));
      assert.equal(response.status?.code, 0);
      assert.deepEqual(response.ok_response?.headers, [
        { header: { key: 'x-cheq-decision', value: 'fail_open' }, append: { value: false } },
      ]);
      assert.deepEqual(response.ok_response?.headers_to_remove, [
        'x-cheq-threat-type',
        'x-cheq-invalid',
        'x-cheq-rti-request-id',
        'x-cheq-challenge',
        'x-cheq-verdict',
        'x-cheq-risk-score',
        'x-cheq-ray-id',
        'x-cheq-rti-result',
      ]);
    });

    it('sends empty header lists when verdict headers are off', async () => {
      const d = await decision(answering(verdict(false, 0)), { verdictHeaderNames: undefined });
      assert.deepEqual(toCheckResponse(d).ok_response, {
        headers: [],
        headers_to_remove: [],
        response_headers_to_add: [],
      });
    });
  });

  describe('deny', () => {
    it('answers PERMISSION_DENIED with a 403, overwriting headers, the cookie and a body', async () => {
      const d = await decision(answering(verdict(true, 2, SET_COOKIE)));
      assert.equal(d.action, 'deny');
      const response = toCheckResponse(d);
      assert.equal(response.status?.code, 7);
      assert.equal(response.ok_response, undefined);
      const denied = response.denied_response;
      assert.ok(denied);
      assert.deepEqual(denied.status, { code: 403 });
      assert.equal(denied.body, d.body?.text);
      assert.match(denied.body ?? '', /Access denied/);
      const csp = d.clientHeaders?.find(([name]) => name === 'content-security-policy')?.[1];
      assert.ok(csp);
      assert.deepEqual(denied.headers, [
        { header: { key: 'cache-control', value: 'no-store' }, append_action: 2 },
        { header: { key: 'content-type', value: 'text/html; charset=utf-8' }, append_action: 2 },
        { header: { key: 'content-security-policy', value: csp }, append_action: 2 },
        { header: { key: 'referrer-policy', value: 'no-referrer' }, append_action: 2 },
        { header: { key: 'x-frame-options', value: 'DENY' }, append_action: 2 },
        { header: { key: 'x-content-type-options', value: 'nosniff' }, append_action: 2 },
        { header: { key: 'set-cookie', value: SET_COOKIE } },
      ]);
    });

    it('answers the not_found strategy with a plain 404: no-store, no ids or cookie', async () => {
      const d = await decision(answering(verdict(true, 2, SET_COOKIE)), {
        blockStrategy: 'not_found',
      });
      const denied = toCheckResponse(d).denied_response;
      assert.deepEqual(denied?.status, { code: 404 });
      assert.equal(denied?.body, 'Not Found\n');
      assert.deepEqual(denied?.headers, [
        { header: { key: 'cache-control', value: 'no-store' }, append_action: 2 },
        { header: { key: 'content-type', value: 'text/plain' }, append_action: 2 },
      ]);
      // Whatever else a decision carries (a later echo header, a cookie), a 404 says nothing.
      const loud = { ...d, setCookie: 'a=b', clientHeaders: [['x-cheq-rti-result', 'v']] as const };
      assert.deepEqual(toCheckResponse(loud).denied_response?.headers, denied?.headers);
    });

    it('never puts the append property on a denied header', async () => {
      const d = await decision(answering(verdict(true, 2, SET_COOKIE)));
      for (const option of toCheckResponse(d).denied_response?.headers ?? []) {
        assert.equal('append' in option, false, option.header?.key);
      }
    });

    it('sends Set-Cookie without append_action', async () => {
      const d = await decision(answering(verdict(true, 3, SET_COOKIE)));
      const cookie = headerMap(toCheckResponse(d).denied_response?.headers).get('set-cookie');
      assert.ok(cookie);
      assert.equal('append_action' in cookie, false);
    });

    it('renders the body content type the client asked for', async () => {
      const d = await decision(
        answering(verdict(true, 2)),
        {},
        attributes('/api', [['accept', 'application/json']]),
      );
      const denied = toCheckResponse(d).denied_response;
      assert.equal(
        headerMap(denied?.headers).get('content-type')?.header?.value,
        'application/json',
      );
      assert.deepEqual(JSON.parse(denied?.body ?? ''), {
        error: 'access_denied',
        requestId: 'req-9',
      });
      assert.equal(headerMap(denied?.headers).has('set-cookie'), false);
    });

    it('names the reason in the gRPC status message', async () => {
      const d = await decision(answering(verdict(true, 2)));
      assert.match(toCheckResponse(d).status?.message ?? '', /threat_block/);
    });
  });

  describe('redirect', () => {
    it('answers a 302 with Location, no-store and the cookie', async () => {
      const d = await decision(answering(verdict(true, 2, SET_COOKIE)), {
        redirectUrl: 'https://shop.example.com/blocked',
      });
      assert.equal(d.action, 'redirect');
      const response = toCheckResponse(d);
      assert.equal(response.status?.code, 7);
      const denied = response.denied_response;
      assert.ok(denied);
      assert.deepEqual(denied.status, { code: 302 });
      assert.equal(denied.body, '');
      assert.deepEqual(denied.headers, [
        { header: { key: 'cache-control', value: 'no-store' }, append_action: 2 },
        {
          header: { key: 'location', value: 'https://shop.example.com/blocked' },
          append_action: 2,
        },
        { header: { key: 'set-cookie', value: SET_COOKIE } },
      ]);
    });

    it('redirects a challenge to the challenge URL', async () => {
      const d = await decision(answering(verdict(true, 14)), {
        challengeStrategy: 'redirect',
        challengeUrl: '/challenge',
      });
      const denied = toCheckResponse(d).denied_response;
      assert.deepEqual(denied?.status, { code: 302 });
      assert.equal(headerMap(denied?.headers).get('location')?.header?.value, '/challenge');
    });
  });

  describe('dynamic metadata', () => {
    it('carries action, reason, verdict, threat type and rule with camelCase Struct value keys', async () => {
      const d = await decision(answering(verdict(true, 2)));
      assert.deepEqual(toCheckResponse(d).dynamic_metadata, {
        fields: {
          cheq_action: { stringValue: 'deny' },
          cheq_reason: { stringValue: 'threat_block' },
          cheq_verdict: { stringValue: 'malicious' },
          cheq_threat_type: { numberValue: 2 },
          cheq_rule: { stringValue: 'default:block_codes' },
        },
      });
    });

    it('carries the v4 risk score and ray id', async () => {
      const v4 = rtiVerdict({ verdict: 'malicious', code: 10, riskScore: 97, rayId: 'ray-1' });
      const d = await decision(answering(v4), { apiVersion: 'v4' });
      assert.deepEqual(toCheckResponse(d).dynamic_metadata, {
        fields: {
          cheq_action: { stringValue: 'deny' },
          cheq_reason: { stringValue: 'threat_block' },
          cheq_verdict: { stringValue: 'malicious' },
          cheq_threat_type: { numberValue: 10 },
          cheq_risk_score: { numberValue: 97 },
          cheq_ray_id: { stringValue: 'ray-1' },
          cheq_rule: { stringValue: 'default:malicious' },
        },
      });
    });

    it('carries why RTI could not be asked on a fail-open', async () => {
      const d = await decision({ check: () => Promise.reject(new RtiError('rti_timeout', 'x')) });
      assert.deepEqual(toCheckResponse(d).dynamic_metadata?.fields['cheq_failure'], {
        stringValue: 'rti_timeout',
      });
    });

    it('carries the cause, the memory key and its expiry on a block from the verdict memory', async () => {
      const d = await rememberedBlock();
      assert.deepEqual(toCheckResponse(d).dynamic_metadata, {
        fields: {
          cheq_action: { stringValue: 'deny' },
          cheq_reason: { stringValue: 'remembered_block' },
          cheq_failure: { stringValue: 'rti_timeout' },
          cheq_memory_key: { stringValue: 'ip_ua' },
          cheq_memory_expires_at: { stringValue: '2026-12-06T18:05:00.000Z' },
        },
      });
    });

    it('leaves out the threat type when there is no verdict', async () => {
      const d = await decision(answering(verdict(false, 0)), {}, attributes('/healthz'));
      assert.deepEqual(toCheckResponse(d).dynamic_metadata, {
        fields: {
          cheq_action: { stringValue: 'allow' },
          cheq_reason: { stringValue: 'excluded' },
        },
      });
    });

    it('uses no snake_case Struct value keys', async () => {
      const d = await decision(answering(verdict(false, 0)));
      const text = JSON.stringify(toCheckResponse(d).dynamic_metadata);
      assert.equal(/string_value|number_value/.test(text), false, text);
    });
  });

  describe('encoded by the server (checkCodec)', () => {
    const pkg = loadExtAuthzPackage();
    const { encode } = checkCodec(pkg.protoDir);
    // proto-loader's own serializer (fromObject, then protobufjs's encode), typed for the
    // generated CheckResponse; an answer is one with read-only arrays.
    const protoLoaderEncode = pkg.proto.envoy.service.auth.v3.Authorization.service['Check']
      .responseSerialize as (answer: CheckAnswer) => Buffer;
    const cases: [string, () => Promise<Decision>][] = [
      ['allow with headers and a cookie', () => decision(answering(verdict(false, 0, SET_COOKIE)))],
      ['allow on a challenge', () => decision(answering(verdict(true, 14, SET_COOKIE)))],
      [
        'fail open',
        () => decision({ check: () => Promise.reject(new RtiError('rti_timeout', 'slow')) }),
      ],
      [
        'allow without verdict headers',
        () => decision(answering(verdict(false, 0)), { verdictHeaderNames: undefined }),
      ],
      ['deny with a body and a cookie', () => decision(answering(verdict(true, 2, SET_COOKIE)))],
      [
        'redirect',
        () =>
          decision(answering(verdict(true, 2, SET_COOKIE)), { redirectUrl: 'https://a.example/b' }),
      ],
      [
        'v4 with a risk score and a ray id',
        () =>
          decision(
            answering(rtiVerdict({ verdict: 'malicious', code: 10, riskScore: 97.5, rayId: 'r' })),
            { apiVersion: 'v4' },
          ),
      ],
      [
        'an excluded path',
        () => decision(answering(verdict(false, 0)), {}, attributes('/healthz')),
      ],
      ['a block from the verdict memory', rememberedBlock],
    ];
    for (const [name, make] of cases) {
      it(`writes the same bytes as proto-loader's serializer: ${name}`, async () => {
        const response = toCheckResponse(await make());
        const bytes = encode(response);
        assert.ok(bytes.length > 0);
        assert.deepEqual(bytes, protoLoaderEncode(response));
      });
    }

    it('writes the same bytes for the last-resort allow, non-ASCII text and long lengths', () => {
      const long = (n: number): string => 'x'.repeat(n);
      const answers: CheckAnswer[] = [
        { status: { code: 0 } },
        {
          status: { code: 7, message: 'cheq-rti-authz: threat_block' },
          denied_response: { status: { code: 403 }, headers: [], body: 'blocked — “non-ASCII” ✓' },
        },
        // Lengths of one, two and three varint bytes, at every level of nesting.
        ...[127, 128, 16_383, 16_384, 70_000].map((n): CheckAnswer => ({
          status: { code: 7, message: long(n) },
          denied_response: {
            status: { code: 429 },
            headers: [{ header: { key: long(n), value: `é${long(n)}` }, append_action: 3 }],
            body: long(n),
          },
          dynamic_metadata: { fields: { [long(n)]: { stringValue: long(n) } } },
        })),
        {
          status: { code: 0 },
          ok_response: {
            headers: [{ header: { key: 'x-a', value: '' }, append: { value: true } }],
            headers_to_remove: ['x-b', ''],
            response_headers_to_add: [],
          },
          dynamic_metadata: {
            fields: { zero: { numberValue: 0 }, negative: { numberValue: -1.5 }, empty: {} },
          },
        },
      ];
      for (const answer of answers) assert.deepEqual(encode(answer), protoLoaderEncode(answer));
    });

    it('writes a lone surrogate as U+FFFD, as Buffer does, with the length it counted', () => {
      const response = pkg.proto.envoy.service.auth.v3.Authorization.service['Check'];
      const bytes = encode({ status: { code: 7, message: 'a\ud800b' } });
      assert.deepEqual(response.responseDeserialize(bytes), {
        status: { code: 7, message: 'a\ufffdb' },
      });
    });

    it('refuses a number that is not an unsigned 32-bit integer', () => {
      for (const code of [-1, 1.5, 2 ** 32, Number.NaN]) {
        assert.throws(() => encode({ status: { code } }), RangeError, String(code));
      }
    });
  });
});
