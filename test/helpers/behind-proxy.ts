// Fixtures for tests through a real proxy: an RTI stand-in and the app behind the proxy for a
// describe block, and our service with the proxy in front of it for that block or a nested one.

import { verdict, type FakeRti, type RtiBehaviour } from './fake-rti-server';
import { requireProxy } from './require-proxy';
import { startService, type TestService } from './start-service';
import type { RecordingApp } from './upstream-app';

/** The headers of a browser's navigation. */
export const BROWSER = {
  'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
  Accept: 'text/html,application/xhtml+xml',
  'Sec-Fetch-Mode': 'navigate',
};

/** RTI by User-Agent: `bot` a bot (2), `vpn` a VPN (14), `slow` never answered; others valid. */
export function byUserAgent(form: URLSearchParams): RtiBehaviour {
  const ua = form.get('UserAgent') ?? '';
  if (ua.includes('bot')) return verdict({ isInvalid: true, threatTypeCode: 2 });
  if (ua.includes('vpn')) return verdict({ isInvalid: true, threatTypeCode: 14 });
  if (ua.includes('slow')) return { kind: 'hang' };
  return verdict({});
}

export interface AppBehindProxy<App extends RecordingApp> {
  readonly rti: FakeRti;
  readonly app: App;
  /** `127.0.0.1:<port>`, where the proxy reaches the app. */
  readonly appAddress: string;
}

/**
 * Registers the hooks in the calling describe block: `rti` (made with `new`) and `app` listen
 * before its first test and close after its last; what either recorded is cleared before each
 * test.
 */
export function appBehindProxy<App extends RecordingApp>(
  rti: FakeRti,
  app: App,
): AppBehindProxy<App> {
  const context = { rti, app, appAddress: '' };
  before(async () => {
    await rti.listen();
    context.appAddress = await app.start();
  });
  after(async () => {
    await app.close();
    await rti.close();
  });
  beforeEach(() => {
    rti.calls.length = 0;
    app.seen.length = 0;
  });
  return context;
}

/** A proxy in front of the app, asking our service; `url` is where clients connect. */
export interface RunningProxy {
  readonly url: string;
  stop(): Promise<void>;
}

export interface ProxyRecipe<Proxy extends RunningProxy> {
  /** Its Debian package. */
  readonly pkg: 'nginx' | 'caddy';
  /** Its binary, or undefined when it is not installed. */
  readonly binary: string | undefined;
  start(binary: string, authzAddress: string, appAddress: string): Promise<Proxy>;
}

export interface ServiceBehindProxy<Proxy extends RunningProxy> {
  readonly service: TestService;
  readonly proxy: Proxy;
  /** The proxy's URL. */
  readonly url: string;
}

/**
 * Registers the hooks in the calling describe block (inside appBehindProxy's `site`): before
 * its first test, our service asking `site.rti` with `env`, and the proxy `recipe` starts in
 * front of `site.app` asking it; both stopped after its last test.
 */
export function serviceBehindProxy<Proxy extends RunningProxy>(
  site: AppBehindProxy<RecordingApp>,
  env: Readonly<Record<string, string>>,
  recipe: ProxyRecipe<Proxy>,
): ServiceBehindProxy<Proxy> {
  const context = {
    get url() {
      return context.proxy.url;
    },
  } as { service: TestService; proxy: Proxy; readonly url: string };
  before(async function () {
    const binary = requireProxy(recipe.pkg, recipe.binary);
    context.service = await startService(site.rti.url, env);
    const authz = `127.0.0.1:${context.service.app.httpPort}`;
    context.proxy = await recipe.start(binary, authz, site.appAddress);
  });
  after(async () => {
    await context.proxy?.stop();
    await context.service?.close();
  });
  return context;
}
