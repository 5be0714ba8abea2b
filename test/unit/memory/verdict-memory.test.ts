import { strict as assert } from 'node:assert';
import type { Visitor } from '../../../src/core/block-memory';
import {
  MAX_KEYS_PER_IP,
  VerdictMemory,
  type ChangeSource,
  type MemoryChange,
} from '../../../src/memory/verdict-memory';
import { duidKey, IP_TAG, ipTag, ipUaKey, MEMORY_KEY } from '../../../src/memory/visitor-keys';

const TTL_MS = 300_000;
const BOT: Visitor = {
  site: 'shop',
  clientIp: '203.0.113.7',
  userAgent: 'python-requests/2.31',
  duid: 'duid-1',
};

/** A memory on a hand-moved clock, with every change it tells its peers recorded. */
function setup(maxEntries = 1000) {
  const clock = { now: 1_700_000_000_000 };
  const memory = new VerdictMemory({ maxEntries, now: () => clock.now });
  const told: [MemoryChange, ChangeSource][] = [];
  memory.onChange((change, source) => told.push([change, source]));
  return { memory, clock, told };
}

/** The n-th of many visitors, each known by its IP and User-Agent only. */
function visitor(n: number): Visitor {
  return { site: 'shop', clientIp: `10.0.${n >> 8}.${n & 255}`, userAgent: 'bot', duid: undefined };
}

describe('visitor keys', () => {
  it('are truncated digests of the site and the IP with the User-Agent, or the device id', () => {
    const ip = ipUaKey(BOT);
    const device = duidKey(BOT);
    assert.match(ip ?? '', MEMORY_KEY);
    assert.ok(ip?.startsWith('i:'));
    assert.match(device ?? '', MEMORY_KEY);
    assert.ok(device?.startsWith('d:'));
    assert.match(ipTag('shop', BOT.clientIp) ?? '', IP_TAG);
    assert.ok(!ip?.includes('203.0.113.7'), 'no address in clear');
  });

  it('tell sites, User-Agents and addresses apart', () => {
    const keys = [
      ipUaKey(BOT),
      ipUaKey({ ...BOT, site: 'blog' }),
      ipUaKey({ ...BOT, userAgent: 'curl/8.0' }),
      ipUaKey({ ...BOT, userAgent: undefined }),
      ipUaKey({ ...BOT, clientIp: '203.0.113.8' }),
    ];
    assert.equal(new Set(keys).size, keys.length);
    assert.notEqual(duidKey(BOT), duidKey({ ...BOT, site: 'blog' }));
  });

  it('know an IPv6 client by its /64, however the address is written', () => {
    const v6 = (clientIp: string) => ipUaKey({ ...BOT, clientIp });
    assert.equal(v6('2001:db8:1:2::1'), v6('2001:db8:1:2:ffff:ffff:ffff:fffe'));
    assert.equal(v6('2001:db8:1:2::1'), v6('2001:0db8:0001:0002:0:0:0:9'));
    assert.notEqual(v6('2001:db8:1:2::1'), v6('2001:db8:1:3::1'));
    assert.equal(ipTag('shop', '2001:db8:1:2::1'), ipTag('shop', '2001:db8:1:2::abcd'));
  });

  it('are none without a client IP or a device id', () => {
    assert.equal(ipUaKey({ ...BOT, clientIp: undefined }), undefined);
    assert.equal(duidKey({ ...BOT, duid: undefined }), undefined);
    assert.equal(duidKey({ ...BOT, duid: '' }), undefined);
    assert.equal(ipTag('shop', undefined), undefined);
  });
});

