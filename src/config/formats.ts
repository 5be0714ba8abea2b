// The formats of our settings, registered with convict (convict-settings). Coercion (of text from
// the environment, a flag or the file) never throws: a value that cannot be coerced is passed on
// as it is, and validation then names the setting with a clear message.

import { availableParallelism } from 'node:os';
import { EVENT_TYPES } from '../core/event-types';
import { compilePathPattern, matchesEveryPath, PatternError } from '../core/path-pattern';
import { TrustedProxies } from '../core/trusted-proxies';
import { parsePolicyRules } from './policy-rules';

/** How text becomes a value, and whether a value is valid (validate throws the problem). */
export interface SettingFormat {
  readonly name: string;
  readonly coerce?: (value: string) => unknown;
  readonly validate: (value: unknown) => void;
  /** A comma list: a flag given twice adds to it (convict joins the values with a comma). */
  readonly list?: true;
}

function fail(message: string): never {
  throw new Error(message);
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map(item => item.trim())
    .filter(item => item !== '');
}

/** Whole numbers within [min, max]; text that is not all digits stays text and fails. */
function integerFormat(name: string, min: number, max: number, message: string): SettingFormat {
  return {
    name,
    coerce: (value: string) => (/^\s*\d+\s*$/.test(value) ? Number(value) : value),
    validate: (value: unknown) => {
      if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
        fail(message);
      }
    },
  };
}

const MAX_TIMER_MS = 2 ** 31 - 1;

const HTTP_HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

