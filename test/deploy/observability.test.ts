// Keeps deploy/prometheus and deploy/grafana honest: promtool validates and unit-tests the rules,
// the PrometheusRule carries exactly the plain rule file's groups, the dashboard is provisionable
// and every panel uses its data source variable, and every metric, label and label value that any
// alert, recording rule or panel names is one a running server actually exports.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { PROTECTED_REASONS } from '../../src/core/protected-reasons';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti } from '../helpers/fake-rti-server';
import { startService, type TestService } from '../helpers/start-service';

const ROOT = join(__dirname, '..', '..', '..');
const PROMETHEUS_DIR = join(ROOT, 'deploy', 'prometheus');
const GRAFANA_DIR = join(ROOT, 'deploy', 'grafana');
const RULES_FILE = join(PROMETHEUS_DIR, 'cheq-rti-authz-alerts.yaml');
const RULES_TEST_FILE = join(PROMETHEUS_DIR, 'cheq-rti-authz-alerts.test.yaml');
const PROMETHEUS_RULE_FILE = join(PROMETHEUS_DIR, 'prometheusrule.yaml');
const GENERATOR = join(ROOT, 'scripts', 'gen-prometheusrule.mjs');
const DASHBOARD_FILE = join(GRAFANA_DIR, 'cheq-rti-authz-dashboard.json');

const EXPECTED_ALERTS = [
  'CheqAuthzProtectedShareLow',
  'CheqAuthzRtiLatencyNearTimeout',
  'CheqAuthzRtiErrors',
  'CheqAuthzNoTraffic',
  'CheqAuthzInstanceDown',
  'CheqAuthzDown',
  'CheqAuthzEventLoopLag',
  'CheqAuthzConfigReloadRefused',
  'CheqAuthzChallengeLoops',
  'CheqAuthzVerdictMemorySyncDown',
  'CheqAuthzVerdictMemoryFull',
];
const EXPECTED_PANELS = [
  'Challenges by outcome',
  'Challenge pass rate by site and provider',
  'Challenge loops per pass',
  'Verdict memory entries vs max',
  'Remembered blocks by cause and site',
  'Verdict memory: learned by source',
  'Verdict memory: forgotten by reason',
  'Verdict memory: evictions by reason',
  'Verdict memory sharing: Redis up',
  'Verdict memory sharing: lag',
  'Verdict memory sharing: messages',
  'Mode',
  'Version',
  'RTI timeout',
  'Decisions by action',
  'Block / redirect ratio',
  'Protected share',
  'Protected share by transport',
  'Admission line: waiting and shed',
  'RTI latency vs timeout',
  'RTI errors by result',
  'Fail-open rate by cause',
  'Fail-open ratio by cause',
  'RTI circuit breaker',
  'RTI timeouts ignored by the breaker',
  'Threat types seen',
  'Monitoring: would act',
  'Check latency by transport',
  'In-flight checks',
  'Rejected requests',
  'CPU',
  'Memory',
  'Event-loop lag p99',
  'Warm-up duration',
  'RTI reachable at start',
];
/**
 * Decision reasons not answered from an RTI verdict (PROTECTED_REASONS are): fail_open is
 * unprotected; excluded, ignored, preflight and no_site are not screened and count for neither.
 */
const UNSCREENED_REASONS = ['fail_open', 'excluded', 'ignored', 'preflight', 'no_site'];
/** Server metrics (and a fail-open cause) the dashboard must show by name. */
const PROTECTION_METRICS = [
  'cheq_authz_rti_circuit_ignored_timeouts_total',
  'cheq_authz_warmup_duration_seconds',
  'cheq_authz_rti_reachable_at_start',
];
const PROTECTED_SHARE_RECORDS = [
  'namespace_job:cheq_authz_protected_share:ratio_rate5m',
  'namespace_job_transport:cheq_authz_protected_share:ratio_rate5m',
];
/** Labels Prometheus adds to every series scraped through a ServiceMonitor. */
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod', 'service', 'endpoint']);
/** Labels whose values the server zero-initialises or we provoke: matcher values are checked. */
const ENUM_LABELS = new Set([
  'transport',
  'action',
  'reason',
  'cause',
  'result',
  'mode',
  'outcome',
]);
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

// ---- PromQL scanning -------------------------------------------------------------------------

interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}
interface Selector {
  /** Metric name; '' for a selector without one. */
  readonly name: string;
  readonly matchers: readonly Matcher[];
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

function skipString(expr: string, start: number): number {
  const quote = expr[start];
  let i = start + 1;
  while (i < expr.length && expr[i] !== quote) i += expr[i] === '\\' && quote !== '`' ? 2 : 1;
  return i + 1;
}

function closing(expr: string, start: number, close: string): number {
  let i = start + 1;
  while (i < expr.length && expr[i] !== close) {
    i = expr[i] === '"' || expr[i] === "'" || expr[i] === '`' ? skipString(expr, i) : i + 1;
  }
  return i;
}

function parseMatchers(text: string): Matcher[] {
  const matchers: Matcher[] = [];
  const pattern = /\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?\s*/y;
  let consumed = 0;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    matchers.push({ label: match[1]!, op: match[2] as Matcher['op'], value: match[3]! });
    consumed = pattern.lastIndex;
  }
  assert.equal(text.slice(consumed).trim(), '', `cannot read label matchers {${text}}`);
  return matchers;
}

/**
 * Every vector selector in a PromQL expression: metric names with their label matchers. Skips
 * strings, range windows, grouping label lists, function and aggregation names, keywords,
 * numbers, durations and Grafana variables.
 */
function selectors(expr: string): Selector[] {
  const found: Selector[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') {
      i = skipString(expr, i);
    } else if (c === '[') {
      i = closing(expr, i, ']') + 1;
    } else if (c === '$') {
      i += /^\$(?:\{\w+\}|\w+)/.exec(expr.slice(i))?.[0].length ?? 1;
    } else if (c === '{') {
      const end = closing(expr, i, '}');
      const matchers = parseMatchers(expr.slice(i + 1, end));
      const name = matchers.find(m => m.label === '__name__' && m.op === '=')?.value ?? '';
      found.push({ name, matchers });
      i = end + 1;
    } else if (/[A-Za-z_:]/.test(c) && !/[\w:.]/.test(expr[i - 1] ?? ' ')) {
      const word = /^[A-Za-z_:][\w:]*/.exec(expr.slice(i))![0];
      i += word.length;
      let next = i;
      while (/\s/.test(expr[next] ?? '')) next++;
      if (GROUPING.has(word)) {
        if (expr[next] === '(') i = closing(expr, next, ')') + 1;
      } else if (
        expr[next] === '(' ||
        /^(?:by|without)\b/.test(expr.slice(next)) ||
        KEYWORDS.has(word.toLowerCase())
      ) {
        // a function, an aggregation (sum by (le) (...)) or a keyword
      } else if (expr[next] === '{') {
        const end = closing(expr, next, '}');
        found.push({ name: word, matchers: parseMatchers(expr.slice(next + 1, end)) });
        i = end + 1;
      } else {
        found.push({ name: word, matchers: [] });
      }
    } else {
      i++;
    }
  }
  return found;
}

function metricNames(expr: string): Set<string> {
  return new Set(selectors(expr).map(s => s.name));
}

/**
 * What a running server exports: metric types, label names per sample name, and every value
 * seen per label name (histograms only have samples for observed values; the counters with the
 * same labels are zero-initialised with all of them).
 */
interface Exposition {
  readonly types: Map<string, string>;
  readonly labels: Map<string, Set<string>>;
  readonly values: Map<string, Set<string>>;
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  const values = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const sample = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!sample) continue;
    const names = labels.get(sample[1]!) ?? new Set<string>();
    labels.set(sample[1]!, names);
    for (const [, label, value] of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      names.add(label!);
      values.set(label!, (values.get(label!) ?? new Set()).add(value!));
    }
  }
  return { types, labels, values };
}

/** The exported metric family a series name belongs to, or undefined when none does. */
function family(name: string, exposition: Exposition): string | undefined {
  if (exposition.types.has(name)) return name;
  for (const [suffix, kinds] of [
    ['_bucket', ['histogram']],
    ['_sum', ['histogram', 'summary']],
    ['_count', ['histogram', 'summary']],
  ] as const) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && (kinds as readonly string[]).includes(exposition.types.get(base)!))
      return base;
  }
  return undefined;
}

