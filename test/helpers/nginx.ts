// A real NGINX for the tests: the shipped deploy/nginx files, rendered into a private prefix
// (own config, pid file, logs and temp dirs) and started on loopback in the foreground.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DEPLOY_NGINX = join(__dirname, '..', '..', '..', 'deploy', 'nginx');
export const SHIPPED_FILES = [
  'cheq-authz-upstream.conf',
  'cheq-authz.conf',
  'cheq-authz-protect.conf',
] as const;

/** The nginx binary, or undefined when it is not installed. */
export function findNginx(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    if (existsSync(candidate)) return candidate;
  }
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise(resolve => server.close(resolve));
  return port;
}

/** A prefix holding copies of the shipped files, the upstream pointed at `authzAddress`. */
export function renderShippedConfig(prefix: string, authzAddress: string): string {
  const confDir = join(prefix, 'cheq-authz');
  mkdirSync(confDir, { recursive: true });
  for (const file of SHIPPED_FILES) {
    let text = readFileSync(join(DEPLOY_NGINX, file), 'utf8');
    if (file === 'cheq-authz-upstream.conf') {
      text = text.replace(/server 127\.0\.0\.1:8080;/, `server ${authzAddress};`);
      if (!text.includes(authzAddress)) throw new Error('upstream server line not found');
    }
    writeFileSync(join(confDir, file), text);
  }
  return confDir;
}

/** Directives that keep an NGINX run inside its prefix. */
export function privateRunDirectives(prefix: string): { main: string; http: string } {
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return {
    main: `${user}daemon off;\nworker_processes 1;\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/error.log info;\n`,
    http: ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
      .map(kind => `${kind}_temp_path ${prefix}/${kind}_temp;`)
      .join('\n'),
  };
}

export function nginxTest(
  nginx: string,
  prefix: string,
  confFile: string,
): { ok: boolean; output: string } {
  const result = spawnSync(
    nginx,
    ['-t', '-p', prefix, '-c', confFile, '-e', `${prefix}/error.log`],
    {
      encoding: 'utf8',
    },
  );
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

export interface RunningNginx {
  readonly url: string;
  readonly prefix: string;
  errorLog(): string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /**
   * The protected location's proxy_pass: `http://app` (default) passes the client's URI as
   * sent; `http://app/` (a URI part) passes NGINX's normalised, decoded path instead.
   */
  readonly proxyPass?: 'http://app' | 'http://app/';
}

/**
 * Starts NGINX with the shipped files in front of `appAddress`, asking `authzAddress`.
 */
export async function startNginx(
  nginx: string,
  authzAddress: string,
  appAddress: string,
  options: NginxOptions = {},
): Promise<RunningNginx> {
  return startNginxWith(nginx, (prefix, port) => {
    const confDir = renderShippedConfig(prefix, authzAddress);
    return `
    include ${confDir}/cheq-authz-upstream.conf;
    upstream app { server ${appAddress}; keepalive 4; }
    server {
        listen 127.0.0.1:${port};
        include ${confDir}/cheq-authz.conf;
        location / {
            include ${confDir}/cheq-authz-protect.conf;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_pass ${options.proxyPass ?? 'http://app'};
        }
    }`;
  });
}

/**
 * Starts NGINX in a private prefix with the http {} contents `renderHttp` returns; it must
 * listen on 127.0.0.1:`port`.
 */
/**
 * The shipped deploy/nginx/example.conf on loopback, as written but for its addresses: the
 * authz upstream, the app, both listen lines (the site and the catch-all default server).
 */
export function startExampleNginx(
  nginx: string,
  authzAddress: string,
  appAddress: string,
): Promise<RunningNginx> {
  const example = readFileSync(join(DEPLOY_NGINX, 'example.conf'), 'utf8');
  const http = /^http \{\n([\s\S]*)\n\}\s*$/m.exec(example)?.[1];
  if (http === undefined) throw new Error('no http {} in example.conf');
  return startNginxWith(nginx, (prefix, port) => {
    const conf = renderShippedConfig(prefix, authzAddress);
    const rendered = http
      .replaceAll('/etc/nginx/cheq-authz', conf)
      .replace('server 127.0.0.1:3000;', `server ${appAddress};`)
      .replace('listen 80;', `listen 127.0.0.1:${port};`)
      .replace('listen 80 default_server;', `listen 127.0.0.1:${port} default_server;`)
      .replace('logs/access.log', `${prefix}/access.log`);
    for (const part of [conf, appAddress, `${port};`, `${port} default_server;`]) {
      if (!rendered.includes(part)) throw new Error(`example.conf changed: ${part} not set`);
    }
    return rendered;
  });
}

export async function startNginxWith(
  nginx: string,
  renderHttp: (prefix: string, port: number) => string,
): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'cheq-nginx-'));
  const port = await freePort();
  const run = privateRunDirectives(prefix);
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `${run.main}
events { worker_connections 256; }
http {
    ${run.http}
    access_log ${prefix}/access.log;
    ${renderHttp(prefix, port)}
}
`,
  );
  const check = nginxTest(nginx, prefix, conf);
  if (!check.ok) throw new Error(`nginx -t failed:\n${check.output}`);
  const child: ChildProcess = spawn(
    nginx,
    ['-p', prefix, '-c', conf, '-e', `${prefix}/error.log`],
    {
      stdio: 'ignore',
    },
  );
  await waitForPort(port, child);
  return {
    url: `http://127.0.0.1:${port}`,
    prefix,
    errorLog: () => readFileSync(join(prefix, 'error.log'), 'utf8'),
    async stop() {
      const exited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGQUIT');
      await exited;
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`);
    const open = await new Promise<boolean>(resolve => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > until) throw new Error(`nginx did not listen on ${port}`);
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}
