// Writes deploy/prometheus/prometheusrule.yaml: the groups of cheq-rti-authz-alerts.yaml, verbatim
// (comments included), inside a prometheus-operator PrometheusRule, so the two cannot drift.
//   node scripts/gen-prometheusrule.mjs          rewrite the PrometheusRule
//   node scripts/gen-prometheusrule.mjs --check  exit 1 when it is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const dir = new URL('../deploy/prometheus/', import.meta.url);
const source = new URL('cheq-rti-authz-alerts.yaml', dir);
const target = new URL('prometheusrule.yaml', dir);

const HEADER = `# GENERATED from cheq-rti-authz-alerts.yaml by \`node scripts/gen-prometheusrule.mjs\`: edit that
# file and rerun the script (test/deploy/observability.test.ts fails when they differ).
#
# prometheus-operator PrometheusRule: kubectl apply -f deploy/prometheus/prometheusrule.yaml
# Your Prometheus resource's ruleSelector must match its labels: kube-prometheus-stack selects
# release: <helm release name> by default; add that label here or set
# prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues=false.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: cheq-rti-authz
  namespace: cheq
  labels:
    app.kubernetes.io/name: cheq-rti-authz
    app.kubernetes.io/component: alerting
spec:
`;

function render(rulesText) {
  const start = rulesText.search(/^groups:/m);
  if (start < 0) throw new Error('cheq-rti-authz-alerts.yaml has no top-level groups:');
  const body = rulesText
    .slice(start)
    .split('\n')
    .map(line => (line === '' ? line : `  ${line}`))
    .join('\n');
  return `${HEADER}${body}`;
}

const wanted = render(readFileSync(source, 'utf8'));
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing: out of date
  }
  if (current !== wanted) {
    process.stderr.write(
      'deploy/prometheus/prometheusrule.yaml is out of date: run node scripts/gen-prometheusrule.mjs\n',
    );
    process.exitCode = 1;
  }
} else {
  writeFileSync(target, wanted);
}