const FORMATS: readonly SettingFormat[] = [
  // Capped at what a Node timer can wait (2^31 - 1 ms); larger values would fire at once.
  integerFormat('positive-int', 1, MAX_TIMER_MS, `must be an integer from 1 to ${MAX_TIMER_MS}`),
  integerFormat(
    'non-negative-int',
    0,
    MAX_TIMER_MS,
    `must be an integer from 0 to ${MAX_TIMER_MS}`,
  ),
  integerFormat('tcp-port', 0, 65535, 'must be a TCP port number (0-65535)'),
  integerFormat('percent', 0, 100, 'must be an integer from 0 to 100'),
  // Issue #22 (the served challenge).
  integerFormat('pow-difficulty', 8, 24, 'must be an integer from 8 to 24 (leading zero bits)'),
  integerFormat('pass-ttl-s', 60, 86_400, 'must be an integer from 60 to 86400 (seconds)'),
  // Issue #23 (the verdict memory).
  integerFormat('memory-ttl-s', 0, 3600, 'must be an integer from 0 (off) to 3600 (seconds)'),
  integerFormat('memory-entries', 1000, 1_000_000, 'must be an integer from 1000 to 1000000'),
  {
    name: 'score',
    coerce: (value: string) =>
      /^\s*(0|1)?(\.\d+)?\s*$/.test(value) && value.trim() !== '' ? Number(value) : value,
    validate: (value: unknown) => {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
        fail('must be a number from 0 to 1');
      }
    },
  },
  {
    // A path on the protected site that no browser or proxy reads two ways.
    name: 'url-path',
    validate: (value: unknown) => {
      if (
        typeof value !== 'string' ||
        !/^(\/[A-Za-z0-9._~-]+)+$/.test(value) ||
        /\/\.\.?(\/|$)/.test(value)
      ) {
        fail('must be a path such as /_cheq/challenge: segments of letters, digits, . _ ~ -');
      }
    },
  },
  {
    name: 'optional-http-url',
    validate: (value: unknown) => {
      if (value === '') return;
      const url = typeof value === 'string' ? httpUrlOf(value) : undefined;
      if (!url) fail('must be an absolute http:// or https:// URL, or empty');
      if (hasUserInfo(value as string, url)) fail('must not hold a user name or password');
    },
  },
  {
    name: 'ratio',
    coerce: (value: string) =>
      /^\s*(0|1)?(\.\d+)?\s*$/.test(value) && value.trim() !== '' ? Number(value) : value,
    validate: (value: unknown) => {
      if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
        fail('must be a number greater than 0 and at most 1');
      }
    },
  },
  {
    name: 'worker-count',
    coerce: (value: string) => {
      const v = value.trim().toLowerCase();
      if (v === 'auto') return availableParallelism();
      return /^\d+$/.test(v) ? Number(v) : value;
    },
    validate: (value: unknown) => {
      if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > 256) {
        fail('must be auto or a whole number of processes from 1 to 256');
      }
    },
  },
  {
    name: 'bool',
    coerce: (value: string) => {
      const v = value.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      return value;
    },
    validate: (value: unknown) => {
      if (typeof value !== 'boolean') fail('must be true or false');
    },
  },
  // Issue #23: the Redis the verdict memory is shared through. Messages never quote the value.
  {
    name: 'optional-redis-url',
    validate: (value: unknown) => {
      if (value === '') return;
      const url = typeof value === 'string' ? redisUrlOf(value) : undefined;
      if (!url) fail('must be a redis:// or rediss:// (TLS) URL with a host, or empty');
      if (/[?#]/.test(value as string)) fail('must not have a query or fragment');
      if (!/^(\/\d{1,5})?\/?$/.test(url.pathname)) fail('may end only in a database number (/0)');
    },
  },
  {
    name: 'redis-key',
    validate: (value: unknown) => {
      if (typeof value !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(value)) {
        fail('must be 1 to 200 printable ASCII characters without spaces');
      }
    },
  },
  {
    // Messages never quote the value: its user info or query may be a secret (the setting is
    // sensitive, so its value is not appended either).
    name: 'rti-endpoint',
    validate: (value: unknown) => {
      if (typeof value !== 'string' || value === '') fail('must be set to an http(s) URL');
      const url = httpUrlOf(value);
      if (!url) fail('must be an absolute http:// or https:// URL');
      if (hasUserInfo(value, url)) {
        fail('must not hold a user name or password: the API key goes in api_key_file or api_key');
      }
      if (/[?#]/.test(value)) {
        fail('must not have a query or fragment: the API key goes in api_key_file or api_key');
      }
      if (url.protocol === 'http:' && isCheqHost(url.hostname)) {
        fail(`must be https:// for CHEQ's hosts: http:// would send the API key in cleartext`);
      }
    },
  },
  {
    // A redirect target: a path on the same site or an absolute http(s) URL, and nothing a
    // browser (which drops tabs and newlines, reads \ as /, and //host as another site) or a
    // server decoding %2F/%5C first could take to another origin.
    name: 'optional-location',
    validate: (value: unknown) => {
      if (value === '') return;
      if (typeof value !== 'string') fail('must be an http(s) URL or a path starting with /');
      if (/[\s\p{Cc}]/u.test(value)) fail('must not contain spaces or control characters');
      if (value.includes('\\')) fail('must not contain \\ (browsers read it as /)');
      if (value.startsWith('/')) {
        if (/^\/(\/|%2f|%5c)/i.test(value)) {
          fail('must not start with //, /\\, /%2F or /%5C: that can lead to another site');
        }
        return;
      }
      const url = /^https?:\/\/[^/]/i.test(value) ? httpUrlOf(value) : undefined;
      if (!url) fail('must be an absolute http:// or https:// URL or a path starting with /');
      if (hasUserInfo(value, url)) {
        fail('must not hold a user name or password (it hides the host it leads to)');
      }
    },
  },
  {
    name: 'code-list',
    coerce: (value: string) => splitList(value),
    list: true,
    validate: (value: unknown) => {
      if (!Array.isArray(value)) fail('must be a list of threat type codes');
      for (const code of value as unknown[]) {
        const n = typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : code;
        if (!Number.isSafeInteger(n) || (n as number) < 0) {
          fail(`must be a comma list of non-negative integers; ${JSON.stringify(code)} is not`);
        }
      }
    },
  },
  {
    name: 'string-list',
    coerce: (value: string) => splitList(value),
    list: true,
    validate: (value: unknown) => {
      if (!Array.isArray(value) || !value.every(item => typeof item === 'string')) {
        fail('must be a comma list of strings');
      }
    },
  },
  {
    name: 'path-patterns',
    coerce: (value: string) => splitList(value),
    list: true,
    validate: (value: unknown) => {
      if (!Array.isArray(value)) fail('must be a comma list of paths or regular expressions');
      for (const entry of value as unknown[]) {
        if (typeof entry !== 'string') fail('entries must be strings');
        checkPattern(entry);
        if (matchesEveryPath([entry])) {
          fail(`${JSON.stringify(entry)} excludes every path: nothing would be checked`);
        }
      }
      if (matchesEveryPath(value as string[])) {
        fail('the entries together exclude every path: nothing would be checked');
      }
    },
  },
  {
    // Kept as JSON text, like the environment variable holds it.
    name: 'route-map',
    validate: (value: unknown) => {
      parseRouteMap(value);
    },
  },
  {
    name: 'policy-rules',
    validate: (value: unknown) => {
      parsePolicyRules(value);
    },
  },
  {
    name: 'ip-ranges',
    coerce: (value: string) => splitList(value),
    list: true,
    validate: (value: unknown) => {
      if (!Array.isArray(value) || !value.every(item => typeof item === 'string')) {
        fail('must be a comma list of IP addresses and CIDR ranges, or none');
      }
      TrustedProxies.parse(value);
    },
  },
  {
    name: 'header-name',
    coerce: (value: string) => value.trim().toLowerCase(),
    validate: (value: unknown) => {
      if (typeof value !== 'string') fail('must be an HTTP header name');
      if (value !== '' && !HTTP_HEADER_NAME.test(value)) {
        fail('must be a lower-case HTTP header name');
      }
    },
  },
];

/** The formats by name, as the schema names them. */
export const FORMAT_BY_NAME: ReadonlyMap<string, SettingFormat> = new Map(
  FORMATS.map(format => [format.name, format]),
);

/**
 * Parses route_to_event_type: a JSON object mapping path patterns to RTI event types.
 * @throws Error naming the offending entry
 */
export function parseRouteMap(value: unknown): Record<string, string> {
  let map: unknown;
  try {
    map = typeof value === 'string' ? JSON.parse(value) : value;
  } catch {
    fail('must be a JSON object mapping paths to event types; it is not valid JSON');
  }
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    fail('must be a JSON object mapping paths (exact or regular expressions) to event types');
  }
  for (const [pattern, eventType] of Object.entries(map)) {
    checkPattern(pattern);
    if (typeof eventType !== 'string' || !EVENT_TYPES.has(eventType)) {
      fail(
        `${JSON.stringify(pattern)} maps to ${JSON.stringify(eventType)}, ` +
          `which is not one of ${[...EVENT_TYPES].join(', ')}`,
      );
    }
  }
  return map as Record<string, string>;
}

function httpUrlOf(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== ''
      ? url
      : undefined;
  } catch {
    return undefined;
  }
}

function redisUrlOf(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== ''
      ? url
      : undefined;
  } catch {
    return undefined;
  }
}

/** User info as parsed, or an `@` before the host ends (`https://@host` parses as no user). */
function hasUserInfo(value: string, url: URL): boolean {
  return url.username !== '' || url.password !== '' || /^[^/]*\/\/[^/?#]*@/.test(value);
}

/** CHEQ's own domain, where every host wants the key over TLS only. */
function isCheqHost(hostname: string): boolean {
  const host = hostname.replace(/\.$/, '');
  return host === 'cheqzone.com' || host.endsWith('.cheqzone.com');
}

function checkPattern(entry: string): void {
  try {
    compilePathPattern(entry);
  } catch (err: unknown) {
    if (err instanceof PatternError) fail(err.message);
    throw err;
  }
}
