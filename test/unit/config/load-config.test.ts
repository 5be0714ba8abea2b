import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  loadConfig,
  type AppConfig,
  type ConfigSources,
} from '../../../src/config/load-config';
import { visitorBucket } from '../../../src/core/enforcement';
import { readHopAddress } from '../../../src/core/trusted-proxies';

const SECRET = 'SECRET-KEY-123';

/** The least a deployment must set. */
const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: SECRET,
  CHEQ_TAG_HASH: 'tag-hash-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

function load(env: Record<string, string | undefined>, args: readonly string[] = []): AppConfig {
  return loadConfig({ env, args });
}

function configErrorOf(sources: ConfigSources): ConfigError {
  try {
    loadConfig(sources);
  } catch (err: unknown) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected loadConfig to throw a ConfigError');
}

describe('loadConfig', () => {
  let dir: string;
  let fileCount = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cheq-rti-authz-config-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function tempFile(extension: string, text: string): string {
    fileCount += 1;
    const path = join(dir, `config-${fileCount}.${extension}`);
    writeFileSync(path, text);
    return path;
  }

  describe('defaults', () => {
    it('fills every optional setting with its documented default', () => {
      const config = load({ ...REQUIRED });
      const { core } = config;
      assert.equal(core.apiVersion, 'v1');
      assert.deepEqual(core.rules, []);
      assert.equal(core.mode, 'monitoring');
      assert.equal(core.timeoutMs, 100);
      assert.equal(core.deadlineMarginMs, 10);
      assert.deepEqual([...core.blockRedirectCodes], [2, 3, 6, 7, 10, 11, 16, 18]);
      assert.deepEqual([...core.challengeCodes], [4, 5, 13, 14, 15, 17]);
      assert.equal(core.redirectUrl, undefined);
      // No challenge_secret: the default `challenge` strategy falls back to allow.
      assert.equal(core.challengeStrategy, 'allow');
      assert.equal(core.challengeUnavailable, true);
      assert.equal(core.blockStrategy, 'access_denied');
      assert.equal(core.challenge, undefined);
      assert.equal(core.challengeUrl, undefined);
      assert.equal(core.uriExclusion.matches('/'), false);
      assert.equal(core.routeToEventType.lookup('/'), undefined);
      assert.equal(core.trustedIpHeader, undefined);
      assert.equal(core.ja3Header, undefined);
      assert.equal(core.ja4Header, undefined);
      assert.equal(core.channelParam, undefined);
      assert.deepEqual(core.ignoredHeaderNames, [
        'x-envoy-*',
        'x-request-id',
        'x-forwarded-proto',
        'x-forwarded-client-cert',
        'x-b3-*',
      ]);
      assert.deepEqual(core.verdictHeaderNames, {
        decision: 'x-cheq-decision',
        threatType: 'x-cheq-threat-type',
        invalid: 'x-cheq-invalid',
        rtiRequestId: 'x-cheq-rti-request-id',
        verdict: 'x-cheq-verdict',
        riskScore: 'x-cheq-risk-score',
        rayId: 'x-cheq-ray-id',
        challenge: 'x-cheq-challenge',
      });
      assert.equal(config.rti.endpoint.href, 'https://rti-global.cheqzone.com/');
      assert.equal(config.rti.apiKey, SECRET);
      assert.equal(config.rti.tagHash, 'tag-hash-1');
      assert.equal(config.rti.connections, 256);
      assert.equal(config.server.host, '0.0.0.0');
      assert.equal(config.server.grpcPort, 9001);
      assert.equal(config.server.metricsPort, 9464);
      assert.equal(config.server.grpcKeepaliveTimeMs, 30_000);
      assert.equal(config.server.grpcMaxConnectionAgeMs, 300_000);
      assert.equal(config.server.shutdownGraceMs, 10_000);
      assert.equal(config.logLevel, 'info');
      assert.deepEqual(config.warnings, []);
    });

    it('returns a frozen configuration', () => {
      const config = load({ ...REQUIRED });
      assert.ok(Object.isFrozen(config));
      assert.ok(Object.isFrozen(config.core));
      assert.ok(Object.isFrozen(config.rti));
      assert.ok(Object.isFrozen(config.server));
      assert.ok(Object.isFrozen(config.warnings));
    });

    it('does not read process.env', () => {
      const saved = process.env['CHEQ_TIMEOUT_MS'];
      process.env['CHEQ_TIMEOUT_MS'] = '77';
      try {
        assert.equal(load({ ...REQUIRED }).core.timeoutMs, 100);
      } finally {
        if (saved === undefined) delete process.env['CHEQ_TIMEOUT_MS'];
        else process.env['CHEQ_TIMEOUT_MS'] = saved;
      }
    });
  });

  describe('environment', () => {
    it('reads every kind of setting from the environment', () => {
      const config = load({
        ...REQUIRED,
        CHEQ_MODE: 'blocking',
        CHEQ_TIMEOUT_MS: '250',
        CHEQ_REDIRECT_URL: '/blocked',
        CHEQ_BLOCK_REDIRECT_CODES: ' 2, 3 ,',
        CHEQ_CHALLENGE_CODES: '4',
        CHEQ_CHALLENGE_ACTION: 'redirect',
        CHEQ_CHALLENGE_URL: 'https://shop.example.com/challenge',
        CHEQ_URI_EXCLUSION: '/healthz, ^/static/',
        CHEQ_ROUTE_TO_EVENT_TYPE: '{"/checkout":"purchase","/search/.*":"search"}',
        CHEQ_TRUSTED_IP_HEADER: 'CF-Connecting-IP',
        CHEQ_JA3_HEADER: 'x-ja3',
        CHEQ_CHANNEL_PARAM: 'ch',
        CHEQ_VERDICT_HEADER_PREFIX: 'x-bot-',
        CHEQ_IGNORED_HEADER_NAMES: 'X-Envoy-*,x-trace',
        CHEQ_RTI_CONNECTIONS: '8',
        CHEQ_DEADLINE_MARGIN_MS: '0',
        CHEQ_GRPC_PORT: '0',
        CHEQ_LOG_LEVEL: 'debug',
      });
      const { core } = config;
      assert.equal(core.mode, 'blocking');
      assert.equal(core.timeoutMs, 250);
      assert.equal(core.redirectUrl, '/blocked');
      assert.deepEqual([...core.blockRedirectCodes], [2, 3]);
      assert.deepEqual([...core.challengeCodes], [4]);
      assert.equal(core.challengeStrategy, 'redirect', 'challenge_action is its old name');
      assert.equal(core.blockStrategy, 'redirect', 'redirect_url set: blocks redirect');
      assert.equal(core.challengeUrl, 'https://shop.example.com/challenge');
      assert.equal(core.uriExclusion.matches('/healthz'), true);
      assert.equal(core.uriExclusion.matches('/static/a.css'), true);
      assert.equal(core.uriExclusion.matches('/'), false);
      assert.equal(core.routeToEventType.lookup('/checkout'), 'purchase');
      assert.equal(core.routeToEventType.lookup('/search/x'), 'search');
      assert.equal(core.trustedIpHeader, 'cf-connecting-ip');
      assert.equal(core.ja3Header, 'x-ja3');
      assert.equal(core.channelParam, 'ch');
      assert.equal(core.verdictHeaderNames?.decision, 'x-bot-decision');
      assert.deepEqual(core.ignoredHeaderNames, ['x-envoy-*', 'x-trace']);
      assert.equal(core.deadlineMarginMs, 0);
      assert.equal(config.rti.connections, 8);
      assert.equal(config.server.grpcPort, 0);
      assert.equal(config.logLevel, 'debug');
    });

    const booleans: readonly [string, boolean][] = [
      ['false', false],
      ['0', false],
      ['no', false],
      ['true', true],
      ['ON', true],
    ];
    for (const [value, on] of booleans) {
      it(`reads CHEQ_VERDICT_HEADERS=${value} as ${on ? 'on' : 'off'}`, () => {
        const config = load({ ...REQUIRED, CHEQ_VERDICT_HEADERS: value });
        assert.equal(config.core.verdictHeaderNames === undefined, !on);
      });
    }

    it('trims the tag hash', () => {
      assert.equal(load({ ...REQUIRED, CHEQ_TAG_HASH: '  th  ' }).rti.tagHash, 'th');
    });
  });

  describe('command-line flags', () => {
    it('override the environment (--timeout-ms 50)', () => {
      const config = load({ ...REQUIRED, CHEQ_TIMEOUT_MS: '70' }, ['--timeout-ms', '50']);
      assert.equal(config.core.timeoutMs, 50);
    });

    it('accept --flag=value', () => {
      const config = load({ ...REQUIRED, CHEQ_MODE: 'monitoring' }, ['--mode=blocking']);
      assert.equal(config.core.mode, 'blocking');
    });

    it('can supply required settings (the API key from the environment)', () => {
      const config = load({ CHEQ_API_KEY: SECRET }, [
        '--tag-hash',
        'th',
        '--api-endpoint',
        'https://rti-eu-west-1.cheqzone.com',
      ]);
      assert.equal(config.rti.apiKey, SECRET);
      assert.equal(config.rti.endpoint.origin, 'https://rti-eu-west-1.cheqzone.com');
    });
  });

  describe('config file', () => {
    it('reads a JSON file given with --config', () => {
      const file = tempFile(
        'json',
        JSON.stringify({
          mode: 'blocking',
          timeout_ms: 42,
          block_redirect_codes: [2, 3],
          uri_exclusion: ['/healthz'],
          route_to_event_type: { '/checkout': 'purchase' },
        }),
      );
      const config = load({ ...REQUIRED }, ['--config', file]);
      assert.equal(config.core.mode, 'blocking');
      assert.equal(config.core.timeoutMs, 42);
      assert.deepEqual([...config.core.blockRedirectCodes], [2, 3]);
      assert.equal(config.core.uriExclusion.matches('/healthz'), true);
      assert.equal(config.core.routeToEventType.lookup('/checkout'), 'purchase');
    });

    it('reads the API version and ordered policy rules from a YAML file', () => {
      const file = tempFile(
        'yaml',
        [
          'api_version: v4',
          'ja4_header: x-ja4',
          'policy_rules:',
          '  - name: partners',
          '    when: { reasons: [501] }',
          '    action: allow',
          '  - when:',
          '      verdict: [suspicious, malicious]',
          '      codes: 14',
          '      min_risk_score: 80',
          '    action: block',
          '  - action: challenge',
          '',
        ].join('\n'),
      );
      const config = load({ ...REQUIRED, CHEQ_CONFIG_FILE: file });
      assert.equal(config.core.apiVersion, 'v4');
      assert.equal(config.core.ja4Header, 'x-ja4');
      assert.deepEqual(config.core.rules, [
        { name: 'partners', when: { reasons: new Set([501]) }, action: 'allow' },
        {
          name: 'rule 2',
          when: {
            verdicts: new Set(['suspicious', 'malicious']),
            codes: new Set([14]),
            minRiskScore: 80,
          },
          action: 'block',
        },
        { name: 'rule 3', when: {}, action: 'challenge' },
      ]);
    });

    it('refuses a config file whose rules are invalid, naming the rule (exit 2 at start)', () => {
      const file = tempFile(
        'json',
        JSON.stringify({ policy_rules: [{ when: { verdict: 'bad' } }] }),
      );
      const err = configErrorOf({ env: { ...REQUIRED }, args: ['--config', file] });
      assert.match(err.message, /policy_rules \(CHEQ_POLICY_RULES\): .*rule 1: when\.verdict/);
    });

    it('reads a YAML file given with CHEQ_CONFIG_FILE', () => {
      const file = tempFile(
        'yaml',
        [
          'mode: blocking',
          'timeout_ms: 43',
          'challenge_codes: [4, 5]',
          'uri_exclusion:',
          '  - /healthz',
          '  - ^/static/',
          'route_to_event_type:',
          '  /search: search',
          '',
        ].join('\n'),
      );
      const config = load({ ...REQUIRED, CHEQ_CONFIG_FILE: file });
      assert.equal(config.core.mode, 'blocking');
      assert.equal(config.core.timeoutMs, 43);
      assert.deepEqual([...config.core.challengeCodes], [4, 5]);
      assert.equal(config.core.uriExclusion.matches('/static/x'), true);
      assert.equal(config.core.routeToEventType.lookup('/search'), 'search');
    });

    it('reads a .yml file with --config=FILE, which wins over CHEQ_CONFIG_FILE', () => {
      const yml = tempFile('yml', 'timeout_ms: 44\n');
      const other = tempFile('json', '{"timeout_ms": 99}');
      const config = load({ ...REQUIRED, CHEQ_CONFIG_FILE: other }, [`--config=${yml}`]);
      assert.equal(config.core.timeoutMs, 44);
    });

    it('holds the required settings too', () => {
      const file = tempFile(
        'yaml',
        `api_key: ${SECRET}\ntag_hash: th\napi_endpoint: https://rti-us-east-1.cheqzone.com\n`,
      );
      const config = load({ CHEQ_CONFIG_FILE: file });
      assert.equal(config.rti.apiKey, SECRET);
      assert.equal(config.rti.endpoint.origin, 'https://rti-us-east-1.cheqzone.com');
    });

    it('is read with precedence default < file < env < flag', () => {
      const file = tempFile(
        'yaml',
        'timeout_ms: 41\nmode: blocking\nchallenge_action: deny\nlog_level: warn\n',
      );
      const config = load(
        {
          ...REQUIRED,
          CHEQ_CONFIG_FILE: file,
          CHEQ_TIMEOUT_MS: '42',
          CHEQ_CHALLENGE_ACTION: 'allow',
        },
        ['--timeout-ms', '43'],
      );
      assert.equal(config.core.timeoutMs, 43, 'flag beats env and file');
      assert.equal(config.core.challengeStrategy, 'allow', 'env beats file');
      assert.equal(config.core.mode, 'blocking', 'file beats default');
      assert.equal(config.logLevel, 'warn', 'file beats default');
      assert.equal(config.core.deadlineMarginMs, 10, 'default when set nowhere');
    });

    it('accepts a route_to_event_type key mapping every path (a catch-all after the others)', () => {
      const routes = JSON.stringify({ '/checkout': 'purchase', '/**': 'page_load' });
      const map = load({ ...REQUIRED, CHEQ_ROUTE_TO_EVENT_TYPE: routes }).core.routeToEventType;
      assert.equal(map.lookup('/checkout'), 'purchase');
      assert.equal(map.lookup('/any/path'), 'page_load');
    });

    it('keeps route_to_event_type keys with dots and slashes whole (JSON and YAML files)', () => {
      const routes = { '/static/.*\\.js': 'page_load', '/v1.2/checkout': 'purchase' };
      const json = tempFile('json', JSON.stringify({ route_to_event_type: routes }));
      const yaml = tempFile(
        'yaml',
        'route_to_event_type:\n  "/static/.*\\\\.js": page_load\n  /v1.2/checkout: purchase\n',
      );
      for (const file of [json, yaml]) {
        const map = load({ ...REQUIRED, CHEQ_CONFIG_FILE: file }).core.routeToEventType;
        assert.equal(map.lookup('/static/a/b.js'), 'page_load', file);
        assert.equal(map.lookup('/static/a/bXjs'), undefined, file);
        assert.equal(map.lookup('/v1.2/checkout'), 'purchase', file);
      }
    });

    it('accepts an empty YAML file', () => {
      const file = tempFile('yaml', '');
      assert.equal(load({ ...REQUIRED, CHEQ_CONFIG_FILE: file }).core.timeoutMs, 100);
    });
  });

  describe('api key file', () => {
    it('reads CHEQ_API_KEY_FILE and trims it', () => {
      const file = tempFile('txt', `  ${SECRET}\n\n`);
      const config = load({ ...REQUIRED, CHEQ_API_KEY: undefined, CHEQ_API_KEY_FILE: file });
      assert.equal(config.rti.apiKey, SECRET);
    });
  });

  describe('errors', () => {
    interface ErrorCase {
      readonly name: string;
      readonly env?: Record<string, string | undefined>;
      readonly args?: readonly string[];
      /** The setting and its environment variable, both named by the message. */
      readonly names: readonly string[];
    }

    const withoutKey = { ...REQUIRED, CHEQ_API_KEY: undefined };

    const CASES: readonly ErrorCase[] = [
      {
        name: 'missing api key',
        env: withoutKey,
        names: ['api_key', 'CHEQ_API_KEY'],
      },
      {
        name: 'blank api key',
        env: { ...REQUIRED, CHEQ_API_KEY: '   ' },
        names: ['api_key', 'CHEQ_API_KEY'],
      },
      {
        name: 'missing tag_hash',
        env: { ...REQUIRED, CHEQ_TAG_HASH: undefined },
        names: ['tag_hash', 'CHEQ_TAG_HASH'],
      },
      {
        name: 'blank tag_hash',
        env: { ...REQUIRED, CHEQ_TAG_HASH: ' ' },
        names: ['tag_hash', 'CHEQ_TAG_HASH'],
      },
      {
        name: 'missing api_endpoint',
        env: { ...REQUIRED, CHEQ_API_ENDPOINT: undefined },
        names: ['api_endpoint', 'CHEQ_API_ENDPOINT'],
      },
      {
        name: 'api_endpoint that is not a URL',
        env: { ...REQUIRED, CHEQ_API_ENDPOINT: 'rti-global.cheqzone.com' },
        names: ['api_endpoint', 'CHEQ_API_ENDPOINT'],
      },
      {
        name: 'ftp:// api_endpoint',
        env: { ...REQUIRED, CHEQ_API_ENDPOINT: 'ftp://rti-global.cheqzone.com' },
        names: ['api_endpoint', 'CHEQ_API_ENDPOINT'],
      },
      {
        name: 'unknown mode',
        env: { ...REQUIRED, CHEQ_MODE: 'block' },
        names: ['mode', 'CHEQ_MODE'],
      },
      {
        name: 'timeout 0',
        env: { ...REQUIRED, CHEQ_TIMEOUT_MS: '0' },
        names: ['timeout_ms', 'CHEQ_TIMEOUT_MS'],
      },
      {
        name: "timeout 'abc'",
        env: { ...REQUIRED, CHEQ_TIMEOUT_MS: 'abc' },
        names: ['timeout_ms', 'CHEQ_TIMEOUT_MS'],
      },
      {
        name: 'timeout 1.5',
        env: { ...REQUIRED, CHEQ_TIMEOUT_MS: '1.5' },
        names: ['timeout_ms', 'CHEQ_TIMEOUT_MS'],
      },
      {
        name: "timeout 'abc' given as a flag",
        env: { ...REQUIRED },
        args: ['--timeout-ms', 'abc'],
        names: ['timeout_ms', 'CHEQ_TIMEOUT_MS'],
      },
      {
        name: 'redirect_url that is neither http(s) nor a path',
        env: { ...REQUIRED, CHEQ_REDIRECT_URL: 'javascript:alert(1)' },
        names: ['redirect_url', 'CHEQ_REDIRECT_URL'],
      },
      {
        name: 'protocol-relative redirect_url',
        env: { ...REQUIRED, CHEQ_REDIRECT_URL: '//evil.example/x' },
        names: ['redirect_url', 'CHEQ_REDIRECT_URL'],
      },
      {
        name: 'redirect_url with a CR/LF',
        env: { ...REQUIRED, CHEQ_REDIRECT_URL: '/blocked\r\nSet-Cookie: x=1' },
        names: ['redirect_url', 'CHEQ_REDIRECT_URL'],
      },
      {
        name: 'bad regex in uri_exclusion',
        env: { ...REQUIRED, CHEQ_URI_EXCLUSION: '/ok,/static/[' },
        names: ['uri_exclusion', 'CHEQ_URI_EXCLUSION'],
      },
      {
        name: 'a uri_exclusion entry that excludes every path (^/)',
        env: { ...REQUIRED, CHEQ_URI_EXCLUSION: '/healthz,^/' },
        names: ['uri_exclusion', 'CHEQ_URI_EXCLUSION', '"^/" excludes every path'],
      },
      {
        name: 'a uri_exclusion glob that excludes every path (/**)',
        env: { ...REQUIRED, CHEQ_URI_EXCLUSION: '/**' },
        names: ['uri_exclusion', 'CHEQ_URI_EXCLUSION', '"/**" excludes every path'],
      },
      {
        name: 'uri_exclusion entries that together exclude every path',
        env: { ...REQUIRED, CHEQ_URI_EXCLUSION: '/healthz,/*,/*/**' },
        names: ['uri_exclusion', 'CHEQ_URI_EXCLUSION', 'together exclude every path'],
      },
      {
        name: 'a uri_exclusion prefix with dot segments (^/static/../)',
        env: { ...REQUIRED, CHEQ_URI_EXCLUSION: '^/static/../' },
        names: ['uri_exclusion', 'CHEQ_URI_EXCLUSION', 'as a path it reads "^/"'],
      },
      {
        name: 'a uri_exclusion regex over the program size bound',
        env: { ...REQUIRED, CHEQ_URI_EXCLUSION: '[a-z]{1000}[0-9]$' },
        names: ['uri_exclusion', 'CHEQ_URI_EXCLUSION', '"[a-z]{1000}[0-9]$" compiles to'],
      },
      {
        name: 'a route_to_event_type key with dot segments',
        env: { ...REQUIRED, CHEQ_ROUTE_TO_EVENT_TYPE: '{"/shop/../cart":"add_to_cart"}' },
        names: ['route_to_event_type', 'CHEQ_ROUTE_TO_EVENT_TYPE', 'as a path it reads "/cart"'],
      },
      {
        name: 'bad regex in a route_to_event_type key',
        env: { ...REQUIRED, CHEQ_ROUTE_TO_EVENT_TYPE: '{"/cart/(":"add_to_cart"}' },
        names: ['route_to_event_type', 'CHEQ_ROUTE_TO_EVENT_TYPE'],
      },
      {
        name: 'unknown event type in route_to_event_type',
        env: { ...REQUIRED, CHEQ_ROUTE_TO_EVENT_TYPE: '{"/checkout":"checkout"}' },
        names: ['route_to_event_type', 'CHEQ_ROUTE_TO_EVENT_TYPE'],
      },
      {
        name: 'route_to_event_type that is not JSON',
        env: { ...REQUIRED, CHEQ_ROUTE_TO_EVENT_TYPE: '/checkout=purchase' },
        names: ['route_to_event_type', 'CHEQ_ROUTE_TO_EVENT_TYPE'],
      },
      {
        name: 'route_to_event_type that is a JSON array',
        env: { ...REQUIRED, CHEQ_ROUTE_TO_EVENT_TYPE: '["/checkout"]' },
        names: ['route_to_event_type', 'CHEQ_ROUTE_TO_EVENT_TYPE'],
      },
      {
        name: 'a code in both groups',
        env: { ...REQUIRED, CHEQ_CHALLENGE_CODES: '4,5,2' },
        names: [
          'block_redirect_codes',
          'CHEQ_BLOCK_REDIRECT_CODES',
          'challenge_codes',
          'CHEQ_CHALLENGE_CODES',
        ],
      },
      {
        name: "non-integer block codes ('2,x')",
        env: { ...REQUIRED, CHEQ_BLOCK_REDIRECT_CODES: '2,x' },
        names: ['block_redirect_codes', 'CHEQ_BLOCK_REDIRECT_CODES'],
      },
      {
        name: "non-integer challenge codes ('4,-5')",
        env: { ...REQUIRED, CHEQ_CHALLENGE_CODES: '4,-5' },
        names: ['challenge_codes', 'CHEQ_CHALLENGE_CODES'],
      },
      {
        name: 'challenge_action redirect without challenge_url',
        env: { ...REQUIRED, CHEQ_CHALLENGE_ACTION: 'redirect' },
        names: ['challenge_url', 'CHEQ_CHALLENGE_URL'],
      },
      {
        name: 'unknown challenge_action',
        env: { ...REQUIRED, CHEQ_CHALLENGE_ACTION: 'captcha' },
        names: ['challenge_action', 'CHEQ_CHALLENGE_ACTION'],
      },
      {
        name: 'api_key and api_key_file both set',
        env: { ...REQUIRED, CHEQ_API_KEY_FILE: '/run/secrets/cheq-api-key' },
        names: ['api_key', 'CHEQ_API_KEY', 'api_key_file', 'CHEQ_API_KEY_FILE'],
      },
      {
        name: 'unreadable api_key_file',
        env: { ...withoutKey, CHEQ_API_KEY_FILE: '/nonexistent/cheq-api-key' },
        names: ['api_key_file', 'CHEQ_API_KEY_FILE'],
      },
      {
        name: 'bad verdict header prefix',
        env: { ...REQUIRED, CHEQ_VERDICT_HEADER_PREFIX: 'x cheq' },
        names: ['verdict_header_prefix', 'CHEQ_VERDICT_HEADER_PREFIX'],
      },
      {
        name: 'bad boolean',
        env: { ...REQUIRED, CHEQ_VERDICT_HEADERS: 'maybe' },
        names: ['verdict_headers', 'CHEQ_VERDICT_HEADERS'],
      },
      {
        name: 'port out of range',
        env: { ...REQUIRED, CHEQ_GRPC_PORT: '70000' },
        names: ['grpc_port', 'CHEQ_GRPC_PORT'],
      },
      {
        name: 'an unknown API version',
        env: { ...REQUIRED, CHEQ_API_VERSION: 'v2' },
        names: ['api_version', 'CHEQ_API_VERSION'],
      },
      {
        name: 'policy rules that are not JSON',
        env: { ...REQUIRED, CHEQ_POLICY_RULES: '[{' },
        names: ['policy_rules', 'CHEQ_POLICY_RULES', 'not valid JSON'],
      },
      {
        name: 'policy rules that are not a list',
        env: { ...REQUIRED, CHEQ_POLICY_RULES: '{"action":"block"}' },
        names: ['policy_rules', 'CHEQ_POLICY_RULES', 'must be a list'],
      },
      {
        name: 'a rule with an unknown action',
        env: {
          ...REQUIRED,
          CHEQ_POLICY_RULES: '[{"when":{"verdict":"malicious"},"action":"drop"}]',
        },
        names: ['policy_rules', 'rule 1', 'action must be one of allow, block, challenge'],
      },
      {
        name: 'a rule with an unknown verdict',
        env: { ...REQUIRED, CHEQ_POLICY_RULES: '[{"when":{"verdict":"evil"},"action":"block"}]' },
        names: ['policy_rules', 'rule 1', 'when.verdict'],
      },
      {
        name: 'a misspelt condition (it would match every request)',
        env: {
          ...REQUIRED,
          CHEQ_POLICY_RULES:
            '[{"when":{"codes":[2]},"action":"block"},{"when":{"min_risk":80},"action":"block"}]',
        },
        names: ['policy_rules', 'rule 2', 'unknown "min_risk"'],
      },
      {
        name: 'a risk score out of range',
        env: {
          ...REQUIRED,
          CHEQ_POLICY_RULES: '[{"when":{"min_risk_score":101},"action":"block"}]',
        },
        names: ['policy_rules', 'rule 1', 'min_risk_score'],
      },
      {
        name: 'codes that are not integers',
        env: { ...REQUIRED, CHEQ_POLICY_RULES: '[{"when":{"codes":["2"]},"action":"block"}]' },
        names: ['policy_rules', 'rule 1', 'when.codes'],
      },
      {
        name: 'an empty reasons list',
        env: { ...REQUIRED, CHEQ_POLICY_RULES: '[{"when":{"reasons":[]},"action":"block"}]' },
        names: ['policy_rules', 'rule 1', 'when.reasons'],
      },
      {
        name: 'two rules of the same name',
        env: {
          ...REQUIRED,
          CHEQ_POLICY_RULES:
            '[{"name":"a","when":{"codes":[2]},"action":"block"},{"name":"a","action":"allow"}]',
        },
        names: ['policy_rules', 'rule 2', 'used twice'],
      },
      {
        name: 'a ja4 header that is not a header name',
        env: { ...REQUIRED, CHEQ_JA4_HEADER: 'x ja4' },
        names: ['ja4_header', 'CHEQ_JA4_HEADER'],
      },
    ];

    for (const c of CASES) {
      it(`throws a ConfigError naming ${c.names.join(' and ')} for ${c.name}`, () => {
        const err = configErrorOf({ env: c.env ?? {}, args: c.args ?? [] });
        for (const name of c.names) {
          assert.ok(err.message.includes(name), `${JSON.stringify(err.message)} names ${name}`);
        }
        assert.ok(err.problems.length >= 1);
        assert.ok(
          err.problems.some(p => c.names.every(name => p.includes(name))),
          err.message,
        );
      });
    }

    it('throws a ConfigError naming the api_key_file for an empty key file', () => {
      const file = tempFile('txt', '\n  \n');
      const err = configErrorOf({ env: { ...withoutKey, CHEQ_API_KEY_FILE: file }, args: [] });
      assert.match(err.message, /api_key_file \(CHEQ_API_KEY_FILE\)/);
    });

    it('throws a ConfigError naming an undeclared key in a config file (strict)', () => {
      const file = tempFile('json', JSON.stringify({ timeout_ms: 50, timeout: 50 }));
      const err = configErrorOf({ env: { ...REQUIRED, CHEQ_CONFIG_FILE: file }, args: [] });
      assert.match(err.message, /config file .*: timeout: not a setting/);
    });

    it('throws a ConfigError naming the file for unparsable YAML', () => {
      const file = tempFile('yaml', 'mode: blocking\ntimeout_ms: [1,\n  x: : :\n');
      const err = configErrorOf({ env: { ...REQUIRED, CHEQ_CONFIG_FILE: file }, args: [] });
      assert.ok(err.message.includes(file), err.message);
    });

    it('throws a ConfigError naming the file for unparsable JSON', () => {
      const file = tempFile('json', '{"mode": "blocking",}');
      const err = configErrorOf({ env: { ...REQUIRED, CHEQ_CONFIG_FILE: file }, args: [] });
      assert.ok(err.message.includes(file), err.message);
    });

    it('throws a ConfigError naming a missing config file', () => {
      const file = join(dir, 'does-not-exist.yaml');
      const err = configErrorOf({ env: { ...REQUIRED }, args: ['--config', file] });
      assert.ok(err.message.includes(file), err.message);
    });

    it('throws a ConfigError naming the setting for a bad value in a config file', () => {
      const file = tempFile('yaml', 'timeout_ms: fast\n');
      const err = configErrorOf({ env: { ...REQUIRED, CHEQ_CONFIG_FILE: file }, args: [] });
      assert.match(err.message, /timeout_ms \(CHEQ_TIMEOUT_MS\)/);
    });

    it('reports every problem at once (api key, tag hash and endpoint all missing)', () => {
      const err = configErrorOf({ env: {}, args: [] });
      for (const name of ['api_key', 'tag_hash', 'api_endpoint']) {
        assert.ok(err.message.includes(name), `${JSON.stringify(err.message)} names ${name}`);
      }
    });

    it('reports every problem at once (two bad values)', () => {
      const err = configErrorOf({
        env: { ...REQUIRED, CHEQ_MODE: 'x', CHEQ_TIMEOUT_MS: '0' },
        args: [],
      });
      assert.equal(err.problems.length, 2, err.message);
    });

    describe('never reveal the API key', () => {
      for (const c of CASES) {
        const env = c.env;
        if (env?.['CHEQ_API_KEY'] !== SECRET) continue;
        it(`keeps the key out of the message for ${c.name}`, () => {
          const err = configErrorOf({ env, args: c.args ?? [] });
          assert.equal(err.message.includes(SECRET), false, err.message);
          assert.equal(err.problems.join('\n').includes(SECRET), false);
        });
      }

      it('keeps the key out of the message when it is given as a (refused) flag', () => {
        const err = configErrorOf({
          env: { ...withoutKey, CHEQ_MODE: 'nope' },
          args: ['--api-key', SECRET],
        });
        assert.match(err.message, /--api-key: api_key is not read from the command line/);
        assert.equal(err.message.includes(SECRET), false, err.message);
      });

      it('keeps the key out of the message when the key itself is invalid (not a string)', () => {
        const file = tempFile('json', JSON.stringify({ api_key: 123_456, mode: SECRET }));
        const err = configErrorOf({ env: { ...withoutKey, CHEQ_CONFIG_FILE: file }, args: [] });
        assert.match(err.message, /api_key \(CHEQ_API_KEY\)/);
      });

      it('keeps the key out of the message when YAML reads it as a mapping (api_key: {KEY})', () => {
        const file = tempFile('yaml', `api_key: {${SECRET}}\n`);
        const err = configErrorOf({ env: { ...withoutKey, CHEQ_CONFIG_FILE: file }, args: [] });
        assert.equal(err.message.includes(SECRET), false, err.message);
        assert.match(
          err.message,
          /api_key \(CHEQ_API_KEY\): must be a single value, not a mapping/,
        );
      });

      it('keeps the key out of the message for an unparsable YAML file holding it', () => {
        const file = tempFile('yaml', `timeout_ms: 50\napi_key: "${SECRET}\n`);
        const err = configErrorOf({ env: { ...withoutKey, CHEQ_CONFIG_FILE: file }, args: [] });
        assert.ok(err.message.includes(file), err.message);
        assert.equal(err.message.includes(SECRET), false, err.message);
      });

      it('keeps any part of the key out of the message for an unparsable JSON file holding it', () => {
        const file = tempFile('json', `{"api_key": ${SECRET}}`);
        const err = configErrorOf({ env: { ...withoutKey, CHEQ_CONFIG_FILE: file }, args: [] });
        assert.ok(err.message.includes(file), err.message);
        assert.equal(err.message.includes('SECRET'), false, err.message);
      });
    });
  });

  describe('warnings', () => {
    const known = [
      'https://rti-global.cheqzone.com',
      'https://rti-us-east-1.cheqzone.com',
      'https://rti-eu-west-1.cheqzone.com/',
    ];
    for (const endpoint of known) {
      it(`does not warn for the CHEQ endpoint ${endpoint}`, () => {
        assert.deepEqual(load({ ...REQUIRED, CHEQ_API_ENDPOINT: endpoint }).warnings, []);
      });
    }

    const other = [
      'http://127.0.0.1:8080',
      'https://rti-global.cheqzone.com/proxy',
      'https://rti-global.cheqzone.com.evil.example',
    ];
    for (const endpoint of other) {
      it(`accepts and warns for the non-CHEQ endpoint ${endpoint}`, () => {
        const config = load({ ...REQUIRED, CHEQ_API_ENDPOINT: endpoint });
        assert.equal(config.warnings.length, 1);
        assert.match(config.warnings[0] ?? '', /api_endpoint .* is not a known CHEQ RTI region/);
        assert.equal(config.rti.endpoint.href, new URL(endpoint).href);
      });
    }

    // A client anywhere in a trusted range picks its own IP (and enforce_percent bucket).
    for (const entry of ['0.0.0.0/0', '::/0', '::ffff:0:0/96', '203.0.113.9/0', '::/64']) {
      it(`refuses trusted_proxies ${entry}, which trusts every IPv4 address`, () => {
        const err = configErrorOf({
          env: { ...REQUIRED, CHEQ_TRUSTED_PROXIES: `10.0.0.0/8,${entry}` },
          args: [],
        });
        assert.match(err.message, /trusted_proxies \(CHEQ_TRUSTED_PROXIES\): .* trusts every IPv4/);
        assert.ok(err.message.includes(JSON.stringify(entry)), err.message);
      });
    }

    for (const entry of ['1.0.0.0/7', '128.0.0.0/1', '::ffff:0:0/97', '2000::/3', '2c00::/10']) {
      it(`accepts and warns for the broad public trusted_proxies ${entry}`, () => {
        const config = load({ ...REQUIRED, CHEQ_TRUSTED_PROXIES: `10.0.0.0/8,${entry}` });
        assert.deepEqual(
          config.warnings.map(
            warning => /^trusted_proxies entry (".*?") trusts/.exec(warning)?.[1],
          ),
          [JSON.stringify(entry)],
        );
      });
    }

    for (const entry of [
      '10.0.0.0/8',
      '203.0.113.0/24',
      'fc00::/7',
      'fe80::/10',
      '2001:db8::/32',
    ]) {
      it(`does not warn for trusted_proxies ${entry}`, () => {
        assert.deepEqual(load({ ...REQUIRED, CHEQ_TRUSTED_PROXIES: entry }).warnings, []);
      });
    }
  });
});

