// `cheq-rti-authz demo`: the server in blocking mode against the built-in RTI emulator (no
// credentials needed; it answers v1 and v4, `--api-version v4` picks the latter), plus
// copy-paste commands that show allow, deny and redirect.

import { relative } from 'node:path';
import { startRtiEmulator } from '../emulator/rti-emulator';
import { serve } from './serve-command';
import type { ListeningPorts } from './serve-hooks';

export const DEMO_CHALLENGE_URL = 'https://www.example.com/verify-you-are-human';

/** Runs the demo until it has stopped; resolves with the exit code. */
export async function demo(args: readonly string[]): Promise<number> {
  const emulator = await startRtiEmulator();
  const env: Record<string, string | undefined> = {
    // Loopback unless the user chose a host (HOST, its old name, included).
    ...(process.env['CHEQ_HOST'] === undefined && process.env['HOST'] === undefined
      ? { CHEQ_HOST: '127.0.0.1' }
      : {}),
    ...process.env,
    CHEQ_API_ENDPOINT: emulator.url,
    CHEQ_API_KEY: 'demo-api-key',
    CHEQ_API_KEY_FILE: '',
    CHEQ_TAG_HASH: 'demo-tag-hash',
    CHEQ_MODE: 'blocking',
    CHEQ_CHALLENGE_ACTION: 'redirect',
    CHEQ_CHALLENGE_URL: DEMO_CHALLENGE_URL,
    // A browser asks the emulator for a verdict with the cheq_demo_verdict cookie.
    CHEQ_DEMO_VERDICT_COOKIE: 'true',
  };
  return serve(
    { env, args },
    {
      onListening: ports => printTryIt(ports),
      onStopped: () => emulator.close(),
    },
  );
}

function printTryIt({ grpcPort, httpPort, metricsPort }: ListeningPorts): void {
  const main = relative(process.cwd(), process.argv[1] ?? 'dist/main.js') || 'dist/main.js';
  const check = `node ${main} check --target 127.0.0.1:${grpcPort} --url 'https://shop.example/products?id=7' --ip 203.0.113.9`;
  const browser = `--header 'accept: text/html' --header 'sec-fetch-mode: navigate'`;
  process.stderr.write(
    [
      '',
      'cheq-rti-authz demo: blocking mode, RTI emulated (verdict from the User-Agent).',
      'Try, in another terminal:',
      '',
      '  # allow: a browser',
      `  ${check} ${browser} --header 'user-agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0'`,
      '',
      '  # deny 403: "bot" in the User-Agent is a scraper (threat type 2, block group);',
      '  # --explain adds the verdict and the policy rule that acted',
      `  ${check} --explain --header 'accept: application/json' --header 'user-agent: price-bot/2.1'`,
      '',
      '  # redirect 302 to the challenge page: "vpn" is threat type 14 (challenge group)',
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
