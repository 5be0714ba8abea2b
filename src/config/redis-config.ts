// The Redis the verdict memory is shared through (the redis_* settings), resolved once at start:
// the password inline or from its file, the TLS files read and tried. Problems name the setting
// and the file, never what a file or the URL holds.

import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { secretOf } from './challenge-config';
import { settingProblem, type ConfigProblem } from './config-error';
import type { SettingName, Settings } from './schema';

/** Where and how to connect: redis_url taken apart, so that no URL with a password is kept. */
export interface RedisConfig {
  /** A name or an IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  readonly database: number;
  /** redis_username, else the URL's user. */
  readonly username: string | undefined;
  /** redis_password(_file), else the URL's password. */
  readonly password: string | undefined;
  /** Set for rediss://: the CA and client certificate files' contents, when configured. */
  readonly tls: RedisTls | undefined;
  readonly stream: string;
}

export interface RedisTls {
  /** Undefined: the system's CAs. */
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
}

const DEFAULT_PORT = 6379;
const TLS_FILES = ['redis_tls_ca_file', 'redis_tls_cert_file', 'redis_tls_key_file'] as const;

/** The Redis settings, or undefined when redis_url is empty (or a problem was pushed). */
export function resolveRedisConfig(
  s: Settings,
  problems: ConfigProblem[],
): RedisConfig | undefined {
  const password = secretOf(s, 'redis_password', 'redis_password_file', problems);
  if (typeof s.redis_url !== 'string' || s.redis_url === '') return undefined;
  let url: URL;
  try {
    url = new URL(s.redis_url);
  } catch {
    return undefined; // the format check reported it
  }
  const secure = url.protocol === 'rediss:';
  if (url.password !== '' && password !== '') {
    problems.push(
      settingProblem(
        'redis_url',
        'holds a password and redis_password(_file) is set: set only one',
      ),
    );
  }
  const files = Object.fromEntries(
    TLS_FILES.map(setting => [setting, typeof s[setting] === 'string' ? s[setting] : '']),
  ) as Record<(typeof TLS_FILES)[number], string>;
  const before = problems.length;
  for (const setting of TLS_FILES) {
    if (files[setting] !== '' && !secure) {
      problems.push(settingProblem(setting, 'needs a rediss:// redis_url (TLS)'));
    }
  }
  const [cert, key] = ['redis_tls_cert_file', 'redis_tls_key_file'] as const;
  if (secure && (files[cert] === '') !== (files[key] === '')) {
    problems.push(
      settingProblem(files[cert] === '' ? cert : key, 'must be set with the other', {
        with: { join: 'and', settings: [files[cert] === '' ? key : cert] },
      }),
    );
  }
  const tls = secure ? readTls(files, problems) : undefined;
  const fromUrl = userInfoOf(url, problems);
  if (problems.length > before || fromUrl === undefined) return undefined;
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || DEFAULT_PORT),
    database: Number(url.pathname.slice(1) || 0),
    username: s.redis_username.trim() || fromUrl.username || undefined,
    password: password || fromUrl.password || undefined,
    tls,
    stream: s.redis_stream,
  };
}

/**
 * The URL's user and password, percent-decoded; undefined (a problem pushed) when an escape is
 * malformed (`%zz`, or bytes that are no UTF-8), which would otherwise throw out of the start.
 */
function userInfoOf(
  url: URL,
  problems: ConfigProblem[],
): { readonly username: string; readonly password: string } | undefined {
  try {
    return {
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
    };
  } catch {
    problems.push(
      settingProblem(
        'redis_url',
        'holds a user or password that is not valid percent-encoding: write a literal % as %25',
      ),
    );
    return undefined;
  }
}

function readTls(
  files: Record<(typeof TLS_FILES)[number], string>,
  problems: ConfigProblem[],
): RedisTls {
  const read = (setting: SettingName, file: string): Buffer | undefined => {
    if (file === '') return undefined;
    try {
      return readFileSync(file);
    } catch (err: unknown) {
      const code = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
      problems.push(settingProblem(setting, `cannot read ${file} (${code})`));
      return undefined;
    }
  };
  const tls: RedisTls = {
    ca: read('redis_tls_ca_file', files.redis_tls_ca_file),
    cert: read('redis_tls_cert_file', files.redis_tls_cert_file),
    key: read('redis_tls_key_file', files.redis_tls_key_file),
  };
  for (const [setting, pem] of [
    ['redis_tls_ca_file', tls.ca],
    ['redis_tls_cert_file', tls.cert],
  ] as const) {
    if (pem !== undefined && !pem.includes('-----BEGIN CERTIFICATE-----')) {
      problems.push(settingProblem(setting, `${files[setting]} holds no PEM certificate`));
    }
  }
  try {
    // What the connection will do with them, so that a bad file stops the start, not the sharing.
    createSecureContext(tls);
  } catch (err: unknown) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : 'unusable';
    const setting = TLS_FILES.find(name => files[name] !== '') ?? 'redis_tls_ca_file';
    problems.push(
      settingProblem(setting, `TLS refuses the Redis TLS files (${code})`, {
        with: { join: 'and', settings: TLS_FILES.filter(name => name !== setting) },
      }),
    );
  }
  return tls;
}
