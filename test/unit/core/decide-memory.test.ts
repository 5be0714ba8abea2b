// The decision core with a verdict memory (issue #23): RTI decides whenever it answers; a block
// it gave is remembered, and carried out by block_strategy only while RTI cannot be asked.

import { strict as assert } from 'node:assert';
import type { Admission, AdmissionOutcome } from '../../../src/core/admission';
import { createDecide, type CoreConfig, type Decide } from '../../../src/core/decide';
import { FAILURE_CAUSES, type FailureCause } from '../../../src/core/decision';
import { memoryScope } from '../../../src/core/memory-scope';
import { RtiError, type RtiErrorCode, type RtiVerdict } from '../../../src/core/rti-port';
import { AdmissionLine } from '../../../src/load/admission-line';
import { VerdictMemory } from '../../../src/memory/verdict-memory';
import { v1 } from '../../helpers/verdicts';
import { coreConfig } from './core-config';
import { FakeRti } from './fake-rti-check';
import { BROWSER_HEADERS, makeAttributes, type AttributesOverrides } from './make-attributes';

const TTL_MS = 300_000;
const BENIGN = v1(false, 0);
const BLOCK = v1(true, 2);
const CHALLENGE = v1(true, 4);
const REDIRECT = v1(true, 9);

const BOT_HEADERS = [
  ['host', 'shop.example.com'],
  ['user-agent', 'python-requests/2.31'],
  ['accept', '*/*'],
] as const;
const BOT: AttributesOverrides = { headers: BOT_HEADERS, peerAddress: '198.51.100.20' };
/** Someone else on another address, with a browser's User-Agent. */
const PERSON: AttributesOverrides = { peerAddress: '203.0.113.7' };

/** What RTI does now: answer a verdict or fail with a code (the test switches it). */
type RtiState = RtiVerdict | RtiErrorCode | Error;

/** The core over a real VerdictMemory, a scripted RTI and one hand-moved clock. */
function setup(config: Partial<CoreConfig> = {}, admission?: Admission) {
  const clock = { now: 1_700_000_000_000 };
  const memory = new VerdictMemory({ maxEntries: 1000, now: () => clock.now });
  const rti = { state: BENIGN as RtiState };
  const fake = new FakeRti(() => {
    const { state } = rti;
    if (state instanceof Error) throw state;
    if (typeof state === 'string') throw new RtiError(state, `RTI failed: ${state}`);
    return state;
  });
  const settings = coreConfig({
    blockStrategy: 'access_denied',
    redirectCodes: new Set([9]),
    verdictMemoryTtlMs: TTL_MS,
    ...config,
  });
  const decide: Decide = createDecide(settings, fake, {
    memory,
    now: () => clock.now,
    site: 'shop',
    ...(admission ? { admission } : {}),
  });
  const check = (attrs: AttributesOverrides = {}) => decide(makeAttributes(attrs));
  return { clock, memory, rti, fake, decide, check };
}

/** Blocking-mode causes of RTI errors: each is recalled. */
const RTI_CAUSES: readonly RtiErrorCode[] = [
  'rti_timeout',
  'rti_connect_error',
  'rti_http_status',
  'rti_bad_response',
  'cancelled',
  'rti_circuit_open',
  'rti_overloaded',
];

/** An admission whose slots are all taken: `outcome` once a check asks. */
function fullAdmission(outcome: AdmissionOutcome, flooded = true) {
  const log: string[] = [];
  return {
    log,
    flooded,
    enter: () => {
      log.push('enter');
      return outcome;
    },
    leave: () => log.push('leave'),
  } satisfies Admission & { log: string[] };
}

