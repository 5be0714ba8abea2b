import { strict as assert } from 'node:assert';
import { Registry } from 'prom-client';
import { VerdictMemory } from '../../../src/memory/verdict-memory';
import { createMetrics } from '../../../src/observability/metrics';
import { metricValue } from '../../helpers/start-service';

const EMPTY_POOL = { connected: 0, free: 0, pending: 0, running: 0 };
const LOCAL = { source: 'local' };

/**
 * Every metric the server exports, with its type and label names: dashboards, alert rules and
 * the bench select on these, so a change here is a breaking change for operators.
 */
const EXPORTED: Record<string, string> = {
  cheq_authz_admission_waiting: 'gauge',
  cheq_authz_build_info: 'gauge version,node_version',
  cheq_authz_challenges_total: 'counter site,provider,outcome',
  cheq_authz_check_duration_seconds: 'histogram transport',
  cheq_authz_checks_in_flight: 'gauge transport',
  cheq_authz_config_info: 'gauge hash',
  cheq_authz_config_last_reload_timestamp_seconds: 'gauge',
  cheq_authz_config_reload_failures_total: 'counter',
  cheq_authz_decisions_total: 'counter transport,action,reason,site',
  cheq_authz_fail_open_total: 'counter transport,cause,site',
  cheq_authz_mode: 'gauge mode',
  cheq_authz_monitoring_would_act_total: 'counter transport,action,reason,site',
  cheq_authz_rejected_requests_total: 'counter transport,reason',
  cheq_authz_rti_circuit_ignored_timeouts_total: 'counter',
  cheq_authz_rti_circuit_state: 'gauge state',
  cheq_authz_rti_in_flight: 'gauge',
  cheq_authz_rti_pool: 'gauge stat',
  cheq_authz_rti_reachable_at_start: 'gauge',
  cheq_authz_rti_request_duration_seconds: 'histogram result',
  cheq_authz_rti_requests_total: 'counter result',
  cheq_authz_rti_timeout_seconds: 'gauge',
  cheq_authz_threat_types_total: 'counter threat_type,invalid',
  cheq_authz_verdict_memory_entries: 'gauge',
  cheq_authz_verdict_memory_evictions_total: 'counter reason',
  cheq_authz_verdict_memory_forgotten_total: 'counter reason',
  cheq_authz_verdict_memory_hits_total: 'counter site,cause',
  cheq_authz_verdict_memory_learned_total: 'counter source',
  cheq_authz_verdict_memory_max_entries: 'gauge',
  cheq_authz_verdicts_total: 'counter verdict,rule,site',
  cheq_authz_warmup_duration_seconds: 'gauge',
};

/** Each family's type and the label names of its samples (a histogram's `le` left out). */
function families(exposition: string): Record<string, string> {
  const found: Record<string, { type: string; labels: Set<string> }> = {};
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) found[type[1]!] = { type: type[2]!, labels: new Set() };
    const sample = /^(\w+?)(?:_bucket|_sum|_count)?\{(.*)\} \S+$/.exec(line);
    const family = sample && (found[sample[1]!] ?? found[line.split('{')[0]!]);
    for (const [, name] of sample?.[2]!.matchAll(/(\w+)="/g) ?? []) {
      if (name !== 'le') family?.labels.add(name!);
    }
  }
  return Object.fromEntries(
    Object.entries(found).map(([name, { type, labels }]) => [
      name,
      [type, [...labels].join(',')].join(' ').trim(),
    ]),
  );
}

describe('metrics', () => {
  it('exports every metric with its type and label names, unchanged', async () => {
    const registry = new Registry();
    const metrics = createMetrics(
      registry,
      {
        version: '1.2.3',
        sites: ['default'],
        processMetrics: false,
        overloadShedding: true,
        challengeProviders: [['default', 'browser']],
        verdictMemory: new VerdictMemory({ maxEntries: 1000 }),
      },
      () => ({
        inFlight: 0,
        admissionWaiting: 0,
        pool: { connected: 0, free: 0, pending: 0, running: 0 },
      }),
    );
    // A sample in every family whose label sets are not zeroed at start.
    metrics.checkDuration.labels('grpc').observe(0.01);
    metrics.rtiDuration.labels('ok').observe(0.01);
    metrics.threatTypes.labels('2', 'true').inc();
    metrics.verdicts.labels('malicious', 'default:block', 'default').inc();
    metrics.rejectedRequests.inc({ transport: 'nginx', reason: 'unknown_path' });
    metrics.configInUse({ hash: 'abc', mode: 'blocking', rtiTimeoutMs: 40 });

    assert.deepEqual(families(await registry.metrics()), EXPORTED);
  });
  it('exports the verdict memory as the store counts it, each scrape adding what grew', async () => {
    const registry = new Registry();
    let now = 1_000_000;
    const memory = new VerdictMemory({ maxEntries: 1000, now: () => now });
    const metrics = createMetrics(
      registry,
      { version: '1', sites: ['default', 'shop'], processMetrics: false, verdictMemory: memory },
      () => ({ inFlight: 0, admissionWaiting: undefined, pool: EMPTY_POOL }),
    );
    const bot = { site: 'shop', clientIp: '203.0.113.7', userAgent: 'bot/1', duid: 'd-1' };
    memory.remember(bot, 60_000);
    memory.remember({ ...bot, clientIp: '203.0.113.8', duid: undefined }, 60_000);
    metrics.verdictMemoryHits.labels('shop', 'rti_timeout').inc();
    let text = await registry.metrics();
    assert.equal(metricValue(text, 'cheq_authz_verdict_memory_entries'), 3);
    assert.equal(metricValue(text, 'cheq_authz_verdict_memory_max_entries'), 1000);
    assert.equal(metricValue(text, 'cheq_authz_verdict_memory_learned_total', LOCAL), 3);
    const hits = { site: 'shop', cause: 'rti_timeout' };
    assert.equal(metricValue(text, 'cheq_authz_verdict_memory_hits_total', hits), 1);
    assert.match(text, /verdict_memory_hits_total\{site="default",cause="overloaded"\} 0/);
    assert.doesNotMatch(
      text,
      /memory_hits_total\{[^}]*"internal_error"/,
      'a bug of ours is never a hit',
    );

    memory.forget(bot);
    now += 60_000;
    memory.sweep();
    text = await registry.metrics();
    assert.equal(metricValue(text, 'cheq_authz_verdict_memory_learned_total', LOCAL), 3);
    const allowed = { reason: 'rti_allowed' };
    assert.equal(metricValue(text, 'cheq_authz_verdict_memory_forgotten_total', allowed), 2);
    const expired = { reason: 'expired' };
    assert.equal(metricValue(text, 'cheq_authz_verdict_memory_evictions_total', expired), 1);
    assert.equal(metricValue(text, 'cheq_authz_verdict_memory_entries'), 0);
  });
});
