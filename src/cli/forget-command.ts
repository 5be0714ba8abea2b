// `cheq-rti-authz forget`: an operator forgets remembered blocks (issue #23). Reads the
// configuration as the server does and calls the admin endpoint of a running server with the
// configured token, whose memory sharing then tells every replica; without a token but with
// redis_url, it appends the forget to the Redis stream every replica follows.

import { Client } from 'undici';
import { ConfigError, loadConfig, type AppConfig } from '../config/load-config';
import { redactUrl } from '../config/redact-url';
import {
  forgetBody,
  forgetChanges,
  memorySitesOf,
  parseForgetRequest,
  type ForgetRequest,
} from '../memory/forget-request';
import { publishChanges } from '../memory/redis-publish';
import { ADMIN_FORGET_PATH } from '../observability/admin-endpoint';
import { EXIT_CONFIG_ERROR } from './serve-command';

export const FORGET_USAGE = `Usage: cheq-rti-authz forget (--ip ADDRESS [--user-agent UA] | --duid ID | --all)
                             [--site NAME] [--server URL] [--config FILE] [--SETTING VALUE ...]

Forgets remembered blocks (the verdict memory) on every replica: every key of one client IP
(any User-Agent, or only --user-agent's), of one CHEQ device id (_cq_duid), or everything.
Calls the admin endpoint POST ${ADMIN_FORGET_PATH} with admin_token, read from the same
file, environment and flags as the server's; without an admin token but with redis_url, appends
the forget to the Redis stream every replica follows.
Exit status: 0 when done, 1 when the call failed, 2 on bad options or configuration.

Options:
  --ip ADDRESS            the client IP as the server resolved it (an IPv6 one: its whole /64)
  --user-agent UA         with --ip: only this User-Agent
  --duid ID               a CHEQ device id
  --all                   everything remembered
  --site NAME             only this site (default: every served site; not with --all)
  --server URL            the server's metrics port (default http://127.0.0.1:<metrics_port>);
                          needs admin_token
`;

/** How long the server may take to answer (a cluster primary waits for its workers). */
const CALL_TIMEOUT_MS = 10_000;

const VALUE_FLAGS = ['ip', 'user-agent', 'duid', 'site', 'server'] as const;
type ValueFlag = (typeof VALUE_FLAGS)[number];

interface ForgetArgs {
  readonly values: Partial<Record<ValueFlag, string>>;
  readonly all: boolean;
  /** The configuration's flags, for loadConfig. */
  readonly rest: string[];
}

class UsageError extends Error {}

export interface ForgetIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const STDIO: ForgetIo = {
  out: text => process.stdout.write(text),
  err: text => process.stderr.write(text),
};

export async function forgetCommand(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: ForgetIo = STDIO,
): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(FORGET_USAGE);
    return 0;
  }
  let forget: ForgetRequest;
  let config: AppConfig;
  let server: URL | undefined;
  try {
    const parsed = splitArgs(args);
    forget = requestOf(parsed);
    config = loadConfig({ env, args: parsed.rest });
    if (config.adminToken !== undefined) server = serverOf(parsed.values.server, config);
    else if (parsed.values.server !== undefined) {
      throw new UsageError('--server needs an admin token (admin_token or admin_token_file)');
    }
  } catch (error: unknown) {
    if (error instanceof UsageError) {
      io.err(`cheq-rti-authz forget: ${error.message}\n\n${FORGET_USAGE}`);
      return 2;
    }
    if (!(error instanceof ConfigError)) throw error;
    io.err(`cheq-rti-authz forget: ${error.message}\n`);
    return EXIT_CONFIG_ERROR;
  }
  if (server !== undefined && config.adminToken !== undefined) {
    return callAdminEndpoint(server, config.adminToken, forget, io);
  }
  if (config.redis !== undefined) return publishToRedis(config, config.redis, forget, io);
  io.err(
    'cheq-rti-authz forget: no admin_token (or admin_token_file) is configured, nor redis_url: ' +
      'nothing to send the forget to\n',
  );
  return EXIT_CONFIG_ERROR;
}