/** Problems with one selector against the exposition: unknown metric, label or label value. */
function selectorProblems(
  selector: Selector,
  exposition: Exposition,
  recorded: ReadonlySet<string>,
): string[] {
  const { name } = selector;
  if (name === '') return ['a selector without a metric name'];
  if (name === 'up') return [];
  if (recorded.has(name)) return [];
  if (name.includes(':')) return [`${name}: no recording rule defines it`];
  if (family(name, exposition) === undefined) return [`${name}: not exported by the server`];
  const problems: string[] = [];
  const seen = exposition.labels.get(name) ?? new Set<string>();
  for (const { label, op, value } of selector.matchers) {
    if (TARGET_LABELS.has(label)) continue;
    if (!seen.has(label)) {
      problems.push(`${name}: no label ${label}`);
      continue;
    }
    if (!ENUM_LABELS.has(label)) continue;
    const alternatives = op.endsWith('~') ? value.split('|') : [value];
    for (const v of alternatives) {
      if (!v.includes('$') && !exposition.values.get(label)!.has(v)) {
        problems.push(`${name}: ${label}="${v}" never exported`);
      }
    }
  }
  return problems;
}

// ---- files -----------------------------------------------------------------------------------

interface Rule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
interface RuleFile {
  readonly groups: readonly { readonly name: string; readonly rules: readonly Rule[] }[];
}
interface AlertTestCase {
  readonly alertname: string;
  readonly exp_alerts?: readonly { readonly exp_labels?: Record<string, string> }[];
}
interface RuleTestFile {
  readonly rule_files: readonly string[];
  readonly tests: readonly { readonly alert_rule_test?: readonly AlertTestCase[] }[];
}
interface DataSourceRef {
  readonly type?: string;
  readonly uid?: string;
}
interface Target {
  readonly datasource?: DataSourceRef;
  readonly expr?: string;
  readonly refId?: string;
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly datasource?: DataSourceRef;
  readonly gridPos: {
    readonly x: number;
    readonly y: number;
    readonly w: number;
    readonly h: number;
  };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query?: string | { readonly query: string };
  readonly definition?: string;
  readonly datasource?: DataSourceRef;
}
interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: number;
  readonly tags: readonly string[];
  readonly time: { readonly from: string; readonly to: string };
  readonly refresh: string;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly Variable[] };
}

const readYaml = <T>(file: string): T => parse(readFileSync(file, 'utf8')) as T;
const rules = (): readonly Rule[] => readYaml<RuleFile>(RULES_FILE).groups.flatMap(g => g.rules);
const alerts = (): readonly Rule[] => rules().filter(r => r.alert !== undefined);
const recordedNames = (): Set<string> => new Set(rules().flatMap(r => r.record ?? []));
const dashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;

/** Every panel, row panels and the children of collapsed rows included. */
function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap(p => [p, ...(p.panels ?? [])]);
}

function variableQuery(v: Variable): string {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
}

/** PromQL of every dashboard target and query variable (the selector of label_values()). */
function dashboardExprs(d: Dashboard): { where: string; expr: string }[] {
  const exprs = allPanels(d).flatMap(p =>
    (p.targets ?? []).map(t => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr ?? '' })),
  );
  for (const v of d.templating.list.filter(v => v.type === 'query')) {
    const selector = /^label_values\((.+),\s*\w+\)$/.exec(variableQuery(v).trim())?.[1];
    assert.ok(selector, `variable ${v.name}: expected label_values(<selector>, <label>)`);
    exprs.push({ where: `variable ${v.name}`, expr: selector });
  }
  return exprs;
}

/** PromQL run by annotation templates: {{ query "..." }} and printf "..." | query. */
function annotationQueries(rule: Rule): string[] {
  return Object.values(rule.annotations ?? {}).flatMap(text =>
    [...text.matchAll(/(?:printf|query)\s+"((?:[^"\\]|\\.)*)"/g)].map(m => {
      const unquoted = JSON.parse(`"${m[1]!}"`) as string;
      return unquoted.replaceAll('%q', '"x"');
    }),
  );
}

/** Rule expressions, and with `templates` the queries their annotations run. */
function ruleExprs(templates: boolean): { where: string; expr: string }[] {
  return rules().flatMap(r => [
    { where: r.alert ?? r.record ?? '?', expr: r.expr },
    ...(templates ? annotationQueries(r) : []).map(expr => ({
      where: `${r.alert ?? '?'} annotation`,
      expr,
    })),
  ]);
}

/** The reason=~"..." lists of every cheq_authz_decisions_total selector that names "valid". */
function protectedReasonLists(exprs: readonly { where: string; expr: string }[]): string[][] {
  return exprs.flatMap(({ expr }) =>
    selectors(expr)
      .filter(s => s.name === 'cheq_authz_decisions_total')
      .flatMap(s => s.matchers.filter(m => m.label === 'reason' && m.op === '=~'))
      .map(m => m.value.split('|'))
      .filter(values => values.includes('valid')),
  );
}

