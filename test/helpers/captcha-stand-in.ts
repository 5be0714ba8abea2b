// A captcha siteverify stand-in on loopback: records every call and answers as the test scripts
// it, in the shapes Turnstile, hCaptcha and reCAPTCHA answer, or never answers at all.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WIDGET_ACTION } from '../../src/challenge/providers/captcha-provider';
import type { CaptchaProviderName } from '../../src/challenge/providers/challenge-provider-name';

export type SiteverifyScript =
  /** 200 with this body as JSON. */
  | { readonly kind: 'json'; readonly body: unknown }
  | { readonly kind: 'raw'; readonly status: number; readonly body: string }
  /** Reads the call and never answers. */
  | { readonly kind: 'hang' };

export interface SiteverifyCall {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly form: URLSearchParams;
}

/** What a test asks the provider to say. */
export type Scenario = 'pass' | 'fail' | 'low_score' | 'hang' | 'garbage' | 'wrong_hostname';
export const SCENARIOS: readonly Scenario[] = [
  'pass',
  'fail',
  'low_score',
  'hang',
  'garbage',
  'wrong_hostname',
];

/** The answer `provider` gives in `scenario`, for a challenge served on `hostname`. */
export function scenarioScript(
  provider: CaptchaProviderName,
  scenario: Scenario,
  hostname: string,
): SiteverifyScript {
  switch (scenario) {
    case 'pass':
      return { kind: 'json', body: passAnswer(provider, hostname, 0.9) };
    case 'fail':
      return { kind: 'json', body: { success: false, 'error-codes': ['invalid-input-response'] } };
    case 'low_score':
      return { kind: 'json', body: passAnswer(provider, hostname, 0.1) };
    case 'hang':
      return { kind: 'hang' };
    case 'garbage':
      // What a CDN's error page in front of the API looks like.
      return { kind: 'raw', status: 200, body: '<html><title>Just a moment...</title></html>' };
    case 'wrong_hostname':
      return { kind: 'json', body: passAnswer(provider, 'phish.example', 0.9) };
  }
}

/** A successful answer as each provider words it (scores only where it gives them). */
export function passAnswer(
  provider: CaptchaProviderName,
  hostname: string,
  score: number,
): Record<string, unknown> {
  const common = { success: true, challenge_ts: '2026-12-06T14:00:00Z', hostname };
  switch (provider) {
    case 'turnstile':
      return { ...common, 'error-codes': [], action: WIDGET_ACTION, cdata: '' };
    case 'hcaptcha':
      // hCaptcha Enterprise adds a score; ours is not judged for hCaptcha.
      return { ...common, credit: false, score };
    case 'recaptcha-v2':
      return common;
    case 'recaptcha-v3':
      return { ...common, score, action: WIDGET_ACTION };
  }
}

export class CaptchaStandIn {
  readonly calls: SiteverifyCall[] = [];
  /** Decides each answer; a Turnstile pass for example.com unless a test says otherwise. */
  script: (call: SiteverifyCall) => SiteverifyScript = () =>
    scenarioScript('turnstile', 'pass', 'example.com');
  private readonly server = createServer((req, res) => this.handle(req, res));

  static async start(): Promise<CaptchaStandIn> {
    const standIn = new CaptchaStandIn();
    await new Promise<void>(resolve => standIn.server.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  /** Its siteverify URL (challenge_verify_url). */
  get url(): URL {
    return new URL(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}/siteverify`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise(resolve => this.server.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const call: SiteverifyCall = {
        method: req.method ?? '',
        path: req.url ?? '',
        contentType: req.headers['content-type'],
        form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      };
      this.calls.push(call);
      const script = this.script(call);
      switch (script.kind) {
        case 'json':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(script.body));
          return;
        case 'raw':
          res.writeHead(script.status, { 'content-type': 'text/html' });
          res.end(script.body);
          return;
        case 'hang':
          return;
      }
    });
  }
}