async function publishToRedis(
  config: AppConfig,
  redis: NonNullable<AppConfig['redis']>,
  forget: ForgetRequest,
  io: ForgetIo,
): Promise<number> {
  const changes = forgetChanges(forget, memorySitesOf(config));
  if ('refused' in changes) {
    io.err(`cheq-rti-authz forget: ${flagNames(changes.refused)}\n`);
    return 2;
  }
  const where = `Redis ${redis.host}:${redis.port} stream ${redis.stream}`;
  try {
    await publishChanges(redis, changes, config.verdictMemory.maxEntries);
    io.out(`published ${changes.length} change(s) to ${where}: every replica applies them\n`);
    return 0;
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    io.err(`cheq-rti-authz forget: publishing to ${where} failed: ${message}\n`);
    return 1;
  }
}

function splitArgs(args: readonly string[]): ForgetArgs {
  const values: Partial<Record<ValueFlag, string>> = {};
  const rest: string[] = [];
  let all = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const [name, inline] = arg.startsWith('--') ? splitFlag(arg.slice(2)) : [arg, undefined];
    if (name === 'all') {
      if (inline !== undefined) throw new UsageError('--all takes no value');
      all = true;
      continue;
    }
    const flag = VALUE_FLAGS.find(f => f === name);
    if (flag === undefined) {
      rest.push(arg);
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`--${flag} needs a value`);
    if (values[flag] !== undefined) throw new UsageError(`--${flag} is given twice`);
    values[flag] = value;
  }
  return { values, all, rest };
}

function splitFlag(text: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  return eq < 0 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
}

/** The flags as the endpoint's body, validated by the same rules the server applies. */
function requestOf({ values, all }: ForgetArgs): ForgetRequest {
  const body = {
    ...(values.ip === undefined ? {} : { ip: values.ip }),
    ...(values['user-agent'] === undefined ? {} : { user_agent: values['user-agent'] }),
    ...(values.duid === undefined ? {} : { duid: values.duid }),
    ...(all ? { all: true } : {}),
    ...(values.site === undefined ? {} : { site: values.site }),
  };
  const parsed = parseForgetRequest(body);
  if ('refused' in parsed) throw new UsageError(flagNames(parsed.refused));
  return parsed;
}

/** The body's field names in a refusal, as the flags that set them. */
function flagNames(reason: string): string {
  return reason
    .replace(/\b(ip|duid|all|site)\b/g, '--$1')
    .replace(/\buser_agent\b/g, '--user-agent');
}

function serverOf(flag: string | undefined, config: AppConfig): URL {
  const text = flag ?? `http://127.0.0.1:${config.server.metricsPort}`;
  let url: URL;
  try {
    url = new URL(ADMIN_FORGET_PATH, text);
  } catch {
    throw new UsageError(`--server ${redactUrl(text)} is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--server must be an http:// or https:// URL`);
  }
  return url;
}

async function callAdminEndpoint(
  url: URL,
  token: string,
  forget: ForgetRequest,
  io: ForgetIo,
): Promise<number> {
  const where = redactUrl(url.origin);
  // One connection, closed after: a pooled keep-alive socket would hold the process open.
  const client = new Client(url.origin, {
    headersTimeout: CALL_TIMEOUT_MS,
    bodyTimeout: CALL_TIMEOUT_MS,
    connectTimeout: CALL_TIMEOUT_MS,
  });
  try {
    const res = await client.request({
      path: url.pathname,
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(forgetBody(forget)),
    });
    const answer = parseAnswer(await res.body.text());
    if (res.statusCode === 200 && typeof answer['forgotten'] === 'number') {
      const shared = String(answer['shared']);
      io.out(`forgot ${answer['forgotten']} remembered block(s) (shared: ${shared})\n`);
      return 0;
    }
    const error = typeof answer['error'] === 'string' ? `: ${answer['error']}` : '';
    io.err(`cheq-rti-authz forget: ${where} answered ${res.statusCode}${error}\n`);
    return 1;
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    io.err(`cheq-rti-authz forget: the call to ${where} failed: ${message}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

function parseAnswer(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
