// Supply-chain gate for CI: fails on high or critical advisories in production dependencies.
// When the registry's advisory service cannot be reached the check cannot run: that is said
// loudly (and the exit status is 0, since it is no finding about our dependencies).
import { spawnSync } from 'node:child_process';

const result = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8' });
let report;
try {
  report = JSON.parse(result.stdout);
} catch {
  console.error(`npm audit: unreadable output (exit ${result.status})\n${result.stderr}`);
  process.exit(1);
}
if (report.error) {
  const why = report.message || report.error.summary || report.error.code || 'no reason given';
  console.warn(`npm audit: NOT CHECKED, the advisory service did not answer: ${why}`);
  process.exit(0);
}
const counts = report.metadata?.vulnerabilities ?? {};
const serious = (counts.high ?? 0) + (counts.critical ?? 0);
console.log(`npm audit (production dependencies): ${JSON.stringify(counts)}`);
if (serious > 0) {
  for (const [name, v] of Object.entries(report.vulnerabilities ?? {})) {
    if (v.severity === 'high' || v.severity === 'critical')
      console.error(`  ${v.severity}: ${name}`);
  }
  process.exit(1);
}
