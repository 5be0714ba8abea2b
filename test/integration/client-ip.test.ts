// The client IP RTI is told, per endpoint, over real sockets: addresses are believed only from
// trusted proxies (trusted_proxies). Every test client connects from loopback, so each test
// names the loopback addresses it trusts; a client bound to 127.0.0.2 plays an untrusted visitor.

import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import { findCaddy, startReadmeCaddy } from '../helpers/caddy';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { findNginx, startNginx } from '../helpers/nginx';
import { requireProxy } from '../helpers/require-proxy';
import { rtiPerSuite } from '../helpers/rti-per-test';
import { startService, type TestService } from '../helpers/start-service';
import { UpstreamApp } from '../helpers/upstream-app';

const UA = { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' };

/** A GET from `localAddress` with exactly these headers; resolves with the status. */
function send(url: string, headers: Record<string, string>, localAddress = '127.0.0.1') {
  return new Promise<number>((resolve, reject) => {
    const req = request(url, { headers, localAddress }, res => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('client IP from trusted hops only (integration)', function () {
  this.timeout(20_000);
  const suite = rtiPerSuite();

  beforeEach(() => suite.rti.reset());

  async function start(trustedProxies: string, env: Record<string, string> = {}) {
    suite.service = await startService(suite.rti.url, {
      CHEQ_TRUSTED_PROXIES: trustedProxies,
      ...env,
    });
    return suite.service;
  }

  function clientIps(): (string | null)[] {
    return suite.rti.calls.map(call => call.form.get('ClientIP'));
  }

  describe('NGINX endpoint', () => {
    const nginx = (svc: TestService, headers: Record<string, string>) =>
      send(`${svc.httpUrl}/api/authz/auth-request`, {
        'X-Original-URI': '/cart',
        'X-Original-Method': 'GET',
        'X-Original-Host': 'shop.example.com',
        ...UA,
        ...headers,
      });

    it('believes X-Real-IP from a trusted peer and steps left through trusted hops', async () => {
      const svc = await start('127.0.0.1, 10.0.0.0/8');
      await nginx(svc, { 'X-Real-IP': '203.0.113.9' });
      // A trusted load balancer (10.1.1.1) in front of NGINX appended the visitor.
      await nginx(svc, {
        'X-Real-IP': '10.1.1.1',
        'X-Forwarded-For': '6.6.6.6, 198.51.100.7, 10.1.1.1',
      });
      assert.deepEqual(clientIps(), ['203.0.113.9', '198.51.100.7']);
    });

    it('ignores X-Real-IP and X-Forwarded-For from an untrusted peer', async () => {
      const svc = await start('192.0.2.1');
      await nginx(svc, { 'X-Real-IP': '6.6.6.6', 'X-Forwarded-For': '6.6.6.6' });
      assert.deepEqual(clientIps(), ['127.0.0.1']);
    });

    it('reads an IPv4 peer of a dual-stack listener (::ffff:127.0.0.1) as IPv4', async () => {
      const trusting = await start('127.0.0.1', { HOST: '::' });
      await nginx(trusting, { 'X-Real-IP': '203.0.113.9' });
      await trusting.close();
      const trustingNobody = await start('none', { HOST: '::' });
      await nginx(trustingNobody, { 'X-Real-IP': '203.0.113.9' });
      assert.deepEqual(clientIps(), ['203.0.113.9', '127.0.0.1']);
    });

    it('believes trusted_ip_header only when the peer that set it is trusted', async () => {
      const svc = await start('127.0.0.1, 10.0.0.0/8', {
        CHEQ_TRUSTED_IP_HEADER: 'cf-connecting-ip',
      });
      await nginx(svc, { 'X-Real-IP': '10.9.9.9', 'CF-Connecting-IP': '192.0.2.33' });
      await nginx(svc, { 'X-Real-IP': '198.51.100.7', 'CF-Connecting-IP': '6.6.6.6' });
      assert.deepEqual(clientIps(), ['192.0.2.33', '198.51.100.7']);
    });
  });

  describe('Envoy HTTP endpoint', () => {
    const envoy = (svc: TestService, headers: Record<string, string>) =>
      send(`${svc.httpUrl}/api/authz/ext-authz/cart`, {
        Host: 'shop.example.com',
        ...UA,
        ...headers,
      });

    it('takes the x-real-ip Envoy adds from a trusted Envoy, then steps left', async () => {
      const svc = await start('127.0.0.1, 10.0.0.0/8');
      await envoy(svc, { 'X-Real-IP': '198.51.100.7', 'X-Forwarded-For': '6.6.6.6, 198.51.100.7' });
      await envoy(svc, {
        'X-Real-IP': '10.1.1.1',
        'X-Envoy-External-Address': '10.1.1.1',
        'X-Forwarded-For': '6.6.6.6, 198.51.100.8, 10.1.1.1',
      });
      assert.deepEqual(clientIps(), ['198.51.100.7', '198.51.100.8']);
    });

    it('never takes a client-sent X-Real-IP from an untrusted peer', async () => {
      const svc = await start('none');
      await envoy(svc, {
        'X-Real-IP': '6.6.6.6',
        'X-Envoy-External-Address': '6.6.6.6',
        'X-Forwarded-For': '6.6.6.6',
      });
      assert.deepEqual(clientIps(), ['127.0.0.1']);
    });
  });

  describe('forward-auth endpoint', () => {
    const forward = (svc: TestService, headers: Record<string, string>) =>
      send(`${svc.httpUrl}/api/authz/forward-auth`, {
        'X-Forwarded-Method': 'GET',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': 'shop.example.com',
        'X-Forwarded-Uri': '/cart',
        ...UA,
        ...headers,
      });

    it('reads X-Forwarded-For from the right: a client-sent entry to the left is never taken', async () => {
      const svc = await start('127.0.0.1');
      // Caddy with trusted_proxies appends its peer to what the client sent.
      await forward(svc, { 'X-Forwarded-For': '6.6.6.6, 198.51.100.7' });
      await forward(svc, { 'X-Forwarded-For': '6.6.6.6,198.51.100.8:4711' });
      assert.deepEqual(clientIps(), ['198.51.100.7', '198.51.100.8']);
    });

    it('ignores X-Forwarded-For from an untrusted peer', async () => {
      const svc = await start('none');
      await forward(svc, { 'X-Forwarded-For': '198.51.100.7' });
      assert.deepEqual(clientIps(), ['127.0.0.1']);
    });
  });

  describe('gRPC Check', () => {
    it('takes source.address when it is not a trusted proxy, whatever the headers say', async () => {
      const svc = await start('10.0.0.0/8', { CHEQ_TRUSTED_IP_HEADER: 'cf-connecting-ip' });
      await svc.check(
        envoyCheckRequest({
          peer: '198.51.100.7',
          headers: {
            ...UA,
            'x-envoy-external-address': '6.6.6.6',
            'x-forwarded-for': '6.6.6.6',
            'cf-connecting-ip': '6.6.6.6',
          },
        }),
      );
      assert.deepEqual(clientIps(), ['198.51.100.7']);
    });

    it('steps from a trusted source.address to x-envoy-external-address, then X-Forwarded-For', async () => {
      const svc = await start('10.0.0.0/8');
      await svc.check(
        envoyCheckRequest({
          peer: '10.0.0.3',
          headers: { ...UA, 'x-envoy-external-address': '198.51.100.7' },
        }),
      );
      await svc.check(
        envoyCheckRequest({
          peer: '10.0.0.3',
          headers: { ...UA, 'x-forwarded-for': '6.6.6.6, 198.51.100.8, 10.0.0.3' },
        }),
      );
      assert.deepEqual(clientIps(), ['198.51.100.7', '198.51.100.8']);
    });
  });

  describe('through real proxies (the service trusting 127.0.0.1 and 127.0.0.3)', () => {
    let proxy: { stop(): Promise<void> } | undefined;
    let app: UpstreamApp | undefined;

    afterEach(async () => {
      await proxy?.stop();
      await app?.close();
      proxy = undefined;
      app = undefined;
    });

    const PROXIES = [
      {
        name: 'the shipped NGINX configuration',
        pkg: 'nginx',
        find: findNginx,
        start: (nginx: string, authz: string, app: string) => startNginx(nginx, authz, app),
      },
      {
        name: "the README's Caddy forward_auth recipe, Caddy trusting 127.0.0.3",
        pkg: 'caddy',
        find: findCaddy,
        // Caddy appends to the X-Forwarded-For of a peer it trusts and replaces anyone else's.
        start: (caddy: string, authz: string, app: string) =>
          startReadmeCaddy(caddy, authz, app, { trustedProxies: '127.0.0.3/32' }),
      },
    ] as const;

    for (const { name, pkg, find, start: startProxy } of PROXIES) {
      describe(name, () => {
        let binary: string;
        before(function () {
          binary = requireProxy(this, pkg, find());
        });

        /** One GET through the proxy from `from`; the ClientIP values RTI got. */
        async function through(from: string, headers: Record<string, string>) {
          const svc = await start('127.0.0.1, 127.0.0.3');
          app = new UpstreamApp();
          const running = await startProxy(binary, new URL(svc.httpUrl).host, await app.start());
          proxy = running;
          assert.equal(await send(`${running.url}/products`, { ...UA, ...headers }, from), 200);
          return clientIps();
        }

        it('a visitor is its own address, whatever X-Forwarded-For or X-Real-IP it forges', async () => {
          const forged = { 'X-Forwarded-For': '6.6.6.6', 'X-Real-IP': '6.6.6.6' };
          assert.deepEqual(await through('127.0.0.2', forged), ['127.0.0.2']);
        });

        it('behind a trusted hop, the entry that hop appended, not the forged one left of it', async () => {
          const forwarded = { 'X-Forwarded-For': '6.6.6.6, 198.51.100.7' };
          assert.deepEqual(await through('127.0.0.3', forwarded), ['198.51.100.7']);
        });
      });
    }
  });
});
