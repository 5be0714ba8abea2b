// An operator's forget: the body is validated strictly (a clear reason, never a crash), and turns
// into the changes that remove exactly the keys the checks remembered the visitor under.

import { strict as assert } from 'node:assert';
import type { Visitor } from '../../../src/core/block-memory';
import {
  applyForget,
  forgetChanges,
  parseForgetRequest,
  type ForgetRequest,
} from '../../../src/memory/forget-request';
import { VerdictMemory, type MemoryChange } from '../../../src/memory/verdict-memory';
import { duidKey, ipTag, ipUaKey } from '../../../src/memory/visitor-keys';

const UA = 'Mozilla/5.0 (X11; Linux x86_64) bot/1.0';
// Each site's memory scope is opaque here: its name stands for it.
const SITES = ['default', 'shop'].map(name => ({ name, scope: name }));

function request(body: unknown): ForgetRequest {
  const parsed = parseForgetRequest(body);
  if ('refused' in parsed) assert.fail(`refused: ${parsed.refused}`);
  return parsed;
}

function visitor(fields: Partial<Visitor>): Visitor {
  return { site: 'shop', clientIp: undefined, userAgent: undefined, duid: undefined, ...fields };
}

describe('forget requests (admin endpoint body, forget command)', () => {
  describe('parseForgetRequest', () => {
    const accepted: readonly [string, unknown, ForgetRequest][] = [
      ['an IP', { ip: '203.0.113.7' }, { target: { kind: 'ip', ip: '203.0.113.7' } }],
      [
        'an IPv4-mapped IPv6 address, as the checks read it',
        { ip: '::ffff:203.0.113.7' },
        { target: { kind: 'ip', ip: '203.0.113.7' } },
      ],
      [
        'an IPv6 address in upper case',
        { ip: '2001:DB8::1' },
        { target: { kind: 'ip', ip: '2001:db8::1' } },
      ],
      [
        'an IP and a User-Agent, on one site',
        { ip: '203.0.113.7', user_agent: UA, site: 'shop' },
        { target: { kind: 'ip', ip: '203.0.113.7', userAgent: UA }, site: 'shop' },
      ],
      [
        'an IP and the empty User-Agent (a visitor that sent none)',
        { ip: '203.0.113.7', user_agent: '' },
        { target: { kind: 'ip', ip: '203.0.113.7', userAgent: '' } },
      ],
      ['a device id', { duid: 'duid-1' }, { target: { kind: 'duid', duid: 'duid-1' } }],
      ['everything', { all: true }, { target: { kind: 'all' } }],
    ];
    for (const [name, body, expected] of accepted) {
      it(`accepts ${name}`, () => assert.deepEqual(parseForgetRequest(body), expected));
    }

    const refused: readonly [string, unknown, string][] = [
      ['no body (not JSON)', undefined, 'the body must be a JSON object'],
      ['null', null, 'the body must be a JSON object'],
      ['an array', [{ all: true }], 'the body must be a JSON object'],
      ['a string', 'all', 'the body must be a JSON object'],
      ['an empty object', {}, 'give exactly one of ip, duid and all'],
      [
        'an IP and a device id',
        { ip: '203.0.113.7', duid: 'x' },
        'give exactly one of ip, duid and all',
      ],
      ['an IP and all', { ip: '203.0.113.7', all: true }, 'give exactly one of ip, duid and all'],
      ['an unknown field', { all: true, __proto__x: 1 }, 'unknown field(s): "__proto__x"'],
      ['a misspelt field', { ip: '203.0.113.7', useragent: UA }, 'unknown field(s): "useragent"'],
      ['a host name', { ip: 'bot.example' }, 'ip must be an IPv4 or IPv6 address'],
      ['an IP with a port', { ip: '203.0.113.7:80' }, 'ip must be an IPv4 or IPv6 address'],
      ['a bracketed IPv6 address', { ip: '[2001:db8::1]' }, 'ip must be an IPv4 or IPv6 address'],
      ['a zone index', { ip: 'fe80::1%eth0' }, 'ip must be an IPv4 or IPv6 address'],
      ['a CIDR range', { ip: '203.0.113.0/24' }, 'ip must be an IPv4 or IPv6 address'],
      ['an IP as a number', { ip: 3405803783 }, 'ip must be an IPv4 or IPv6 address'],
      ['a User-Agent without an IP', { duid: 'x', user_agent: UA }, 'user_agent needs ip'],
      [
        'a User-Agent over 8 KB',
        { ip: '203.0.113.7', user_agent: 'é'.repeat(4097) },
        'user_agent must be a string of at most 8192 bytes',
      ],
      [
        'a User-Agent that is not a string',
        { ip: '203.0.113.7', user_agent: ['x'] },
        'user_agent must be a string of at most 8192 bytes',
      ],
      ['an empty device id', { duid: '' }, 'duid must be a string of 1 to 256 characters'],
      [
        'a device id over 256 characters',
        { duid: 'd'.repeat(257) },
        'duid must be a string of 1 to 256 characters',
      ],
      ['all: false', { all: false }, 'all must be true'],
      ['all: "true"', { all: 'true' }, 'all must be true'],
      ['all on one site', { all: true, site: 'shop' }, 'site cannot be given with all'],
      ['an empty site', { duid: 'x', site: '' }, 'site must be a non-empty string'],
      ['a site that is not a string', { duid: 'x', site: 1 }, 'site must be a non-empty string'],
      [
        'a site name over 256 characters',
        { duid: 'x', site: 's'.repeat(257) },
        'site must be at most 256 characters',
      ],
    ];
    for (const [name, body, reason] of refused) {
      it(`refuses ${name}`, () => assert.deepEqual(parseForgetRequest(body), { refused: reason }));
    }

    it('accepts a User-Agent of exactly 8 KB and a device id of 256 characters', () => {
      assert.ok(!('refused' in parseForgetRequest({ ip: '::1', user_agent: 'u'.repeat(8192) })));
      assert.ok(!('refused' in parseForgetRequest({ duid: 'd'.repeat(256) })));
    });
  });

  describe('forgetChanges', () => {
    it('forgets every User-Agent of an IP on every served site by its IP tag', () => {
      assert.deepEqual(forgetChanges(request({ ip: '203.0.113.7' }), SITES), [
        { op: 'forget_ip', tag: ipTag('default', '203.0.113.7') },
        { op: 'forget_ip', tag: ipTag('shop', '203.0.113.7') },
      ]);
    });

    it('forgets the IP and User-Agent key on the site named, and the device ids stored with the IP', () => {
      const key = ipUaKey(visitor({ clientIp: '203.0.113.7', userAgent: UA }));
      const tags: string[] = [];
      const deviceKeysOf = (tag: string) => (tags.push(tag), ['d:device-of-that-ip']);
      assert.deepEqual(
        forgetChanges(
          request({ ip: '203.0.113.7', user_agent: UA, site: 'shop' }),
          SITES,
          deviceKeysOf,
        ),
        [
          { op: 'forget', key },
          { op: 'forget', key: 'd:device-of-that-ip' },
        ],
      );
      assert.deepEqual(tags, [ipTag('shop', '203.0.113.7')]);
    });

    it('forgets every key of the IP for one User-Agent when no store lists its device ids', () => {
      assert.deepEqual(
        forgetChanges(request({ ip: '203.0.113.7', user_agent: UA, site: 'shop' }), SITES),
        [{ op: 'forget_ip', tag: ipTag('shop', '203.0.113.7') }],
      );
    });

    it('forgets the device id key on every served site', () => {
      assert.deepEqual(forgetChanges(request({ duid: 'duid-1' }), SITES), [
        { op: 'forget', key: duidKey(visitor({ site: 'default', duid: 'duid-1' })) },
        { op: 'forget', key: duidKey(visitor({ duid: 'duid-1' })) },
      ]);
    });

    it('forgets everything with one forget_all', () => {
      assert.deepEqual(forgetChanges(request({ all: true }), SITES), [{ op: 'forget_all' }]);
    });

    it('refuses a site that is not served', () => {
      assert.deepEqual(forgetChanges(request({ duid: 'x', site: 'blog' }), SITES), {
        refused: 'site names none of the served sites',
      });
    });
  });

  describe('applyForget', () => {
    const TTL_MS = 60_000;
    let memory: VerdictMemory;
    let told: [MemoryChange, string][];
    const bot = visitor({ clientIp: '203.0.113.7', userAgent: UA, duid: 'duid-1' });
    const sameIpOtherUa = visitor({ clientIp: '203.0.113.7', userAgent: 'curl/8.5.0' });
    const otherIp = visitor({ clientIp: '198.51.100.9', userAgent: UA });
    const otherSite = visitor({ site: 'default', clientIp: '203.0.113.7', userAgent: UA });
    beforeEach(() => {
      memory = new VerdictMemory({ maxEntries: 1000, now: () => 1_000_000 });
      for (const v of [bot, sameIpOtherUa, otherIp, otherSite]) memory.remember(v, TTL_MS);
      told = [];
      memory.onChange((change, source) => told.push([change, source]));
    });

    it('forgets every key of an IP on one site (device ids seen there too), and nothing else; the peers are told', () => {
      assert.deepEqual(applyForget(memory, request({ ip: '203.0.113.7', site: 'shop' }), SITES), {
        forgotten: 3,
      });
      assert.equal(memory.recall(bot), undefined, 'its device id key carries the IP tag too');
      assert.equal(memory.recall(sameIpOtherUa), undefined);
      assert.ok(memory.recall(otherIp));
      assert.ok(memory.recall(otherSite));
      assert.deepEqual(told, [[{ op: 'forget_ip', tag: ipTag('shop', '203.0.113.7') }, 'admin']]);
    });

    it('forgets one User-Agent of an IP, and the device ids seen from that IP', () => {
      const forget = request({ ip: '203.0.113.7', user_agent: 'curl/8.5.0' });
      assert.deepEqual(applyForget(memory, forget, SITES), { forgotten: 2 });
      assert.equal(memory.recall(sameIpOtherUa), undefined);
      assert.ok(memory.recall({ ...bot, duid: undefined }), 'the other User-Agent stays');
      assert.equal(memory.recall({ ...bot, clientIp: '192.0.2.1' }), undefined, 'its device id');
    });

    it('forgets a person by IP and User-Agent wherever they come from next: their device id goes too', () => {
      const forget = request({ ip: '203.0.113.7', user_agent: UA, site: 'shop' });
      assert.deepEqual(applyForget(memory, forget, SITES), { forgotten: 2 });
      assert.equal(memory.recall(bot), undefined);
      assert.equal(memory.recall({ ...bot, clientIp: '198.51.100.77' }), undefined);
      assert.ok(memory.recall(sameIpOtherUa), 'another User-Agent of that IP without a device id');
      assert.deepEqual(
        told.map(([change]) => change),
        [
          { op: 'forget', key: ipUaKey(bot) },
          { op: 'forget', key: duidKey(bot) },
        ],
        'the peers forget the same keys',
      );
    });

    it('forgets an IPv6 visitor by any address of its /64', () => {
      const v6 = visitor({ clientIp: '2001:db8:0:7::1', userAgent: UA });
      memory.remember(v6, TTL_MS);
      const forget = request({ ip: '2001:0db8:0000:0007:ffff::2' });
      assert.deepEqual(applyForget(memory, forget, SITES), { forgotten: 1 });
      assert.equal(memory.recall(v6), undefined);
    });

    it('forgets a device id, and everything', () => {
      assert.deepEqual(applyForget(memory, request({ duid: 'duid-1' }), SITES), { forgotten: 1 });
      assert.deepEqual(applyForget(memory, request({ all: true }), SITES), { forgotten: 4 });
      assert.equal(memory.size, 0);
    });

    it('forgets nothing and counts 0 for a visitor not remembered', () => {
      assert.deepEqual(applyForget(memory, request({ ip: '192.0.2.1' }), SITES), {
        forgotten: 0,
      });
      assert.equal(memory.size, 5);
    });

    it('refuses a site not served, changing nothing', () => {
      assert.deepEqual(applyForget(memory, request({ duid: 'duid-1', site: 'blog' }), SITES), {
        refused: 'site names none of the served sites',
      });
      assert.equal(memory.size, 5);
      assert.deepEqual(told, []);
    });
  });
});
