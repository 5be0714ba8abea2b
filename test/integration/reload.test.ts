// Configuration reload without restart, for real: files swapped the way kubelet updates a
// ConfigMap (a `..data` symlink replaced), under load with every answer checked; an invalid or
// restart-only change refused while the old configuration keeps serving; an API key file
// rotated; SIGHUP on a real process, with and without cluster workers.

import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import {
  loopbackSettings,
  metricValue,
  startService,
  type TestService,
} from '../helpers/start-service';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';

/** A directory mounted the way kubelet mounts a ConfigMap, its files updated the same way. */
class ConfigMapDir {
  private version = 0;

  constructor(readonly dir: string) {}

  /** Writes a new version of every file and swaps `..data` to it atomically. */
  update(files: Readonly<Record<string, string>>): void {
    const versionDir = `..2026_12_03_10_00_00.${++this.version}`;
    mkdirSync(join(this.dir, versionDir));
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(this.dir, versionDir, name), text);
      try {
        symlinkSync(join('..data', name), join(this.dir, name));
      } catch {
        // The file's symlink exists from an earlier version: it follows ..data.
      }
    }
    symlinkSync(versionDir, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
  }

  path(name: string): string {
    return join(this.dir, name);
  }
}

/** The JSON log lines a process printed so far. */
function logLines(proc: ServerProcess): Record<string, unknown>[] {
  return proc.stdout
    .split('\n')
    .filter(line => line.startsWith('{'))
    .map(line => JSON.parse(line) as Record<string, unknown>);
}

function ruleOf(response: CheckResponse__Output): string | undefined {
  return response.dynamic_metadata?.fields?.['cheq_rule']?.stringValue ?? undefined;
}

/** Resolves when `condition` holds, polling; fails after `ms`. */
async function eventually(condition: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise(resolve => setTimeout(resolve, 25));
  }
}

const BLOCK_ALL = 'mode: blocking\npolicy_rules: [{ name: rule-a, action: block }]\n';
const ALLOW_ALL = 'mode: blocking\npolicy_rules: [{ name: rule-b, action: allow }]\n';

