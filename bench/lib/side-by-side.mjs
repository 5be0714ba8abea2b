// @ts-check
// The frame of the side-by-side scripts (compare-builds, compare-node-flags): preflight, the
// work directory, every process started stopped at the end, a failure reported with exit 2.

import { readKnobs } from './knobs.mjs';
import { exitOnFailure, killChildrenOnExit } from './processes.mjs';
import { preflight, prepareWorkDir } from './setup.mjs';

/** @typedef {import('./processes.mjs').Started} Started */

/**
 * Runs `body(knobs, workDir, start)` after the knobs are read and the preflight, where
 * `start(promise)` keeps the child process the promise resolves to; afterwards stops every
 * kept child and removes the work directory.
 * @param {import('./knobs.mjs').Script} script
 * @param {(knobs: import('./knobs.mjs').Knobs, workDir: string, start: <T extends Started>(p: Promise<T>) => Promise<T>) => Promise<void>} body
 */
export function runSideBySide(script, body) {
  const main = async () => {
    const knobs = readKnobs(script);
    preflight(knobs);
    killChildrenOnExit();
    const work = prepareWorkDir();
    /** @type {Started[]} */
    const started = [];
    /** @template {Started} T @param {Promise<T>} promise */
    const start = async promise => {
      const child = await promise;
      started.push(child);
      return child;
    };
    try {
      await body(knobs, work.dir, start);
    } finally {
      await Promise.all(started.map(child => child.stop()));
      work.remove();
    }
  };
  exitOnFailure(main());
}
