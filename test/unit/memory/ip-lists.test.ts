import { strict as assert } from 'node:assert';
import { EntrySlots } from '../../../src/memory/entry-slots';
import { IpLists } from '../../../src/memory/ip-lists';

describe('verdict memory entries by IP', () => {
  /** Lists over real entry slots; `list(ip, key)` takes a slot for `key` and lists it. */
  function setup(maxSlots: number) {
    const slots = new EntrySlots(maxSlots);
    const byIp = new IpLists(slots);
    const list = (ip: number, key: string): number => {
      const slot = slots.take(key);
      slots.ip[slot] = ip;
      byIp.add(ip, slot);
      return slot;
    };
    const unlist = (slot: number): void => {
      byIp.remove(slots.ip[slot] as number, slot);
      slots.release(slot);
    };
    return { byIp, list, unlist };
  }

  it("lists an IP's entries oldest first, and what is left after one goes", () => {
    const { byIp, list, unlist } = setup(100);
    const a = list(7, 'a');
    const b = list(7, 'b');
    const other = list(8, 'x');
    const c = list(7, 'c');
    assert.deepEqual(byIp.slotsOf(7), [a, b, c]);
    unlist(a);
    assert.deepEqual(byIp.slotsOf(7), [b, c], 'the oldest gone: the next is the oldest');
    unlist(c);
    unlist(b);
    assert.deepEqual(byIp.slotsOf(7), []);
    assert.deepEqual(byIp.slotsOf(8), [other]);
  });

  it('agrees with a plain map through colliding IPs, removals and the table growing', () => {
    const { byIp, list, unlist } = setup(20_000);
    const model = new Map<number, number[]>();
    // 3,000 IPs (the table doubles from 1,024 cells to 8,192) whose low bits put them in the
    // first and the last few cells whatever the size: long probe runs that wrap round the end,
    // and every removal moves others back.
    const ips = Array.from(
      { length: 3000 },
      (_, n) => n * 16_384 + (n % 2 ? n % 5 : 16_383 - (n % 5)),
    );
    let seed = 11;
    const next = (below: number): number => (seed = (seed * 48271) % 2147483647) % below;
    const held: number[] = [];
    const ipOfSlot = new Map<number, number>();
    const agrees = (): void => {
      for (const ip of ips) assert.deepEqual(byIp.slotsOf(ip), model.get(ip) ?? [], `ip ${ip}`);
    };
    for (let step = 0; step < 30_000; step++) {
      if (held.length > 0 && (next(3) === 0 || held.length >= 15_000)) {
        const slot = held.splice(next(held.length), 1)[0] as number;
        const ip = ipOfSlot.get(slot) as number;
        model.set(
          ip,
          (model.get(ip) ?? []).filter(s => s !== slot),
        );
        unlist(slot);
      } else {
        const ip = ips[next(ips.length)] as number;
        const slot = list(ip, `k${step}`);
        held.push(slot);
        ipOfSlot.set(slot, ip);
        model.set(ip, [...(model.get(ip) ?? []), slot]);
      }
      if (step % 3000 === 0) agrees();
    }
    agrees();
  });
});
