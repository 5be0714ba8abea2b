// @ts-check
// Small statistics shared by the load generators, the phases and the report.

/**
 * @typedef {object} Percentiles
 * @property {number} p50
 * @property {number} p90
 * @property {number} p99
 * @property {number} p999
 * @property {number} max
 */

/**
 * Nearest-rank percentiles of `values` (rounded to 3 decimals); {} when there are none.
 * @param {number[]} values
 * @returns {Partial<Percentiles>}
 */
export function percentilesOf(values) {
  if (values.length === 0) return {};
  const sorted = Float64Array.from(values).sort();
  /** @param {number} q */
  const at = q => round3(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1) };
}

/** @param {number} x */
export const round3 = x => Math.round(x * 1000) / 1000;

/**
 * The median of the finite values (the lower middle one for an even count); undefined for none.
 * @param {(number | undefined)[]} values
 * @returns {number | undefined}
 */
export const median = values => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => Number(a) - Number(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
};

/** A ratio as a percentage with one decimal. @param {number} ratio */
export const pct = ratio => Math.round(ratio * 1000) / 10;
