// Where a passed challenge sends the browser back to: a path and query on the same site only.

/** Longest return URL kept, in characters. */
export const MAX_RETURN_URL_LENGTH = 2048;

/** Printable ASCII without space: `/` followed by any of these, up to the length bound. */
const SAME_ORIGIN_PATH = /^\/[\x21-\x7e]*$/;

/**
 * `pathAndQuery` when it is a same-origin path (and query), else `/`. Refused: anything not
 * starting with a single `/`; `//` and `/\` (browsers read both as another host); control
 * characters, spaces and non-ASCII (browsers drop tabs and newlines, which could turn `/\t/x`
 * into `//x`, and a Location header cannot carry non-Latin-1 text); more than
 * MAX_RETURN_URL_LENGTH characters. Never throws.
 */
export function toReturnUrl(pathAndQuery: string): string {
  if (pathAndQuery.length > MAX_RETURN_URL_LENGTH) return '/';
  if (!SAME_ORIGIN_PATH.test(pathAndQuery)) return '/';
  const second = pathAndQuery[1];
  return second === '/' || second === '\\' ? '/' : pathAndQuery;
}
