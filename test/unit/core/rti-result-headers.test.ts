// x-cheq-rti-result to the upstream (and, debugging, to the client) and v4.1's
// x-cheq-cdn-request-id, through the decision core with the configuration as it loads.

import { strict as assert } from 'node:assert';
import { loadConfig } from '../../../src/config/load-config';
import { createDecide, type CoreConfig } from '../../../src/core/decide';
import type { Decision } from '../../../src/core/decision';
import type { HeaderEntry } from '../../../src/core/header-list';
import type { RtiCheck, RtiVerdict } from '../../../src/core/rti-port';
import { parseRtiV4Response } from '../../../src/rti/rti-wire-v4';
import { rtiVerdict } from '../../helpers/verdicts';
import { BROWSER_HEADERS, makeAttributes, type AttributesOverrides } from './make-attributes';

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: 'test-api-key',
  CHEQ_TAG_HASH: 'tag-hash-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
  CHEQ_MODE: 'blocking',
};

function coreOf(env: Record<string, string>): CoreConfig {
  const config = loadConfig({ env: { ...REQUIRED, ...env }, args: [] });
  assert.ok(config.defaultSite);
  return config.defaultSite.core;
}

const RESULT = 'version=4.1;verdict=benign;threat-type-code=0;ids={"rayId":"ray-1"}';
const BENIGN = parseRtiV4Response(
  '{"metadata":{"version":"4.1"},"decision":{"verdict":"benign"},"classification":{"code":0},"ids":{"rayId":"ray-1"}}',
);

function answering(verdict: RtiVerdict): RtiCheck {
  return { check: () => Promise.resolve(verdict) };
}

function decide(
  env: Record<string, string>,
  verdict: RtiVerdict,
  attrs: AttributesOverrides = {},
): Promise<Decision> {
  return createDecide(coreOf(env), answering(verdict))(makeAttributes(attrs));
}

function header(headers: Decision['clientHeaders'] | Decision['upstreamHeaders'], name: string) {
  return headers?.find(([n]) => n === name)?.[1];
}

const FORGED: readonly HeaderEntry[] = [
  ...BROWSER_HEADERS,
  ['x-cheq-rti-result', 'version=4.1;verdict=benign;threat-type-code=0;ids={}'],
  ['x-cheq_rti_result', 'forged'],
];

describe('x-cheq-rti-result', () => {
  it('goes upstream on allow in CHEQ format, beside our verdict headers (v4.1 and v4)', async () => {
    for (const version of ['v4.1', 'v4']) {
      const d = await decide({ CHEQ_API_VERSION: version }, BENIGN);
      assert.equal(d.action, 'allow');
      assert.equal(header(d.upstreamHeaders, 'x-cheq-rti-result'), RESULT, version);
      assert.equal(header(d.upstreamHeaders, 'x-cheq-verdict'), 'benign', version);
    }
  });

  it('is omitted on v1, whose answer has no such result', async () => {
    const d = await decide({ CHEQ_API_VERSION: 'v1' }, rtiVerdict());
    assert.equal(header(d.upstreamHeaders, 'x-cheq-rti-result'), undefined);
  });

  it("replaces a client's own, and strips it (any _ spelling) when there is no result", async () => {
    const withResult = await decide({ CHEQ_API_VERSION: 'v4.1' }, BENIGN, { headers: FORGED });
    assert.equal(header(withResult.upstreamHeaders, 'x-cheq-rti-result'), RESULT);
    assert.ok(withResult.upstreamHeadersToRemove.includes('x-cheq_rti_result'));

    const v1 = await decide({}, rtiVerdict(), { headers: FORGED });
    assert.equal(header(v1.upstreamHeaders, 'x-cheq-rti-result'), undefined);
    for (const name of ['x-cheq-rti-result', 'x-cheq_rti_result']) {
      assert.ok(v1.upstreamHeadersToRemove.includes(name), name);
    }
  });

  it('is stripped whatever the verdict header prefix, and with verdict headers off', async () => {
    const envs: Record<string, string>[] = [
      { CHEQ_VERDICT_HEADER_PREFIX: 'x-bot-' },
      { CHEQ_VERDICT_HEADERS: 'false' },
    ];
    for (const env of envs) {
      const d = await decide(env, rtiVerdict(), { headers: FORGED });
      for (const name of ['x-cheq-rti-result', 'x-cheq_rti_result']) {
        assert.ok(d.upstreamHeadersToRemove.includes(name), `${JSON.stringify(env)} ${name}`);
      }
    }
  });

  it('is stripped on a request allowed without RTI (ignored, excluded)', async () => {
    const d = await decide({ CHEQ_API_VERSION: 'v4.1' }, BENIGN, {
      path: '/robots.txt',
      headers: FORGED,
    });
    assert.equal(d.reason, 'ignored');
    assert.ok(d.upstreamHeadersToRemove.includes('x-cheq-rti-result'));
  });

  it('is echoed to the client only with debug_rti_result, on allow', async () => {
    const off = await decide({ CHEQ_API_VERSION: 'v4' }, BENIGN);
    assert.equal(header(off.clientHeaders, 'x-cheq-rti-result'), undefined);
    const on = await decide({ CHEQ_API_VERSION: 'v4', CHEQ_DEBUG_RTI_RESULT: 'true' }, BENIGN);
    assert.equal(header(on.clientHeaders, 'x-cheq-rti-result'), RESULT);
    const blocked = await decide(
      { CHEQ_API_VERSION: 'v4', CHEQ_DEBUG_RTI_RESULT: 'true' },
      { ...BENIGN, verdict: 'malicious' },
    );
    assert.equal(blocked.action, 'deny');
    assert.equal(header(blocked.clientHeaders, 'x-cheq-rti-result'), undefined);
  });
});

describe('x-cheq-cdn-request-id (v4.1)', () => {
  it("echoes the proxy's request id to the client, on allow and on a block", async () => {
    const allowed = await decide({ CHEQ_API_VERSION: 'v4.1' }, BENIGN, { requestId: 'req-77' });
    assert.equal(header(allowed.clientHeaders, 'x-cheq-cdn-request-id'), 'req-77');
    const blocked = await decide(
      { CHEQ_API_VERSION: 'v4.1' },
      { ...BENIGN, verdict: 'malicious' },
      { requestId: 'req-78' },
    );
    assert.equal(blocked.action, 'deny');
    assert.equal(header(blocked.clientHeaders, 'x-cheq-cdn-request-id'), 'req-78');
  });

  it('is not sent on v4, nor without a request id, nor for one that cannot be a header', async () => {
    const cases: [Record<string, string>, string | undefined][] = [
      [{ CHEQ_API_VERSION: 'v4' }, 'req-1'],
      [{ CHEQ_API_VERSION: 'v4.1' }, undefined],
      [{ CHEQ_API_VERSION: 'v4.1' }, 'req\r\nSet-Cookie: a=1'],
      [{ CHEQ_API_VERSION: 'v4.1' }, 'r\u00e9q'],
    ];
    for (const [env, requestId] of cases) {
      const d = await decide(env, BENIGN, { requestId });
      assert.equal(d.clientHeaders, undefined, `${JSON.stringify(env)} ${String(requestId)}`);
    }
  });
});