describe('configuration reload (integration)', function () {
  this.timeout(30_000);
  let rti: FakeRti;
  let tmp: string;

  before(async () => {
    rti = await FakeRti.start();
    rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
    tmp = mkdtempSync(join(tmpdir(), 'cheq-reload-'));
  });
  after(async () => {
    await rti.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  describe('in-process, from a ConfigMap-style directory', () => {
    let configMap: ConfigMapDir;
    let service: TestService;

    beforeEach(async function () {
      const dir = join(tmp, this.currentTest?.title.replace(/\W+/g, '-') ?? 'x');
      mkdirSync(dir);
      configMap = new ConfigMapDir(dir);
      configMap.update({ 'config.yaml': BLOCK_ALL });
      service = await startService(
        rti.url,
        {},
        { args: ['--config', configMap.path('config.yaml')], reloadable: true },
      );
    });
    afterEach(async () => {
      await service?.close();
    });

    it('swaps a new configuration in under load: every answer wholly old or wholly new, none lost', async () => {
      let running = true;
      const seen = { old: 0, new: 0 };
      const worker = async (id: number): Promise<void> => {
        for (let i = 0; running; i++) {
          const response = await service.check(
            envoyCheckRequest({ requestId: `w${id}-${i}`, headers: { 'user-agent': 'bot' } }),
          );
          const rule = ruleOf(response);
          if (rule === 'rule-a') {
            assert.equal(response.denied_response?.status?.code, 403, 'old config: blocked');
            seen.old++;
          } else {
            assert.equal(rule, 'rule-b', `an answer from neither configuration: ${rule}`);
            assert.equal(response.status?.code ?? 0, 0, 'new config: allowed');
            seen.new++;
          }
        }
      };
      const workers = Array.from({ length: 8 }, (_, id) => worker(id));
      await eventually(() => seen.old > 50);
      configMap.update({ 'config.yaml': ALLOW_ALL });
      await eventually(() => seen.new > 200);
      running = false;
      await Promise.all(workers);
      // After the swap settled, only the new configuration answers.
      const after = await service.check(envoyCheckRequest({ headers: { 'user-agent': 'bot' } }));
      assert.equal(ruleOf(after), 'rule-b');
      const reloaded = service.logs.filter(l => l['msg'] === 'configuration reloaded');
      assert.equal(reloaded.length, 1);
      assert.equal(reloaded[0]?.['trigger'], 'file change');
      const metrics = await service.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_config_reload_failures_total'), 0);
      assert.ok(
        metrics.includes(`cheq_authz_config_info{hash="${String(reloaded[0]?.['hash'])}"} 1`),
      );
      assert.equal(metrics.match(/^cheq_authz_config_info\{/gm)?.length, 1, 'one hash in use');
    });

    it('refuses an invalid configuration, naming the problem, and keeps serving the old one', async () => {
      configMap.update({ 'config.yaml': 'mode: block\npolicy_rules: [{ action: drop }]\n' });
      await eventually(() =>
        service.logs.some(l => String(l['msg']).startsWith('configuration reload refused')),
      );
      const refused = service.logs.find(l =>
        String(l['msg']).startsWith('configuration reload refused'),
      )!;
      const problems = (refused['problems'] as string[]).join('\n');
      assert.match(problems, /mode \(CHEQ_MODE\): must be one of/);
      assert.match(problems, /policy_rules \(CHEQ_POLICY_RULES\): rule 1: action must be one of/);
      const response = await service.check(envoyCheckRequest({ headers: { 'user-agent': 'bot' } }));
      assert.equal(ruleOf(response), 'rule-a');
      assert.equal(response.denied_response?.status?.code, 403);
      const metrics = await service.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_config_reload_failures_total'), 1);
      // Fixed, it is taken.
      configMap.update({ 'config.yaml': ALLOW_ALL });
      await eventually(async () => ruleOf(await service.check(envoyCheckRequest())) === 'rule-b');
    });

    it('refuses a change of a setting that needs a restart, naming it', async () => {
      configMap.update({ 'config.yaml': `${ALLOW_ALL}rti_connections: 7\nworkers: 2\n` });
      await eventually(() =>
        service.logs.some(l => String(l['msg']).startsWith('configuration reload refused')),
      );
      const refused = service.logs.find(l =>
        String(l['msg']).startsWith('configuration reload refused'),
      )!;
      assert.deepEqual(refused['problems'], [
        'rti_connections, workers: cannot change without a restart',
      ]);
      assert.equal(ruleOf(await service.check(envoyCheckRequest())), 'rule-a');
    });
  });

  it('takes a rotated API key file (a Secret update) without restart', async () => {
    const dir = join(tmp, 'secret');
    mkdirSync(dir);
    const secret = new ConfigMapDir(dir);
    secret.update({ 'api-key': 'key-one\n' });
    const service = await startService(
      rti.url,
      { CHEQ_API_KEY: '', CHEQ_API_KEY_FILE: secret.path('api-key') },
      { reloadable: true },
    );
    try {
      rti.calls.length = 0;
      await service.check(envoyCheckRequest());
      assert.equal(rti.calls.at(-1)?.form.get('ApiKey'), 'key-one');
      secret.update({ 'api-key': 'key-two\n' });
      await eventually(async () => {
        await service.check(envoyCheckRequest());
        return rti.calls.at(-1)?.form.get('ApiKey') === 'key-two';
      });
      // The key never shows in the reload's log line.
      assert.equal(JSON.stringify(service.logs).includes('key-two'), false);
    } finally {
      await service.close();
    }
  });

  for (const workers of ['1', '2']) {
    it(`reloads on SIGHUP in a real process (CHEQ_WORKERS=${workers})`, async () => {
      const file = join(tmp, `sighup-${workers}.yaml`);
      writeFileSync(file, BLOCK_ALL);
      const proc = startServerProcess(['--config', file], {
        ...loopbackSettings(rti.url),
        CHEQ_WORKERS: workers,
        CHEQ_WARMUP_CHECKS: '0',
      });
      try {
        await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
        // Written, then SIGHUP at once. A worker's file watcher may see the change first (it
        // does on a busy machine): that worker's SIGHUP then finds the configuration unchanged.
        writeFileSync(file, ALLOW_ALL);
        proc.child.kill('SIGHUP');
        const processes = Number(workers);
        const perProcess = (msgs: readonly string[], trigger?: string): Set<unknown> =>
          new Set(
            logLines(proc)
              .filter(l => msgs.includes(l['msg'] as string))
              .filter(l => trigger === undefined || l['trigger'] === trigger)
              .map(l => l['worker'] ?? 'the only process'),
          );
        await eventually(
          () =>
            perProcess(['configuration reloaded', 'configuration unchanged'], 'SIGHUP').size >=
            processes,
          10_000,
        );
        assert.equal(
          perProcess(['configuration reloaded', 'configuration unchanged'], 'SIGHUP').size,
          processes,
          'SIGHUP reached every process that serves checks',
        );
        assert.equal(
          perProcess(['configuration reloaded']).size,
          processes,
          'every process took the new configuration',
        );
        assert.equal(proc.child.exitCode, null, 'SIGHUP does not stop the server');
      } finally {
        assert.equal(await proc.stop(), 0);
      }
    });
  }
});
