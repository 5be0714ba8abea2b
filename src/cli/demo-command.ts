// `cheq-rti-authz demo`: the server in blocking mode against the built-in RTI emulator (no
// credentials needed; it answers v1 and v4, `--api-version v4` picks the latter), serving the
// challenge itself, a small protected site to open in a browser (src/demo/demo-site.ts), plus
// copy-paste commands that show allow, deny and the challenge.

import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { relative } from 'node:path';
import { FORWARD_AUTH_PATH } from '../adapters/http/forward-auth';
import { startDemoSite, VERDICT_PATH, type DemoSite } from '../demo/demo-site';
import { startRtiEmulator } from '../emulator/rti-emulator';
import { serve } from './serve-command';
import type { ListeningPorts } from './serve-hooks';

/** The demo site's port unless DEMO_SITE_PORT says otherwise (0: any free one). */
export const DEFAULT_DEMO_SITE_PORT = 8000;

/** Runs the demo until it has stopped; resolves with the exit code. */
export async function demo(args: readonly string[]): Promise<number> {
  // A cluster worker runs this too: the primary forked it with the demo's settings (its
  // emulator, its secrets), and serves the site and prints.
  if (cluster.isWorker) return serve({ env: process.env, args });
  const emulator = await startRtiEmulator();
  // Loopback unless the user chose a host (HOST, its old name, included).
  const host = process.env['CHEQ_HOST'] ?? process.env['HOST'];
  const env: Record<string, string | undefined> = {
    ...(host === undefined ? { CHEQ_HOST: '127.0.0.1' } : {}),
    ...process.env,
    CHEQ_API_ENDPOINT: emulator.url,
    CHEQ_API_KEY: 'demo-api-key',
    CHEQ_API_KEY_FILE: '',
    CHEQ_TAG_HASH: 'demo-tag-hash',
    CHEQ_MODE: 'blocking',
    CHEQ_CHALLENGE_STRATEGY: 'challenge',
    // Made for this run (workers get the same: they are forked with this env); passes from an
    // earlier run do not verify.
    CHEQ_CHALLENGE_SECRET: randomBytes(32).toString('base64url'),
    CHEQ_CHALLENGE_SECRET_FILE: '',
    // A browser asks the emulator for a verdict with the cheq_demo_verdict cookie.
    CHEQ_DEMO_VERDICT_COOKIE: 'true',
  };
  const port = demoSitePort(process.env['DEMO_SITE_PORT']);
  if (port === undefined) {
    process.stderr.write('cheq-rti-authz demo: DEMO_SITE_PORT must be a port number (0-65535)\n');
    await emulator.close();
    return 2;
  }
  let serverListening: (forwardAuthUrl: URL) => void = () => undefined;
  let site: DemoSite;
  try {
    site = await startDemoSite({
      host: host ?? '127.0.0.1',
      port,
      forwardAuthUrl: new Promise(resolve => (serverListening = resolve)),
    });
  } catch (err: unknown) {
    const why = err instanceof Error ? err.message : String(err);
    process.stderr.write(
      `cheq-rti-authz demo: the demo site cannot listen on port ${port} (${why}); set DEMO_SITE_PORT\n`,
    );
    await emulator.close();
    return 1;
  }
  return serve(
    { env, args },
    {
      onListening: ports => {
        // The server listens on the site's host.
        const { hostname } = new URL(site.url);
        serverListening(new URL(`http://${hostname}:${ports.httpPort}${FORWARD_AUTH_PATH}`));
        printTryIt(ports, site);
      },
      onStopped: async () => {
        await site.close();
        await emulator.close();
      },
    },
  );
}

function demoSitePort(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return DEFAULT_DEMO_SITE_PORT;
  const port = Number(value);
  return /^\d+$/.test(value) && port <= 65535 ? port : undefined;
}

function printTryIt({ grpcPort, httpPort, metricsPort }: ListeningPorts, site: DemoSite): void {
  const main = relative(process.cwd(), process.argv[1] ?? 'dist/main.js') || 'dist/main.js';
  const check = `node ${main} check --target 127.0.0.1:${grpcPort} --url 'https://shop.example/products?id=7' --ip 203.0.113.9`;
  const browser = `--header 'accept: text/html' --header 'sec-fetch-mode: navigate'`;
  process.stderr.write(
    [
      '',
      'cheq-rti-authz demo: blocking mode, RTI emulated (verdict from the User-Agent).',
      'Challenges are served by this server (challenge_strategy challenge, provider browser),',
      'signed with a random secret made for this run.',
      '',
      `Open ${site.url} in a browser: a small site behind the forward-auth endpoint, as Caddy`,
      'or Traefik would put it. Its links make the emulator call you suspicious or malicious;',
      `${new URL(VERDICT_PATH, site.url).href}?v=benign makes you benign again.`,
      '',
      'Try, in another terminal:',
      '',
      '  # allow: a browser',
      `  ${check} ${browser} --header 'user-agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0'`,
      '',
      '  # deny 403: "bot" in the User-Agent is a scraper (threat type 2, block group);',
      '  # --explain adds the verdict and the policy rule that acted',
      `  ${check} --explain --header 'accept: application/json' --header 'user-agent: price-bot/2.1'`,
      '',
      '  # challenge: "vpn" is threat type 14 (challenge group); a navigation gets the page (403)',
      `  ${check} ${browser} --header 'user-agent: Mozilla/5.0 vpn-client'`,
      '',
      '  # the same through the NGINX auth_request endpoint (deny: 403)',
      `  curl -si http://127.0.0.1:${httpPort}/api/authz/auth-request -H 'X-Original-URI: /products?id=7' \\`,
      `    -H 'X-Original-Method: GET' -H 'X-Original-Host: shop.example' -H 'X-Real-IP: 203.0.113.9' -H 'User-Agent: price-bot/2.1'`,
      '',
      `  # metrics`,
      `  curl -s http://127.0.0.1:${metricsPort}/metrics | grep '^cheq_authz_decisions_total'`,
      '',
      'Ctrl-C stops the demo.',
      '',
    ].join('\n'),
  );
}
