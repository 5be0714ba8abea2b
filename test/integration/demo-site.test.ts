// The demo's protected site: what it asks the forward-auth endpoint (a recording stand-in here,
// then the real server in `demo`), that our non-2xx answers reach the browser as they are, and
// its own verdict control.

import { strict as assert } from 'node:assert';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { checkProofOfWork } from '../../src/challenge/proof-of-work';
import { DEMO_VERDICT_COOKIE, startDemoSite, type DemoSite } from '../../src/demo/demo-site';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

const BROWSER = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
  accept: 'text/html',
  'sec-fetch-mode': 'navigate',
};

describe('demo site', () => {
  /** What the stand-in forward-auth endpoint received, and how it answers next. */
  const asked: IncomingHttpHeaders[] = [];
  let answer: (res: ServerResponse) => void = res => res.writeHead(200).end();
  const auth = createServer((req, res) => {
    asked.push(req.headers);
    answer(res);
  });
  let site: DemoSite;
  const agent = new Agent({ keepAliveTimeout: 10 });

  before(async () => {
    await new Promise<void>(resolve => auth.listen(0, '127.0.0.1', resolve));
    const { port } = auth.address() as AddressInfo;
    site = await startDemoSite({
      host: '127.0.0.1',
      port: 0,
      forwardAuthUrl: Promise.resolve(new URL(`http://127.0.0.1:${port}/api/authz/forward-auth`)),
      dispatcher: agent,
    });
  });
  after(async () => {
    await site.close();
    auth.closeAllConnections();
    await new Promise(resolve => auth.close(resolve));
    await agent.close();
  });
  beforeEach(() => {
    asked.splice(0);
    answer = res => res.writeHead(200).end();
  });

  function get(path: string, headers: Record<string, string> = BROWSER) {
    return request(new URL(path, site.url), { headers, dispatcher: agent });
  }

  it('serves its page when forward auth allows, having described the request as Caddy does', async () => {
    const res = await get('/', {
      ...BROWSER,
      cookie: `${DEMO_VERDICT_COOKIE}=suspicious; _cq_se=pass`,
      // Forged by the client: the site sets its own.
      'x-forwarded-uri': '/admin',
      'x-forwarded-for': '198.51.100.1',
    });
    const page = await res.body.text();
    assert.equal(res.statusCode, 200);
    assert.match(page, /Allowed\./);
    assert.match(page, /calls you <strong>suspicious<\/strong>/);
    assert.match(page, /You passed a challenge/);
    const [headers] = asked;
    assert.ok(headers);
    assert.equal(headers['x-forwarded-method'], 'GET');
    assert.equal(headers['x-forwarded-uri'], '/');
    assert.equal(headers['x-forwarded-proto'], 'http');
    assert.equal(headers['x-forwarded-host'], new URL(site.url).host);
    assert.equal(headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(headers['user-agent'], BROWSER['user-agent']);
    assert.equal(headers['sec-fetch-mode'], 'navigate');
    assert.equal(headers.cookie, `${DEMO_VERDICT_COOKIE}=suspicious; _cq_se=pass`);
  });

  it('passes a deny to the browser as it is: status, headers and body', async () => {
    answer = res =>
      res
        .writeHead(403, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': "default-src 'none'",
          'x-cheq-request-id': 'req-1',
        })
        .end('<h1>Access denied</h1>');
    const res = await get('/products?id=7');
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['content-security-policy'], "default-src 'none'");
    assert.equal(res.headers['x-cheq-request-id'], 'req-1');
    assert.equal(await res.body.text(), '<h1>Access denied</h1>');
    assert.equal(asked[0]?.['x-forwarded-uri'], '/products?id=7');
  });

  it('passes the verify redirect with every Set-Cookie as it is', async () => {
    answer = res =>
      res
        .writeHead(302, [
          ['location', '/?cq_ok=grant'],
          ['set-cookie', '_cq_se=pass; Path=/; HttpOnly; SameSite=Lax'],
          ['set-cookie', '_cheq_rti=rti; Path=/'],
        ])
        .end();
    const res = await get('/_cheq/challenge/verify?t=token&s=42');
    await res.body.dump();
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers['location'], '/?cq_ok=grant');
    assert.deepEqual(res.headers['set-cookie'], [
      '_cq_se=pass; Path=/; HttpOnly; SameSite=Lax',
      '_cheq_rti=rti; Path=/',
    ]);
  });

  it('sets the emulator verdict cookie without asking forward auth, so a blocked visitor can undo it', async () => {
    answer = res => res.writeHead(403).end();
    const res = await get('/_demo/verdict?v=malicious');
    await res.body.dump();
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers['location'], '/');
    assert.equal(
      res.headers['set-cookie'],
      `${DEMO_VERDICT_COOKIE}=malicious; Path=/; SameSite=Lax`,
    );
    assert.equal(asked.length, 0);
  });

  it('refuses a verdict it does not know', async () => {
    const res = await get('/_demo/verdict?v=%3Cscript%3E');
    assert.equal(res.statusCode, 400);
    assert.doesNotMatch(await res.body.text(), /<script>/);
    assert.equal(asked.length, 0);
  });

  it('says page not found for other paths forward auth allows', async () => {
    const res = await get('/favicon.ico');
    assert.equal(res.statusCode, 404);
    await res.body.dump();
    assert.equal(asked.length, 1);
  });

  it('answers 502 when the authorization server does not answer', async () => {
    answer = res => res.socket?.destroy();
    const res = await get('/');
    assert.equal(res.statusCode, 502);
    assert.match(await res.body.text(), /did not answer/);
  });

  describe('through `demo` (the real server and emulator)', () => {
    let proc: ServerProcess;
    let url: string;

    before(async () => {
      proc = startServerProcess(['demo'], {
        CHEQ_GRPC_PORT: '0',
        CHEQ_HTTP_PORT: '0',
        CHEQ_METRICS_PORT: '0',
        DEMO_SITE_PORT: '0',
      });
      await proc.waitForLine(line => line['msg'] === 'cheq-rti-authz listening');
      const until = Date.now() + 5000;
      while (!proc.stderr.includes('Ctrl-C') && Date.now() < until) {
        await new Promise(resolve => setTimeout(resolve, 20));
      }
      const printed = /Open (http:\/\/\S+) in a browser/.exec(proc.stderr)?.[1];
      assert.ok(printed, proc.stderr);
      url = printed;
    });
    after(async () => {
      assert.equal(await proc.stop('SIGINT'), 0);
    });

    it('serves the page (allow)', async () => {
      const res = await request(url, { headers: BROWSER, dispatcher: agent });
      assert.equal(res.statusCode, 200);
      assert.match(await res.body.text(), /Allowed\./);
    });

    it('challenges a suspicious visitor, who passes and then reaches the page', async () => {
      const vpn = { ...BROWSER, 'user-agent': 'Mozilla/5.0 vpn-client' };
      const challenged = await request(url, { headers: vpn, dispatcher: agent });
      const page = await challenged.body.text();
      assert.equal(challenged.statusCode, 403);
      const token = /data-token="([^"]+)"/.exec(page)?.[1];
      const verify = /data-verify="([^"]+)"/.exec(page)?.[1];
      const difficulty = Number(/data-difficulty="(\d+)"/.exec(page)?.[1]);
      assert.ok(token && verify && difficulty, page);
      // What the page's script does in a browser.
      let solution = 0;
      while (!checkProofOfWork(token, solution.toString(36), difficulty)) solution++;
      const verifyUrl = new URL(verify, url);
      verifyUrl.search = new URLSearchParams({ t: token, s: solution.toString(36) }).toString();
      const passed = await request(verifyUrl, { headers: vpn, dispatcher: agent });
      await passed.body.dump();
      assert.equal(passed.statusCode, 302);
      const cookies = [passed.headers['set-cookie'] ?? []].flat();
      const pass = cookies.find(cookie => cookie.startsWith('_cq_se='));
      assert.ok(pass, JSON.stringify(cookies));
      const location = new URL(String(passed.headers['location']), url);
      const landed = await request(location, {
        headers: { ...vpn, cookie: pass.split(';')[0] ?? '' },
        dispatcher: agent,
      });
      assert.equal(landed.statusCode, 200);
      assert.match(await landed.body.text(), /You passed a challenge/);
    });
  });
});
