import { strict as assert } from 'node:assert';
import { Registry } from 'prom-client';
import { createMetrics } from '../../../src/observability/metrics';

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
});
