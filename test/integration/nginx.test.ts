// End to end through a real NGINX with the shipped deploy/nginx files: NGINX → our HTTP
// listener → fake RTI, in front of a tiny upstream app that records what reaches it.

import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appBehindProxy, BROWSER, byUserAgent, serviceBehindProxy } from '../helpers/behind-proxy';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import {
  DEPLOY_NGINX,
  findNginx,
  nginxTest,
  privateRunDirectives,
  SHIPPED_FILES,
  startNginx,
} from '../helpers/nginx';
import { get, UpstreamApp } from '../helpers/upstream-app';

const NGINX = findNginx();

const COOKIE = '_cheq_rti=fake-cookie; Path=/; Max-Age=3600';

describe('NGINX auth_request with the shipped config (real NGINX)', function () {
  this.timeout(20_000);
  const rti = new FakeRti();
  rti.behaviour = byUserAgent;
  const app = new UpstreamApp();
  const site = appBehindProxy(rti, app);
  const nginx = serviceBehindProxy(
    site,
    {
      CHEQ_MODE: 'blocking',
      CHEQ_TIMEOUT_MS: '100',
      CHEQ_URI_EXCLUSION: '/excluded',
      CHEQ_CHALLENGE_ACTION: 'redirect',
      CHEQ_CHALLENGE_URL: 'https://www.example.com/challenge?from=nginx',
    },
    { pkg: 'nginx', binary: NGINX, start: startNginx },
  );

  it('passes nginx -t on the shipped example configuration', () => {
    const prefix = mkdtempSync(join(tmpdir(), 'cheq-nginx-t-'));
    try {
      mkdirSync(join(prefix, 'logs'));
      mkdirSync(join(prefix, 'cheq-authz'));
      for (const file of SHIPPED_FILES) {
        copyFileSync(join(DEPLOY_NGINX, file), join(prefix, 'cheq-authz', file));
      }
      const example = readFileSync(join(DEPLOY_NGINX, 'example.conf'), 'utf8')
        .replaceAll('/etc/nginx/cheq-authz/', `${prefix}/cheq-authz/`)
        .replace(
          'events {}',
          `${privateRunDirectives(prefix).main.replace('daemon off;\n', '')}events {}`,
        )
        .replace('http {', `http {\n${privateRunDirectives(prefix).http}`);
      writeFileSync(join(prefix, 'example.conf'), example);
      const result = nginxTest(NGINX!, prefix, join(prefix, 'example.conf'));
      assert.ok(result.ok, result.output);
      assert.match(result.output, /syntax is ok/);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });

  it('serves a valid visitor; the app sees the verdict; the browser gets the cookie', async () => {
    const answer = await get(`${nginx.url}/products?id=7`, BROWSER);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'app /products?id=7');
    assert.deepEqual(answer.headers['set-cookie'], [COOKIE]);
    const seen = app.seen[0]!;
    assert.equal(seen['x-cheq-decision'], 'valid');
    assert.equal(seen['x-cheq-threat-type'], '0');
    assert.equal(seen['x-cheq-invalid'], 'false');
    assert.equal(seen['x-cheq-rti-request-id'], 'rti-req-1');
    assert.equal(seen['x-cheq-challenge'], undefined);
    const form = rti.calls[0]!.form;
    assert.equal(form.get('RequestURL'), 'http://127.0.0.1/products?id=7', '$host: no port');
    assert.equal(form.get('ClientIP'), '127.0.0.1');
    assert.equal(form.get('UserAgent'), BROWSER['User-Agent']);
  });

  it('denies a bot with 403 and the cookie; the app is never called', async () => {
    const answer = await get(`${nginx.url}/products`, { ...BROWSER, 'User-Agent': 'price-bot' });
    assert.equal(answer.status, 403);
    assert.deepEqual(answer.headers['set-cookie'], [COOKIE]);
    assert.equal(answer.headers['cache-control'], 'no-store');
    assert.equal(app.seen.length, 0);
  });

  // NGINX reads an auth answer's headers into one buffer; an overflow is a 502, which the config
  // turns into an allow. RTI's cookie alone can be 4 KB, NGINX's default buffer.
  it('denies a bot whose answer carries a 4 KB cookie (the headers outgrow 4 KB)', async () => {
    const cookie = `_cheq_rti=${'c'.repeat(4000)}; Path=/`;
    rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2, setCookie: cookie });
    try {
      const answer = await get(`${nginx.url}/products`, BROWSER);
      assert.equal(answer.status, 403);
      assert.deepEqual(answer.headers['set-cookie'], [cookie]);
      assert.equal(app.seen.length, 0);
    } finally {
      rti.behaviour = byUserAgent;
    }
  });

  it('redirects with 302 to the configured Location', async () => {
    const answer = await get(`${nginx.url}/`, { ...BROWSER, 'User-Agent': 'Mozilla/5.0 vpn' });
    assert.equal(answer.status, 302);
    assert.equal(answer.headers['location'], 'https://www.example.com/challenge?from=nginx');
    assert.deepEqual(answer.headers['set-cookie'], [COOKIE]);
    assert.equal(app.seen.length, 0);
  });

  it('serves an excluded path without calling RTI', async () => {
    const answer = await get(`${nginx.url}/excluded`, { ...BROWSER, 'User-Agent': 'price-bot' });
    assert.equal(answer.status, 200);
    assert.equal(rti.calls.length, 0);
    assert.equal(app.seen[0]?.['x-cheq-decision'], 'excluded');
  });

  // RTI hangs forever: the visitor served at all, failed open, shows the timeout cut the call.
  it('serves the visitor at the timeout when RTI hangs', async () => {
    const answer = await get(`${nginx.url}/slow`, { ...BROWSER, 'User-Agent': 'slow-client' });
    assert.equal(answer.status, 200);
    assert.equal(app.seen[0]?.['x-cheq-decision'], 'fail_open');
  });

  it('never lets forged verdict headers from the client reach the app', async () => {
    const forged = {
      'X-Cheq-Decision': 'forged',
      'X-Cheq-Threat-Type': 'forged',
      'X-Cheq-Invalid': 'forged',
      'X-Cheq-Rti-Request-Id': 'forged',
      'X-Cheq-Challenge': 'forged',
    };
    await get(`${nginx.url}/`, { ...BROWSER, ...forged });
    await get(`${nginx.url}/excluded`, { ...BROWSER, ...forged });
    assert.equal(app.seen.length, 2);
    for (const seen of app.seen) {
      for (const name of Object.keys(forged)) {
        assert.notEqual(seen[name.toLowerCase()], 'forged', name);
      }
    }
    assert.equal(app.seen[0]!['x-cheq-decision'], 'valid');
    assert.equal(app.seen[1]!['x-cheq-decision'], 'excluded');
  });

  it("passes the app's own 5xx through: not mistaken for an authz failure", async () => {
    const answer = await get(`${nginx.url}/app-error`, BROWSER);
    assert.equal(answer.status, 502);
    assert.equal(answer.body, 'app /app-error');
    assert.equal(rti.calls.length, 1);
  });

  it('reuses one keep-alive connection to the authz service (Content-Length: 0 answers)', async () => {
    let connections = 0;
    const counter = createTcpServer(client => {
      connections++;
      const upstream = connect(nginx.service.app.httpPort, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>(resolve => counter.listen(0, '127.0.0.1', resolve));
    const counted = await startNginx(
      NGINX!,
      `127.0.0.1:${(counter.address() as AddressInfo).port}`,
      site.appAddress,
    );
    try {
      for (let i = 0; i < 20; i++) {
        const bot = i % 2 === 1;
        const answer = await get(
          `${counted.url}/`,
          bot ? { ...BROWSER, 'User-Agent': 'bot' } : BROWSER,
        );
        assert.equal(answer.status, bot ? 403 : 200);
      }
      assert.equal(connections, 1);
    } finally {
      await counted.stop();
      counter.close();
    }
  });

  it('still serves the site when the authz service is slow', async () => {
    const sockets: Socket[] = [];
    const blackHole = createTcpServer(socket => sockets.push(socket));
    await new Promise<void>(resolve => blackHole.listen(0, '127.0.0.1', resolve));
    const slowAuthz = `127.0.0.1:${(blackHole.address() as AddressInfo).port}`;
    const second = await startNginx(NGINX!, slowAuthz, site.appAddress);
    try {
      const started = Date.now();
      const answer = await get(`${second.url}/`, BROWSER);
      const elapsed = Date.now() - started;
      assert.equal(answer.status, 200);
      // The black hole never answers: served at all is served at NGINX's timeout, not before.
      assert.ok(elapsed >= 250, `served after ${elapsed} ms`);
      assert.equal(app.seen[0]?.['x-cheq-decision'], undefined);
    } finally {
      await second.stop();
      for (const socket of sockets) socket.destroy();
      blackHole.close();
    }
  });

  it('still serves the site when the authz service is stopped (fail open)', async () => {
    await nginx.service.app.close();
    const answer = await get(`${nginx.url}/products`, { ...BROWSER, 'User-Agent': 'price-bot' });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'app /products');
    assert.equal(app.seen[0]?.['x-cheq-decision'], undefined);
    assert.match(nginx.proxy.errorLog(), /connect\(\) failed \(111: Connection refused\)/);
  });
});

