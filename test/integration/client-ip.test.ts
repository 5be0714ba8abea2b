// The client IP RTI is told, per endpoint, over real sockets. The proxy calling us is trusted;
// what it reports about its own peer is the first hop, and an address further left is believed
// only from hops listed in trusted_proxies (by default none). Every test client connects from
// loopback; through a real proxy, a client bound to 127.0.0.2 plays a visitor.

import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import { findCaddy, startRecipeCaddy } from '../helpers/caddy';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { findNginx, startNginx, type RunningNginx } from '../helpers/nginx';
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

  /** `trustedProxies` undefined: the default. */
  async function start(trustedProxies?: string, env: Record<string, string> = {}) {
    suite.service = await startService(suite.rti.url, {
      ...(trustedProxies === undefined ? {} : { CHEQ_TRUSTED_PROXIES: trustedProxies }),
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

    it('by default X-Real-IP is the client, even a private one, whatever XFF says', async () => {
      const svc = await start();
      await nginx(svc, { 'X-Real-IP': '203.0.113.9', 'X-Forwarded-For': '6.6.6.6, 203.0.113.9' });
      await nginx(svc, { 'X-Real-IP': '10.1.1.1', 'X-Forwarded-For': '6.6.6.6, 10.1.1.1' });
      assert.deepEqual(clientIps(), ['203.0.113.9', '10.1.1.1']);
    });

    it('steps left from a listed X-Real-IP through listed hops', async () => {
      const svc = await start('10.0.0.0/8');
      // A listed load balancer (10.1.1.1) in front of NGINX appended the visitor.
      await nginx(svc, {
        'X-Real-IP': '10.1.1.1',
        'X-Forwarded-For': '6.6.6.6, 198.51.100.7, 10.2.2.2, 10.1.1.1',
      });
      assert.deepEqual(clientIps(), ['198.51.100.7']);
    });

    it('without X-Real-IP, its socket peer (NGINX itself) is the first hop', async () => {
      const svc = await start();
      await nginx(svc, { 'X-Forwarded-For': '6.6.6.6' });
      assert.deepEqual(clientIps(), ['127.0.0.1']);
    });

    it('reads an IPv4 peer of a dual-stack listener (::ffff:127.0.0.1) as IPv4', async () => {
      const trusting = await start('127.0.0.1', { CHEQ_HOST: '::' });
      await nginx(trusting, { 'X-Forwarded-For': '203.0.113.9' });
      await trusting.close();
      const byDefault = await start(undefined, { CHEQ_HOST: '::' });
      await nginx(byDefault, { 'X-Forwarded-For': '203.0.113.9' });
      assert.deepEqual(clientIps(), ['203.0.113.9', '127.0.0.1']);
    });

    it('believes trusted_ip_header only when the hop that set it is listed', async () => {
      const svc = await start('10.0.0.0/8', {
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

    it('by default takes the x-real-ip Envoy adds, else Envoy: never x-envoy-external-address', async () => {
      const svc = await start();
      await envoy(svc, {
        'X-Real-IP': '198.51.100.7',
        'X-Envoy-External-Address': '6.6.6.6',
        'X-Forwarded-For': '6.6.6.6, 198.51.100.7',
      });
      await envoy(svc, {
        'X-Envoy-External-Address': '198.51.100.8',
        'X-Forwarded-For': '6.6.6.6',
      });
      await envoy(svc, { 'X-Forwarded-For': '6.6.6.6' });
      assert.deepEqual(clientIps(), ['198.51.100.7', '127.0.0.1', '127.0.0.1']);
    });

    it('believes x-envoy-external-address from a listed Envoy only (Istio HTTP provider)', async () => {
      const svc = await start('127.0.0.0/8');
      await envoy(svc, {
        'X-Envoy-External-Address': '198.51.100.8',
        'X-Forwarded-For': '6.6.6.6',
      });
      assert.deepEqual(clientIps(), ['198.51.100.8']);
    });

    it('steps left from a listed x-real-ip', async () => {
      const svc = await start('10.0.0.0/8');
      await envoy(svc, {
        'X-Real-IP': '10.1.1.1',
        'X-Envoy-External-Address': '10.1.1.1',
        'X-Forwarded-For': '6.6.6.6, 198.51.100.8, 10.1.1.1',
      });
      assert.deepEqual(clientIps(), ['198.51.100.8']);
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

    it('by default the rightmost X-Forwarded-For entry is the client, never one left of it', async () => {
      const svc = await start();
      // Caddy with trusted_proxies appends its peer to what the client sent.
      await forward(svc, { 'X-Forwarded-For': '6.6.6.6, 198.51.100.7' });
      await forward(svc, { 'X-Forwarded-For': '6.6.6.6,198.51.100.8:4711' });
      await forward(svc, { 'X-Forwarded-For': '6.6.6.6, 10.1.1.1' });
      await forward(svc, {});
      assert.deepEqual(clientIps(), ['198.51.100.7', '198.51.100.8', '10.1.1.1', '127.0.0.1']);
    });

    it('steps left from a listed rightmost entry', async () => {
      const svc = await start('10.0.0.0/8');
      await forward(svc, { 'X-Forwarded-For': '6.6.6.6, 198.51.100.7, 10.1.1.1' });
      assert.deepEqual(clientIps(), ['198.51.100.7']);
    });
  });

  describe('gRPC Check', () => {
    it('by default takes source.address, even a private one, whatever the headers say', async () => {
      const svc = await start();
      await svc.check(
        envoyCheckRequest({
          peer: '10.0.0.3',
          headers: { ...UA, 'x-envoy-external-address': '6.6.6.6', 'x-forwarded-for': '6.6.6.6' },
        }),
      );
      assert.deepEqual(clientIps(), ['10.0.0.3']);
    });

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
        name: 'the Caddy forward_auth recipe of docs/caddy.md, Caddy trusting 127.0.0.3',
        pkg: 'caddy',
        find: findCaddy,
        // Caddy appends to the X-Forwarded-For of a peer it trusts and replaces anyone else's.
        start: (caddy: string, authz: string, app: string) =>
          startRecipeCaddy(caddy, authz, app, { trustedProxies: '127.0.0.3/32' }),
      },
    ] as const;

    for (const { name, pkg, find, start: startProxy } of PROXIES) {
      describe(name, () => {
        let binary: string;
        before(function () {
          binary = requireProxy(pkg, find());
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

// The common Kubernetes setup: NGINX behind an L4 load balancer that SNATs (a LoadBalancer
// Service with externalTrafficPolicy: Cluster), so NGINX's peer is a private node address. Here
// every peer is 127.0.0.1 and NGINX's $remote_addr plays that node address.
describe('client IP behind NGINX whose peer is a private address (SNAT, integration)', function () {
  this.timeout(20_000);
  const suite = rtiPerSuite();
  let nginx: string;
  let proxy: RunningNginx | undefined;
  let app: UpstreamApp | undefined;

  before(function () {
    nginx = requireProxy('nginx', findNginx());
  });
  beforeEach(() => suite.rti.reset());
  afterEach(async () => {
    await proxy?.stop();
    await app?.close();
    proxy = undefined;
    app = undefined;
  });

  /** The ClientIP RTI is told for each header set sent through the shipped NGINX config. */
  async function clientIpsThrough(
    env: Record<string, string>,
    requests: readonly Record<string, string>[],
  ): Promise<(string | null)[]> {
    suite.service = await startService(suite.rti.url, env);
    app = new UpstreamApp();
    const appAddress = await app.start();
    proxy = await startNginx(nginx, new URL(suite.service.httpUrl).host, appAddress);
    for (const headers of requests) {
      assert.equal(await send(`${proxy.url}/products`, { ...UA, ...headers }), 200);
    }
    return suite.rti.calls.map(call => call.form.get('ClientIP'));
  }

  it("by default, NGINX's peer is the client: a forged X-Forwarded-For never is", async () => {
    const forged: Record<string, string>[] = [
      { 'X-Forwarded-For': '6.6.6.6' },
      { 'X-Forwarded-For': '6.6.6.6, 10.0.0.1' },
      { 'X-Forwarded-For': '6.6.6.6', 'X-Real-IP': '6.6.6.6' },
    ];
    assert.deepEqual(await clientIpsThrough({}, forged), ['127.0.0.1', '127.0.0.1', '127.0.0.1']);
  });

  it("with the balancer's range in trusted_proxies, the walk reaches the visitor it appended", async () => {
    const chains = [
      { 'X-Forwarded-For': '6.6.6.6, 198.51.100.7' },
      { 'X-Forwarded-For': '6.6.6.6, 198.51.100.8, 127.0.0.9' },
    ];
    assert.deepEqual(await clientIpsThrough({ CHEQ_TRUSTED_PROXIES: '127.0.0.0/8' }, chains), [
      '198.51.100.7',
      '198.51.100.8',
    ]);
  });
});
