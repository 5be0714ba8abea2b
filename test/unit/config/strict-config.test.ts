// Strict configuration (issue #20, item 6): misspelt flags and CHEQ_ variables, the API key on
// the command line, cleartext or credential-carrying RTI endpoints and redirect targets a browser
// could read as another site all stop the server (exit 2) with a message naming them, and never
// echo the secret part.

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigError, loadConfig, type ConfigSources } from '../../../src/config/load-config';

const SECRET = 'SECRET-KEY-123';
const PASSWORD = 'PW-SECRET-99';

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: SECRET,
  CHEQ_TAG_HASH: 'tag-hash-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

const DEPLOY = join(__dirname, '..', '..', '..', '..', 'deploy', 'kubernetes');

function problemsOf(sources: ConfigSources): readonly string[] {
  try {
    loadConfig(sources);
  } catch (err: unknown) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected loadConfig to throw a ConfigError');
}

interface BadCase {
  readonly name: string;
  readonly env?: Record<string, string | undefined>;
  readonly args?: readonly string[];
  /** Each must match one problem. */
  readonly problems: readonly RegExp[];
  /** Text no problem may hold (a secret, or a value that is not ours to echo). */
  readonly never?: readonly string[];
}

function assertBad(c: BadCase): void {
  const problems = problemsOf({ env: { ...REQUIRED, ...c.env }, args: c.args ?? [] });
  const text = problems.join('\n');
  for (const pattern of c.problems) {
    assert.ok(
      problems.some(p => pattern.test(p)),
      `no problem ${String(pattern)} in ${JSON.stringify(problems)}`,
    );
  }
  for (const secret of [SECRET, PASSWORD, ...(c.never ?? [])]) {
    assert.equal(text.includes(secret), false, `${JSON.stringify(secret)} echoed: ${text}`);
  }
}

const API_KEY_ADVICE = /CHEQ_API_KEY_FILE .*CHEQ_API_KEY .*config file/;

