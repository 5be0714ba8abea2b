// @ts-check
// The forms a BENCH_* value can take: each parses the text of a variable or throws a plain
// message saying what is wrong with it (lib/knobs.mjs adds the variable's name).

/** @param {string} text */
export const integer = text => {
  if (!/^\d+$/.test(text)) throw new Error('not a whole number ≥ 0');
  return Number(text);
};
/** @param {string} text */
export const positiveInteger = text => {
  const n = integer(text);
  if (n === 0) throw new Error('must be ≥ 1');
  return n;
};
/** @param {string} text */
export const decimal = text => {
  if (!/^\d+(\.\d+)?$/.test(text)) throw new Error('not a number ≥ 0');
  return Number(text);
};
/** @param {string} text */
export const cpuList = text => {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) throw new Error('not a taskset core list');
  return text;
};
/**
 * @template {string} T
 * @param {readonly T[]} values
 * @returns {(text: string) => T}
 */
export const oneOf = values => text => {
  const found = values.find(value => value === text);
  if (found === undefined) throw new Error(`not one of ${values.join(', ')}`);
  return found;
};
/**
 * A comma list of some of `values`, as a set in their order.
 * @template {string} T
 * @param {readonly T[]} values
 * @returns {(text: string) => Set<T>}
 */
export const subsetOf = values => text => {
  const given = text.split(',').map(x => x.trim());
  const unknown = given.filter(x => !values.some(value => value === x));
  if (unknown.length > 0) throw new Error(`unknown ${unknown.join(', ')}`);
  return new Set(values.filter(value => given.includes(value)));
};
/** @param {string} text */
export const text = text => text;
/** @param {string} text */
export const flag = text => {
  if (text !== '0' && text !== '1') throw new Error('not 0 or 1');
  return text === '1';
};
/** @param {string} text */
export const words = text => text.split(' ').filter(Boolean);
/** @param {string} text @returns {Record<string, string>} */
export const envObject = text => {
  /** @type {unknown} */
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('not JSON');
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    Object.values(parsed).some(value => typeof value !== 'string')
  ) {
    throw new Error('not a JSON object of strings');
  }
  return /** @type {Record<string, string>} */ (parsed);
};
/** grpc-timeout as h2load sends it (gRPC's TimeoutValue TimeoutUnit), or empty for none. */
export const grpcTimeout = /** @param {string} text */ text => {
  if (text !== '' && !/^\d{1,8}[HMSmun]$/.test(text)) {
    throw new Error('not a gRPC timeout such as 200m, nor empty');
  }
  return text;
};
