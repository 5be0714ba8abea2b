// The built-in RTI emulator over real loopback HTTP: it answers both API generations in the shape
// our own wire code reads, with verdicts taken from the end user's User-Agent.

import { strict as assert } from 'node:assert';
import type { RtiInput } from '../../src/core/rti-port';
import {
  EMULATED_THREATS,
  EMULATOR_PATH,
  EMULATOR_V4_PATH,
  EMULATOR_V41_PATH,
  startRtiEmulator,
  type RunningEmulator,
} from '../../src/emulator/rti-emulator';
import { parseRtiResponse, toRtiForm } from '../../src/rti/rti-wire';
import { RTI_V4_PATH, parseRtiV4Response, toRtiV4Body } from '../../src/rti/rti-wire-v4';
import { RTI_V41_PATH, toRtiV41Body } from '../../src/rti/rti-wire-v41';
import { okHeaders } from '../helpers/check-response';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { rtiInput, TEST_CREDENTIALS } from '../helpers/rti-input';
import { startService, type TestService } from '../helpers/start-service';

/** A page load of https://shop.example.com/ by `userAgent`. */
function visitorInput(userAgent: string, overrides: Partial<RtiInput> = {}): RtiInput {
  return rtiInput({ requestUrl: 'https://shop.example.com/', ...overrides }, [
    ['host', 'shop.example.com'],
    ['user-agent', userAgent],
  ]);
}

/** User-Agent → what the v4 answer must say (rti-api.md §4 for code, name and group). */
const V4_CASES: readonly (readonly [
  userAgent: string,
  verdict: string,
  code: number,
  name: string,
  group: string,
])[] = [
  ['Mozilla/5.0 Chrome/131.0', 'benign', 0, 'Valid', 'Valid Traffic'],
  ['Mozilla/5.0 (compatible; Googlebot/2.1)', 'benign', 19, 'Good Bot', 'Known Bots'],
  ['Mozilla/5.0 HeadlessChrome/131.0', 'malicious', 3, 'Automation Tools', 'Invalid Bot Activity'],
  ['price-bot/2.1', 'malicious', 2, 'Scrapers', 'Invalid Bot Activity'],
  ['my-scraper/1.0', 'malicious', 2, 'Scrapers', 'Invalid Bot Activity'],
  ['Mozilla/5.0 vpn-client', 'suspicious', 14, 'VPN', 'Invalid Suspicious Activity'],
  ['Mozilla/5.0 proxy/1', 'suspicious', 15, 'Proxy', 'Invalid Suspicious Activity'],
  ['datacenter-probe/1.0', 'suspicious', 13, 'Data Centers', 'Invalid Suspicious Activity'],
  ['Mozilla/5.0 clickfarm/3.0', 'malicious', 9, 'Click Farm', 'Invalid Malicious Activity'],
];

interface Answer {
  readonly status: number;
  readonly text: string;
}

async function post(url: string, body: string, contentType: string): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, text: await res.text() };
}

