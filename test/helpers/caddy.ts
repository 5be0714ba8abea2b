// A real Caddy for the tests: a given Caddyfile (a recipe, its addresses swapped for loopback
// ones) run in the foreground from a private directory, admin API off, on a free port.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './nginx';
import { recipeBlock } from './doc-recipes';

/** The caddy binary, or undefined when it is not installed. */
export function findCaddy(): string | undefined {
  for (const candidate of ['/usr/bin/caddy', '/usr/local/bin/caddy']) {
    if (existsSync(candidate)) return candidate;
  }
  const which = spawnSync('sh', ['-c', 'command -v caddy'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

export interface CaddySite {
  /** Caddyfile text with site blocks only (the helper adds the global options). */
  readonly caddyfile: string;
  /** The site address in the text (e.g. `shop.example.com`); Caddy serves it on loopback. */
  readonly site: string;
  /** Each address in the text (e.g. `app:3000`) and the `host:port` to put in its place. */
  readonly upstreams: Readonly<Record<string, string>>;
}

export interface RunningCaddy {
  /** `http://127.0.0.1:<port>`: the site. */
  readonly url: string;
  /** The Caddyfile as run. */
  readonly caddyfile: string;
  /** What Caddy wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `caddy run` on `site.caddyfile`, every address replaced (each must occur, so a recipe
 * that drifts fails here). Config, data and storage stay in a temp directory; no admin API,
 * no automatic HTTPS.
 */
export async function startCaddy(caddy: string, site: CaddySite): Promise<RunningCaddy> {
  const dir = mkdtempSync(join(tmpdir(), 'cheq-caddy-'));
  const port = await freePort();
  const caddyfile = `{
	admin off
	auto_https off
	storage file_system ${dir}/data
	grace_period 1s
}

${replaceAddresses(site, `http://127.0.0.1:${port}`)}`;
  const file = join(dir, 'Caddyfile');
  writeFileSync(file, caddyfile);
  const child = spawn(caddy, ['run', '--config', file, '--adapter', 'caddyfile'], {
    env: { PATH: process.env['PATH'] ?? '', HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, child);
  } catch (err: unknown) {
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${output}\n${caddyfile}`);
  }
  return { url: `http://127.0.0.1:${port}`, caddyfile, output: () => output, stop };
}

export interface RecipeCaddyOptions {
  /**
   * `trusted_proxies` inside `forward_auth` (Caddy 2.6 has no global setting): X-Forwarded-For
   * from a peer in these ranges is appended to, from any other replaced by the peer's address.
   */
  readonly trustedProxies?: string;
}

/**
 * The Caddy recipe of docs/caddy.md, as written there, in front of `app`, asking our server at `authz`
 * (both `host:port`).
 */
export function startRecipeCaddy(
  caddy: string,
  authz: string,
  app: string,
  { trustedProxies }: RecipeCaddyOptions = {},
): Promise<RunningCaddy> {
  let caddyfile = recipeBlock('caddy.md', 'caddy', 'forward_auth');
  if (trustedProxies !== undefined) {
    const uri = /^([\t ]*)uri \/api\/authz\/forward-auth\n/m;
    if (!uri.test(caddyfile)) throw new Error('forward_auth has no uri line');
    caddyfile = caddyfile.replace(uri, `$&$1trusted_proxies ${trustedProxies}\n`);
  }
  return startCaddy(caddy, {
    caddyfile,
    site: 'shop.example.com',
    upstreams: { 'cheq-rti-authz:8080': authz, 'app:3000': app },
  });
}

function replaceAddresses(site: CaddySite, siteUrl: string): string {
  let text = site.caddyfile;
  for (const [from, to] of [[site.site, siteUrl], ...Object.entries(site.upstreams)] as const) {
    if (!text.includes(from)) throw new Error(`${from} does not occur in the Caddyfile`);
    text = text.replaceAll(from, to);
  }
  return text;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', code => reject(new Error(`caddy exited with ${code}`))),
  );
  exited.catch(() => undefined);
  const until = Date.now() + timeoutMs;
  for (;;) {
    const open = await Promise.race([
      new Promise<boolean>(resolve => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      }),
      exited,
    ]);
    if (open) return;
    if (Date.now() > until) throw new Error(`caddy did not listen on ${port}`);
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}
