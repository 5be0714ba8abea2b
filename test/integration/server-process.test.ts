// The bin as an operator runs it: configuration errors, graceful shutdown under load, the
// check and demo commands, and the API key never showing in any output.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decisionHeader } from '../helpers/check-response';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { runMain, startServerProcess, type ServerProcess } from '../helpers/server-process';
import { loopbackSettings } from '../helpers/start-service';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';
import { createUpstreamAuthorizationClient, upstreamCheck } from '../helpers/upstream-protos';

const KEY = 'SUPER-SECRET-KEY-9b1d';

describe('cheq-rti-authz process (integration)', function () {
  this.timeout(20_000);
  let rti: FakeRti;
  let tmp: string;

  before(async () => {
    rti = await FakeRti.start();
    tmp = mkdtempSync(join(tmpdir(), 'cheq-authz-test-'));
  });
  after(async () => {
    await rti.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  beforeEach(() => rti.reset());

  function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
    return { ...loopbackSettings(rti.url, KEY), ...extra };
  }

  async function startServer(env: Record<string, string> = {}): Promise<{
    proc: ServerProcess;
    grpcPort: number;
    metricsPort: number;
  }> {
    const proc = startServerProcess([], baseEnv(env));
    const line = await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
    return {
      proc,
      grpcPort: line['grpcPort'] as number,
      metricsPort: line['metricsPort'] as number,
    };
  }

  describe('configuration errors exit 2 before listening, naming the setting', () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      [
        'missing API key',
        { CHEQ_API_KEY: '' },
        /api_key \(CHEQ_API_KEY\) or api_key_file \(CHEQ_API_KEY_FILE\): must be set/,
      ],
      ['missing tag hash', { CHEQ_TAG_HASH: '' }, /tag_hash \(CHEQ_TAG_HASH\): must be set/],
      ['unknown mode', { CHEQ_MODE: 'block' }, /mode \(CHEQ_MODE\): must be one of/],
      ['bad URL', { CHEQ_API_ENDPOINT: 'rti.example.com' }, /api_endpoint \(CHEQ_API_ENDPOINT\)/],
      [
        'bad regex',
        { CHEQ_URI_EXCLUSION: '/ok,/bad(' },
        /uri_exclusion \(CHEQ_URI_EXCLUSION\): invalid regular expression/,
      ],
      [
        'a lookahead, which RE2 cannot match in linear time',
        { CHEQ_URI_EXCLUSION: '/(?!admin).*' },
        /uri_exclusion \(CHEQ_URI_EXCLUSION\): invalid regular expression "\/\(\?!admin\)\.\*" \(RE2 syntax, matched in linear time/,
      ],
      ['a code in both groups', { CHEQ_CHALLENGE_CODES: '2,4' }, /code 2 is in both groups/],
      [
        'non-integer codes',
        { CHEQ_BLOCK_REDIRECT_CODES: '2,three' },
        /block_redirect_codes \(CHEQ_BLOCK_REDIRECT_CODES\).*"three"/,
      ],
      [
        'bad timeout',
        { CHEQ_TIMEOUT_MS: '10ms' },
        /timeout_ms \(CHEQ_TIMEOUT_MS\): must be an integer from 1 to 2147483647/,
      ],
      ['bad port', { CHEQ_GRPC_PORT: '70000' }, /grpc_port \(CHEQ_GRPC_PORT\)/],
      ['an unknown API version', { CHEQ_API_VERSION: 'v3' }, /api_version \(CHEQ_API_VERSION\)/],
      [
        'a policy rule with a misspelt condition',
        { CHEQ_POLICY_RULES: '[{"when":{"verdicts":"malicious"},"action":"block"}]' },
        /policy_rules \(CHEQ_POLICY_RULES\): rule 1: when: unknown "verdicts"/,
      ],
      [
        'a negative warm-up count',
        { CHEQ_WARMUP_CHECKS: '-1' },
        /warmup_checks \(CHEQ_WARMUP_CHECKS\): must be an integer from 0 to 2147483647/,
      ],
    ];
    for (const [name, env, expected] of cases) {
      it(`rejects ${name}`, async () => {
        const { code, stdout, stderr } = await runMain([], baseEnv(env));
        assert.equal(code, 2, stderr);
        assert.match(stderr, expected);
        assert.equal(stdout, '', 'nothing logged, nothing listening');
        assert.ok(!stderr.includes(KEY));
      });
    }

    it('rejects a bad flag value, flags winning over the environment', async () => {
      const { code, stderr } = await runMain(
        ['--mode', 'sometimes'],
        baseEnv({ CHEQ_MODE: 'blocking' }),
      );
      assert.equal(code, 2);
      assert.match(stderr, /mode \(CHEQ_MODE\)/);
    });

    it('rejects an unknown setting in a config file', async () => {
      const file = join(tmp, 'bad.yaml');
      writeFileSync(file, 'mode: blocking\ntimeout: 100\n');
      const { code, stderr } = await runMain(['--config', file], baseEnv());
      assert.equal(code, 2);
      assert.match(stderr, /config file .*bad.yaml: timeout: not a setting/);
    });
  });

  it('loads a YAML config file given by --config', async () => {
    const file = join(tmp, 'ok.yaml');
    writeFileSync(file, `mode: blocking\nroute_to_event_type:\n  /checkout: purchase\n`);
    rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
    const proc = startServerProcess(['--config', file], baseEnv());
    const line = await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
    assert.equal(line['mode'], 'blocking');
    const client = createUpstreamAuthorizationClient(`127.0.0.1:${line['grpcPort'] as number}`);
    const response = (await upstreamCheck(
      client,
      envoyCheckRequest({ url: 'https://a.example/checkout' }),
    )) as CheckResponse__Output;
    client.close();
    assert.equal(response.denied_response?.status?.code, 403);
    assert.equal(rti.calls[0]?.form.get('EventType'), 'purchase');
    assert.equal(await proc.stop(), 0);
  });

  it('answers every in-flight check on SIGTERM, refuses new ones, and exits 0', async () => {
    rti.behaviour = () => verdict({}, 400);
    const { proc, grpcPort, metricsPort } = await startServer({ CHEQ_TIMEOUT_MS: '2000' });
    const client = createUpstreamAuthorizationClient(`127.0.0.1:${grpcPort}`);
    const inFlight = Array.from(
      { length: 20 },
      () => upstreamCheck(client, envoyCheckRequest(), 5000) as Promise<CheckResponse__Output>,
    );
    await rti.waitForCalls(20);
    const stoppedAt = Date.now();
    proc.child.kill('SIGTERM');
    await proc.waitForLine(l => l['msg'] === 'shutting down: finishing in-flight checks');
    const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
    assert.equal(ready.status, 503);

    const responses = await Promise.all(inFlight);
    for (const response of responses) {
      assert.equal(response.status?.code ?? 0, 0);
      assert.equal(
        decisionHeader(response),
        'valid',
        'answered with the RTI verdict, not cut short',
      );
    }
    const late = createUpstreamAuthorizationClient(`127.0.0.1:${grpcPort}`);
    await assert.rejects(
      upstreamCheck(late, envoyCheckRequest(), 1000),
      /UNAVAILABLE|No connection/,
    );
    late.close();
    client.close();
    assert.equal(await proc.exited, 0);
    // Before shutdown_grace_ms (10 s by default) ran out: the exit followed the drain.
    assert.ok(Date.now() - stoppedAt < 10_000, `exited ${Date.now() - stoppedAt} ms after`);
  });

  it('never prints the API key, whatever happens', async () => {
    const { proc, grpcPort, metricsPort } = await startServer({
      CHEQ_LOG_LEVEL: 'trace',
      CHEQ_MODE: 'blocking',
      CHEQ_RTI_CIRCUIT_MIN_CALLS: '3',
    });
    const httpPort = (await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening'))[
      'httpPort'
    ] as number;
    const client = createUpstreamAuthorizationClient(`127.0.0.1:${grpcPort}`);
    const behaviours = [
      () => verdict({}),
      () => verdict({ isInvalid: true, threatTypeCode: 2 }),
      () => ({ kind: 'raw', status: 500, body: `error for ${KEY}` }) as const,
      () => ({ kind: 'raw', status: 200, body: `not json ${KEY}` }) as const,
      () => ({ kind: 'reset' }) as const,
      // The circuit is open by now: more checks fail open without calling RTI.
      () => verdict({}),
    ];
    for (const behaviour of behaviours) {
      rti.behaviour = behaviour;
      await upstreamCheck(client, envoyCheckRequest());
      for (const path of [
        '/api/authz/auth-request',
        '/api/authz/forward-auth',
        '/api/authz/ext-authz/x',
        '/nope',
      ]) {
        await fetch(`http://127.0.0.1:${httpPort}${path}`, {
          headers: { 'x-original-uri': '/p', 'x-original-method': 'GET', 'user-agent': 'bot' },
        });
      }
    }
    client.close();
    assert.ok(
      rti.calls.every(call => call.form.get('ApiKey') === KEY),
      'the key did reach RTI',
    );
    const pages = await Promise.all(
      ['/metrics', '/readyz', '/healthz'].map(async path =>
        (await fetch(`http://127.0.0.1:${metricsPort}${path}`)).text(),
      ),
    );
    await proc.stop();
    for (const output of [proc.stdout, proc.stderr, ...pages]) assert.ok(!output.includes(KEY));
    assert.match(proc.stdout, /"failure":"rti_http_status"/);
    assert.match(proc.stdout, /RTI circuit open/);
    assert.match(proc.stdout, /"transport":"nginx"/);
  });

  describe('check command', () => {
    it('prints allow and deny answers of a running server', async () => {
      rti.behaviour = form =>
        form.get('UserAgent')?.includes('bot')
          ? verdict({ isInvalid: true, threatTypeCode: 2 })
          : verdict({});
      const { proc, grpcPort } = await startServer({ CHEQ_MODE: 'blocking' });
      const target = `127.0.0.1:${grpcPort}`;
      const check = (...options: string[]) =>
        runMain(['check', '--target', target, '--url', 'https://a.example/', ...options]);
      const allow = await check('--header', 'user-agent: Mozilla/5.0');
      assert.equal(allow.code, 0, allow.stderr);
      assert.match(allow.stdout, /^ALLOW\n/);
      assert.match(allow.stdout, /response header {3}set-cookie: _cheq_rti=fake-cookie/);
      const deny = await check('--header', 'user-agent: bot', '--ip', '203.0.113.4');
      assert.equal(deny.code, 0);
      assert.match(deny.stdout, /^DENY 403 \(grpc status 7\)/);
      assert.equal(rti.calls[1]?.form.get('ClientIP'), '203.0.113.4');
      const explained = await check('--header', 'user-agent: bot', '--explain');
      assert.match(explained.stdout, /^DENY 403/);
      assert.match(explained.stdout, /\n {2}reason {12}threat_block\n/);
      assert.match(explained.stdout, /\n {2}rule {14}default:block_codes\n/);
      assert.match(explained.stdout, /\n {2}verdict {11}malicious\n/);
      assert.match(explained.stdout, /\n {2}threat type code {2}2\n/);
      assert.match(explained.stdout, /\n {2}risk score {8}-\n/);
      const json = await check('--json');
      assert.equal((JSON.parse(json.stdout) as CheckResponse__Output).http_response, 'ok_response');
      assert.equal(await proc.stop(), 0);
    });

    it('exits 2 on bad options and 1 when the server cannot be reached', async () => {
      const bad = await runMain(['check', '--url', 'not a url']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--url not a url is not an absolute URL/);
      const down = await runMain([
        'check',
        '--target',
        '127.0.0.1:1',
        '--url',
        'https://a.example/',
        '--timeout-ms',
        '500',
      ]);
      assert.equal(down.code, 1);
      assert.match(down.stderr, /failed/);
    });
  });

  for (const [apiVersion, rule] of [
    ['v1', 'default:block_codes'],
    ['v4', 'default:malicious'],
  ] as const) {
    it(`demo on ${apiVersion}: the printed commands show allow, deny (explained) and the challenge`, async () => {
      const proc = startServerProcess(['demo', '--api-version', apiVersion], {
        CHEQ_GRPC_PORT: '0',
        CHEQ_HTTP_PORT: '0',
        CHEQ_METRICS_PORT: '0',
        // Not the demo page's 8000: a demo someone runs on this machine must not fail the test.
        DEMO_SITE_PORT: '0',
      });
      await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
      const until = Date.now() + 5000;
      while (!proc.stderr.includes('Ctrl-C') && Date.now() < until)
        await new Promise(r => setTimeout(r, 20));
      const commands = proc.stderr
        .split('\n')
        .map(line => line.trim())
        .filter(line => line.startsWith('node '));
      assert.equal(commands.length, 3, proc.stderr);
      const outputs = await Promise.all(
        commands.map(
          command =>
            new Promise<string>((resolve, reject) => {
              // The docs tell users to paste these into a shell: run them through one.
              import('node:child_process')
                .then(({ exec }) =>
                  exec(command, { cwd: join(__dirname, '..', '..', '..') }, (err, stdout) =>
                    err ? reject(err) : resolve(stdout),
                  ),
                )
                .catch(reject);
            }),
        ),
      );
      assert.match(outputs[0] ?? '', /^ALLOW/);
      assert.match(outputs[1] ?? '', /^DENY 403/);
      assert.match(outputs[1] ?? '', new RegExp(`\\n {2}rule {14}${rule}\\n`));
      // The challenge page, served by us.
      assert.match(outputs[2] ?? '', /^DENY 403/);
      assert.match(outputs[2] ?? '', /content-type: text\/html/);
      assert.match(outputs[2] ?? '', /<title>Checking your browser<\/title>/);
      assert.equal(await proc.stop('SIGINT'), 0);
    });
  }
});
