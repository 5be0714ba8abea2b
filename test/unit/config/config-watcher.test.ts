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
import { setImmediate as nextLoopTurn } from 'node:timers/promises';
import { install as installFakeTimers, type Clock } from '@sinonjs/fake-timers';
import { ConfigWatcher, type ConfigWatcherOptions } from '../../../src/config/config-watcher';

// The watcher's timers and clock are fake, its fs.watch events real: a test makes its change,
// lets the loop deliver the events, then moves the clock. No test waits on the wall clock.

const DEBOUNCE_MS = 50;
/** So long that a change reported after DEBOUNCE_MS came from fs.watch, not the poll. */
const NO_POLL_MS = 60_000;
const FAST_POLL_MS = 40;
const MODULE_FILE = join(__dirname, '../../../src/config/config-watcher.js');

/**
 * Hands the watcher the fs.watch events of what the test just did. inotify queues them during
 * the test's (synchronous) syscalls; the loop's next poll phase dispatches them, and it runs
 * before the check phase that ends the second of these turns.
 */
async function fsEvents(): Promise<void> {
  await nextLoopTurn();
  await nextLoopTurn();
}

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

/** The directory watchers that config-watcher created and has not released yet. */
function trackDirWatchers(): { live(): number; stop(): void } {
  const live = new Set<number>();
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50;
  const hook = createHook({
    init(asyncId, type) {
      const fromModule = /[\\/]config-watcher\.[jt]s:/.test(new Error().stack ?? '');
      if (fromModule && type === 'FSEVENTWRAP') live.add(asyncId);
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  }).enable();
  return {
    live: () => live.size,
    stop: () => {
      hook.disable();
      Error.stackTraceLimit = stackTraceLimit;
    },
  };
}

describe('ConfigWatcher', () => {
  let root: string;
  let caseCount = 0;
  let dir: string;
  let calls: (readonly string[])[];
  let watcher: ConfigWatcher | undefined;
  let clock: Clock;

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
    clock = installFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
    });
  });

  afterEach(() => {
    watcher?.close();
    watcher = undefined;
    clock.uninstall();
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

  /** Delivers the fs.watch events, then lets `ms` pass on the clock: the debounce, unless told. */
  async function pass(ms = DEBOUNCE_MS): Promise<void> {
    await fsEvents();
    clock.tick(ms);
  }

  /** Lets a poll and its debounce pass too: whatever fs.watch missed has been read by then. */
  async function afterPoll(pollIntervalMs = NO_POLL_MS): Promise<void> {
    await pass(pollIntervalMs + DEBOUNCE_MS);
  }

  /** Reported after the debounce, so by fs.watch; and nothing more after the next poll. */
  async function reported(expected: (readonly string[])[]): Promise<void> {
    await pass();
    assert.deepEqual(calls, expected);
    await afterPoll();
    assert.deepEqual(calls, expected, 'nothing more after the next poll');
  }

  it('reports a file rewritten in place', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    start([file]);

    writeFileSync(file, 'a: 2\n');

    await reported([[file]]);
  });

  it('reports a relative path as given to watch()', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    const relativePath = relative(process.cwd(), file);
    start([relativePath]);

    writeFileSync(file, 'a: 2\n');

    await reported([[relativePath]]);
  });

  it('reports a file replaced by a rename over it (editors, mv new old)', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    start([file]);

    writeFileSync(join(dir, 'config.yaml.swp'), 'a: 2\n');
    renameSync(join(dir, 'config.yaml.swp'), file);

    await reported([[file]]);
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

    await reported([[file]]);
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
    await reported([[config]]);
    // The watched symlink itself never changed: only content can tell.
    assert.equal(lstatSync(config).ino, configInode);

    // The directory watched for the first timestamp is gone; the new one is followed.
    updateConfigMapVolume(dir, second, third, { 'config.yaml': 'a: 2\n', 'api-key': 'key-2' });
    await reported([[config], [apiKey]]);
  });

  it('does not report a deletion, and reports the file re-created with new content', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    start([file]);

    unlinkSync(file);
    await afterPoll();
    assert.deepEqual(calls, []);

    writeFileSync(file, 'a: 2\n');
    await reported([[file]]);
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
    await reported([[file]]);

    // Heard only if the new directory is watched: the old watcher died with the old directory.
    writeFileSync(file, 'a: 3\n');
    await reported([[file], [file]]);
  });

  it('reports a file created after watch()', async () => {
    const file = join(dir, 'config.yaml');
    start([file]);

    writeFileSync(file, 'a: 1\n');

    await reported([[file]]);
  });

  it('falls back to polling where fs.watch cannot watch (directory missing at first)', async () => {
    const file = join(dir, 'later', 'config.yaml');
    start([file], { pollIntervalMs: FAST_POLL_MS });

    mkdirSync(join(dir, 'later'));
    writeFileSync(file, 'a: 1\n');
    await pass();
    assert.deepEqual(calls, [], 'not before the poll: nothing watched the missing directory');

    await afterPoll(FAST_POLL_MS);
    assert.deepEqual(calls, [[file]]);
  });

  it('does not report a rewrite with the same content, or a touch', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    start([file], { pollIntervalMs: FAST_POLL_MS });

    writeFileSync(file, 'a: 1\n');
    const later = new Date(Date.now() + 60_000);
    utimesSync(file, later, later);

    await afterPoll(FAST_POLL_MS);
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

    await afterPoll(FAST_POLL_MS);
    assert.deepEqual(calls, []);
  });

  it('reports a change while other files in the directory never stop changing', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    const pollIntervalMs = 300;
    start([file], { debounceMs: 100, pollIntervalMs });

    writeFileSync(file, 'a: 2\n');
    // Each write restarts the debounce long before it ends; only the burst's cap ends the wait.
    for (let waitedMs = 0; calls.length === 0; waitedMs += 20) {
      assert.ok(waitedMs <= 2 * pollIntervalMs, 'no report after two poll intervals of noise');
      writeFileSync(join(dir, 'app.log'), String(waitedMs));
      await pass(20);
    }
    assert.deepEqual(calls, [[file]]);
  });

  it('reports a burst of 20 writes once', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'n: 0\n');
    // The writes take twice debounceMs: one report only if each restarts the debounce.
    start([file], { debounceMs: 200 });

    for (let n = 1; n <= 20; n += 1) {
      writeFileSync(file, `n: ${n}\n`);
      await pass(20);
    }
    assert.deepEqual(calls, [], 'nothing during the burst');

    await pass(200);
    assert.deepEqual(calls, [[file]]);
    await afterPoll();
    assert.deepEqual(calls, [[file]]);
  });

  it('lists every watched file whose content changed in the burst, and only those', async () => {
    const [config, apiKey, other] = ['config.yaml', 'api-key', 'other-key'].map(n => join(dir, n));
    assert.ok(config !== undefined && apiKey !== undefined && other !== undefined);
    for (const file of [config, apiKey, other]) writeFileSync(file, 'old');
    start([config, apiKey, other]);

    writeFileSync(apiKey, 'new');
    writeFileSync(config, 'new');

    await reported([[config, apiKey]]);
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
    await afterPoll();
    assert.deepEqual(calls, []);

    writeFileSync(newFile, 'a: 2\n');
    await reported([[newFile]]);
  });

  it('still reports a change made just before watch() is called again with that file', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'a: 1\n');
    const started = start([file], { debounceMs: 150 });

    writeFileSync(file, 'a: 2\n');
    started.watch([file, join(dir, 'api-key')]);

    await pass(150);
    assert.deepEqual(calls, [[file]]);
    await afterPoll();
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
    await reported([[file]]);
    writeFileSync(file, 'a: 3\n');
    await reported([[file], [file]]);

    assert.equal(errors.length, 2);
  });

  it('close() stops reporting and releases every watcher and timer', async () => {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    const files = [join(dir, 'a', 'config.yaml'), join(dir, 'b', 'api-key')];
    const dirWatchers = trackDirWatchers();
    try {
      const started = start(files, { debounceMs: 1_000, pollIntervalMs: FAST_POLL_MS });
      writeFileSync(join(dir, 'a', 'config.yaml'), 'a: 1\n');
      await pass(0);
      // Two directory watchers, the poll, and the debounce of the write just made.
      assert.equal(dirWatchers.live(), 2, 'directory watchers');
      assert.equal(clock.countTimers(), 2, 'the poll and the debounce');

      started.close();
      for (const file of files) writeFileSync(file, 'changed');
      await afterPoll(FAST_POLL_MS);
      // A closed FSWatcher's handle is destroyed on a later turn of the loop.
      await fsEvents();

      assert.equal(dirWatchers.live(), 0, 'directory watchers');
      assert.equal(clock.countTimers(), 0, 'timers');
      assert.deepEqual(calls, []);
    } finally {
      dirWatchers.stop();
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
