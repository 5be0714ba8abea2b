// Regressions from the attacker's read of issue #20's work: each test asserts the safe behaviour,
// and each failed before its finding was fixed. Real parts only: the shipped NGINX files, the real
// server, an RTI stand-in that calls every visitor a bot, and raw bytes from a TCP client.

import { strict as assert } from 'node:assert';
import { connect, type Socket } from 'node:net';
import { appBehindProxy, serviceBehindProxy } from '../helpers/behind-proxy';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { findNginx, startExampleNginx, startNginx } from '../helpers/nginx';
import type { RunningNginx } from '../helpers/nginx';
import { requireProxy } from '../helpers/require-proxy';
import { runMain } from '../helpers/server-process';
import { startService, type TestService } from '../helpers/start-service';
import { RawUpstreamApp, sendHead } from '../helpers/upstream-app';

const NGINX = findNginx();

/** Everything is a bot to this RTI: any request it is asked about is denied. */
const BLOCK_ALL = verdict({ isInvalid: true, threatTypeCode: 2 });

/** `check-config` with a minimal valid configuration and `args`. */
function checkConfig(args: readonly string[]): ReturnType<typeof runMain> {
  const base = ['--api-endpoint', 'https://rti-us-east-1.cheqzone.com', '--tag-hash', 't'];
  return runMain(['check-config', ...base, ...args], { CHEQ_API_KEY: 'k' });
}

/** The shipped NGINX files in front of the app, and the shipped deploy/nginx/example.conf. */
const SHIPPED_NGINX = { pkg: 'nginx', binary: NGINX, start: startNginx } as const;
const EXAMPLE_NGINX = { pkg: 'nginx', binary: NGINX, start: startExampleNginx } as const;

