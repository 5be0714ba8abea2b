// Preloaded into the server by the soak (node --expose-gc --require build/test/helpers/gc-probe.js):
// on SIGUSR2, a full GC, then process.memoryUsage() as one JSON line on stderr. Heap after a
// full GC is what a leak grows; heap sampled at random points is mostly garbage not yet
// collected. The server's own code is untouched.

const gc = (globalThis as { gc?: () => void }).gc;

process.on('SIGUSR2', () => {
  gc?.();
  const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
  process.stderr.write(
    `${JSON.stringify({ gcProbe: { rss, heapUsed, heapTotal, external, gc: gc !== undefined } })}\n`,
  );
});
