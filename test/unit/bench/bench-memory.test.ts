// The memory phase's pure parts: who is a bot and who a person (the client's visitors and the RTI
// stand-in's reading of an RTI call agree), the tallies, a scenario's row, the cost ratio, the
// replicas' delays, and the verdicts on the issue's targets.

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Kind = 'bot' | 'person';
interface Visitor {
  kind: Kind;
  clientIp: string;
  userAgent: string;
}
interface Tally {
  sent: number;
  allowed: number;
  blocked: number;
  overflow: number;
  errors: Record<string, number>;
}
interface PopulationModule {
  BOT_NET: string;
  PERSON_NET: string;
  visitorOf(index: number, bots: number): Visitor;
  uniqueBot(n: number): Visitor;
  kindOfRtiCall(body: Buffer): Kind | undefined;
  randomVisitor(size: number, random: () => number): () => number;
  emptyTally(): Tally;
  blockedPct(t: Tally): number | undefined;
  sumTallies(list: Tally[]): Tally;
}
type Verdict = [target: string, measured: unknown, limit: string, pass: boolean | undefined];
interface MemoryPhaseModule {
  scenarioSummary(run: object): Record<string, unknown> & { rtiCalls: number; remembered: number };
  costSummary(
    rate: number,
    runs: { full: object[]; block: object[]; memory: object[]; failOpen: object[] },
  ): {
    ratio: { median: number; rounds: number[] };
    ratioToBlock: { median: number; rounds: number[] };
    failOpenRatio: { median: number; rounds: number[] };
    rememberedShare: number;
  };
  cheapSummary(rounds: { allow: number[]; memory: number[]; failOpen: number[] }): {
    memoryRatio: number | undefined;
    failOpenRatio: number | undefined;
    allowPerS: { median: number | undefined; rounds: number[] };
  };
  syncSummary(delaysMs: (number | null)[]): {
    bots: number;
    missed: number;
    delayMs: { max?: number; p50?: number };
  };
  memoryVerdicts(results: object, add: (...verdict: Verdict) => void): void;
  fillShare(
    on: object,
    off: object,
  ): { rssGrowthMb?: number; heapUsedMb?: number; rssMbPer10k?: number };
}

const BENCH = join(__dirname, '..', '..', '..', '..', 'bench');
const load = async <T>(path: string) => (await import(pathToFileURL(join(BENCH, path)).href)) as T;

const tally = (over: Partial<Tally>): Tally => ({
  sent: 0,
  allowed: 0,
  blocked: 0,
  overflow: 0,
  errors: {},
  ...over,
});

