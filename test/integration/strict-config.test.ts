// Strict configuration through the real bin (issue #20, item 6): what an operator types wrong
// stops the process with exit 2 and a message naming it, before anything listens; what
// Kubernetes injects does not; and check-config never prints a URL's secrets.

import { strict as assert } from 'node:assert';
import { runMain, startServerProcess } from '../helpers/server-process';

const KEY = 'TOP-SECRET-KEY-4711';
const PASSWORD = 'PW-SECRET-0815';

const ENV: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: KEY,
  CHEQ_TAG_HASH: 'tag-hash-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
  // Were a bad configuration ever started, it would bind ports of its own and stay cold.
  CHEQ_GRPC_PORT: '0',
  CHEQ_HTTP_PORT: '0',
  CHEQ_METRICS_PORT: '0',
  CHEQ_WARMUP_CHECKS: '0',
  CHEQ_RTI_PRECONNECT: '0',
};

/** The service links kubelet injects for the shipped Service cheq-rti-authz (cluster IP 10.96.0.20). */
const SERVICE_LINKS: Readonly<Record<string, string>> = {
  CHEQ_RTI_AUTHZ_SERVICE_HOST: '10.96.0.20',
  CHEQ_RTI_AUTHZ_SERVICE_PORT: '9001',
  CHEQ_RTI_AUTHZ_SERVICE_PORT_GRPC: '9001',
  CHEQ_RTI_AUTHZ_SERVICE_PORT_HTTP: '8080',
  CHEQ_RTI_AUTHZ_SERVICE_PORT_METRICS: '9464',
  CHEQ_RTI_AUTHZ_PORT: 'tcp://10.96.0.20:9001',
  ...Object.fromEntries(
    [9001, 8080, 9464].flatMap(port => [
      [`CHEQ_RTI_AUTHZ_PORT_${port}_TCP`, `tcp://10.96.0.20:${port}`],
      [`CHEQ_RTI_AUTHZ_PORT_${port}_TCP_PROTO`, 'tcp'],
      [`CHEQ_RTI_AUTHZ_PORT_${port}_TCP_PORT`, String(port)],
      [`CHEQ_RTI_AUTHZ_PORT_${port}_TCP_ADDR`, '10.96.0.20'],
    ]),
  ),
};

