import { strict as assert } from 'node:assert';
import type { Decide, DecideOptions } from '../../../src/core/decide';
import type { Decision } from '../../../src/core/decision';
import type { RequestAttributes, RouteSettings } from '../../../src/core/request-attributes';
import { createSiteRouter, hostName, type RoutedSite } from '../../../src/core/site-router';
import { makeAttributes } from './make-attributes';

/** A Decision marked with the name of the fake chain that answered. */
function markedDecision(marker: string): Decision {
  return {
    action: 'allow',
    reason: 'valid',
    httpStatus: 200,
    upstreamHeaders: [],
    upstreamHeadersToRemove: [],
    mode: 'monitoring',
    site: marker,
  };
}

interface FakeCall {
  readonly attrs: RequestAttributes;
  readonly options: DecideOptions | undefined;
}

/** A fake decision chain: answers with its marker and records what it was given. */
function fakeDecide(marker: string, calls: FakeCall[] = []): Decide {
  return (attrs, options) => {
    calls.push({ attrs, options });
    return Promise.resolve(markedDecision(marker));
  };
}

function site(name: string, hosts: readonly string[]): RoutedSite {
  return { name, hosts, decide: fakeDecide(name) };
}

const FALLBACK = 'fallback';

async function routedTo(
  sites: readonly RoutedSite[],
  host: string,
  route: RouteSettings = {},
): Promise<string> {
  const router = createSiteRouter(sites, fakeDecide(FALLBACK));
  const decision = await router(makeAttributes({ host, route }));
  return decision.site;
}

describe('hostName', () => {
  const CASES: readonly (readonly [authority: string, host: string])[] = [
    ['shop.example.com', 'shop.example.com'],
    ['shop.example.com:8443', 'shop.example.com'],
    ['Shop.Example.COM', 'shop.example.com'],
    ['shop.example.com.', 'shop.example.com'],
    ['Shop.Example.com.:443', 'shop.example.com'],
    ['[2001:db8::1]:8443', '[2001:db8::1]'],
    ['[2001:DB8::1]', '[2001:db8::1]'],
    ['203.0.113.7:80', '203.0.113.7'],
    ['', ''],
  ];
  for (const [authority, host] of CASES) {
    it(`reads ${JSON.stringify(authority)} as ${JSON.stringify(host)}`, () => {
      assert.equal(hostName(authority), host);
    });
  }
});