describe('attacks found in review (issue #20): the safe behaviour holds', function () {
  this.timeout(60_000);
  const rti = new FakeRti();
  rti.behaviour = () => BLOCK_ALL;
  const app = new RawUpstreamApp();
  const site = appBehindProxy(rti, app);

  // Finding A1: NGINX passes any byte but NUL, CR and LF in a header value; Node's parser
  // refuses control characters and answers the auth subrequest 400 before routing, and the
  // shipped cheq-authz.conf turns a 400 into an allow (@cheq_fail_open). One byte in
  // User-Agent takes any bot past RTI.
  describe('A1: a control character in any request header, through the shipped NGINX config', () => {
    const nginx = serviceBehindProxy(site, { CHEQ_MODE: 'blocking' }, SHIPPED_NGINX);

    it('is checked by RTI like any request (control case: no control character)', async () => {
      const { status } = await sendHead(nginx.url, 'GET /checkout HTTP/1.1\r\nHost: shop.example');
      assert.equal(status, 403);
      assert.equal(rti.calls.length, 1);
      assert.deepEqual(app.seen, []);
    });

    for (const byte of [0x01, 0x08, 0x0b, 0x1b, 0x1f, 0x7f]) {
      const hex = `0x${byte.toString(16).padStart(2, '0')}`;
      it(`never reaches the app unchecked with ${hex} in User-Agent`, async () => {
        const ua = `bot${String.fromCharCode(byte)}`;
        const { status } = await sendHead(
          nginx.url,
          `GET /checkout HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: ${ua}`,
        );
        assert.deepEqual(app.seen, [], `the app was reached (status ${status}), RTI not asked`);
        assert.notEqual(status, 200);
      });
    }
  });

  // Finding A2: a TCP connection that sends nothing (or one byte) is never closed: neither
  // http_headers_timeout_ms nor http_keepalive_timeout_ms applies before a first request. Anyone
  // who can reach CHEQ_HTTP_PORT (any pod, with no NetworkPolicy) holds max_connections open with
  // idle sockets; the proxy's own connections are then closed as they arrive, and the shipped
  // NGINX config fails open on the resulting 502: every visitor passes unchecked.
  describe('A2: idle connections holding max_connections', () => {
    let service: TestService;
    let nginx: RunningNginx;
    const idle: Socket[] = [];
    before(async function () {
      const binary = requireProxy('nginx', NGINX);
      service = await startService(rti.url, {
        CHEQ_MODE: 'blocking',
        CHEQ_MAX_CONNECTIONS: '8',
        CHEQ_HTTP_HEADERS_TIMEOUT_MS: '500',
        CHEQ_HTTP_KEEPALIVE_TIMEOUT_MS: '1000',
      });
      nginx = await startNginx(binary, `127.0.0.1:${service.app.httpPort}`, site.appAddress);
    });
    after(async () => {
      for (const socket of idle) socket.destroy();
      await nginx?.stop();
      await service?.close();
    });

    it('closes connections that send no request within http_headers_timeout_ms, so the proxy is served again', async () => {
      const closed: Promise<void>[] = [];
      for (let i = 0; i < 8; i++) {
        const socket = connect(service.app.httpPort, '127.0.0.1');
        socket.on('error', () => undefined);
        if (i % 2 === 0) socket.write('G'); // half send the first byte of a request line
        closed.push(new Promise(resolve => socket.once('close', () => resolve())));
        idle.push(socket);
      }
      // 20 × http_headers_timeout_ms: a bound for a close that never comes today, not a margin.
      const gaveUp = new Promise<'still open'>(resolve =>
        setTimeout(() => resolve('still open'), 10_000),
      );
      const outcome = await Promise.race([Promise.all(closed).then(() => 'closed'), gaveUp]);
      assert.equal(outcome, 'closed', 'idle connections still hold every max_connections slot');
      const { status } = await sendHead(nginx.url, 'GET /checkout HTTP/1.1\r\nHost: shop.example');
      assert.deepEqual(app.seen, [], 'the app was reached unchecked');
      assert.equal(status, 403);
    });
  });

  // Finding A3: with `sites` and no top-level tag_hash (the Many sites example in docs/configuration.md), a
  // request whose host no site lists is allowed without RTI, and the NGINX recipe sends
  // X-Original-Host $host, which the client picks. When the site's server {} was also its port's
  // default server, `Host: x` reached the shop app unchecked. Fixed in the recipe: example.conf
  // closes hosts no server {} names with a catch-all default_server (check-config warns too).
  describe('A3: a Host no site lists, through the shipped example.conf', () => {
    // The shipped example.conf: the shop server {} and a catch-all default server.
    const nginx = serviceBehindProxy(
      site,
      {
        CHEQ_TAG_HASH: '',
        CHEQ_SITES: JSON.stringify([
          { name: 'shop', hosts: ['shop.example.com'], tag_hash: 'shop-tag', mode: 'blocking' },
        ]),
      },
      EXAMPLE_NGINX,
    );

    it('checks the shop server {} with its site (control case: Host shop.example.com)', async () => {
      const { status } = await sendHead(
        nginx.url,
        'GET /checkout HTTP/1.1\r\nHost: shop.example.com',
      );
      assert.equal(status, 403);
      assert.equal(rti.calls.length, 1);
    });

    for (const host of ['other.example', 'shop.example.com#', '127.0.0.1']) {
      it(`does not let Host: ${host} reach the shop server {} unchecked`, async () => {
        // The catch-all default_server closes the connection without an answer (return 444).
        const answer = await sendHead(nginx.url, `GET /checkout HTTP/1.1\r\nHost: ${host}`).then(
          ({ status }) => status,
          (err: unknown) => String(err),
        );
        assert.deepEqual(app.seen, [], `the app was reached unchecked (${answer})`);
        assert.match(String(answer), /no HTTP answer/);
      });
    }
  });

  // Finding A4: trusted_proxies that trust every address pass the strict configuration with
  // `warnings: none`. ::ffff:0:0/96 reads as "IPv4-mapped IPv6 only", but Node's BlockList
  // matches every IPv4 peer against it: each client then picks its IP (and its enforce_percent
  // bucket) with X-Forwarded-For. An entry of every address should be refused or warned about.
  describe('A4: trusted_proxies that trust the whole Internet', () => {
    const base = [
      'check-config',
      '--api-endpoint',
      'https://rti-us-east-1.cheqzone.com',
      '--tag-hash',
      't',
    ];
    for (const entry of ['0.0.0.0/0', '::/0', '::ffff:0:0/96', '203.0.113.9/0']) {
      it(`check-config refuses or warns about trusted_proxies ${entry}`, async () => {
        const { code, stdout, stderr } = await runMain([...base, '--trusted-proxies', entry], {
          CHEQ_API_KEY: 'k',
        });
        const warned = code === 0 && /warnings:[^\n]*\n[\s\S]*trusted_proxies/.test(stdout);
        const said = /^warnings:.*$/m.exec(stdout)?.[0] ?? stderr;
        assert.ok(code === 2 || warned, `exit ${code}; ${said}`);
      });
    }
  });

  // Finding A5: a uri_exclusion prefix that is every path (`^`, `^/`, or one whose canonical form
  // is `/`, such as `^/static/../`) turns blocking off for the whole site, and check-config says
  // `warnings: none`: the suffix heuristic (matchesUnderAnyPath) answers false for every prefix.
  describe('A5: a uri_exclusion prefix that excludes every path', () => {
    for (const entry of ['^', '^/', '^/static/../']) {
      it(`check-config refuses or warns about uri_exclusion ${entry}`, async () => {
        const { code, stdout, stderr } = await checkConfig([
          '--mode',
          'blocking',
          '--uri-exclusion',
          `/healthz,${entry}`,
        ]);
        const warned = code === 0 && /warnings:[^\n]*\n[\s\S]*uri_exclusion/.test(stdout);
        const said = /^warnings:.*$/m.exec(stdout)?.[0] ?? stderr;
        assert.ok(code === 2 || warned, `exit ${code}; ${said}`);
      });
    }
  });

  // Finding A7: RE2 keeps matching linear in the path, but not in the pattern: RE2JS accepts
  // counted repetitions up to 1000 each, and an entry such as the one below costs ~0.4-0.5 s
  // per check of an 8 KB path (NGINX accepts an 8 KB request line). That is past the recipe's
  // 250 ms proxy_read_timeout, so the request fails open, and the event loop stalls for every
  // other check meanwhile. check-config only says the entry matches below any path.
  describe('A7: a uri_exclusion entry RE2 accepts that costs ~0.5 s per 8 KB path', () => {
    const entry = '[a-z]{1000}[a-z]{1000}[a-z]{1000}[0-9]$';
    it(`check-config refuses or warns about the cost of ${entry}`, async () => {
      const { code, stdout, stderr } = await checkConfig(['--uri-exclusion', `/healthz,${entry}`]);
      const about = stdout
        .split('\n')
        .filter(line => line.startsWith('  - ') && line.includes(entry))
        .filter(line => !line.includes('matches below any path'));
      assert.ok(code === 2 || about.length > 0, `exit ${code}; ${stderr}`);
    });
  });

  // Finding A8: the circuit breaker holds every RTI HTTP error against RTI's health, 4xx
  // included. A 4xx answers one request's shape (a field RTI refuses, a body over its limit),
  // and the client shapes the request: if RTI answers 4xx to any input a client can send (not
  // shown for the real RTI; the stand-in below does for one User-Agent), 20 such requests open
  // the circuit and every visitor fails open for rti_circuit_open_ms, again and again.
  describe('A8: RTI 4xx answers to client-shaped requests open the circuit for everyone', () => {
    let service: TestService;
    before(async () => {
      service = await startService(rti.url, {
        CHEQ_MODE: 'blocking',
        // A long window: the test does not depend on how fast 40 requests are sent.
        CHEQ_RTI_CIRCUIT_WINDOW_MS: '60000',
        CHEQ_RTI_CIRCUIT_OPEN_MS: '60000',
      });
    });
    after(async () => {
      rti.behaviour = () => BLOCK_ALL;
      await service?.close();
    });

    it('still asks RTI about the next visitor after 40 requests RTI refused as malformed', async () => {
      rti.behaviour = form =>
        form.get('UserAgent') === 'poison'
          ? { kind: 'raw', status: 400, body: '{"error":"bad request"}' }
          : BLOCK_ALL;
      const check = (ua: string): Promise<number> =>
        sendHead(
          service.httpUrl,
          'GET /api/authz/auth-request HTTP/1.1\r\nHost: authz\r\nX-Original-URI: /checkout\r\n' +
            `X-Original-Method: GET\r\nX-Real-IP: 203.0.113.9\r\nUser-Agent: ${ua}`,
        ).then(answer => answer.status);
      for (let i = 0; i < 40; i++) await check('poison');
      rti.calls.length = 0;
      assert.equal(await check('a visitor'), 403, 'the visitor was allowed without RTI');
      assert.equal(rti.calls.length, 1);
    });
  });

  // Finding A9 (NGINX part): deploy/nginx/example.conf leaves `location /static/` without
  // auth_request, so NGINX itself skips the check for any $uri under /static/. NGINX resolves
  // only real dot segments: `/static/..;/checkout` stays under /static/, goes to the app as sent
  // (proxy_pass without a URI), and Tomcat/Spring-style backends strip `;` parameters and route
  // it to /checkout. uri_exclusion (`^/static/`) reads it as ambiguous and checks it; the
  // location bypasses uri_exclusion altogether.
  describe('A9: deploy/nginx/example.conf, whose /static/ location has no auth_request', () => {
    const nginx = serviceBehindProxy(site, { CHEQ_MODE: 'blocking' }, EXAMPLE_NGINX);

    it('checks /checkout (control case)', async () => {
      const { status } = await sendHead(
        nginx.url,
        'GET /checkout HTTP/1.1\r\nHost: shop.example.com',
      );
      assert.equal(status, 403);
    });

    for (const target of ['/static/..;/checkout', '/static/.;/../checkout']) {
      it(`does not pass ${target} to the app unchecked`, async () => {
        const { status } = await sendHead(
          nginx.url,
          `GET ${target} HTTP/1.1\r\nHost: shop.example.com`,
        );
        assert.deepEqual(app.seen, [], `the app got it unchecked (status ${status})`);
      });
    }
  });

  // Findings B1, B2 of the second attacker's read (fixed; a regression test): with the route map
  // deploy/kubernetes/kustomization.yaml suggests, a bot asks for /checkout/ or /CHECKOUT, which
  // Express (its defaults), Rails, Spring MVC before 6 and ASP.NET Core serve as /checkout, and
  // RTI judges it as a page_load instead of a purchase. B3 (an ambiguous path picks the first
  // entry any reading matches) is in test/unit/core/attack-findings.test.ts.
  describe('B1, B2: the event type of /checkout/ and /CHECKOUT through the shipped NGINX config', () => {
    const nginx = serviceBehindProxy(
      site,
      { CHEQ_ROUTE_TO_EVENT_TYPE: '{"/checkout":"purchase","/cart/add":"add_to_cart"}' },
      SHIPPED_NGINX,
    );
    const eventTypeOf = async (target: string): Promise<string | null> => {
      await sendHead(nginx.url, `POST ${target} HTTP/1.1\r\nHost: shop.example`);
      assert.equal(rti.calls.length, 1, 'RTI was not asked');
      return rti.calls[0]?.form.get('EventType') ?? null;
    };

    it('tells RTI /checkout is a purchase (control case)', async () => {
      assert.equal(await eventTypeOf('/checkout'), 'purchase');
    });

    for (const [finding, target] of [
      ['B1', '/checkout/'],
      ['B1', '/cart/add/'],
      ['B2', '/CHECKOUT'],
      ['B2', '/Cart/Add'],
    ] as const) {
      it(`${finding}: tells RTI ${target} is what the route map says of its backend route`, async () => {
        const expected = target.toLowerCase().startsWith('/checkout') ? 'purchase' : 'add_to_cart';
        assert.equal(await eventTypeOf(target), expected);
      });
    }
  });

  // Finding B5 (fixed; a regression test); the rule is in test/unit/core/attack-findings.test.ts.
  // The test client stands in for an L7 balancer at 127.0.0.1 in front of the shipped NGINX
  // config: it appends its peer, a bot that reached it directly (not through Cloudflare), to
  // X-Forwarded-For, and passes on the bot's own CF-Connecting-IP.
  describe('B5: CF-Connecting-IP from a bot that bypassed the CDN, through the shipped NGINX config', () => {
    const nginx = serviceBehindProxy(
      site,
      {
        CHEQ_TRUSTED_PROXIES: '127.0.0.1,173.245.48.0/20',
        CHEQ_TRUSTED_IP_HEADER: 'cf-connecting-ip',
      },
      SHIPPED_NGINX,
    );
    const clientIpOf = async (xff: string, cfConnectingIp: string): Promise<string | null> => {
      await sendHead(
        nginx.url,
        `GET /checkout HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: ${xff}\r\n` +
          `CF-Connecting-IP: ${cfConnectingIp}`,
      );
      assert.equal(rti.calls.length, 1, 'RTI was not asked');
      return rti.calls[0]?.form.get('ClientIP') ?? null;
    };

    it('tells RTI the CF-Connecting-IP a listed Cloudflare edge sent (control case)', async () => {
      assert.equal(await clientIpOf('192.0.2.33, 173.245.48.10', '192.0.2.33'), '192.0.2.33');
    });

    it("tells RTI the balancer's peer, not the CF-Connecting-IP the bot picked", async () => {
      assert.equal(await clientIpOf('198.51.100.7', '203.0.113.99'), '198.51.100.7');
    });
  });
});