describe('NGINX @cheq_deny: the page of a deny from the page endpoint (real NGINX)', function () {
  this.timeout(20_000);
  const rti = new FakeRti();
  rti.behaviour = byUserAgent;
  const app = new UpstreamApp();
  const site = appBehindProxy(rti, app);
  const nginx = serviceBehindProxy(
    site,
    { CHEQ_MODE: 'blocking', CHEQ_BLOCK_STRATEGY: 'not_found' },
    { pkg: 'nginx', binary: NGINX, start: startNginx },
  );

  it('answers the stealth 404 with the bytes of an ordinary 404 of ours, no cookie', async () => {
    const ordinary = await get(`${nginx.service.httpUrl}/no-such-endpoint`);
    const answer = await get(`${nginx.url}/products`, { ...BROWSER, 'User-Agent': 'price-bot' });
    assert.equal(answer.status, 404);
    assert.equal(answer.body, ordinary.body);
    assert.equal(answer.headers['content-type'], ordinary.headers['content-type']);
    assert.equal(answer.headers['set-cookie'], undefined);
    assert.equal(app.seen.length, 0);
    assert.equal(rti.calls.length, 1, 'the page endpoint does not ask RTI');
  });

  it('takes the page from the auth answer, never from a client-sent X-Cheq-Page', async () => {
    const answer = await get(`${nginx.url}/products`, {
      ...BROWSER,
      'User-Agent': 'price-bot',
      'X-Cheq-Page': `b.${Buffer.from(JSON.stringify({ r: 'chosen-by-client' })).toString('base64url')}`,
    });
    assert.equal(answer.status, 404);
    assert.doesNotMatch(answer.body, /chosen-by-client/);
  });
});
