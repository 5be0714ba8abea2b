// Tells when configuration files changed on disk; the caller reloads. fs.watch on the files'
// directories reports quickly, a slow poll catches what fs.watch misses, and a content hash
// decides whether anything changed. Imports only node: builtins.

import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

export const DEFAULT_DEBOUNCE_MS = 200;
export const DEFAULT_POLL_INTERVAL_MS = 2_000;

export interface ConfigWatcherOptions {
  /**
   * Called once per burst of changes, after the files stopped changing for debounceMs, with the
   * watched paths (spelled as given to watch()) whose content changed.
   */
  readonly onChange: (changed: readonly string[]) => void;
  /** Receives whatever onChange throws, which never escapes a timer. Default: process.emitWarning. */
  readonly onError?: (err: unknown) => void;
  readonly debounceMs?: number;
  /**
   * How often the files are re-read whatever fs.watch reports. Also the longest a directory
   * that never goes quiet can hold back a report.
   */
  readonly pollIntervalMs?: number;
}

interface WatchedFile {
  /** As given to watch(): what onChange reports. */
  readonly path: string;
  readonly absolutePath: string;
  /** Of the last content read; undefined until the file is first readable. */
  hash: string | undefined;
}

interface DirWatcher {
  readonly watcher: FSWatcher;
  /** A directory deleted and re-created under the same name needs a new watcher. */
  readonly ino: number;
}

export class ConfigWatcher {
  private readonly onChange: (changed: readonly string[]) => void;
  private readonly onError: (err: unknown) => void;
  private readonly debounceMs: number;
  private readonly pollIntervalMs: number;
  /** By absolute path, so two spellings of one file are one entry. */
  private readonly files = new Map<string, WatchedFile>();
  private readonly dirs = new Map<string, DirWatcher>();
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private burstStartMs: number | undefined;
  private closed = false;

  constructor(options: ConfigWatcherOptions) {
    this.onChange = options.onChange;
    this.onError = options.onError ?? defaultOnError;
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  }

  /**
   * Replaces the set of files watched; absolute or relative (to the working directory) paths.
   * A file need not exist yet. Changes are judged against the content read now, except for
   * files already watched, which keep theirs so that a change still in its debounce is reported.
   * Throws once closed.
   */
  watch(files: readonly string[]): void {
    if (this.closed) throw new Error('ConfigWatcher is closed');
    const next = new Map<string, WatchedFile>();
    for (const path of files) {
      const absolutePath = resolve(path);
      if (next.has(absolutePath)) continue;
      const current = this.files.get(absolutePath);
      const hash = current === undefined ? hashOf(absolutePath) : current.hash;
      next.set(absolutePath, { path, absolutePath, hash });
    }
    this.files.clear();
    for (const [absolutePath, file] of next) this.files.set(absolutePath, file);
    this.syncDirWatchers();
    // A poll tick is treated like a watch event, so fs.watch missing one costs only latency.
    this.pollTimer ??= setInterval(() => this.schedule(), this.pollIntervalMs).unref();
  }

  /** Stops watching and releases every watcher and timer; idempotent. */
  close(): void {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
    for (const { watcher } of this.dirs.values()) watcher.close();
    this.dirs.clear();
    this.files.clear();
  }

  /**
   * Restarts the debounce, but never past pollIntervalMs after the burst began: unrelated files
   * changing nonstop in the same directory must not hold a report back forever.
   */
  private schedule(): void {
    if (this.closed) return;
    const nowMs = performance.now();
    this.burstStartMs ??= nowMs;
    const maxWaitMs = Math.max(this.debounceMs, this.pollIntervalMs);
    const delayMs = Math.min(this.debounceMs, this.burstStartMs + maxWaitMs - nowMs);
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.check(), Math.max(0, delayMs)).unref();
  }

  // Synchronous reads: the files are small, and no check can interleave with watch() or close().
  private check(): void {
    this.debounceTimer = undefined;
    this.burstStartMs = undefined;
    this.syncDirWatchers();
    const changed: string[] = [];
    for (const file of this.files.values()) {
      const hash = hashOf(file.absolutePath);
      // A missing or unreadable file is not a change: there is nothing to reload, and whatever
      // appears next is judged against the last content seen.
      if (hash !== undefined && hash !== file.hash) {
        file.hash = hash;
        changed.push(file.path);
      }
    }
    if (changed.length === 0) return;
    try {
      this.onChange(changed);
    } catch (err: unknown) {
      this.onError(err);
    }
  }

  /**
   * Watches the directory of each path and of what it resolves to now. Directories, not files:
   * an editor's rename or a Kubernetes `..data` swap replaces what the path points at, and a
   * watch on the old inode would never hear of it. Also retries watches that failed before.
   */
  private syncDirWatchers(): void {
    const wanted = new Map<string, number>();
    for (const { absolutePath } of this.files.values()) {
      for (const dir of [dirname(absolutePath), dirname(realpathOf(absolutePath))]) {
        const ino = inodeOf(dir);
        if (ino !== undefined) wanted.set(dir, ino);
      }
    }
    for (const [dir, { watcher, ino }] of this.dirs) {
      if (wanted.get(dir) === ino) continue;
      watcher.close();
      this.dirs.delete(dir);
    }
    for (const [dir, ino] of wanted) {
      if (!this.dirs.has(dir)) this.watchDir(dir, ino);
    }
  }

  private watchDir(dir: string, ino: number): void {
    let watcher: FSWatcher;
    try {
      // Not persistent: a watcher must never keep the process alive.
      watcher = watch(dir, { persistent: false }, () => this.schedule());
    } catch {
      // ENOSPC (inotify limits), EPERM, a directory just removed: the poll still sees every
      // change, and the next check tries again.
      return;
    }
    watcher.on('error', () => {
      // An 'error' event without a listener would throw. The next check watches again.
      watcher.close();
      if (this.dirs.get(dir)?.watcher === watcher) this.dirs.delete(dir);
      this.schedule();
    });
    this.dirs.set(dir, { watcher, ino });
  }
}

/** Of the content the path resolves to now; undefined when it cannot be read. */
function hashOf(path: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('base64');
  } catch {
    return undefined;
  }
}

function inodeOf(dir: string): number | undefined {
  try {
    return statSync(dir).ino;
  } catch {
    return undefined;
  }
}

function realpathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function defaultOnError(err: unknown): void {
  process.emitWarning(err instanceof Error ? err : String(err), 'ConfigWatcherWarning');
}