describe('RTI emulator (integration)', () => {
  let emulator: RunningEmulator;
  const postV4 = (body: string): Promise<Answer> =>
    post(`${emulator.url}${EMULATOR_V4_PATH}`, body, 'application/json');

  before(async () => {
    emulator = await startRtiEmulator();
  });
  after(async () => {
    await emulator.close();
  });

  it('listens on the path the v4 client posts to', () => {
    assert.equal(EMULATOR_V4_PATH, RTI_V4_PATH);
  });

  it('gives a v4 answer for every code it emulates', () => {
    const codes = new Set(EMULATED_THREATS.map(([, code]) => code));
    const covered = new Set(V4_CASES.map(([, , code]) => code));
    for (const code of codes) assert.ok(covered.has(code), `code ${code} has a v4 case`);
  });

  for (const [userAgent, verdict, code, name, group] of V4_CASES) {
    it(`answers v4 ${verdict} with code ${code} for "${userAgent}"`, async () => {
      const { status, text } = await postV4(toRtiV4Body(visitorInput(userAgent), TEST_CREDENTIALS));
      assert.equal(status, 200, text);
      const parsed = parseRtiV4Response(text);
      assert.equal(parsed.verdict, verdict);
      assert.equal(parsed.code, code);
      assert.equal(parsed.ruleName, `emulator: ${name}`);
      assert.ok(parsed.rayId, 'rayId');
      assert.equal(typeof parsed.riskScore, 'number');
      const answer = JSON.parse(text) as Record<string, Record<string, unknown>>;
      assert.deepEqual(answer['classification'], { code, name, group });
      assert.equal(answer['cheqDetection']?.['detectedClassificationCode'], code);
      assert.deepEqual(parsed.reasons, answer['cheqDetection']?.['reasons']);
      assert.equal(answer['cheqDetection']?.['isProxy'], code === 14 || code === 15);
      assert.equal(answer['cheqDetection']?.['isAutomated'], [19, 3, 2].includes(code));
    });
  }

  it('answers v4 in the full shape of rti-api.md §5', async () => {
    const { text } = await postV4(toRtiV4Body(visitorInput('price-bot/2.1'), TEST_CREDENTIALS));
    const answer = JSON.parse(text) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(answer), [
      'metadata',
      'decision',
      'classification',
      'ids',
      'cheqDetection',
    ]);
    assert.deepEqual(Object.keys(answer['metadata']!), [
      'timestamp',
      'version',
      'tagName',
      'sessionFound',
    ]);
    assert.equal(answer['metadata']?.['version'], '4.0');
    assert.equal(answer['metadata']?.['sessionFound'], false);
    assert.deepEqual(Object.keys(answer['decision']!), ['verdict', 'ruleName', 'riskScore']);
    assert.deepEqual(Object.keys(answer['ids']!), ['rayId', 'pageViewId', 'duid']);
    assert.deepEqual(answer['cheqDetection'], {
      detectedClassificationCode: 2,
      isAutomated: true,
      isProxy: false,
      reasons: [201, 203],
    });
    assert.equal(answer['decision']?.['riskScore'], 90);
  });

  it('keeps the visitor’s _cq_duid and _cq_pvid in ids and reports the session found', async () => {
    const input = visitorInput('Mozilla/5.0', { duidCookie: 'duid-abc', pvidCookie: 'pvid-xyz' });
    const { text } = await postV4(toRtiV4Body(input, TEST_CREDENTIALS));
    const answer = JSON.parse(text) as Record<string, Record<string, unknown>>;
    assert.equal(answer['ids']?.['duid'], 'duid-abc');
    assert.equal(answer['ids']?.['pageViewId'], 'pvid-xyz');
    assert.equal(answer['metadata']?.['sessionFound'], true);
  });

  it('answers a v4 call that carries no headers object as benign', async () => {
    const { status, text } = await postV4(JSON.stringify({ apiKey: 'k', tagHash: 't' }));
    assert.equal(status, 200, text);
    assert.equal(parseRtiV4Response(text).verdict, 'benign');
  });

  it('answers 400 to a v4 body that is not JSON', async () => {
    const { status } = await postV4('apiKey=k&tagHash=t');
    assert.equal(status, 400);
  });

  for (const [name, body] of [
    ['no apiKey', { tagHash: 't' }],
    ['no tagHash', { apiKey: 'k' }],
    ['an empty apiKey', { apiKey: '', tagHash: 't' }],
    ['a JSON array', [{ apiKey: 'k', tagHash: 't' }]],
    ['JSON null', null],
  ] as const) {
    it(`answers 401 to a v4 body with ${name}`, async () => {
      const { status } = await postV4(JSON.stringify(body));
      assert.equal(status, 401);
    });
  }

  it('answers 413 to a v4 body over 256 KiB', async () => {
    const input = visitorInput('Mozilla/5.0', { requestUrl: 'x' });
    const body = JSON.stringify({
      ...JSON.parse(toRtiV4Body(input, TEST_CREDENTIALS)),
      pad: 'p'.repeat(300_000),
    });
    const { status } = await postV4(body);
    assert.equal(status, 413);
  });

  it('answers 404 to a GET on the v4 path', async () => {
    const res = await fetch(`${emulator.url}${EMULATOR_V4_PATH}`);
    await res.arrayBuffer();
    assert.equal(res.status, 404);
  });

  it('still answers v1 on its own path', async () => {
    const form = toRtiForm(visitorInput('Mozilla/5.0 vpn-client'), TEST_CREDENTIALS);
    const { status, text } = await post(
      `${emulator.url}${EMULATOR_PATH}`,
      form,
      'application/x-www-form-urlencoded',
    );
    assert.equal(status, 200, text);
    const parsed = parseRtiResponse(text);
    assert.equal(parsed.verdict, 'suspicious');
    assert.equal(parsed.code, 14);
    assert.match(parsed.setCookie ?? '', /^_cheq_rti=/);
  });

  describe('v4.1', () => {
    const postV41 = (body: string): Promise<Answer> =>
      post(`${emulator.url}${EMULATOR_V41_PATH}`, body, 'application/json');

    it('listens on the path the v4.1 client posts to', () => {
      assert.equal(EMULATOR_V41_PATH, RTI_V41_PATH);
    });

    it('answers as v4, version 4.1, reporting the request id (customId2) as customParam2', async () => {
      const input = visitorInput('Mozilla/5.0 vpn-client', {
        proxyRequestId: 'req-9',
        sCookie: 's==',
      });
      const { status, text } = await postV41(toRtiV41Body(input, TEST_CREDENTIALS));
      assert.equal(status, 200, text);
      const parsed = parseRtiV4Response(text, '4.1');
      assert.deepEqual([parsed.verdict, parsed.code], ['suspicious', 14]);
      const answer = JSON.parse(text) as Record<string, Record<string, unknown>>;
      assert.equal(answer['metadata']?.['version'], '4.1');
      assert.equal(answer['ids']?.['customParam2'], 'req-9');
      assert.match(parsed.rtiResult ?? '', /^version=4\.1;verdict=suspicious;threat-type-code=14;/);
    });
  });

  describe('the demo verdict (cheq_demo_verdict cookie, passed on by the server)', () => {
    const cases = [
      ['suspicious', 'suspicious', 14],
      ['malicious', 'malicious', 2],
      ['benign', 'benign', 0],
    ] as const;
    for (const [demoVerdict, verdict, code] of cases) {
      it(`answers ${demoVerdict} on v1, v4 and v4.1, whatever the User-Agent`, async () => {
        const ua = demoVerdict === 'benign' ? 'price-bot/2.1' : 'Mozilla/5.0 Firefox/128.0';
        const input = visitorInput(ua, { demoVerdict });
        const v1 = await post(
          `${emulator.url}${EMULATOR_PATH}`,
          toRtiForm(input, TEST_CREDENTIALS),
          'application/x-www-form-urlencoded',
        );
        assert.deepEqual(
          [parseRtiResponse(v1.text).verdict, parseRtiResponse(v1.text).code],
          [verdict, code],
        );
        for (const [path, body] of [
          [EMULATOR_V4_PATH, toRtiV4Body(input, TEST_CREDENTIALS)],
          [EMULATOR_V41_PATH, toRtiV41Body(input, TEST_CREDENTIALS)],
        ] as const) {
          const { text } = await post(`${emulator.url}${path}`, body, 'application/json');
          const parsed = parseRtiV4Response(text);
          assert.deepEqual([parsed.verdict, parsed.code], [verdict, code], path);
        }
      });
    }

    it('keeps the User-Agent rules for a value it does not know', async () => {
      const body = JSON.stringify({
        ...JSON.parse(toRtiV4Body(visitorInput('price-bot/2.1'), TEST_CREDENTIALS)),
        demoVerdict: 'constructor',
      });
      const { text } = await postV4(body);
      assert.equal(parseRtiV4Response(text).verdict, 'malicious');
    });
  });
});