describe('createDecide with a verdict memory', () => {
  for (const cause of RTI_CAUSES) {
    it(`blocks a bot RTI blocked when RTI then fails with ${cause}, and still allows a person`, async () => {
      const { clock, rti, check } = setup();
      rti.state = BLOCK;
      const first = await check(BOT);
      assert.equal(first.reason, 'threat_block');
      rti.state = cause;
      clock.now += 1000;
      const d = await check(BOT);
      assert.equal(d.action, 'deny');
      assert.equal(d.httpStatus, 403);
      assert.equal(d.reason, 'remembered_block');
      assert.deepEqual(d.remembered, {
        cause,
        key: 'ip_ua',
        expiresAtMs: clock.now - 1000 + TTL_MS,
      });
      assert.equal(d.failure, undefined, 'not a fail-open');
      assert.equal(d.failureDetail, `RTI failed: ${cause}`);
      assert.ok(d.body, 'the block page');
      const person = await check(PERSON);
      assert.deepEqual(
        [person.action, person.reason, person.failure],
        ['allow', 'fail_open', cause],
      );
      assert.equal(person.remembered, undefined);
    });
  }

  it('is tested above for every cause but internal_error', () => {
    const tested: readonly FailureCause[] = [...RTI_CAUSES, 'no_time_budget', 'overloaded'];
    const recalled = FAILURE_CAUSES.filter(cause => cause !== 'internal_error');
    assert.deepEqual([...tested].sort(), [...recalled].sort());
  });

  it('never answers from memory for a bug of ours (internal_error)', async () => {
    const { rti, check } = setup();
    rti.state = BLOCK;
    await check(BOT);
    rti.state = new TypeError('boom');
    const d = await check(BOT);
    assert.deepEqual([d.action, d.reason, d.failure], ['allow', 'fail_open', 'internal_error']);
    assert.equal(d.remembered, undefined);
  });

  it('recalls when the proxy left no time to ask RTI (no_time_budget)', async () => {
    const { clock, rti, decide } = setup();
    rti.state = BLOCK;
    await decide(makeAttributes(BOT));
    const d = await decide(makeAttributes(BOT), { deadlineMs: clock.now });
    assert.equal(d.reason, 'remembered_block');
    assert.equal(d.remembered?.cause, 'no_time_budget');
  });

  for (const outcome of ['overloaded', 'cancelled'] as const) {
    it(`recalls when the admission line ends ${outcome}`, async () => {
      const gate = fullAdmission(outcome, false);
      const { rti, memory, fake, decide } = setup({}, gate);
      memory.remember(visitorOfBot(), TTL_MS);
      rti.state = BLOCK;
      const d = await decide(makeAttributes(BOT));
      assert.equal(d.reason, 'remembered_block');
      assert.equal(d.remembered?.cause, outcome);
      assert.deepEqual(gate.log, ['enter'], 'asked for a slot: the line was not full yet');
      assert.equal(fake.calls.length, 0);
    });
  }

  it('answers a remembered visitor at once when checks wait in line: no wait, no slot', async () => {
    const gate = fullAdmission('admitted');
    const { memory, fake, decide } = setup({}, gate);
    memory.remember(visitorOfBot(), TTL_MS);
    const d = await decide(makeAttributes(BOT));
    assert.equal(d.reason, 'remembered_block');
    assert.equal(d.remembered?.cause, 'overloaded');
    assert.deepEqual(gate.log, [], 'never entered the line');
    assert.equal(fake.calls.length, 0);
    const person = await decide(makeAttributes(PERSON));
    assert.equal(person.reason, 'valid', 'anyone else waits for a slot and RTI, as before');
    assert.deepEqual(gate.log, ['enter', 'leave']);
  });

  describe('with every RTI slot taken (one slot, held by another check)', () => {
    /** A real line of one slot on the test's clock, its slot held. */
    function oneSlotTaken(config: Partial<CoreConfig> = {}) {
      const clock = { now: (): number => 0 };
      const line = new AdmissionLine({ limit: 1, now: () => clock.now() }, { onSample: () => {} });
      const t = setup(config, line);
      clock.now = () => t.clock.now;
      assert.equal(line.enter(t.clock.now + 1000), 'admitted', 'the other check holds the slot');
      t.memory.remember(visitorOfBot(), TTL_MS);
      return { ...t, line, soon: t.clock.now + 1000 };
    }

    it('lets RTI decide when nobody waits in line: a healthy RTI at its limit is no flood', async () => {
      const { line, rti, fake, decide } = oneSlotTaken();
      rti.state = BENIGN;
      const pending = decide(makeAttributes(BOT));
      assert.equal(line.waiting, 1, 'it waits for the slot instead of answering from memory');
      line.leave();
      const d = await pending;
      assert.equal(d.reason, 'valid');
      assert.equal(fake.calls.length, 1);
    });

    it('answers from memory at once when checks already wait in line', async () => {
      const { line, soon, fake, decide } = oneSlotTaken();
      const queued = line.enter(soon);
      assert.equal(line.waiting, 1);
      const d = await decide(makeAttributes(BOT));
      assert.deepEqual([d.reason, d.remembered?.cause], ['remembered_block', 'overloaded']);
      assert.equal(line.waiting, 1, 'never joined the line');
      assert.equal(fake.calls.length, 0);
      line.leave();
      assert.equal(await queued, 'admitted');
    });

    it('in monitoring mode waits for RTI even with checks in line: a recall would only skip it', async () => {
      const { line, soon, rti, fake, decide } = oneSlotTaken({ mode: 'monitoring' });
      rti.state = BENIGN;
      const queued = line.enter(soon);
      const pending = decide(makeAttributes(BOT));
      assert.equal(line.waiting, 2, 'in line behind the other');
      line.leave();
      assert.equal(await queued, 'admitted');
      line.leave();
      const d = await pending;
      assert.deepEqual([d.reason, d.remembered], ['valid', undefined]);
      assert.equal(fake.calls.length, 1);
    });
  });

  it('lets RTI decide whenever it answers: a bot it now calls benign is allowed and forgotten', async () => {
    const { rti, memory, check } = setup();
    rti.state = BLOCK;
    await check(BOT);
    assert.equal(memory.size, 1);
    rti.state = BENIGN;
    const d = await check(BOT);
    assert.equal(d.reason, 'valid');
    assert.equal(memory.size, 0);
    rti.state = 'rti_timeout';
    assert.equal((await check(BOT)).reason, 'fail_open');
  });

  for (const [name, verdict] of [
    ['challenge', CHALLENGE],
    ['redirect', REDIRECT],
  ] as const) {
    it(`does not remember a ${name}, and forgets a visitor RTI now answers so`, async () => {
      const { rti, memory, check } = setup({ challengeStrategy: 'access_denied' });
      rti.state = verdict;
      assert.notEqual((await check(BOT)).action, 'allow');
      assert.equal(memory.size, 0);
      memory.remember(visitorOfBot(), TTL_MS);
      await check(BOT);
      assert.equal(memory.size, 0);
    });
  }

  it('remembers under the _cq_duid cookie too: the same device from another address is recalled', async () => {
    const { rti, check } = setup();
    const cookie = ['cookie', 'a=1; _cq_duid=dev-42'] as const;
    rti.state = BLOCK;
    await check({ ...BOT, headers: [...BOT_HEADERS, cookie] });
    rti.state = 'rti_connect_error';
    const moved = await check({ headers: [...BROWSER_HEADERS, cookie], peerAddress: '192.0.2.99' });
    assert.equal(moved.reason, 'remembered_block');
    assert.equal(moved.remembered?.key, 'duid');
  });

  it("forgets at the site's TTL", async () => {
    const { clock, rti, check } = setup({ verdictMemoryTtlMs: 60_000 });
    rti.state = BLOCK;
    await check(BOT);
    rti.state = 'rti_timeout';
    clock.now += 59_999;
    assert.equal((await check(BOT)).reason, 'remembered_block');
    clock.now += 1;
    assert.equal((await check(BOT)).reason, 'fail_open');
  });

  it('neither remembers nor recalls on a site with verdict_memory_ttl_s 0', async () => {
    const { rti, memory, check } = setup({ verdictMemoryTtlMs: 0 });
    rti.state = BLOCK;
    await check(BOT);
    assert.equal(memory.size, 0);
    memory.remember(visitorOfBot(), TTL_MS);
    rti.state = 'rti_timeout';
    assert.equal((await check(BOT)).reason, 'fail_open');
    rti.state = BENIGN;
    await check(BOT);
    assert.equal(memory.size, 1, 'nor forgets');
  });

  describe('monitoring mode', () => {
    it('remembers what blocking would block, and counts a would-block fail-open from it', async () => {
      const { rti, memory, check } = setup({ mode: 'monitoring' });
      rti.state = BLOCK;
      const first = await check(BOT);
      assert.deepEqual([first.action, first.reason], ['allow', 'monitoring']);
      assert.equal(memory.size, 1);
      rti.state = 'rti_timeout';
      const d = await check(BOT);
      assert.deepEqual([d.action, d.reason, d.failure], ['allow', 'fail_open', 'rti_timeout']);
      assert.deepEqual(d.would, { action: 'deny', reason: 'remembered_block' });
      assert.equal(d.remembered?.cause, 'rti_timeout');
      assert.deepEqual(d.upstreamHeaders, [['x-cheq-decision', 'fail_open']]);
      assert.equal(d.body, undefined);
    });

    it('forgets what blocking would only challenge', async () => {
      const { rti, memory, check } = setup({
        mode: 'monitoring',
        challengeStrategy: 'access_denied',
      });
      memory.remember(visitorOfBot(), TTL_MS);
      rti.state = CHALLENGE;
      assert.equal((await check(BOT)).would?.reason, 'threat_challenge');
      assert.equal(memory.size, 0);
    });
  });

  describe('enforce_percent', () => {
    it('does not remember a block outside the enforced share (not_enforced), nor forget one', async () => {
      const { rti, memory, check } = setup({ enforcePercent: 0 });
      rti.state = BLOCK;
      assert.equal((await check(BOT)).reason, 'not_enforced');
      assert.equal(memory.size, 0);
      memory.remember(visitorOfBot(), TTL_MS);
      await check(BOT);
      assert.equal(memory.size, 1);
    });

    it('recalls only for visitors in the share enforced now (a route may set its own)', async () => {
      const { rti, check } = setup();
      rti.state = BLOCK;
      await check(BOT);
      rti.state = 'rti_timeout';
      const route = { enforcePercent: '0' };
      const d = await check({ ...BOT, route });
      assert.deepEqual([d.reason, d.failure], ['fail_open', 'rti_timeout']);
      assert.equal(d.remembered, undefined);
      assert.equal((await check(BOT)).reason, 'remembered_block');
    });
  });

  describe('block_strategy', () => {
    it('redirects a remembered page navigation as it would a block of RTI (redirect)', async () => {
      const { rti, check } = setup({
        blockStrategy: 'redirect',
        redirectUrl: 'https://shop.example.com/blocked',
      });
      rti.state = BLOCK;
      await check(PERSON);
      rti.state = 'rti_http_status';
      const d = await check(PERSON);
      assert.deepEqual([d.action, d.httpStatus, d.reason], ['redirect', 302, 'remembered_block']);
      assert.equal(d.location, 'https://shop.example.com/blocked');
    });

    it('answers the stealth 404 (not_found), saying nothing of us', async () => {
      const { rti, check } = setup({ blockStrategy: 'not_found' });
      rti.state = BLOCK;
      await check(BOT);
      rti.state = 'rti_timeout';
      const d = await check(BOT);
      assert.deepEqual([d.action, d.httpStatus, d.reason], ['deny', 404, 'remembered_block']);
      assert.equal(d.clientHeaders, undefined);
    });

    it('gives NGINX a page ticket that renders the block page (X-Cheq-Page)', async () => {
      const { rti, decide } = setup();
      rti.state = BLOCK;
      await decide(makeAttributes(PERSON));
      rti.state = 'rti_timeout';
      const d = await decide(makeAttributes(PERSON));
      assert.equal(d.reason, 'remembered_block');
      assert.ok(d.page, 'a ticket');
      const page = await decide(makeAttributes(PERSON), { pageTicket: d.page });
      assert.equal(page.httpStatus, 403);
      assert.equal(page.body?.text, d.body?.text);
    });
  });
});

/** The bot's visitor as the core builds it for site `shop` (its policy: setup's). */
function visitorOfBot() {
  return {
    site: memoryScope('shop', coreConfig()),
    clientIp: '198.51.100.20',
    userAgent: 'python-requests/2.31',
    duid: undefined,
  };
}
