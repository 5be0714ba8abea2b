// "Did you mean" hints for misspelt flags and environment variables, by edit distance (no
// dependency): the known name nearest to the one given, when it is near enough to be a typo.

/** Names longer than this get no hint: nobody typed them, and the table grows with the length. */
const MAX_NAME_LENGTH = 100;

/** Edits between two strings; swapping two neighbours counts as one (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const width = b.length + 1;
  // d[i * width + j]: edits between the first i characters of a and the first j of b.
  const d = new Uint32Array((a.length + 1) * width);
  const at = (i: number, j: number): number => d[i * width + j] ?? 0;
  for (let i = 0; i <= a.length; i++) d[i * width] = i;
  for (let j = 0; j <= b.length; j++) d[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      d[i * width + j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidate nearest to `name` (case and `-`/`_` ignored), or undefined when none is within
 * about a third of its length (at most 3 edits): a hint must not send anyone the wrong way.
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > MAX_NAME_LENGTH) return undefined;
  const normal = (text: string): string => text.toLowerCase().replace(/_/g, '-');
  const given = normal(name);
  const limit = Math.min(3, Math.max(1, Math.floor(given.length / 3)));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const distance = editDistance(given, normal(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