function findPromtool(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim() !== '') return which.stdout.trim();
  return existsSync('/usr/bin/promtool') ? '/usr/bin/promtool' : undefined;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

// ---- tests -----------------------------------------------------------------------------------

describe('deploy/prometheus and deploy/grafana (observability)', function () {
  describe('promtool', function () {
    let promtool: string;
    before(function () {
      const found = findPromtool();
      if (!found) throw new Error('promtool is required (apt-get install prometheus)');
      promtool = found;
    });

    function run(...args: string[]): string {
      const result = spawnSync(promtool, args, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
      const output = `${result.stdout}${result.stderr}`;
      assert.equal(result.status, 0, `promtool ${args.join(' ')}\n${output}`);
      return output;
    }

    it('check rules passes on the rule file', () => {
      const output = run('check', 'rules', relative(ROOT, RULES_FILE));
      assert.match(output, new RegExp(`SUCCESS: ${rules().length} rules found`));
    });

    it('test rules passes: every alert firing and not firing', () => {
      assert.match(run('test', 'rules', relative(ROOT, RULES_TEST_FILE)), /SUCCESS/);
    });

    it('every dashboard query is valid PromQL', () => {
      const dir = mkdtempSync(join(tmpdir(), 'cheq-dashboard-promql-'));
      try {
        const exprs = dashboardExprs(dashboard()).map(({ expr }) =>
          expr
            .replaceAll('$__rate_interval', '2m')
            .replaceAll('$__range', '6h')
            .replace(/\$\{?\w+\}?/g, '.*'),
        );
        const file = join(dir, 'dashboard.yaml');
        const records = exprs.map((expr, n) => ({ record: `dashboard_query_${n}`, expr }));
        writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: records }] }));
        assert.match(run('check', 'rules', file), new RegExp(`SUCCESS: ${exprs.length} rules`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('rule file', () => {
    it('has one group, cheq-rti-authz, with the expected alerts', () => {
      const file = readYaml<RuleFile>(RULES_FILE);
      assert.deepEqual(
        file.groups.map(g => g.name),
        ['cheq-rti-authz'],
      );
      assert.deepEqual(
        [...new Set(alerts().map(a => a.alert))].sort(),
        [...EXPECTED_ALERTS].sort(),
      );
    });

    it('records level:metric:operation names, before any alert reads them', () => {
      const all = rules();
      for (const [n, rule] of all.entries()) {
        if (!rule.record) continue;
        assert.match(rule.record, /^[a-z_]+:[a-z_]+:[a-z0-9_]+$/);
        const firstReader = all.findIndex(r => metricNames(r.expr).has(rule.record!));
        assert.ok(
          firstReader === -1 || firstReader > n,
          `${rule.record} is read before it is recorded`,
        );
      }
    });

    it('gives every alert a for, a severity, a summary, a templated description and a runbook', () => {
      for (const alert of alerts()) {
        const name = alert.alert!;
        assert.match(alert.for ?? '', /^\d+m$/, `${name}: for`);
        assert.match(alert.labels?.['severity'] ?? '', /^(warning|critical)$/, `${name}: severity`);
        const notes = alert.annotations ?? {};
        assert.ok((notes['summary'] ?? '').length > 10, `${name}: summary`);
        assert.match(notes['description'] ?? '', /\$labels\.|\$value/, `${name}: description`);
        const runbook = notes['runbook'] ?? '';
        for (const part of ['Impact:', 'First checks:', 'Fix'])
          assert.ok(runbook.includes(part), `${name}: runbook lacks "${part}"`);
      }
    });

    it('selects job="cheq-rti-authz" in every selector', () => {
      for (const { where, expr } of ruleExprs(false)) {
        for (const selector of selectors(expr)) {
          const job = selector.matchers.find(m => m.label === 'job');
          assert.deepEqual(
            job && { op: job.op, value: job.value },
            { op: '=', value: 'cheq-rti-authz' },
            `${where}: ${selector.name} needs job="cheq-rti-authz"`,
          );
        }
      }
    });

    it('has promtool tests where each alert, at each severity, fires and where it does not', () => {
      const file = readYaml<RuleTestFile>(RULES_TEST_FILE);
      assert.deepEqual(file.rule_files, ['cheq-rti-authz-alerts.yaml']);
      const cases = file.tests.flatMap(t => t.alert_rule_test ?? []);
      for (const alert of alerts()) {
        const own = cases.filter(c => c.alertname === alert.alert);
        const severity = alert.labels?.['severity'];
        assert.ok(
          own.some(c => (c.exp_alerts ?? []).some(e => e.exp_labels?.['severity'] === severity)),
          `${alert.alert} (${severity}) is never tested firing`,
        );
        assert.ok(
          own.some(c => !(c.exp_alerts ?? []).some(e => e.exp_labels?.['severity'] === severity)),
          `${alert.alert} (${severity}) is never tested not firing`,
        );
      }
    });

    it('records the protected share overall and by transport from the verdict reasons', () => {
      const recorded = recordedNames();
      for (const name of PROTECTED_SHARE_RECORDS) assert.ok(recorded.has(name), `no rule ${name}`);
      const lists = protectedReasonLists(ruleExprs(false));
      assert.ok(lists.length > 0, 'no rule counts protected decisions');
      for (const list of lists) assert.deepEqual([...list].sort(), [...PROTECTED_REASONS].sort());
      const alert = alerts().find(a => a.alert === 'CheqAuthzProtectedShareLow');
      assert.ok(alert && metricNames(alert.expr).has(PROTECTED_SHARE_RECORDS[0]!));
    });

    it('quotes in runbooks only the dashboard, its panels and rows, and log lines the server writes', () => {
      const d = dashboard();
      const logLines = [
        'failed open',
        'configuration reload refused',
        'verdict memory sharing through Redis lost',
      ];
      const known = new Set([d.title, ...allPanels(d).map(p => p.title), ...logLines, 'for']);
      for (const alert of alerts()) {
        for (const [, quoted] of (alert.annotations?.['runbook'] ?? '').matchAll(/"([^"]+)"/g)) {
          assert.ok(known.has(quoted!), `${alert.alert}: runbook quotes "${quoted}"`);
        }
      }
    });
  });

  describe('PrometheusRule', () => {
    it('is a PrometheusRule in namespace cheq', () => {
      const resource = readYaml<{
        apiVersion: string;
        kind: string;
        metadata: { name: string; namespace: string };
      }>(PROMETHEUS_RULE_FILE);
      assert.equal(resource.apiVersion, 'monitoring.coreos.com/v1');
      assert.equal(resource.kind, 'PrometheusRule');
      assert.deepEqual(
        { name: resource.metadata.name, namespace: resource.metadata.namespace },
        { name: 'cheq-rti-authz', namespace: 'cheq' },
      );
    });

    it('has exactly the groups of the plain rule file', () => {
      const resource = readYaml<{ spec: RuleFile }>(PROMETHEUS_RULE_FILE);
      assert.deepEqual(resource.spec.groups, readYaml<RuleFile>(RULES_FILE).groups);
    });

    it('is what scripts/gen-prometheusrule.mjs writes', () => {
      const result = spawnSync(process.execPath, [GENERATOR, '--check'], { encoding: 'utf8' });
      assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    });

    it('is refused by the generator when the rules count other reasons than PROTECTED_REASONS', () => {
      const dir = mkdtempSync(join(tmpdir(), 'cheq-prometheus-'));
      try {
        const [first, ...rest] = PROTECTED_REASONS;
        const text = readFileSync(RULES_FILE, 'utf8');
        const list = `reason=~"${PROTECTED_REASONS.join('|')}"`;
        assert.ok(text.includes(list), `the rules select ${list}`);
        writeFileSync(
          join(dir, 'cheq-rti-authz-alerts.yaml'),
          text.replace(list, `reason=~"${[...rest, 'fail_open'].join('|')}"`),
        );
        writeFileSync(join(dir, 'prometheusrule.yaml'), readFileSync(PROMETHEUS_RULE_FILE));
        const result = spawnSync(process.execPath, [GENERATOR, '--check', '--dir', dir], {
          encoding: 'utf8',
        });
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /protected reasons are not PROTECTED_REASONS/);
        assert.ok(result.stderr.includes(first), result.stderr);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    it('writes PROTECTED_REASONS into the dashboard, and refuses a stale one under --check', () => {
      const dir = mkdtempSync(join(tmpdir(), 'cheq-dashboard-'));
      try {
        const copy = join(dir, 'dashboard.json');
        const list = `reason=~\\"${PROTECTED_REASONS.join('|')}\\"`;
        const text = readFileSync(DASHBOARD_FILE, 'utf8');
        assert.ok(text.includes(list), `the dashboard selects ${list}`);
        const stale = text.replaceAll(list, 'reason=~\\"valid|threat_block\\"');
        writeFileSync(copy, stale);
        const run = (...args: string[]) =>
          spawnSync(process.execPath, [GENERATOR, ...args, '--dashboard', copy], {
            encoding: 'utf8',
          });
        const check = run('--check');
        assert.equal(check.status, 1, check.stderr);
        assert.match(
          check.stderr,
          /dashboard\.json: its protected reasons are not PROTECTED_REASONS/,
        );
        // Writing: into copies, so the shipped files stay as they are.
        writeFileSync(join(dir, 'cheq-rti-authz-alerts.yaml'), readFileSync(RULES_FILE));
        const write = run('--dir', dir);
        assert.equal(write.status, 0, write.stderr);
        assert.equal(readFileSync(copy, 'utf8'), text);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('dashboard', () => {
    it('is a provisionable dashboard: uid, title, tags, schema, time, refresh', () => {
      const d = dashboard();
      assert.equal(d.uid, 'cheq-rti-authz');
      assert.equal(d.title, 'CHEQ RTI authz');
      assert.ok(d.schemaVersion >= 36 && d.schemaVersion <= 41, `schemaVersion ${d.schemaVersion}`);
      assert.ok(d.tags.length > 0);
      assert.match(d.time.from, /^now-\d+[mhd]$/);
      assert.match(d.refresh, /^\d+[smh]$/);
      assert.ok(
        !('__inputs' in d),
        'provisioned dashboards take a datasource variable, not __inputs',
      );
    });

    it('has the datasource variable and job, instance and transport variables on it', () => {
      const vars = new Map(dashboard().templating.list.map(v => [v.name, v]));
      const ds = vars.get('datasource');
      assert.equal(ds?.type, 'datasource');
      assert.equal(ds.query, 'prometheus');
      for (const name of ['job', 'instance', 'transport']) {
        const v = vars.get(name);
        assert.equal(v?.type, 'query', name);
        assert.deepEqual(v.datasource, DATASOURCE, `${name}: datasource`);
        assert.match(variableQuery(v), /^label_values\(/, name);
      }
    });

    it('uses the datasource variable in every panel and target', () => {
      for (const panel of allPanels(dashboard()).filter(p => p.type !== 'row')) {
        assert.deepEqual(panel.datasource, DATASOURCE, `panel "${panel.title}"`);
        assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has no targets`);
        for (const target of panel.targets ?? []) {
          assert.deepEqual(target.datasource, DATASOURCE, `panel "${panel.title}" ${target.refId}`);
          assert.ok(target.expr, `panel "${panel.title}" ${target.refId}: expr`);
        }
        const refIds = (panel.targets ?? []).map(t => t.refId);
        assert.equal(new Set(refIds).size, refIds.length, `panel "${panel.title}": refIds`);
      }
    });

    it('has unique panel ids and titles, a description on every panel, and no overlaps', () => {
      const panels = allPanels(dashboard());
      const ids = panels.map(p => p.id);
      assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(',')}`);
      const titles = panels.map(p => p.title);
      assert.equal(new Set(titles).size, titles.length, 'duplicate panel titles');
      for (const title of EXPECTED_PANELS) assert.ok(titles.includes(title), `no panel "${title}"`);
      const cells = new Map<string, string>();
      for (const p of panels) {
        if (p.type !== 'row')
          assert.ok((p.description ?? '').length > 20, `"${p.title}": description`);
        const { x, y, w, h } = p.gridPos;
        assert.ok(x >= 0 && w > 0 && x + w <= 24 && h > 0, `"${p.title}": gridPos`);
        for (let row = y; row < y + h; row++) {
          for (let col = x; col < x + w; col++) {
            const other = cells.get(`${row},${col}`);
            assert.equal(other, undefined, `"${p.title}" overlaps "${other}"`);
            cells.set(`${row},${col}`, p.title);
          }
        }
      }
    });

    it('filters every selector by $job and $instance and rates over $__rate_interval', () => {
      for (const { where, expr } of dashboardExprs(dashboard())) {
        if (where.startsWith('variable')) continue;
        for (const window of expr.matchAll(/\[([^\]]*)\]/g)) {
          assert.ok(
            ['$__rate_interval', '$__range'].includes(window[1]!),
            `${where}: [${window[1]}]`,
          );
        }
        for (const { name, matchers } of selectors(expr)) {
          const has = (label: string, value: string): boolean =>
            matchers.some(m => m.label === label && m.op === '=~' && m.value.includes(value));
          assert.ok(has('job', '$job') && has('instance', '$instance'), `${where}: ${name}`);
        }
      }
    });

    it('shows the protected share near the top, overall and per transport, and the new metrics', () => {
      const d = dashboard();
      const share = allPanels(d).find(
        p => p.title === 'Protected share by transport' && p.type === 'timeseries',
      );
      assert.ok(
        share && share.gridPos.y <= 6,
        'a "Protected share by transport" time series right below the overview',
      );
      const exprs = (share.targets ?? []).map(t => t.expr ?? '');
      assert.ok(
        exprs.some(e => !e.includes('by (transport)')),
        'overall protected share',
      );
      assert.ok(
        exprs.some(e => e.includes('by (transport)')),
        'protected share per transport',
      );
      const all = dashboardExprs(d);
      const lists = protectedReasonLists(all);
      assert.ok(lists.length > 0, 'no panel counts protected decisions');
      for (const list of lists) assert.deepEqual([...list].sort(), [...PROTECTED_REASONS].sort());
      const named = new Set(all.flatMap(({ expr }) => [...metricNames(expr)]));
      for (const name of PROTECTION_METRICS) assert.ok(named.has(name), `no panel shows ${name}`);
      const overloaded = all.flatMap(({ expr }) =>
        selectors(expr).filter(s =>
          s.matchers.some(m => m.label === 'cause' && m.op === '=' && m.value === 'overloaded'),
        ),
      );
      assert.ok(overloaded.length > 0, 'no panel shows the checks shed (cause="overloaded")');
    });
  });

  describe('metric names against a running server', function () {
    let rti: FakeRti;
    let service: TestService;
    let exposition: Exposition;
    let metricsText: string;

    before(async () => {
      rti = await FakeRti.start();
      // With redis_url set, so that the verdict memory's sharing metrics (registered only then)
      // are exported too: nothing listens on port 1, sync_up stays 0 and the server serves.
      service = await startService(rti.url, { CHEQ_REDIS_URL: 'redis://127.0.0.1:1' });
      // One check through RTI and one rejected HTTP request, so histograms and the rejected
      // counter have samples and their label names and values can be read.
      await service.check(envoyCheckRequest());
      const rejected = await fetch(`${service.httpUrl}/no-such-endpoint`);
      assert.equal(rejected.status, 404, await rejected.text());
      metricsText = await service.metrics();
      exposition = parseExposition(metricsText);
    });
    after(async () => {
      await service?.close();
      await rti?.close();
    });

    function problems(exprs: readonly { where: string; expr: string }[]): string[] {
      const recorded = recordedNames();
      return exprs.flatMap(({ where, expr }) =>
        selectors(expr).flatMap(s =>
          selectorProblems(s, exposition, recorded).map(p => `${where}: ${p}`),
        ),
      );
    }

    it('the extractor finds metric names and nothing else', () => {
      assert.deepEqual(
        [
          ...metricNames(
            'histogram_quantile(0.99, sum by (le) (rate(cheq_authz_rti_request_duration_seconds_bucket{job=~"$job", result!="cancelled"}[$__rate_interval])))',
          ),
        ],
        ['cheq_authz_rti_request_duration_seconds_bucket'],
      );
      assert.deepEqual(
        [
          ...metricNames(
            'sum by (cause) (rate(a_total{x="y}"}[5m] offset 1h)) / ignoring (cause) group_left () sum(rate(b_total[5m:1m])) > on(job) 0.8 * max by (job) (c:d:e) and up unless 1e-3 < bool count_values("lbl", f)',
          ),
        ],
        ['a_total', 'b_total', 'c:d:e', 'up', 'f'],
      );
      assert.deepEqual(selectors('x{a="1", b=~"2|3"}'), [
        {
          name: 'x',
          matchers: [
            { label: 'a', op: '=', value: '1' },
            { label: 'b', op: '=~', value: '2|3' },
          ],
        },
      ]);
    });

    it('would catch a misspelled metric, a wrong suffix, a label typo and an unknown value', () => {
      const found = problems([
        { where: 'a', expr: 'rate(cheq_authz_decision_total[5m])' },
        { where: 'b', expr: 'rate(cheq_authz_decisions_total_bucket[5m])' },
        { where: 'c', expr: 'cheq_authz_decisions_total_count' },
        { where: 'd', expr: 'rate(cheq_authz_rti_requests_total{reslt="ok"}[5m])' },
        { where: 'e', expr: 'rate(cheq_authz_fail_open_total{cause!="canceled"}[5m])' },
        {
          where: 'f',
          expr: 'rate(cheq_authz_rti_requests_total{result!~"ok|cancelled|timeuot"}[5m])',
        },
        { where: 'g', expr: 'cheq_authz:nothing:records_this' },
        {
          where: 'ok',
          expr: 'rate(cheq_authz_check_duration_seconds_count{transport="grpc"}[5m]) + up',
        },
      ]);
      assert.deepEqual(found, [
        'a: cheq_authz_decision_total: not exported by the server',
        'b: cheq_authz_decisions_total_bucket: not exported by the server',
        'c: cheq_authz_decisions_total_count: not exported by the server',
        'd: cheq_authz_rti_requests_total: no label reslt',
        'e: cheq_authz_fail_open_total: cause="canceled" never exported',
        'f: cheq_authz_rti_requests_total: result="timeuot" never exported',
        'g: cheq_authz:nothing:records_this: no recording rule defines it',
      ]);
    });

    it('every decision reason is classified as protected, unprotected or not screened', () => {
      const reasons = new Set(
        [...metricsText.matchAll(/^cheq_authz_decisions_total\{.*?reason="([^"]*)"/gm)].map(
          m => m[1]!,
        ),
      );
      assert.deepEqual(
        [...reasons].sort(),
        [...PROTECTED_REASONS, ...UNSCREENED_REASONS].sort(),
        'a new decision reason: classify it in the protected-share rules, the dashboard and here',
      );
    });

    it('every metric, label and value in alerts and recording rules is exported', () => {
      assert.deepEqual(problems(ruleExprs(true)), []);
    });

    it('every metric, label and value in the dashboard is exported', () => {
      assert.deepEqual(problems(dashboardExprs(dashboard())), []);
    });

    it('the dashboard filters every metric with a transport label by $transport', () => {
      for (const { where, expr } of dashboardExprs(dashboard())) {
        if (where.startsWith('variable')) continue;
        for (const { name, matchers } of selectors(expr)) {
          if (!exposition.labels.get(name)?.has('transport')) continue;
          assert.ok(
            matchers.some(m => m.label === 'transport' && m.value.includes('$transport')),
            `${where}: ${name} without transport=~"$transport"`,
          );
        }
      }
    });

    it('the dashboard shows every cheq_authz_* metric the server exports', () => {
      const shown = new Set(
        dashboardExprs(dashboard()).flatMap(({ expr }) =>
          [...metricNames(expr)].map(name => family(name, exposition) ?? name),
        ),
      );
      const missing = [...exposition.types.keys()].filter(
        name => name.startsWith('cheq_authz_') && !shown.has(name),
      );
      assert.deepEqual(missing, []);
    });
  });

  describe('files', () => {
    it('every YAML and JSON file under deploy/prometheus and deploy/grafana parses', () => {
      const files = [...filesUnder(PROMETHEUS_DIR), ...filesUnder(GRAFANA_DIR)];
      const data = files.filter(f => ['.yaml', '.yml', '.json'].includes(extname(f)));
      assert.ok(data.length >= 6, `found ${data.length}`);
      for (const file of data) {
        const text = readFileSync(file, 'utf8');
        if (extname(file) === '.json') {
          assert.doesNotThrow(() => JSON.parse(text) as unknown, relative(ROOT, file));
          continue;
        }
        for (const doc of parseAllDocuments(text)) {
          assert.deepEqual(
            doc.errors.map(e => e.message),
            [],
            relative(ROOT, file),
          );
        }
      }
    });

    it('provisions Grafana: a file provider for the dashboard folder and a Prometheus data source', () => {
      const provider = readYaml<{
        apiVersion: number;
        providers: { type: string; options: { path: string } }[];
      }>(join(GRAFANA_DIR, 'provisioning', 'dashboards.yaml'));
      assert.equal(provider.apiVersion, 1);
      assert.equal(provider.providers[0]?.type, 'file');
      assert.equal(
        provider.providers[0]?.options.path,
        '/var/lib/grafana/dashboards/cheq-rti-authz',
      );
      const sources = readYaml<{
        apiVersion: number;
        datasources: { type: string; url: string }[];
      }>(join(GRAFANA_DIR, 'provisioning', 'datasource.yaml'));
      assert.equal(sources.apiVersion, 1);
      assert.equal(sources.datasources[0]?.type, 'prometheus');
      assert.match(sources.datasources[0]?.url ?? '', /^https?:\/\//);
    });
  });
});
