import { strict as assert } from 'node:assert';
import { createHook } from 'node:async_hooks';
import { spawnSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigWatcher, type ConfigWatcherOptions } from '../../../src/config/config-watcher';

const DEBOUNCE_MS = 50;
/** So long that a change reported within REPORT_TIMEOUT_MS came from fs.watch, not the poll. */
const NO_POLL_MS = 60_000;
/** Polls many times within QUIET_MS, so a "does not report" case covers the poll too. */
const FAST_POLL_MS = 40;
const REPORT_TIMEOUT_MS = 2_000;
/** How long a report that must not come (or a second one) is waited for. */
const QUIET_MS = 200;
const MODULE_FILE = join(__dirname, '../../../src/config/config-watcher.js');

/** The volume kubelet mounts for a ConfigMap or Secret, each key a symlink through `..data`. */
function createConfigMapVolume(dir: string, stamp: string, files: Record<string, string>): void {
  writeTimestampedDir(dir, stamp, files);
  symlinkSync(stamp, join(dir, '..data'));
  for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(dir, name));
}

/** An update as kubelet's AtomicWriter makes it: new directory, `..data` swapped, old removed. */
function updateConfigMapVolume(
  dir: string,
  oldStamp: string,
  newStamp: string,
  files: Record<string, string>,
): void {
  writeTimestampedDir(dir, newStamp, files);
  symlinkSync(newStamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  rmSync(join(dir, oldStamp), { recursive: true });
}

function writeTimestampedDir(dir: string, stamp: string, files: Record<string, string>): void {
  mkdirSync(join(dir, stamp));
  for (const [name, content] of Object.entries(files))
    writeFileSync(join(dir, stamp, name), content);
}

/** The watchers and timers that config-watcher created and has not released yet. */
function trackHandles(): { live(): string[]; stop(): void } {
  const live = new Map<number, string>();
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50;
  const hook = createHook({
    init(asyncId, type) {
      const fromModule = /[\\/]config-watcher\.[jt]s:/.test(new Error().stack ?? '');
      if (fromModule && (type === 'FSEVENTWRAP' || type === 'Timeout')) live.set(asyncId, type);
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  }).enable();
  return {
    live: () => [...live.values()].sort(),
    stop: () => {
      hook.disable();
      Error.stackTraceLimit = stackTraceLimit;
    },
  };
}

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadlineMs = performance.now() + REPORT_TIMEOUT_MS;
  while (!condition()) {
    if (performance.now() > deadlineMs)
      assert.fail(`expected ${what} within ${REPORT_TIMEOUT_MS} ms`);
    await sleep(10);
  }
}

describe('ConfigWatcher', () => {
  let root: string;
  let caseCount = 0;
  let dir: string;
  let calls: (readonly string[])[];
  let watcher: ConfigWatcher | undefined;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'cheq-rti-authz-watcher-'));
  });

  after(() => {
    rmSync(root, { recursive: true, force: true });
  });

  beforeEach(() => {
    caseCount += 1;
    dir = join(root, `case-${caseCount}`);
    mkdirSync(dir);
    calls = [];
  });

  afterEach(() => {
    watcher?.close();
    watcher = undefined;
  });

  function start(
    files: readonly string[],
    options: Partial<ConfigWatcherOptions> = {},
  ): ConfigWatcher {
    watcher = new ConfigWatcher({
      debounceMs: DEBOUNCE_MS,
      pollIntervalMs: NO_POLL_MS,
      onChange: changed => calls.push(changed),
      ...options,
    });
    watcher.watch(files);
    return watcher;
  }

  /** Waits for the count-th onChange, then QUIET_MS more so that an extra call would show. */
  async function reported(count = 1): Promise<void> {
    await waitUntil(() => calls.length >= count, `onChange call ${count}`);
    await sleep(QUIET_MS);
  }

  it('reports a file rewritten in place', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    start([file]);

    writeFileSync(file, 'a: 2\n');

    await reported();
    assert.deepEqual(calls, [[file]]);
  });

  it('reports a relative path as given to watch()', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    const relativePath = relative(process.cwd(), file);
    start([relativePath]);

    writeFileSync(file, 'a: 2\n');

    await reported();
    assert.deepEqual(calls, [[relativePath]]);
  });

  it('reports a file replaced by a rename over it (editors, mv new old)', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    start([file]);

    writeFileSync(join(dir, 'config.yaml.swp'), 'a: 2\n');
    renameSync(join(dir, 'config.yaml.swp'), file);

    await reported();
    assert.deepEqual(calls, [[file]]);
  });

  it('reports a rewrite of a symlink target that lives in another directory', async () => {
    mkdirSync(join(dir, 'shared'));
    const target = join(dir, 'shared', 'config.yaml');
    writeFileSync(target, 'a: 1\n');
    mkdirSync(join(dir, 'etc'));
    const file = join(dir, 'etc', 'config.yaml');
    symlinkSync(target, file);
    start([file]);

    writeFileSync(target, 'a: 2\n');

    await reported();
    assert.deepEqual(calls, [[file]]);
  });

  it('reports a Kubernetes ConfigMap update (..data swapped), naming only the keys that changed', async () => {
    const first = '..2026_12_03_10_00_00.123';
    const second = '..2026_12_03_10_05_00.456';
    const third = '..2026_12_03_10_10_00.789';
    createConfigMapVolume(dir, first, { 'config.yaml': 'a: 1\n', 'api-key': 'key-1' });
    const config = join(dir, 'config.yaml');
    const apiKey = join(dir, 'api-key');
    const configInode = lstatSync(config).ino;
    start([config, apiKey]);

    updateConfigMapVolume(dir, first, second, { 'config.yaml': 'a: 2\n', 'api-key': 'key-1' });
    await reported(1);
    // The watched symlink itself never changed: only content can tell.
    assert.equal(lstatSync(config).ino, configInode);
    assert.deepEqual(calls, [[config]]);

    // The directory watched for the first timestamp is gone; the new one is followed.
    updateConfigMapVolume(dir, second, third, { 'config.yaml': 'a: 2\n', 'api-key': 'key-2' });
    await reported(2);
    assert.deepEqual(calls, [[config], [apiKey]]);
  });

  it('does not report a deletion, and reports the file re-created with new content', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    start([file]);

    unlinkSync(file);
    await sleep(QUIET_MS);
    assert.deepEqual(calls, []);

    writeFileSync(file, 'a: 2\n');
    await reported();
    assert.deepEqual(calls, [[file]]);
  });

  it('keeps reporting after the directory itself was replaced', async () => {
    const confDir = join(dir, 'conf');
    const file = join(confDir, 'config.yaml');
    mkdirSync(confDir);
    writeFileSync(file, 'a: 1\n');
    start([file]);

    mkdirSync(join(dir, 'conf.new'));
    writeFileSync(join(dir, 'conf.new', 'config.yaml'), 'a: 2\n');
    rmSync(confDir, { recursive: true });
    renameSync(join(dir, 'conf.new'), confDir);
    await reported(1);

    // Heard only if the new directory is watched: the old watcher died with the old directory.
    writeFileSync(file, 'a: 3\n');
    await reported(2);
    assert.deepEqual(calls, [[file], [file]]);
  });

  it('reports a file created after watch()', async () => {
    const file = join(dir, 'config.yaml');
    start([file]);

    writeFileSync(file, 'a: 1\n');

    await reported();
    assert.deepEqual(calls, [[file]]);
  });

  it('falls back to polling where fs.watch cannot watch (directory missing at first)', async () => {
    const file = join(dir, 'later', 'config.yaml');
    start([file], { pollIntervalMs: FAST_POLL_MS });

    mkdirSync(join(dir, 'later'));
    writeFileSync(file, 'a: 1\n');

    await reported();
    assert.deepEqual(calls, [[file]]);
  });

  it('does not report a rewrite with the same content, or a touch', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    start([file], { pollIntervalMs: FAST_POLL_MS });

    writeFileSync(file, 'a: 1\n');
    const later = new Date(Date.now() + 60_000);
    utimesSync(file, later, later);

    await sleep(QUIET_MS);
    assert.deepEqual(calls, []);
  });

  it('does not report changes to other files in the directory', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    start([file], { pollIntervalMs: FAST_POLL_MS });

    writeFileSync(join(dir, 'notes.txt'), 'one');
    writeFileSync(join(dir, 'notes.txt'), 'two');
    renameSync(join(dir, 'notes.txt'), join(dir, 'notes.bak'));
    symlinkSync('notes.bak', join(dir, 'notes.link'));
    unlinkSync(join(dir, 'notes.bak'));

    await sleep(QUIET_MS);
    assert.deepEqual(calls, []);
  });

  it('reports a change while other files in the directory never stop changing', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    start([file], { debounceMs: 100, pollIntervalMs: 300 });

    writeFileSync(file, 'a: 2\n');
    // Each write restarts the debounce long before it ends; only the burst's cap ends the wait.
    const noise = setInterval(() => writeFileSync(join(dir, 'app.log'), String(Date.now())), 20);
    try {
      await waitUntil(() => calls.length > 0, 'a report despite the noise');
    } finally {
      clearInterval(noise);
    }
    assert.deepEqual(calls, [[file]]);
  });

  it('reports a burst of 20 writes once', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'n: 0\n');
    // The writes take about twice debounceMs: one report only if each restarts the debounce.
    start([file], { debounceMs: 200 });

    for (let n = 1; n <= 20; n += 1) {
      writeFileSync(file, `n: ${n}\n`);
      await sleep(20);
    }

    await reported();
    assert.deepEqual(calls, [[file]]);
  });

  it('lists every watched file whose content changed in the burst, and only those', async () => {
    const [config, apiKey, other] = ['config.yaml', 'api-key', 'other-key'].map(n => join(dir, n));
    assert.ok(config !== undefined && apiKey !== undefined && other !== undefined);
    for (const file of [config, apiKey, other]) writeFileSync(file, 'old');
    start([config, apiKey, other]);

    writeFileSync(apiKey, 'new');
    writeFileSync(config, 'new');

    await reported();
    assert.deepEqual(calls, [[config, apiKey]]);
  });

  it('stops reporting the old files after watch() with a new set', async () => {
    mkdirSync(join(dir, 'old'));
    mkdirSync(join(dir, 'new'));
    const oldFile = join(dir, 'old', 'config.yaml');
    const newFile = join(dir, 'new', 'config.yaml');
    writeFileSync(oldFile, 'a: 1\n');
    writeFileSync(newFile, 'a: 1\n');
    start([oldFile]).watch([newFile]);

    writeFileSync(oldFile, 'a: 2\n');
    await sleep(QUIET_MS);
    assert.deepEqual(calls, []);

    writeFileSync(newFile, 'a: 2\n');
    await reported();
    assert.deepEqual(calls, [[newFile]]);
  });

  it('still reports a change made just before watch() is called again with that file', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    const started = start([file], { debounceMs: 150 });

    writeFileSync(file, 'a: 2\n');
    started.watch([file, join(dir, 'api-key')]);

    await reported();
    assert.deepEqual(calls, [[file]]);
  });

  it('hands what onChange throws to onError and keeps watching', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    const errors: unknown[] = [];
    start([file], {
      onChange: changed => {
        calls.push(changed);
        throw new Error('reload failed');
      },
      onError: err => errors.push(err),
    });

    writeFileSync(file, 'a: 2\n');
    await reported(1);
    writeFileSync(file, 'a: 3\n');
    await reported(2);

    assert.deepEqual(calls, [[file], [file]]);
    assert.equal(errors.length, 2);
  });

  it('close() stops reporting and releases every watcher and timer', async () => {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    const files = [join(dir, 'a', 'config.yaml'), join(dir, 'b', 'api-key')];
    const handles = trackHandles();
    try {
      const started = start(files, { debounceMs: 1_000, pollIntervalMs: FAST_POLL_MS });
      writeFileSync(join(dir, 'a', 'config.yaml'), 'a: 1\n');
      // Two directory watchers, the poll, and the debounce of the write just made.
      const expected = ['FSEVENTWRAP', 'FSEVENTWRAP', 'Timeout', 'Timeout'];
      await waitUntil(() => handles.live().length === expected.length, 'four live handles');
      assert.deepEqual(handles.live(), expected);

      started.close();
      for (const file of files) writeFileSync(file, 'changed');
      await sleep(QUIET_MS);

      assert.deepEqual(handles.live(), []);
      assert.deepEqual(calls, []);
    } finally {
      handles.stop();
    }
  });

  it('never keeps the process alive, even when not closed', () => {
    const file = join(dir, 'config.yaml');
    const script = `
      const { writeFileSync } = require('node:fs');
      const { ConfigWatcher } = require(${JSON.stringify(MODULE_FILE)});
      new ConfigWatcher({ onChange() {} }).watch([${JSON.stringify(file)}]);
      writeFileSync(${JSON.stringify(file)}, 'a: 1\\n');
    `;

    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 5_000 });

    assert.equal(child.signal, null, 'the process was still running after 5 s');
    assert.equal(child.status, 0, child.stderr);
  });
});