describe('loadConfig: durations Node timers can wait', () => {
  it('rejects a duration beyond 2^31 - 1 ms, which a timer would fire at once', () => {
    assert.throws(
      () =>
        loadConfig({
          env: {
            CHEQ_API_KEY: 'k',
            CHEQ_TAG_HASH: 't',
            CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
            CHEQ_SHUTDOWN_GRACE_MS: String(2 ** 31),
          },
          args: [],
        }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /shutdown_grace_ms \(CHEQ_SHUTDOWN_GRACE_MS\): must be an integer from 1 to 2147483647/.test(
          err.message,
        ),
    );
  });
});

describe('loadConfig: warm-up and connections opened ahead', () => {
  const required = {
    CHEQ_API_KEY: 'k',
    CHEQ_TAG_HASH: 't',
    CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
  };

  it('warms up with 1000 checks and opens 4 RTI connections by default', () => {
    const config = loadConfig({ env: required, args: [] });
    assert.equal(config.server.warmupChecks, 1000);
    assert.equal(config.rti.preconnect, 4);
  });

  it('reads CHEQ_WARMUP_CHECKS and CHEQ_RTI_PRECONNECT; 0 turns them off', () => {
    const fromEnv = loadConfig({
      env: { ...required, CHEQ_WARMUP_CHECKS: '500', CHEQ_RTI_PRECONNECT: '0' },
      args: [],
    });
    assert.equal(fromEnv.server.warmupChecks, 500);
    assert.equal(fromEnv.rti.preconnect, 0);
  });

  it('still reads them as flags (advanced settings lost theirs in #21), warning where they go', () => {
    const config = loadConfig({
      env: required,
      args: ['--warmup-checks', '0', '--rti-preconnect=2'],
    });
    assert.equal(config.server.warmupChecks, 0);
    assert.equal(config.rti.preconnect, 2);
    assert.deepEqual(config.warnings, [
      '--warmup-checks: warmup_checks is an advanced setting: the flag is read for now; ' +
        'use CHEQ_WARMUP_CHECKS (environment) or advanced.warmup_checks in the config file',
      '--rti-preconnect: rti_preconnect is an advanced setting: the flag is read for now; ' +
        'use CHEQ_RTI_PRECONNECT (environment) or advanced.rti_preconnect in the config file',
    ]);
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    [
      'a negative warm-up count',
      { CHEQ_WARMUP_CHECKS: '-1' },
      /warmup_checks \(CHEQ_WARMUP_CHECKS\): must be an integer from 0 to 2147483647/,
    ],
    [
      'a fractional warm-up count',
      { CHEQ_WARMUP_CHECKS: '2.5' },
      /warmup_checks \(CHEQ_WARMUP_CHECKS\): must be an integer/,
    ],
    [
      'a word as preconnect count',
      { CHEQ_RTI_PRECONNECT: 'some' },
      /rti_preconnect \(CHEQ_RTI_PRECONNECT\): must be an integer from 0 to 2147483647/,
    ],
  ];
  for (const [name, env, expected] of bad) {
    it(`rejects ${name}, naming the setting`, () => {
      assert.throws(
        () => loadConfig({ env: { ...required, ...env }, args: [] }),
        (err: unknown) => err instanceof ConfigError && expected.test(err.message),
      );
    });
  }
});

describe('loadConfig: trusted_proxies and the enforce_percent key', () => {
  const trusts = (config: AppConfig, ip: string): boolean =>
    config.core.trustedProxies.includes(readHopAddress(ip)!);
  const buckets = (config: AppConfig): number[] =>
    Array.from({ length: 200 }, (_, n) => visitorBucket(`198.51.${n}.7`, config.core.enforceKey));

  it('trusts nobody by default: not loopback, not a private range (a SNAT balancer is one)', () => {
    const config = load({ ...REQUIRED });
    for (const ip of ['127.0.0.1', '::1', '10.1.2.3', '172.31.0.1', '192.168.1.1', 'fd12::1']) {
      assert.ok(!trusts(config, ip), ip);
    }
  });

  it('reads CHEQ_TRUSTED_PROXIES and --trusted-proxies; none trusts nobody', () => {
    const fromEnv = load({ ...REQUIRED, CHEQ_TRUSTED_PROXIES: ' 198.51.100.0/24 , 2001:db8::7' });
    assert.ok(trusts(fromEnv, '198.51.100.7') && trusts(fromEnv, '2001:db8::7'));
    assert.ok(!trusts(fromEnv, '10.1.2.3'));
    const none = load({ ...REQUIRED }, ['--trusted-proxies', 'none']);
    assert.ok(!trusts(none, '127.0.0.1'));
  });

  for (const entry of ['10.0.0.0/33', 'proxy.internal', '10.0.0.1/']) {
    it(`refuses ${entry}, naming the setting and the entry (exit 2 at start)`, () => {
      const err = configErrorOf({
        env: { ...REQUIRED, CHEQ_TRUSTED_PROXIES: `127.0.0.1,${entry}` },
        args: [],
      });
      assert.match(err.message, /trusted_proxies \(CHEQ_TRUSTED_PROXIES\)/);
      assert.ok(err.message.includes(JSON.stringify(entry)), err.message);
    });
  }

  it('derives the key from the API key: the same on every replica, new when the key rotates', () => {
    const first = buckets(load({ ...REQUIRED }));
    assert.deepEqual(buckets(load({ ...REQUIRED })), first);
    const rotated = buckets(load({ ...REQUIRED, CHEQ_API_KEY: 'ROTATED-KEY-456' }));
    assert.ok(rotated.filter((b, i) => b !== first[i]).length > 150);
  });

  it('gives each site the key of its own API key and the process-wide trusted proxies', () => {
    const config = load({
      ...REQUIRED,
      CHEQ_TRUSTED_PROXIES: '192.0.2.0/24',
      CHEQ_SITES: JSON.stringify([
        { name: 'same', hosts: ['a.example'] },
        { name: 'own', hosts: ['b.example'], api_key: 'OTHER-KEY-789' },
      ]),
    });
    const [same, own] = config.sites;
    assert.ok(same && own);
    assert.equal(same.core.trustedProxies, config.core.trustedProxies);
    assert.equal(own.core.trustedProxies, config.core.trustedProxies);
    const top = buckets(config);
    assert.deepEqual(buckets({ ...config, core: same.core }), top);
    assert.notDeepEqual(buckets({ ...config, core: own.core }), top);
  });
});