describe('the demo verdict cookie through the server (integration)', function () {
  this.timeout(20_000);
  let emulator: RunningEmulator;
  let service: TestService;
  const BROWSER = {
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
    accept: 'text/html',
    'sec-fetch-mode': 'navigate',
  };

  before(async () => {
    emulator = await startRtiEmulator();
    service = await startService(emulator.url, {
      CHEQ_API_VERSION: 'v4.1',
      CHEQ_MODE: 'blocking',
      CHEQ_DEMO_VERDICT_COOKIE: 'true',
    });
  });
  after(async () => {
    await service?.close();
    await emulator?.close();
  });

  const check = (cookie?: string) =>
    service.check(
      envoyCheckRequest({ headers: { ...BROWSER, ...(cookie === undefined ? {} : { cookie }) } }),
    );

  it('allows the browser without the cookie', async () => {
    const response = await check();
    assert.equal(okHeaders(response)['x-cheq-verdict'], 'benign');
  });

  it('calls the browser suspicious with cheq_demo_verdict=suspicious', async () => {
    const response = await check('a=1; cheq_demo_verdict=suspicious');
    assert.equal(okHeaders(response)['x-cheq-verdict'], 'suspicious');
    assert.equal(okHeaders(response)['x-cheq-threat-type'], '14');
  });

  it('blocks the browser with cheq_demo_verdict=malicious', async () => {
    const response = await check('cheq_demo_verdict=malicious');
    assert.equal(response.status?.code, 7);
  });

  it('is not read unless demo_verdict_cookie is on', async () => {
    const plain = await startService(emulator.url, {
      CHEQ_API_VERSION: 'v4.1',
      CHEQ_MODE: 'blocking',
    });
    try {
      const response = await plain.check(
        envoyCheckRequest({ headers: { ...BROWSER, cookie: 'cheq_demo_verdict=malicious' } }),
      );
      assert.equal(okHeaders(response)['x-cheq-verdict'], 'benign');
    } finally {
      await plain.close();
    }
  });
});
