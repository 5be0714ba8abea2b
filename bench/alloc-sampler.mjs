// @ts-check
// Preloaded into our server by bench/profile.mjs (node --import) for BENCH_PROFILE_KIND=alloc:
// V8's sampling heap profiler, keeping samples of objects that were collected since, so the
// profile shows allocation volume by stack (what makes the GC work), not what is still live.
// BENCH_ALLOC_KEEP=survivors drops the samples scavenges collected: what is left was promoted.
// The profile is written to $BENCH_ALLOC_DIR/alloc.<pid>.heapprofile when the process exits.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { readKnobsOrExit } from './lib/knobs.mjs';

const knobs = readKnobsOrExit('alloc-sampler');
const dir = knobs.allocDir;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.startSampling', {
    samplingInterval: knobs.allocInterval,
    includeObjectsCollectedByMajorGC: true,
    // survivors: only objects that outlived a scavenge (promoted to the old generation).
    includeObjectsCollectedByMinorGC: knobs.allocKeep !== 'survivors',
  });
  // An in-process inspector session answers synchronously, so this works in 'exit'.
  process.on('exit', () => {
    session.post('HeapProfiler.stopSampling', (err, result) => {
      if (!err) {
        writeFileSync(
          join(dir, `alloc.${process.pid}.heapprofile`),
          JSON.stringify(result.profile),
        );
      }
    });
  });
}