describe('createSiteRouter', () => {
  describe('exact host names', () => {
    const sites = [site('shop', ['shop.example.com']), site('blog', ['blog.example.com'])];

    it('routes a request to the site that lists its host', async () => {
      assert.equal(await routedTo(sites, 'shop.example.com'), 'shop');
      assert.equal(await routedTo(sites, 'blog.example.com'), 'blog');
    });

    it('ignores the port of the host', async () => {
      assert.equal(await routedTo(sites, 'shop.example.com:8443'), 'shop');
    });

    it('matches an upper-case host', async () => {
      assert.equal(await routedTo(sites, 'SHOP.Example.Com'), 'shop');
    });

    it('matches a host with a trailing dot (fully qualified)', async () => {
      assert.equal(await routedTo(sites, 'shop.example.com.'), 'shop');
      assert.equal(await routedTo(sites, 'shop.example.com.:443'), 'shop');
    });

    it('matches an IPv6 literal with a port', async () => {
      const v6 = [site('v6', ['[2001:db8::1]'])];
      assert.equal(await routedTo(v6, '[2001:db8::1]:8443'), 'v6');
      assert.equal(await routedTo(v6, '[2001:db8::2]:8443'), FALLBACK);
    });

    it('does not match a subdomain of an exact host', async () => {
      assert.equal(await routedTo(sites, 'www.shop.example.com'), FALLBACK);
    });

    it('serves a site from any of its hosts', async () => {
      const multi = [site('shop', ['shop.example.com', 'shop.example.net'])];
      assert.equal(await routedTo(multi, 'shop.example.net'), 'shop');
    });
  });

  describe('*.suffix host names', () => {
    const sites = [site('wild', ['*.example.com'])];

    it('matches a subdomain', async () => {
      assert.equal(await routedTo(sites, 'shop.example.com'), 'wild');
    });

    it('matches deeper subdomains', async () => {
      assert.equal(await routedTo(sites, 'a.b.shop.example.com'), 'wild');
    });

    it('matches a subdomain with a port, in upper case, with a trailing dot', async () => {
      assert.equal(await routedTo(sites, 'Shop.EXAMPLE.com.:8443'), 'wild');
    });

    it('does not match the bare domain', async () => {
      assert.equal(await routedTo(sites, 'example.com'), FALLBACK);
      assert.equal(await routedTo(sites, 'example.com:443'), FALLBACK);
    });

    it('does not match a lookalike domain that merely ends with the same letters', async () => {
      assert.equal(await routedTo(sites, 'evilexample.com'), FALLBACK);
      assert.equal(await routedTo(sites, 'shop.evilexample.com'), FALLBACK);
    });

    it('does not match a domain that only contains the suffix', async () => {
      assert.equal(await routedTo(sites, 'example.com.evil.net'), FALLBACK);
    });

    it('prefers the longest matching suffix, whatever the order of the sites', async () => {
      const short = site('short', ['*.example.com']);
      const long = site('long', ['*.eu.example.com']);
      for (const order of [
        [short, long],
        [long, short],
      ]) {
        assert.equal(await routedTo(order, 'shop.eu.example.com'), 'long');
        assert.equal(await routedTo(order, 'shop.us.example.com'), 'short');
      }
    });

    it('prefers an exact host over a matching suffix, whatever the order of the sites', async () => {
      const wild = site('wild', ['*.example.com']);
      const exact = site('exact', ['shop.example.com']);
      for (const order of [
        [wild, exact],
        [exact, wild],
      ]) {
        assert.equal(await routedTo(order, 'shop.example.com'), 'exact');
        assert.equal(await routedTo(order, 'blog.example.com'), 'wild');
      }
    });
  });

  describe('route.site (context_extensions cheq_site)', () => {
    const sites = [site('shop', ['shop.example.com']), site('api', [])];

    it('routes to the named site whatever the host', async () => {
      assert.equal(await routedTo(sites, 'shop.example.com', { site: 'api' }), 'api');
      assert.equal(await routedTo(sites, 'unknown.example.org', { site: 'shop' }), 'shop');
    });

    it('falls back to host matching when it names no configured site', async () => {
      assert.equal(await routedTo(sites, 'shop.example.com', { site: 'nope' }), 'shop');
      assert.equal(await routedTo(sites, 'other.example.com', { site: 'nope' }), FALLBACK);
    });
  });

  describe('requests no site serves', () => {
    it('go to the fallback when no host matches', async () => {
      const sites = [site('shop', ['shop.example.com'])];
      assert.equal(await routedTo(sites, 'other.example.com'), FALLBACK);
    });

    it('go to the fallback when the host is empty', async () => {
      const sites = [site('shop', ['shop.example.com'])];
      assert.equal(await routedTo(sites, ''), FALLBACK);
    });

    it('without sites, the fallback is returned as is', () => {
      const fallback = fakeDecide(FALLBACK);
      assert.equal(createSiteRouter([], fallback), fallback);
    });
  });

  it('hands the chosen chain the request and the options unchanged', async () => {
    const calls: FakeCall[] = [];
    const fallbackCalls: FakeCall[] = [];
    const router = createSiteRouter(
      [{ name: 'shop', hosts: ['shop.example.com'], decide: fakeDecide('shop', calls) }],
      fakeDecide(FALLBACK, fallbackCalls),
    );
    const attrs = makeAttributes({ host: 'shop.example.com:443' });
    const options: DecideOptions = { deadlineMs: 1_700_000_000_900 };
    await router(attrs, options);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.attrs, attrs);
    assert.equal(calls[0]?.options, options);
    assert.equal(fallbackCalls.length, 0);
  });
});
