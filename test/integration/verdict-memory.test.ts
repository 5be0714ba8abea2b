// The verdict memory end to end (issue #23): the real server in-process over gRPC, the RTI
// stand-in on loopback. RTI blocks a bot; while RTI cannot be asked (refusing connections,
// hanging, the admission line full) the bot is blocked from memory and everyone else fails open
// as before; whenever RTI answers, RTI decides. No timing margins: orderings and held answers.

import { strict as assert } from 'node:assert';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';
import { BROWSER_HEADERS, envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { runMain } from '../helpers/server-process';
import { metricValue, startService, type TestService } from '../helpers/start-service';

const BOT = envoyCheckRequest({
  headers: { ...BROWSER_HEADERS, 'user-agent': 'evil-bot/1.0' },
  peer: '198.51.100.66',
});
const PERSON = envoyCheckRequest({ peer: '203.0.113.9' });

/** RTI's view: the bot's User-Agent is a known bad bot (code 2, blocked), anyone else valid. */
function knowsTheBot(rti: FakeRti): void {
  rti.behaviour = form =>
    form.get('UserAgent')?.includes('bot')
      ? verdict({ isInvalid: true, threatTypeCode: 2 })
      : verdict({});
}

function reasonOf(response: CheckResponse__Output): string | undefined {
  return response.dynamic_metadata?.fields?.['cheq_reason']?.stringValue ?? undefined;
}

function failureOf(response: CheckResponse__Output): string | undefined {
  return response.dynamic_metadata?.fields?.['cheq_failure']?.stringValue ?? undefined;
}

describe('verdict memory (integration)', () => {
  let rti: FakeRti;
  let service: TestService | undefined;

  beforeEach(async () => {
    rti = await FakeRti.start();
    knowsTheBot(rti);
  });
  afterEach(async () => {
    await service?.close();
    service = undefined;
    await rti.close();
  });

  /** A blocking server whose RTI has already blocked the bot once. */
  async function serverThatBlockedTheBot(env: Record<string, string> = {}): Promise<TestService> {
    service = await startService(rti.url, { CHEQ_MODE: 'blocking', ...env });
    const first = await service.check(BOT);
    assert.equal(first.denied_response?.status?.code, 403);
    assert.equal(reasonOf(first), 'threat_block');
    return service;
  }

  it('blocks the bot from memory while RTI refuses connections, and still allows a person', async () => {
    const server = await serverThatBlockedTheBot();
    await rti.close();
    const bot = await server.check(BOT);
    assert.equal(bot.status?.code, 7);
    assert.equal(bot.denied_response?.status?.code, 403);
    assert.equal(reasonOf(bot), 'remembered_block');
    assert.ok(['rti_connect_error', 'rti_circuit_open'].includes(failureOf(bot) ?? ''));
    const person = await server.check(PERSON);
    assert.equal(person.status?.code, 0);
    assert.equal(reasonOf(person), 'fail_open');
    const metrics = await server.metrics();
    const remembered = { reason: 'remembered_block', action: 'deny' };
    assert.equal(metricValue(metrics, 'cheq_authz_decisions_total', remembered), 1);
    assert.equal(metricValue(metrics, 'cheq_authz_verdict_memory_entries'), 1);
    const line = server.logs.find(
      l => l['msg'] === 'blocked from verdict memory: RTI could not be asked',
    );
    assert.equal(line?.['memoryKey'], 'ip_ua');
    assert.equal(line?.['level'], 'warn');
    rti = await FakeRti.start(); // afterEach closes it
  });

  it('blocks the bot from memory when RTI hangs past timeout_ms', async () => {
    const server = await serverThatBlockedTheBot();
    rti.behaviour = () => ({ kind: 'hang' });
    const bot = await server.check(BOT);
    assert.equal(reasonOf(bot), 'remembered_block');
    assert.equal(failureOf(bot), 'rti_timeout');
    const hits = { site: 'default', cause: 'rti_timeout' };
    assert.equal(
      metricValue(await server.metrics(), 'cheq_authz_verdict_memory_hits_total', hits),
      1,
    );
  });

  it('lets RTI decide when it answers: the bot it now calls benign is allowed and forgotten', async () => {
    const server = await serverThatBlockedTheBot();
    rti.behaviour = () => verdict({});
    const allowed = await server.check(BOT);
    assert.equal(allowed.status?.code, 0);
    assert.equal(reasonOf(allowed), 'valid');
    rti.behaviour = () => ({ kind: 'raw', status: 503, body: 'down' });
    const later = await server.check(BOT);
    assert.equal(reasonOf(later), 'fail_open', 'nothing left to remember');
    const forgotten = { reason: 'rti_allowed' };
    const metrics = await server.metrics();
    assert.equal(metricValue(metrics, 'cheq_authz_verdict_memory_forgotten_total', forgotten), 1);
  });

  it('refuses a remembered bot at once while the admission line is full: no wait, no RTI call', async () => {
    const server = await serverThatBlockedTheBot({ CHEQ_RTI_CONNECTIONS: '1' });
    let release: () => void = () => undefined;
    const gate = new Promise<void>(resolve => (release = resolve));
    rti.behaviour = () => ({ kind: 'held', gate, then: verdict({}) });
    let personAnswered = false;
    const person = server.check(PERSON).then(response => {
      personAnswered = true;
      return response;
    });
    await rti.waitForCalls(2); // the person's call holds the only slot
    const bot = await server.check(BOT);
    assert.equal(reasonOf(bot), 'remembered_block');
    assert.equal(failureOf(bot), 'overloaded');
    assert.equal(personAnswered, false, 'answered while the slot was still held');
    assert.equal(rti.calls.length, 2, 'the bot cost no RTI call');
    release();
    assert.equal(reasonOf(await person), 'valid');
  });

  it('check --explain shows a decision from memory, its key and its expiry', async () => {
    const server = await serverThatBlockedTheBot();
    const before = Date.now();
    rti.behaviour = () => ({ kind: 'raw', status: 500, body: 'oops' });
    const explained = await runMain([
      'check',
      '--target',
      server.grpcAddress,
      '--url',
      'https://shop.example.com/',
      '--ip',
      '198.51.100.66',
      '--header',
      'user-agent: evil-bot/1.0',
      '--explain',
    ]);
    assert.equal(explained.code, 0, explained.stderr);
    assert.match(explained.stdout, /^DENY 403/);
    assert.match(explained.stdout, /\n {2}reason {12}remembered_block\n/);
    assert.match(explained.stdout, /\n {2}failure {11}rti_http_status\n/);
    const memory = /\n {2}memory {12}from verdict memory: key ip_ua, expires (\S+)\n/.exec(
      explained.stdout,
    );
    assert.ok(memory, explained.stdout);
    const expiresAtMs = Date.parse(memory[1] ?? '');
    // The default TTL, 300 s, from the first block (before `before`): no machine-speed margin.
    assert.ok(expiresAtMs <= before + 300_000 && expiresAtMs > before, memory[1]);
  });
});
