// `cheq-rti-authz check`: sends one CheckRequest, built from flags the way Envoy builds it, to
// a running server and prints the decision, to probe a live deployment without grpcurl.

import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadExtAuthzPackage } from '../adapters/grpc/load-protos';
import type { CheckRequest } from '../generated/envoy/service/auth/v3/CheckRequest';
import type { CheckResponse__Output } from '../generated/envoy/service/auth/v3/CheckResponse';
import type { HeaderValueOption__Output } from '../generated/envoy/config/core/v3/HeaderValueOption';

export const CHECK_USAGE = `Usage: cheq-rti-authz check --url URL [options]

Sends one Envoy ext_authz CheckRequest to a running server and prints the decision.
Exit status: 0 when the server answered (allow, deny or redirect), 1 when the call failed,
2 on bad options.

Options:
  --target HOST:PORT      gRPC address of the server (default 127.0.0.1:9001)
  --url URL               the end user's request URL, e.g. https://shop.example/cart?x=1
  --method METHOD         HTTP method (default GET)
  --header 'NAME: VALUE'  an end-user request header; repeat for more
  --ip ADDRESS            the end user's address, sent as the downstream peer
  --context KEY=VALUE     a context_extensions entry (cheq_event_type, cheq_mode, cheq_site,
                          cheq_enforce_percent); repeatable
  --timeout-ms MS         deadline of the call (default 2000)
  --explain               also print why: RTI's verdict, code, risk score, ray id and the
                          policy rule that acted, or why RTI could not be asked and, for a
                          decision from the verdict memory, its key and expiry (from the
                          answer's dynamic metadata)
  --json                  print the raw CheckResponse as JSON
`;

class UsageError extends Error {}

interface CheckOptions {
  readonly target: string;
  readonly request: CheckRequest;
  readonly timeoutMs: number;
  readonly json: boolean;
  readonly explain: boolean;
}

export async function checkCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(CHECK_USAGE);
    return 0;
  }
  let options: CheckOptions;
  try {
    options = parseCheckArgs(args);
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`cheq-rti-authz check: ${message}\n\n${CHECK_USAGE}`);
    return 2;
  }
  const pkg = loadExtAuthzPackage();
  const client = new pkg.proto.envoy.service.auth.v3.Authorization(
    options.target,
    grpc.credentials.createInsecure(),
  );
  try {
    const response = await new Promise<CheckResponse__Output>((resolve, reject) => {
      client.Check(options.request, { deadline: Date.now() + options.timeoutMs }, (err, value) =>
        err || !value ? reject(err ?? new Error('empty answer')) : resolve(value),
      );
    });
    process.stdout.write(
      options.json
        ? `${JSON.stringify(response, null, 2)}\n`
        : describe(response) + (options.explain ? explain(response) : ''),
    );
    return 0;
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(
      `cheq-rti-authz check: the call to ${options.target} failed: ${message}\n`,
    );
    return 1;
  } finally {
    client.close();
  }
}

export function parseCheckArgs(args: string[]): CheckOptions {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: 'string', default: '127.0.0.1:9001' },
      url: { type: 'string' },
      method: { type: 'string', default: 'GET' },
      header: { type: 'string', multiple: true, default: [] },
      ip: { type: 'string' },
      context: { type: 'string', multiple: true, default: [] },
      'timeout-ms': { type: 'string', default: '2000' },
      json: { type: 'boolean', default: false },
      explain: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (!values.url) throw new UsageError('--url is required');
  let url: URL;
  try {
    url = new URL(values.url);
  } catch {
    throw new UsageError(`--url ${values.url} is not an absolute URL`);
  }
  const timeoutMs = Number(values['timeout-ms']);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw new UsageError('--timeout-ms must be a positive integer');
  }
  const method = values.method.toUpperCase();
  const path = `${url.pathname}${url.search}`;
  const scheme = url.protocol.slice(0, -1);
  // Envoy's header map: pseudo-headers first, lower-case names, repeated headers comma-joined.
  const headers: Record<string, string> = {
    ':authority': url.host,
    ':path': path,
    ':method': method,
    ':scheme': scheme,
  };
  for (const header of values.header) {
    const colon = header.indexOf(':');
    if (colon <= 0) throw new UsageError(`--header ${JSON.stringify(header)} is not NAME: VALUE`);
    const name = header.slice(0, colon).trim().toLowerCase();
    const value = header.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  // Envoy always adds a request id; so does this probe, unless one was given.
  headers['x-request-id'] ??= randomUUID();
  const contextExtensions: Record<string, string> = {};
  for (const entry of values.context) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new UsageError(`--context ${JSON.stringify(entry)} is not KEY=VALUE`);
    contextExtensions[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  const now = Date.now();
  return {
    target: values.target,
    timeoutMs,
    json: values.json,
    explain: values.explain,
    request: {
      attributes: {
        ...(values.ip ? { source: { address: { socket_address: { address: values.ip } } } } : {}),
        request: {
          time: { seconds: String(Math.floor(now / 1000)), nanos: (now % 1000) * 1e6 },
          http: { method, path, host: url.host, scheme, protocol: 'HTTP/1.1', headers },
        },
        context_extensions: contextExtensions,
      },
    },
  };
}

function describe(response: CheckResponse__Output): string {
  const lines: string[] = [];
  const code = response.status?.code ?? 0;
  if (code === 0) {
    lines.push('ALLOW');
    const ok = response.ok_response;
    for (const h of ok?.headers ?? []) lines.push(`  upstream header   ${headerLine(h)}`);
    for (const name of ok?.headers_to_remove ?? []) lines.push(`  upstream remove   ${name}`);
    for (const h of ok?.response_headers_to_add ?? [])
      lines.push(`  response header   ${headerLine(h)}`);
  } else {
    const denied = response.denied_response;
    const status = denied?.status?.code ?? 403;
    lines.push(`${status === 302 ? 'REDIRECT' : 'DENY'} ${status} (grpc status ${code})`);
    for (const h of denied?.headers ?? []) lines.push(`  response header   ${headerLine(h)}`);
    if (denied?.body) lines.push(`  body              ${denied.body.trim().slice(0, 200)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The decision's dynamic metadata (src/adapters/grpc/to-check-response.ts), one line each. */
function explain(response: CheckResponse__Output): string {
  const fields = response.dynamic_metadata?.fields ?? {};
  const lines = Object.entries(EXPLAINED).map(([key, label]) => {
    const value = fields[key];
    const text = value?.stringValue ?? value?.numberValue;
    return `  ${label.padEnd(18)}${text === undefined ? '-' : String(text)}`;
  });
  const key = fields['cheq_memory_key']?.stringValue;
  if (key) {
    const until = fields['cheq_memory_expires_at']?.stringValue ?? '-';
    lines.push(`  ${'memory'.padEnd(18)}from verdict memory: key ${key}, expires ${until}`);
  }
  return `${lines.join('\n')}\n`;
}

const EXPLAINED: Readonly<Record<string, string>> = {
  cheq_reason: 'reason',
  cheq_rule: 'rule',
  cheq_verdict: 'verdict',
  cheq_threat_type: 'threat type code',
  cheq_risk_score: 'risk score',
  cheq_ray_id: 'ray id',
  cheq_failure: 'failure',
};

function headerLine(option: HeaderValueOption__Output): string {
  return `${option.header?.key ?? ''}: ${option.header?.value ?? ''}`;
}