describe('strict configuration through the bin (integration)', function () {
  this.timeout(20_000);

  function assertRefused(
    result: { code: number | null; stdout: string; stderr: string },
    pattern: RegExp,
  ): void {
    assert.equal(result.code, 2, `exit ${result.code}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
    for (const secret of [KEY, PASSWORD]) {
      assert.equal(result.stderr.includes(secret), false, `${secret} echoed: ${result.stderr}`);
      assert.equal(result.stdout.includes(secret), false, `${secret} printed: ${result.stdout}`);
    }
  }

  it('the server exits 2 on misspelt flags, naming each with the flag meant', async () => {
    const result = await runMain(['--mod', 'blocking', '--timout-ms', '50'], ENV);
    assertRefused(result, /--mod: not a setting \(did you mean --mode\?\)/);
    assert.match(result.stderr, /--timout-ms: not a setting \(did you mean --timeout-ms\?\)/);
  });

  it('check-config exits 2 on a misspelt flag', async () => {
    const result = await runMain(['check-config', '--mod', 'blocking'], ENV);
    assertRefused(result, /--mod: not a setting \(did you mean --mode\?\)/);
    assert.equal(result.stdout, '');
  });

  it('check-config keeps its own --proxy-config and exits 2 when it lacks a file', async () => {
    const ok = await runMain(['check-config', '--proxy-config', '/dev/null'], ENV);
    assert.equal(ok.code, 0, ok.stderr);
    assertRefused(
      await runMain(['check-config', '--proxy-config'], ENV),
      /--proxy-config: needs a file name/,
    );
  });

  it('check-config exits 2 on an unknown CHEQ_ variable, naming it', async () => {
    const result = await runMain(['check-config'], { ...ENV, CHEQ_TIMOUT_MS: '50' });
    assertRefused(result, /CHEQ_TIMOUT_MS: not a setting \(did you mean CHEQ_TIMEOUT_MS\?\)/);
  });

  it('check-config exits 0 with the Kubernetes service links of the shipped Service', async () => {
    const result = await runMain(['check-config'], { ...ENV, ...SERVICE_LINKS });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /configuration valid/);
  });

  it('check-config exits 0 with the service links of Services named grpc, http and metrics', async () => {
    // Their GRPC_PORT=tcp://… once collided with the old names of the port settings.
    const result = await runMain(['check-config'], {
      ...ENV,
      GRPC_PORT: 'tcp://10.96.0.30:9001',
      HTTP_PORT: 'tcp://10.96.0.31:80',
      METRICS_PORT: 'tcp://10.96.0.32:9090',
      CHEQ_GRPC_PORT: 'tcp://10.96.0.33:9001',
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\nwarnings: none\n/);
  });

  it('the server reads an old variable name, logging one warning line that names the new one', async () => {
    const proc = startServerProcess([], { ...ENV, LOG_LEVEL: 'info', CHEQ_HOST: '127.0.0.1' });
    try {
      await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
      const renamed = proc.stdout
        .split('\n')
        .filter(line => line.includes('LOG_LEVEL is the old name of CHEQ_LOG_LEVEL'));
      assert.equal(renamed.length, 1, proc.stdout);
      assert.equal((JSON.parse(renamed[0] ?? '{}') as { level?: string }).level, 'warn');
    } finally {
      await proc.stop();
    }
  });

  it("the server exits 2 on an old name holding another program's value, naming both names", async () => {
    const result = await runMain([], { ...ENV, WORKERS: 'many' });
    assertRefused(
      result,
      /workers \(WORKERS, the old name of CHEQ_WORKERS\): must be auto or a whole number .*if another program set WORKERS, set CHEQ_WORKERS/,
    );
    assert.equal(result.stdout, '', 'nothing logged, nothing listening');
  });

  it('the server refuses --api-key, saying where the key goes', async () => {
    const env = { ...ENV, CHEQ_API_KEY: '' };
    for (const args of [['--api-key', KEY], [`--api-key=${KEY}`]]) {
      const result = await runMain(args, env);
      assertRefused(
        result,
        /--api-key: api_key is not read from the command line.*CHEQ_API_KEY_FILE.*CHEQ_API_KEY /,
      );
    }
  });

  it('check-config exits 2 on http:// to a CHEQ region, naming api_endpoint', async () => {
    const result = await runMain(['check-config'], {
      ...ENV,
      CHEQ_API_ENDPOINT: 'http://rti-us-east-1.cheqzone.com',
    });
    assertRefused(result, /api_endpoint \(CHEQ_API_ENDPOINT\): .*cleartext/);
  });

  it('check-config exits 2 on credentials in api_endpoint without printing them', async () => {
    const result = await runMain(['check-config'], {
      ...ENV,
      CHEQ_API_ENDPOINT: `https://user:${PASSWORD}@rti-global.cheqzone.com/?apiKey=${PASSWORD}`,
    });
    assertRefused(result, /api_endpoint \(CHEQ_API_ENDPOINT\): must not hold a user name/);
  });

  it('check-config exits 2 on a redirect_url a browser reads as another site', async () => {
    const result = await runMain(['check-config'], {
      ...ENV,
      CHEQ_REDIRECT_URL: '/\\evil.example/x',
    });
    assertRefused(result, /redirect_url \(CHEQ_REDIRECT_URL\): /);
  });

  it('check-config prints URLs with query values and fragments redacted', async () => {
    const result = await runMain(['check-config'], {
      ...ENV,
      CHEQ_REDIRECT_URL: `https://www.example.com/blocked?ref=shop&token=${PASSWORD}#${PASSWORD}`,
      CHEQ_CHALLENGE_ACTION: 'redirect',
      CHEQ_CHALLENGE_URL: `/verify?sig=${PASSWORD}`,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /\n {2}redirect_url +https:\/\/www\.example\.com\/blocked\?ref=<redacted>&token=<redacted>#<redacted>\n/,
    );
    assert.match(result.stdout, /\n {2}challenge_url +\/verify\?sig=<redacted>\n/);
    assert.match(result.stdout, /\n {2}api_key +<redacted>\n/);
    assert.equal(result.stdout.includes(PASSWORD) || result.stdout.includes(KEY), false);
  });
});