describe('bench: memory phase', () => {
  let p: PopulationModule;
  let m: MemoryPhaseModule;
  before(async () => {
    p = await load<PopulationModule>('lib/population.mjs');
    m = await load<MemoryPhaseModule>('phases/memory-report.mjs');
  });

  describe('population', () => {
    it('splits the visitors: the first `bots` are bots, each its own address, the rest people', () => {
      const visitors = Array.from({ length: 2000 }, (_, i) => p.visitorOf(i, 1000));
      assert.equal(visitors.filter(v => v.kind === 'bot').length, 1000);
      assert.ok(
        visitors.slice(0, 1000).every(v => v.kind === 'bot' && v.clientIp.startsWith(p.BOT_NET)),
      );
      assert.ok(
        visitors.slice(1000).every(v => v.kind === 'person' && v.clientIp.startsWith(p.PERSON_NET)),
      );
      assert.equal(new Set(visitors.map(v => v.clientIp)).size, 2000);
      assert.equal(p.visitorOf(999, 1000).clientIp, '198.18.3.231');
      assert.equal(p.visitorOf(1000, 1000).clientIp, '198.19.0.0');
    });

    it('gives unique bots distinct keys (IP and User-Agent) past the 65,536 addresses of the /16', () => {
      const keys = new Set<string>();
      for (let n = 0; n < 70_000; n += 7) {
        const bot = p.uniqueBot(n);
        assert.equal(bot.kind, 'bot');
        assert.match(bot.clientIp, /^198\.18\.\d{1,3}\.\d{1,3}$/);
        keys.add(`${bot.clientIp}\n${bot.userAgent}`);
      }
      assert.equal(keys.size, 10_000);
      assert.equal(p.uniqueBot(65_536).clientIp, p.uniqueBot(0).clientIp);
    });

    it("reads an RTI call's population from the v1 form and the v4 JSON our server sends", () => {
      const bot = p.visitorOf(5, 1000);
      const person = p.visitorOf(1005, 1000);
      const v1 = (ip: string) =>
        Buffer.from(`ApiKey=k&TagHash=t&ClientIP=${encodeURIComponent(ip)}&Method=GET`);
      const v4 = (ip: string) => Buffer.from(JSON.stringify({ endUserParams: { clientIp: ip } }));
      assert.equal(p.kindOfRtiCall(v1(bot.clientIp)), 'bot');
      assert.equal(p.kindOfRtiCall(v4(bot.clientIp)), 'bot');
      assert.equal(p.kindOfRtiCall(v1(person.clientIp)), 'person');
      assert.equal(p.kindOfRtiCall(v4(person.clientIp)), 'person');
      // The other phases' request, and an address only ending like a bot's.
      assert.equal(p.kindOfRtiCall(v1('10.1.2.3')), undefined);
      assert.equal(p.kindOfRtiCall(v1('10.198.18.1')), undefined);
    });

    it('picks repeat visitors uniformly within the population, never past its end', () => {
      const values = [0, 0.4999, 0.5, 0.9999999999];
      let i = 0;
      const pick = p.randomVisitor(2000, () => values[i++] ?? 0);
      assert.deepEqual(
        values.map(() => pick()),
        [0, 999, 1000, 1999],
      );
    });

    it('counts every request sent, errors and overflow included, as not blocked; rounds down', () => {
      assert.equal(p.blockedPct(tally({ sent: 0 })), undefined);
      assert.equal(p.blockedPct(tally({ sent: 100, blocked: 95, errors: { UNAVAILABLE: 5 } })), 95);
      assert.equal(p.blockedPct(tally({ sent: 100_000, blocked: 99_999 })), 99.99);
      const sum = p.sumTallies([
        tally({ sent: 3, blocked: 2, errors: { DEADLINE_EXCEEDED: 1 } }),
        tally({ sent: 4, allowed: 2, overflow: 1, errors: { DEADLINE_EXCEEDED: 1, INTERNAL: 1 } }),
      ]);
      assert.deepEqual(sum, {
        sent: 7,
        allowed: 2,
        blocked: 2,
        overflow: 1,
        errors: { DEADLINE_EXCEEDED: 2, INTERNAL: 1 },
      });
    });
  });

  describe('report', () => {
    const run = (
      bot: Partial<Tally>,
      person: Partial<Tally>,
      decisions: Record<string, number> = {},
    ) => ({
      offeredPerS: 1000,
      elapsedS: 10,
      tallies: { bot: tally(bot), person: tally(person) },
      rtiCalls: { verdicts: 40, hung: 2, bots: 20, people: 20 },
      decisions,
      latencyMs: { p99: 3 },
      scheduleLagMs: {},
      coreBusyPct: {},
    });

    it('makes a scenario row: shares per population, RTI calls, remembered blocks, fail-opens', () => {
      const row = m.scenarioSummary(
        run(
          { sent: 5000, blocked: 4900, allowed: 100 },
          { sent: 5000, allowed: 4990, errors: { X: 10 } },
          {
            remembered_block: 4800,
            fail_open: 200,
            'fail_open:rti_connect_error': 150,
            'fail_open:rti_circuit_open': 50,
          },
        ),
      );
      assert.equal(row['botsBlockedPct'], 98);
      assert.equal(row['peopleBlockedPct'], 0);
      assert.equal(row['checksPerS'], 999);
      assert.equal(row['sentPerS'], 1000);
      assert.equal(row.rtiCalls, 42);
      assert.equal(row.remembered, 4800);
      assert.deepEqual(row['failOpenByCause'], { rti_connect_error: 150, rti_circuit_open: 50 });
    });

    it('compares CPU per check round by round, and tells how many memory checks were remembered', () => {
      const window = (cpuS: number, answered: number, remembered?: number) => ({
        serverCpuS: cpuS,
        warmupSent: 1000,
        tallies: { bot: tally({ sent: answered, blocked: answered }), person: tally({}) },
        decisions: remembered === undefined ? {} : { remembered_block: remembered },
      });
      const cost = m.costSummary(1000, {
        full: [window(1, 10_000), window(1.2, 10_000)],
        block: [window(0.8, 10_000), window(0.6, 10_000)],
        memory: [window(0.2, 10_000, 11_000), window(0.3, 10_000, 9_900)],
        failOpen: [window(0.7, 10_000), window(0.6, 10_000)],
      });
      assert.deepEqual(cost.ratio.rounds, [0.2, 0.25]);
      assert.deepEqual(cost.failOpenRatio.rounds, [0.7, 0.5]);
      assert.equal(cost.ratio.median, 0.2);
      assert.deepEqual(cost.ratioToBlock.rounds, [0.25, 0.5]);
      assert.equal(cost.rememberedShare, 0.95);
      // A round in which nothing reached the server has no figure, and no ratio.
      const none = m.costSummary(1000, {
        full: [window(1, 0)],
        block: [window(1, 10_000)],
        memory: [window(0.2, 10_000, 11_000)],
        failOpen: [window(0.5, 10_000)],
      });
      assert.deepEqual(none.ratio.rounds, [NaN]);
      assert.equal(none.ratio.median, undefined);
    });

    it('compares the saturation of checks answered without RTI with that of full allows', () => {
      const cheap = m.cheapSummary({
        allow: [5000, 6000, 5500],
        memory: [4000, 4400, 4200],
        failOpen: [7000, 6600, 7700],
      });
      assert.equal(cheap.allowPerS.median, 5500);
      assert.equal(cheap.memoryRatio, 0.764);
      assert.equal(cheap.failOpenRatio, 1.273);
      assert.equal(
        m.cheapSummary({ allow: [], memory: [1], failOpen: [1] }).memoryRatio,
        undefined,
      );
    });

    it("summarises the replicas' delays, counting a bot replica 2 never blocked as missed", () => {
      const s = m.syncSummary([12, null, 30, 8]);
      assert.equal(s.bots, 4);
      assert.equal(s.missed, 1);
      assert.equal(s.delayMs.max, 30);
      assert.equal(s.delayMs.p50, 12);
    });

    describe('verdicts', () => {
      const scenario = (botsPct: number, peoplePct: number) =>
        m.scenarioSummary(
          run({ sent: 10_000, blocked: botsPct * 100 }, { sent: 10_000, blocked: peoplePct * 100 }),
        );
      const results = (over: Record<string, unknown> = {}) => ({
        rate: 1000,
        windowS: 30,
        leadS: 60,
        capacity: 4000,
        capacityFrom: 'BENCH_CAPACITY',
        scenarios: {
          healthy: scenario(100, 0),
          refused: scenario(99, 0),
          hung: scenario(96, 0),
          overload150: scenario(95, 0),
        },
        cost: {
          rate: 1000,
          fullUs: { median: 100, rounds: [100] },
          blockUs: { median: 110, rounds: [110] },
          ratioToBlock: { median: 0.18, rounds: [0.18] },
          memoryUs: { median: 20, rounds: [20] },
          ratio: { median: 0.2, rounds: [0.2] },
          failOpenUs: { median: 60, rounds: [60] },
          failOpenRatio: { median: 0.6, rounds: [0.6] },
          rememberedShare: 1,
        },
        cheap: m.cheapSummary({ allow: [5000], memory: [8000], failOpen: [9000] }),
        full: { on: fillRun(), off: fillRun({ entries: 0, rssMaxMb: 100 }) },
        sync: m.syncSummary([20, 40, 900]),
        ...over,
      });
      /** One fresh process of the fill part: 100,000 entries held of a 100,000 cap. */
      const fillRun = (over: Record<string, unknown> = {}) => ({
        maxEntries: 100_000,
        entries: 100_000,
        checks: 105_000,
        blocked: 105_000,
        checksPerS: 3000,
        rssIdleMb: 90,
        rssMaxMb: 120,
        rssAfterMb: 110,
        heapIdle: { heapUsedMb: 30 },
        heapFull: { heapUsedMb: 50 },
        ...over,
      });
      const verdicts = (r: object) => {
        const out: Verdict[] = [];
        m.memoryVerdicts(r, (...v) => out.push(v));
        return out;
      };
      const passOf = (list: Verdict[], words: string) => list.find(v => v[0].includes(words))?.[3];

      it('passes at the targets: ≥ 95 % of bot requests blocked, no person, within 1 s, RSS in budget', () => {
        const list = verdicts(results());
        assert.equal(list.length, 10);
        assert.deepEqual(
          list.map(v => v[3]),
          [true, true, true, true, true, undefined, undefined, undefined, true, undefined],
        );
      });

      it("says the memory's own share: full minus off, in RSS and heap, and per 10,000 entries", () => {
        // Idle apart by 4 MB: the share is what each grew, not the difference of their peaks.
        const off = fillRun({
          entries: 0,
          rssIdleMb: 92,
          rssMaxMb: 104.3,
          heapFull: { heapUsedMb: 41.5 },
        });
        const on = fillRun({ rssIdleMb: 88, rssMaxMb: 131.1, heapFull: { heapUsedMb: 60.5 } });
        assert.deepEqual(m.fillShare(on, off), {
          rssGrowthMb: 30.8,
          heapUsedMb: 19,
          rssMbPer10k: 3.08,
        });
        const share = verdicts(results({ full: { on, off } })).at(-1);
        assert.ok(share?.[0].includes("memory's own share"));
        assert.equal(share?.[1], 'RSS growth +30.8 MB, heap used +19 MB');
        assert.equal(share?.[3], undefined);
        assert.deepEqual(m.fillShare(fillRun({ heapFull: {}, rssMaxMb: undefined }), off), {
          rssGrowthMb: undefined,
          heapUsedMb: undefined,
          rssMbPer10k: undefined,
        });
      });

      it('gives the verdicts of the parts measured only (BENCH_MEMORY_PARTS)', () => {
        const fillOnly = verdicts({ full: results()['full'] });
        assert.deepEqual(
          fillOnly.map(v => v[3]),
          [true, undefined],
        );
        assert.ok(fillOnly[0]?.[0].includes('RSS with the verdict memory full'));
        const syncOnly = verdicts({ sync: m.syncSummary([20]) });
        assert.equal(syncOnly.length, 1);
        assert.ok(syncOnly[0]?.[0].includes('Redis'));
      });

      it('fails a scenario under 95 %, any person blocked, a late or missing replica, a memory not full', () => {
        const list = verdicts(
          results({
            scenarios: {
              healthy: scenario(100, 0.01),
              refused: scenario(0, 0),
              hung: scenario(94.99, 0),
              overload150: scenario(95, 0),
            },
            sync: m.syncSummary([20, null]),
            full: { on: fillRun({ entries: 99_000, blocked: 104_000 }), off: fillRun() },
          }),
        );
        assert.equal(passOf(list, 'refusing'), false);
        assert.equal(passOf(list, 'hanging'), false);
        assert.equal(passOf(list, '150 %'), true);
        assert.equal(passOf(list, 'people blocked'), false);
        assert.equal(passOf(list, 'Redis'), false);
        assert.equal(passOf(list, 'RSS'), false);
        assert.equal(
          passOf(verdicts(results({ sync: m.syncSummary([20, 1001]) })), 'Redis'),
          false,
        );
        assert.equal(
          passOf(
            verdicts(
              results({
                sync: { error: 'no redis_url', bots: 2, delaysMs: [], delayMs: {}, missed: 2 },
              }),
            ),
            'Redis',
          ),
          false,
        );
      });

      it('fails the cost line when the memory rounds were not decided from memory', () => {
        const cost = { ...results()['cost'], rememberedShare: 0.5 };
        assert.equal(passOf(verdicts(results({ cost })), 'CPU per check'), false);
      });
    });
  });
});
