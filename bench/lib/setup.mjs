// @ts-check
// Before a bench script measures: the tools are there, dist/ is current, this process sits on
// the load core, and the request files are written.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  authRequestHeaders,
  checkRequestObject,
  grpcFrame,
  loadExtAuthz,
} from '../realistic-request.mjs';
import { MAIN, ROOT } from './paths.mjs';
import { log } from './processes.mjs';

/** src/ files changed after dist/ was built: the bench would measure old code. */
export function staleSources() {
  const builtMs = statSync(MAIN).mtimeMs;
  /** @type {string[]} */
  const stale = [];
  /** @param {string} dir */
  const walk = dir => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && statSync(path).mtimeMs > builtMs) {
        stale.push(path.slice(ROOT.length + 1));
      }
    }
  };
  walk(join(ROOT, 'src'));
  return stale;
}

/** @param {import('./knobs.mjs').Knobs} knobs */
export function preflight(knobs) {
  for (const tool of ['h2load', 'wrk', 'taskset']) {
    try {
      execFileSync('which', [tool], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is not installed (Debian: nghttp2-client, wrk, util-linux)`);
    }
  }
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build:dist first`);
  const stale = staleSources();
  if (stale.length > 0) {
    log(`WARNING: dist/ is older than ${stale.slice(0, 3).join(', ')}: run npm run build:dist`);
  }
  // This script, and everything it starts without pinning, runs on the load core.
  execFileSync('taskset', ['-a', '-p', '-c', knobs.loadCpu, String(process.pid)], {
    stdio: 'ignore',
  });
}

/**
 * A temporary directory with the h2load body (gRPC frame) and the wrk script.
 * @returns {{ dir: string, remove: () => void }}
 */
export function prepareWorkDir() {
  const work = mkdtempSync(join(tmpdir(), 'cheq-bench-'));
  const { check } = loadExtAuthz();
  const frame = grpcFrame(check.requestSerialize(checkRequestObject()));
  writeFileSync(join(work, 'check-request.grpc'), frame);
  const lua = Object.entries(authRequestHeaders())
    .map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`)
    .join('\n');
  writeFileSync(join(work, 'auth-request.lua'), `wrk.method = "GET"\n${lua}\n`);
  return { dir: work, remove: () => rmSync(work, { recursive: true, force: true }) };
}
