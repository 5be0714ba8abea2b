// Writes the generated parts of deploy/prometheus (run `npm run build` first):
// - in cheq-rti-authz-alerts.yaml, the protected reasons (the `# protected reasons:` comment and
//   the reason=~"..." of the protected-checks rule), from PROTECTED_REASONS in
//   src/core/protected-reasons.ts, so the rules count what the bench and the tests count;
// - prometheusrule.yaml: that file's groups, verbatim (comments included), inside a
//   prometheus-operator PrometheusRule, so the two cannot drift;
// - in deploy/grafana's dashboard, the same reasons in every reason=~"valid|..." selector.
//   node scripts/gen-prometheusrule.mjs          rewrite the three
//   node scripts/gen-prometheusrule.mjs --check  exit 1 when any is out of date
//   --dir <path>                                 another copy of deploy/prometheus (tests)
//   --dashboard <file>                           another copy of the dashboard (tests)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

/** A problem that the script reports in one line, without a stack trace. */
class Refusal extends Error {}

function protectedReasons() {
  try {
    return createRequire(import.meta.url)('../dist/core/protected-reasons.js').PROTECTED_REASONS;
  } catch (err) {
    throw new Refusal(
      `cannot load dist/core/protected-reasons.js (run npm run build): ${err.message}`,
    );
  }
}

/** deploy/prometheus, or the copy named by --dir. */
function prometheusDir() {
  const at = process.argv.indexOf('--dir');
  if (at < 0) return fileURLToPath(new URL('../deploy/prometheus/', import.meta.url));
  const dir = process.argv[at + 1];
  if (!dir) throw new Refusal('--dir needs a directory');
  return dir;
}

/** deploy/grafana's dashboard, or the copy named by --dashboard. */
function dashboardFile() {
  const at = process.argv.indexOf('--dashboard');
  if (at < 0) {
    return fileURLToPath(
      new URL('../deploy/grafana/cheq-rti-authz-dashboard.json', import.meta.url),
    );
  }
  const file = process.argv[at + 1];
  if (!file) throw new Refusal('--dashboard needs a file');
  return file;
}

/**
 * The dashboard (JSON text, quotes escaped inside its queries) with PROTECTED_REASONS in each
 * protected-checks selector: the reason=~ lists that start with valid.
 */
function withDashboardReasons(dashboardText, reasons) {
  const selector = /(reason=~\\")valid\|[^"\\]*(\\")/g;
  if ((dashboardText.match(selector) ?? []).length === 0) {
    throw new Refusal('dashboard: expected reason=~"valid|..." selectors, found none');
  }
  return dashboardText.replace(selector, `$1${reasons.join('|')}$2`);
}

const PROTECTED_CHECKS_RULE = 'namespace_job_transport:cheq_authz_protected_checks:rate5m';

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

/** `text` with `pattern` (one match, exactly) replaced; else an error naming `what`. */
function replaceOnce(text, pattern, replacement, what) {
  const matches = text.match(new RegExp(pattern.source, `${pattern.flags}g`)) ?? [];
  if (matches.length !== 1) {
    throw new Refusal(`cheq-rti-authz-alerts.yaml: expected one ${what}, found ${matches.length}`);
  }
  return text.replace(pattern, replacement);
}

/** The rule file with PROTECTED_REASONS in the comment and in the protected-checks rule. */
function withProtectedReasons(rulesText, reasons) {
  const listed = replaceOnce(
    rulesText,
    /^(\s*# protected reasons: ).*$/m,
    `$1${reasons.join(', ')}`,
    '"# protected reasons:" line',
  );
  const rule = new RegExp(
    `(- record: ${PROTECTED_CHECKS_RULE}\\n\\s+expr: \\|\\n(?:\\s+[^\\n-].*\\n)*?.*reason=~")[^"]*(")`,
  );
  return replaceOnce(
    listed,
    rule,
    `$1${reasons.join('|')}$2`,
    `${PROTECTED_CHECKS_RULE} rule with reason=~`,
  );
}

function render(rulesText) {
  const start = rulesText.search(/^groups:/m);
  if (start < 0) throw new Refusal('cheq-rti-authz-alerts.yaml has no top-level groups:');
  const body = rulesText
    .slice(start)
    .split('\n')
    .map(line => (line === '' ? line : `  ${line}`))
    .join('\n');
  return `${HEADER}${body}`;
}

function readOrEmpty(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return ''; // missing: out of date
  }
}

function main() {
  const dir = prometheusDir();
  const source = join(dir, 'cheq-rti-authz-alerts.yaml');
  const target = join(dir, 'prometheusrule.yaml');
  const reasons = protectedReasons();
  const rules = readFileSync(source, 'utf8');
  const wantedRules = withProtectedReasons(rules, reasons);
  const wantedResource = render(wantedRules);
  const dashboard = dashboardFile();
  const panels = readFileSync(dashboard, 'utf8');
  const wantedPanels = withDashboardReasons(panels, reasons);
  if (!process.argv.includes('--check')) {
    writeFileSync(source, wantedRules);
    writeFileSync(target, wantedResource);
    writeFileSync(dashboard, wantedPanels);
    return;
  }
  const stale = [];
  if (rules !== wantedRules) {
    stale.push(
      `${source}: its protected reasons are not PROTECTED_REASONS (src/core/protected-reasons.ts): ${reasons.join(', ')}`,
    );
  }
  if (readOrEmpty(target) !== wantedResource) stale.push(`${target} is out of date`);
  if (panels !== wantedPanels) {
    stale.push(
      `${dashboard}: its protected reasons are not PROTECTED_REASONS (src/core/protected-reasons.ts): ${reasons.join(', ')}`,
    );
  }
  for (const line of stale) process.stderr.write(`${line}\n`);
  if (stale.length > 0) {
    process.stderr.write('run npm run build && node scripts/gen-prometheusrule.mjs\n');
    process.exitCode = 1;
  }
}

try {
  main();
} catch (err) {
  // A refusal or a missing file is the caller's to fix: one line, no stack.
  if (!(err instanceof Refusal) && err?.code !== 'ENOENT') throw err;
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 2;
}