describe('loadConfig: strict configuration', () => {
  describe('command-line flags', () => {
    const CASES: readonly BadCase[] = [
      {
        name: 'a misspelt flag (--mod blocking)',
        args: ['--mod', 'blocking'],
        problems: [/^--mod: not a setting \(did you mean --mode\?\)/],
      },
      {
        name: 'a misspelt flag with a value (--timout-ms=50)',
        args: ['--timout-ms=50'],
        problems: [/^--timout-ms: not a setting \(did you mean --timeout-ms\?\)/],
      },
      {
        name: 'a file key written as a flag (--timeout_ms 50)',
        args: ['--timeout_ms', '50'],
        problems: [/^--timeout_ms: .*did you mean --timeout-ms\?/],
      },
      {
        name: 'a flag that is nowhere near a setting',
        args: ['--frobnicate', 'x'],
        problems: [/^--frobnicate: not a setting(?! \(did)/],
      },
      {
        name: 'a single-dash flag (-m blocking)',
        args: ['-m', 'blocking'],
        problems: [/^-m: not a setting/],
      },
      {
        name: 'a bare positional argument',
        args: ['blocking'],
        problems: [/^argument 1: not a --flag/],
      },
      {
        name: 'a positional argument after a complete flag (--mode blocking extra)',
        args: ['--mode', 'blocking', 'extra'],
        problems: [/^argument 3: not a --flag/],
        never: ['extra'],
      },
      {
        name: '--api-key KEY',
        args: ['--api-key', SECRET],
        problems: [/^--api-key: api_key is not read from the command line/, API_KEY_ADVICE],
      },
      {
        name: '--api-key=KEY',
        args: [`--api-key=${SECRET}`],
        problems: [/^--api-key: api_key is not read from the command line/, API_KEY_ADVICE],
      },
      {
        name: '--apiKey KEY (another spelling of the same)',
        args: ['--apiKey', SECRET],
        problems: [/^--apiKey: api_key is not read from the command line/],
      },
      {
        name: 'an unknown flag carrying a secret (--apikey-x=KEY)',
        args: [`--apikey-x=${SECRET}`],
        problems: [/^--apikey-x: not a setting/],
      },
    ];
    for (const c of CASES) it(`exits 2 naming ${c.name}`, () => assertBad(c));

    it('reports every unknown flag at once, with the setting problems', () => {
      const problems = problemsOf({
        env: { ...REQUIRED, CHEQ_TIMEOUT_MS: 'soon' },
        args: ['--mod', 'blocking', '--timout-ms', '50'],
      });
      assert.equal(problems.length, 3, JSON.stringify(problems));
    });

    it('keeps every form the loader reads working (--flag value, --flag=value, --config)', () => {
      const config = loadConfig({
        env: { ...REQUIRED },
        args: ['--mode', 'blocking', '--timeout-ms=50', '--verdict-headers', '--log-level', 'warn'],
      });
      assert.equal(config.core.mode, 'blocking');
      assert.equal(config.core.timeoutMs, 50);
      assert.equal(config.logLevel, 'warn');
    });

    it('still reads the API key file from --api-key-file', () => {
      const problems = problemsOf({
        env: { ...REQUIRED, CHEQ_API_KEY: undefined },
        args: ['--api-key-file', '/nonexistent/cheq-api-key'],
      });
      assert.deepEqual(problems, [
        'api_key_file (CHEQ_API_KEY_FILE): cannot read /nonexistent/cheq-api-key (ENOENT)',
      ]);
    });
  });

  describe('CHEQ_ environment variables', () => {
    const CASES: readonly BadCase[] = [
      {
        name: 'a misspelt variable (CHEQ_TIMOUT_MS)',
        env: { CHEQ_TIMOUT_MS: '50' },
        problems: [/^CHEQ_TIMOUT_MS: not a setting \(did you mean CHEQ_TIMEOUT_MS\?\)/],
      },
      {
        name: 'two letters swapped (CHEQ_TAG_HSAH)',
        env: { CHEQ_TAG_HSAH: 'x' },
        problems: [/^CHEQ_TAG_HSAH: .*did you mean CHEQ_TAG_HASH\?/],
      },
      {
        name: 'a lower-case name (cheq_mode)',
        env: { cheq_mode: 'blocking' },
        problems: [/^cheq_mode: .*did you mean CHEQ_MODE\?/],
      },
      {
        name: 'a variable that is nowhere near a setting, without echoing its value',
        env: { CHEQ_API_KEYZZZZZZ: PASSWORD },
        problems: [/^CHEQ_API_KEYZZZZZZ: not a setting/],
      },
      {
        name: 'an empty unknown variable',
        env: { CHEQ_FOO: '' },
        problems: [/^CHEQ_FOO: not a setting/],
      },
      {
        name: 'a service-link name whose value is not an address (CHEQ_X_SERVICE_HOST=abc)',
        env: { CHEQ_X_SERVICE_HOST: 'abc' },
        problems: [/^CHEQ_X_SERVICE_HOST: not a setting/],
      },
      {
        name: 'a service-link name whose value is not a link URL (CHEQ_RTI_PORT=9001)',
        env: { CHEQ_RTI_PORT: '9001' },
        problems: [/^CHEQ_RTI_PORT: not a setting/],
      },
      {
        name: 'a port link whose protocol disagrees with its name',
        env: { CHEQ_X_PORT_9001_TCP_PROTO: 'udp' },
        problems: [/^CHEQ_X_PORT_9001_TCP_PROTO: not a setting/],
      },
    ];
    for (const c of CASES) it(`exits 2 naming ${c.name}`, () => assertBad(c));

    it('ignores variables that are not set (undefined) and other prefixes', () => {
      const config = loadConfig({
        env: { ...REQUIRED, CHEQ_TIMOUT_MS: undefined, GRPC_TRACE: 'all', CHEQUE: 'x' },
        args: [],
      });
      assert.equal(config.core.timeoutMs, 100);
    });
  });

  describe('Kubernetes service links', () => {
    interface ServicePort {
      readonly name?: string;
      readonly port: number;
      readonly protocol?: string;
    }

    /** The variables kubelet (pkg/kubelet/envvars) injects for a Service with a cluster IP. */
    function serviceLinks(
      name: string,
      ports: readonly ServicePort[],
      clusterIp: string,
      bracketIpv6 = true,
    ): Record<string, string> {
      const prefix = name.toUpperCase().replace(/-/g, '_');
      const hostPort = (port: number): string =>
        bracketIpv6 && clusterIp.includes(':') ? `[${clusterIp}]:${port}` : `${clusterIp}:${port}`;
      const env: Record<string, string> = {
        [`${prefix}_SERVICE_HOST`]: clusterIp,
        [`${prefix}_SERVICE_PORT`]: String(ports[0]?.port),
      };
      ports.forEach((p, i) => {
        const protocol = p.protocol ?? 'TCP';
        const url = `${protocol.toLowerCase()}://${hostPort(p.port)}`;
        if (p.name)
          env[`${prefix}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
        if (i === 0) env[`${prefix}_PORT`] = url;
        const portPrefix = `${prefix}_PORT_${p.port}_${protocol.toUpperCase()}`;
        env[portPrefix] = url;
        env[`${portPrefix}_PROTO`] = protocol.toLowerCase();
        env[`${portPrefix}_PORT`] = String(p.port);
        env[`${portPrefix}_ADDR`] = clusterIp;
      });
      return env;
    }

    /** The shipped Services, as deploy/kubernetes declares them. */
    function shippedServices(): { name: string; ports: ServicePort[] }[] {
      return ['service.yaml', 'service-headless.yaml'].flatMap(file =>
        parseAllDocuments(readFileSync(join(DEPLOY, file), 'utf8')).map(doc => {
          const service = doc.toJS() as {
            metadata: { name: string };
            spec: { ports: ServicePort[] };
          };
          return { name: service.metadata.name, ports: service.spec.ports };
        }),
      );
    }

    function assertLoads(env: Record<string, string>): void {
      const config = loadConfig({ env: { ...REQUIRED, ...env }, args: [] });
      assert.equal(config.core.timeoutMs, 100);
    }

    it('reads the shipped Services cheq-rti-authz and cheq-rti-authz-headless', () => {
      const names = shippedServices().map(s => s.name);
      assert.deepEqual(names.sort(), ['cheq-rti-authz', 'cheq-rti-authz-headless']);
    });

    // kubelet skips a headless Service (clusterIP: None); given an IP, it would inject these too.
    for (const [label, ip, bracket] of [
      ['IPv4', '10.96.12.34', true],
      ['IPv6', 'fd00:10:96::1f', true],
      ['IPv6 without brackets (kubelet before JoinHostPort)', 'fd00:10:96::1f', false],
    ] as const) {
      it(`accepts every service link of the shipped Services (${label})`, () => {
        const env: Record<string, string> = {};
        for (const service of shippedServices()) {
          Object.assign(env, serviceLinks(service.name, service.ports, ip, bracket));
        }
        assert.ok(Object.keys(env).length >= 30, `${Object.keys(env).length} variables`);
        assert.equal(env['CHEQ_RTI_AUTHZ_SERVICE_PORT_GRPC'], '9001');
        assert.equal(env['CHEQ_RTI_AUTHZ_PORT_9464_TCP_ADDR'], ip);
        assertLoads(env);
      });
    }

    it('accepts the links of a Service named cheq (CHEQ_SERVICE_HOST, CHEQ_PORT...)', () => {
      const env = serviceLinks(
        'cheq',
        [
          { name: 'grpc', port: 9001 },
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
          { port: 3868, protocol: 'SCTP', name: 'diameter' },
        ],
        '10.0.0.7',
      );
      assert.equal(env['CHEQ_PORT'], 'tcp://10.0.0.7:9001');
      assert.equal(env['CHEQ_PORT_53_UDP_PROTO'], 'udp');
      assertLoads(env);
    });

    it('accepts the links of an unnamed single-port Service (cheq-redis)', () => {
      const env = serviceLinks('cheq-redis', [{ port: 6379 }], '10.0.0.9');
      assert.deepEqual(Object.keys(env).sort(), [
        'CHEQ_REDIS_PORT',
        'CHEQ_REDIS_PORT_6379_TCP',
        'CHEQ_REDIS_PORT_6379_TCP_ADDR',
        'CHEQ_REDIS_PORT_6379_TCP_PORT',
        'CHEQ_REDIS_PORT_6379_TCP_PROTO',
        'CHEQ_REDIS_SERVICE_HOST',
        'CHEQ_REDIS_SERVICE_PORT',
      ]);
      assertLoads(env);
    });
  });

  describe('api_endpoint', () => {
    const CASES: readonly BadCase[] = [
      {
        name: 'http:// to a CHEQ region (the key would travel in cleartext)',
        env: { CHEQ_API_ENDPOINT: 'http://rti-us-east-1.cheqzone.com' },
        problems: [/^api_endpoint \(CHEQ_API_ENDPOINT\): .*https:\/\/.*cleartext/],
      },
      {
        name: 'http:// to a CHEQ host in capitals with a trailing dot',
        env: { CHEQ_API_ENDPOINT: 'HTTP://RTI-GLOBAL.CHEQZONE.COM./' },
        problems: [/^api_endpoint \(CHEQ_API_ENDPOINT\): .*cleartext/],
      },
      {
        name: 'a user name and password',
        env: { CHEQ_API_ENDPOINT: `https://user:${PASSWORD}@rti-global.cheqzone.com` },
        problems: [/^api_endpoint \(CHEQ_API_ENDPOINT\): must not hold a user name or password/],
      },
      {
        name: 'a query (?apiKey=...)',
        env: { CHEQ_API_ENDPOINT: `https://rti-global.cheqzone.com/?apiKey=${PASSWORD}` },
        problems: [/^api_endpoint \(CHEQ_API_ENDPOINT\): must not have a query or fragment/],
      },
      {
        name: 'an empty query (?)',
        env: { CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com/?' },
        problems: [/^api_endpoint \(CHEQ_API_ENDPOINT\): must not have a query or fragment/],
      },
      {
        name: 'a fragment',
        env: { CHEQ_API_ENDPOINT: `https://rti-global.cheqzone.com/#${PASSWORD}` },
        problems: [/^api_endpoint \(CHEQ_API_ENDPOINT\): must not have a query or fragment/],
      },
      {
        name: 'a non-URL holding a password (not echoed)',
        env: { CHEQ_API_ENDPOINT: `user:${PASSWORD}@rti-global.cheqzone.com` },
        problems: [/^api_endpoint \(CHEQ_API_ENDPOINT\): must be an absolute http/],
      },
      {
        name: 'a site with http:// to a CHEQ region',
        env: {
          CHEQ_SITES: JSON.stringify([
            {
              name: 'shop',
              hosts: ['shop.example'],
              api_endpoint: 'http://rti-eu-west-1.cheqzone.com',
            },
          ]),
        },
        problems: [/^sites\[1\] shop: api_endpoint: .*cleartext/],
      },
      {
        name: 'a site with a query in its endpoint',
        env: {
          CHEQ_SITES: JSON.stringify([
            {
              name: 'shop',
              hosts: ['shop.example'],
              api_endpoint: `https://rti-eu-west-1.cheqzone.com/?key=${PASSWORD}`,
            },
          ]),
        },
        problems: [/^sites\[1\] shop: api_endpoint: must not have a query or fragment/],
      },
    ];
    for (const c of CASES) it(`exits 2 naming api_endpoint for ${c.name}`, () => assertBad(c));

    for (const endpoint of [
      'http://127.0.0.1:8080',
      'http://rti-emulator:8080/',
      'https://rti-global.cheqzone.com/proxy',
    ]) {
      it(`accepts ${endpoint} with the existing warning`, () => {
        const config = loadConfig({ env: { ...REQUIRED, CHEQ_API_ENDPOINT: endpoint }, args: [] });
        assert.equal(config.warnings.length, 1);
        assert.match(config.warnings[0] ?? '', /is not a known CHEQ RTI region/);
      });
    }
  });

  describe('redirect_url and challenge_url', () => {
    // Each a browser (or a server decoding it first) could read as another origin, or not http(s).
    const REFUSED = [
      '/\\evil.example/x',
      '//evil.example/x',
      '\\evil.example',
      '\\\\evil.example',
      '/%5cevil.example',
      '/%5Cevil.example',
      '/%2f%2fevil.example',
      '/%2Fevil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      ' //evil.example',
      '/blocked\u0000',
      '/blocked\u2028',
      'https://good.example\\@evil.example/',
      'https://good.example@evil.example/',
      `https://user:${PASSWORD}@shop.example/blocked`,
      'javascript:alert(1)',
      'JavaScript:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'https:evil.example',
      'https:/evil.example',
      'https:///evil.example',
      'https:\\\\evil.example',
      'blocked.html',
      'evil.example/x',
    ];
    for (const value of REFUSED) {
      it(`refuses redirect_url ${JSON.stringify(value)}, naming it`, () =>
        assertBad({
          name: value,
          env: { CHEQ_REDIRECT_URL: value },
          problems: [/^redirect_url \(CHEQ_REDIRECT_URL\): /],
        }));
    }

    it('refuses challenge_url /\\evil.example, naming it', () =>
      assertBad({
        name: 'challenge_url',
        env: { CHEQ_CHALLENGE_ACTION: 'redirect', CHEQ_CHALLENGE_URL: '/\\evil.example' },
        problems: [/^challenge_url \(CHEQ_CHALLENGE_URL\): /],
      }));

    it('refuses a site redirect_url //evil.example, naming the site and the setting', () =>
      assertBad({
        name: 'site redirect_url',
        env: {
          CHEQ_SITES: JSON.stringify([
            { name: 'shop', hosts: ['shop.example'], redirect_url: '/\\evil.example' },
          ]),
        },
        problems: [/^sites\[1\] shop: redirect_url: /],
      }));

    it('refuses a site challenge_url with a password without echoing it', () =>
      assertBad({
        name: 'site challenge_url',
        env: {
          CHEQ_SITES: JSON.stringify([
            {
              name: 'shop',
              hosts: ['shop.example'],
              challenge_action: 'redirect',
              challenge_url: `https://u:${PASSWORD}@shop.example/verify`,
            },
          ]),
        },
        problems: [/^sites\[1\] shop: challenge_url: /],
      }));

    const ACCEPTED = [
      '/blocked',
      '/blocked?return=%2Fcheckout',
      '/a//b',
      '/%2e%2e/blocked',
      'https://www.example.com/blocked',
      'HTTPS://www.example.com/blocked?x=1',
      'http://shop.example:8080/verify#top',
    ];
    for (const value of ACCEPTED) {
      it(`accepts redirect_url and challenge_url ${value}`, () => {
        const config = loadConfig({
          env: {
            ...REQUIRED,
            CHEQ_REDIRECT_URL: value,
            CHEQ_CHALLENGE_ACTION: 'redirect',
            CHEQ_CHALLENGE_URL: value,
          },
          args: [],
        });
        assert.equal(config.core.redirectUrl, value);
        assert.equal(config.core.challengeUrl, value);
      });
    }
  });
});