describe('VerdictMemory', () => {
  it('recalls a block under the IP and User-Agent, or under the device id alone', () => {
    const { memory, clock } = setup();
    memory.remember(BOT, TTL_MS);
    const expiresAtMs = clock.now + TTL_MS;
    assert.deepEqual(memory.recall(BOT), { key: 'ip_ua', expiresAtMs });
    const elsewhere = { ...BOT, clientIp: '198.51.100.9' };
    assert.deepEqual(memory.recall(elsewhere), { key: 'duid', expiresAtMs }, 'new IP, same cookie');
    const cookieDropped = { ...BOT, duid: undefined };
    assert.deepEqual(memory.recall(cookieDropped), { key: 'ip_ua', expiresAtMs });
    assert.equal(memory.recall({ ...BOT, userAgent: 'Mozilla/5.0', duid: undefined }), undefined);
    assert.equal(memory.recall({ ...BOT, site: 'blog' }), undefined, 'another site');
    assert.equal(memory.counts.learned.local, 2, 'one entry per key');
  });

  it('forgets an entry at its expiry (a fake clock), counting it expired', () => {
    const { memory, clock } = setup();
    memory.remember(BOT, TTL_MS);
    clock.now += TTL_MS - 1;
    assert.ok(memory.recall(BOT));
    clock.now += 1;
    assert.equal(memory.recall(BOT), undefined);
    assert.equal(memory.recall({ ...BOT, clientIp: undefined }), undefined, 'the duid key too');
    assert.equal(memory.counts.evicted.expired, 2);
    assert.equal(memory.size, 0);
  });

  it('evicts the least recently used entry at the cap', () => {
    const { memory } = setup(1000);
    for (let n = 0; n < 1000; n++) memory.remember(visitor(n), TTL_MS);
    assert.ok(memory.recall(visitor(0)), 'used: now the most recent');
    memory.remember(visitor(1000), TTL_MS);
    assert.equal(memory.size, 1000);
    assert.equal(memory.counts.evicted.capacity, 1);
    assert.ok(memory.recall(visitor(0)));
    assert.equal(memory.recall(visitor(1)), undefined, 'the least recently used went');
    assert.ok(memory.recall(visitor(1000)));
  });

  it('sweeps a bounded number of entries per call, expired ones only', () => {
    const { memory, clock } = setup(5000);
    for (let n = 0; n < 2500; n++) memory.remember(visitor(n), 1000);
    clock.now += 500;
    for (let n = 2500; n < 3000; n++) memory.remember(visitor(n), 1000);
    clock.now += 600;
    memory.sweep(1000);
    assert.ok(memory.size >= 2000 && memory.size < 3000, 'looked at 1000 at most');
    for (let call = 0; call < 5; call++) memory.sweep(1000);
    assert.equal(memory.size, 500, 'the later ones are still live');
    assert.equal(memory.counts.evicted.expired, 2500);
    memory.sweep();
    assert.equal(memory.size, 500);
  });

  it('sweeps expired entries behind live ones of a longer TTL, before the cap pushes live ones out', () => {
    const { memory, clock } = setup(5000);
    const site = (name: string, n: number): Visitor => ({ ...visitor(n), site: name });
    for (let n = 0; n < 1500; n++) memory.remember(site('long', n), 3_600_000);
    for (let n = 0; n < 3500; n++) memory.remember(site('short', n), 60_000);
    clock.now += 120_000;
    for (let call = 0; call < 5; call++) memory.sweep(1000);
    assert.equal(memory.size, 1500, 'every short-lived entry went: five calls walk 5000');
    for (let n = 0; n < 1000; n++) memory.remember(site('new', n), 300_000);
    assert.equal(memory.counts.evicted.capacity, 0);
    for (let n = 0; n < 1500; n++) assert.ok(memory.recall(site('long', n)), `long ${n}`);
  });

  it('sweeps entries that recalls keep moving to the most recently used end', () => {
    const { memory, clock } = setup(5000);
    for (let n = 0; n < 3000; n++) memory.remember(visitor(n), n < 2000 ? 60_000 : 3_600_000);
    clock.now += 30_000;
    for (let n = 0; n < 2000; n++) assert.ok(memory.recall(visitor(n)));
    clock.now += 60_000;
    for (let call = 0; call < 3; call++) memory.sweep(1000);
    assert.equal(memory.size, 1000);
    assert.equal(memory.counts.evicted.expired, 2000);
  });

  it('walks every entry each round whatever left or was replaced meanwhile', () => {
    const { memory, clock } = setup(300);
    // A fixed pseudo-random mix of blocks (new and repeated), forgets and capacity evictions.
    let seed = 7;
    const next = (below: number): number => (seed = (seed * 48271) % 2147483647) % below;
    const expiry = new Map<number, number>();
    for (let step = 0; step < 5000; step++) {
      const n = next(400);
      if (next(4) === 0) {
        memory.forget(visitor(n));
      } else {
        const ttl = 1000 + next(5000);
        memory.remember(visitor(n), ttl);
        expiry.set(n, clock.now + ttl);
      }
      if (step % 50 === 0) memory.sweep(7);
      clock.now += 1;
    }
    clock.now += 2000;
    // The store's slots are at most the cap + 1 (301): two calls of 300 look at each of them.
    memory.sweep(300);
    memory.sweep(300);
    const live = [...expiry].filter(([n, at]) => at > clock.now && memory.recall(visitor(n)));
    assert.ok(live.length > 0 && live.length < expiry.size);
    assert.equal(memory.size, live.length, 'a round left exactly the live entries');
  });

  it('forgets a visitor RTI no longer blocks, under both keys, and tells the peers', () => {
    const { memory, told } = setup();
    memory.remember(BOT, TTL_MS);
    told.length = 0;
    memory.forget(BOT);
    assert.equal(memory.recall(BOT), undefined);
    assert.equal(memory.counts.forgotten.rti_allowed, 2);
    assert.deepEqual(
      told.map(([change, source]) => [change.op, source]),
      [
        ['forget', 'local'],
        ['forget', 'local'],
      ],
    );
    memory.forget(BOT);
    assert.equal(told.length, 2, 'nothing to forget: nothing told');
  });

  it('tells the peers of a block once per half TTL, however often RTI blocks it again', () => {
    const { memory, clock, told } = setup();
    memory.remember({ ...BOT, duid: undefined }, TTL_MS);
    assert.equal(told.length, 1);
    const [[first]] = told as [[MemoryChange, ChangeSource]];
    assert.equal(first.op, 'block');
    assert.ok(first.op === 'block' && first.tag === ipTag('shop', BOT.clientIp));
    clock.now += TTL_MS * 0.4;
    memory.remember({ ...BOT, duid: undefined }, TTL_MS);
    assert.equal(told.length, 1, 'more than half its TTL was left');
    clock.now += TTL_MS * 0.2;
    memory.remember({ ...BOT, duid: undefined }, TTL_MS);
    assert.equal(told.length, 2, 'less than half was left');
  });

  it("forgets every key of one IP (forget_ip), whatever the User-Agent, and tells the peers an operator's change", () => {
    const { memory, told } = setup();
    memory.remember({ ...BOT, duid: undefined }, TTL_MS);
    memory.remember({ ...BOT, userAgent: 'curl/8.0', duid: undefined }, TTL_MS);
    const other = { ...BOT, clientIp: '203.0.113.99', duid: undefined };
    memory.remember(other, TTL_MS);
    told.length = 0;
    const tag = ipTag('shop', BOT.clientIp) as string;
    memory.apply({ op: 'forget_ip', tag }, 'admin');
    assert.equal(memory.recall({ ...BOT, duid: undefined }), undefined);
    assert.equal(memory.recall({ ...BOT, userAgent: 'curl/8.0', duid: undefined }), undefined);
    assert.ok(memory.recall(other), 'another IP stays');
    assert.equal(memory.counts.forgotten.admin, 2);
    assert.deepEqual(told, [[{ op: 'forget_ip', tag }, 'admin']]);
  });

  it("forgets everything (forget_all); a peer's change is applied but not told again", () => {
    const { memory, told } = setup();
    for (let n = 0; n < 10; n++) memory.remember(visitor(n), TTL_MS);
    told.length = 0;
    memory.apply({ op: 'forget_all' }, 'peer');
    assert.equal(memory.size, 0);
    assert.equal(memory.counts.forgotten.peer, 10);
    assert.deepEqual(told, [], 'a peer change goes no further');
  });

  it("holds at most MAX_KEYS_PER_IP keys of one IP: a new one pushes out that IP's oldest", () => {
    const { memory } = setup(10_000);
    const ua = (n: number): Visitor => ({ ...BOT, userAgent: `bot/${n}`, duid: `d-${n}` });
    for (let n = 0; n < 100; n++) memory.remember(ua(n), TTL_MS);
    assert.equal(memory.size, MAX_KEYS_PER_IP);
    assert.equal(memory.counts.evicted.ip_limit, 200 - MAX_KEYS_PER_IP);
    assert.equal(memory.counts.evicted.capacity, 0);
    // The newest stays remembered under both keys; the oldest went.
    assert.equal(memory.recall({ ...ua(99), duid: undefined })?.key, 'ip_ua');
    assert.equal(memory.recall({ ...ua(99), clientIp: undefined })?.key, 'duid');
    assert.equal(memory.recall(ua(0)), undefined);
    // Refreshing a key it holds pushes nothing out.
    memory.remember(ua(99), TTL_MS);
    assert.equal(memory.counts.evicted.ip_limit, 200 - MAX_KEYS_PER_IP);
    // Another address is not held back by this one's count.
    memory.remember(visitor(1), TTL_MS);
    assert.equal(memory.size, MAX_KEYS_PER_IP + 1);
    assert.equal(memory.recall(visitor(1))?.key, 'ip_ua');
  });

  it("counts an IP's keys down as they go: forgotten, expired or evicted", () => {
    const { memory, clock } = setup(10_000);
    const ua = (n: number): Visitor => ({ ...BOT, userAgent: `bot/${n}`, duid: undefined });
    for (let n = 0; n < MAX_KEYS_PER_IP; n++) memory.remember(ua(n), TTL_MS);
    memory.forget(ua(0));
    memory.remember(ua(100), TTL_MS);
    assert.equal(memory.recall(ua(100))?.key, 'ip_ua');
    clock.now += TTL_MS + 1;
    memory.sweep(10_000);
    assert.equal(memory.size, 0);
    for (let n = 200; n < 200 + MAX_KEYS_PER_IP; n++) memory.remember(ua(n), TTL_MS);
    assert.equal(memory.size, MAX_KEYS_PER_IP);
    assert.equal(memory.counts.evicted.ip_limit, 0);
  });

  it("keeps a peer's block until its expiry, capped at this process's longest TTL", () => {
    const { memory, clock } = setup();
    const key = ipUaKey(BOT) as string;
    memory.apply({ op: 'block', key, expiresAtMs: clock.now + 3_600_000 }, 'peer', TTL_MS);
    assert.deepEqual(memory.recall(BOT), { key: 'ip_ua', expiresAtMs: clock.now + TTL_MS });
    assert.equal(memory.counts.learned.peer, 1);
    const late = ipUaKey({ ...BOT, userAgent: 'late' }) as string;
    memory.apply({ op: 'block', key: late, expiresAtMs: clock.now }, 'peer', TTL_MS);
    assert.equal(memory.size, 1, 'an expired block is not applied');
  });

  it("keeps the later expiry when a peer's older block is read back after a fresher one here", () => {
    const { memory, clock, told } = setup();
    const key = ipUaKey(BOT) as string;
    memory.remember({ ...BOT, duid: undefined }, TTL_MS);
    const sentAt = clock.now - 200_000;
    memory.apply({ op: 'block', key, expiresAtMs: sentAt + TTL_MS }, 'peer', TTL_MS, sentAt);
    assert.equal(memory.recall(BOT)?.expiresAtMs, clock.now + TTL_MS);
    // A peer's later expiry still extends ours.
    memory.apply({ op: 'block', key, expiresAtMs: clock.now + TTL_MS + 5 }, 'peer', TTL_MS + 5);
    assert.equal(memory.recall(BOT)?.expiresAtMs, clock.now + TTL_MS + 5);
    assert.equal(told.length, 1, 'only our own block is told');
  });

  for (const [what, forgetOf] of [
    ['forget', (key: string): MemoryChange => ({ op: 'forget', key })],
    ['forget_ip', (_key: string, tag: string): MemoryChange => ({ op: 'forget_ip', tag })],
    ['forget_all', (): MemoryChange => ({ op: 'forget_all' })],
  ] as const) {
    it(`leaves a block learned after a peer's ${what} read back late, forgets one learned before`, () => {
      const { memory, clock } = setup();
      const bot = { ...BOT, duid: undefined };
      const key = ipUaKey(bot) as string;
      const change = forgetOf(key, ipTag('shop', BOT.clientIp) as string);
      // The peer's forget was sent 60 s ago; RTI blocked the bot here 10 s ago.
      const sentAt = clock.now;
      clock.now += 50_000;
      memory.remember(bot, TTL_MS);
      clock.now += 10_000;
      memory.apply(change, 'peer', TTL_MS, sentAt);
      assert.ok(memory.recall(bot), 'learned after the forget: kept');
      assert.equal(memory.counts.forgotten.peer, 0);
      // A forget sent after the block was learned takes it.
      memory.apply(change, 'peer', TTL_MS, clock.now - 1);
      assert.equal(memory.recall(bot), undefined);
      assert.equal(memory.counts.forgotten.peer, 1);
    });
  }

  it("forgets a peer's block learned before a peer's forget, and everything on an operator's", () => {
    const { memory, clock } = setup();
    const key = ipUaKey(BOT) as string;
    clock.now += 10_000;
    const sentAt = clock.now;
    memory.apply({ op: 'block', key, expiresAtMs: clock.now + TTL_MS }, 'peer', TTL_MS, sentAt);
    memory.apply({ op: 'forget', key }, 'peer', TTL_MS, sentAt - 1);
    assert.ok(memory.recall(BOT), 'the block was sent after the forget');
    memory.apply({ op: 'forget', key }, 'peer', TTL_MS, sentAt + 1);
    assert.equal(memory.recall(BOT), undefined);
    memory.remember({ ...BOT, duid: undefined }, TTL_MS);
    memory.apply({ op: 'forget_all' }, 'admin');
    assert.equal(memory.size, 0, 'an operator forgets what was learned up to now');
  });

  it("takes a peer's time as no later than ours: a clock ahead does not shield its block", () => {
    const { memory, clock } = setup();
    const key = ipUaKey(BOT) as string;
    const ahead = clock.now + 60_000;
    memory.apply({ op: 'block', key, expiresAtMs: ahead + TTL_MS }, 'peer', TTL_MS, ahead);
    clock.now += 10_000;
    memory.apply({ op: 'forget', key }, 'peer', TTL_MS, clock.now);
    assert.equal(memory.recall(BOT), undefined);
  });
});
