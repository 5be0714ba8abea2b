// @ts-check
// Where the bench finds the server it measures and puts its results.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = join(BENCH_DIR, '..');
/** Our server as `npm run build:dist` leaves it. */
export const MAIN = join(ROOT, 'dist', 'main.js');
/** Gitignored: latest.json, run-<time>.json, profile summaries. */
export const RESULTS_DIR = join(BENCH_DIR, 'results');
