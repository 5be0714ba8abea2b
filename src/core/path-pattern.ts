// Path patterns for uri_exclusion and route_to_event_type: exact paths or regular expressions.
//
// An entry matches a path when it equals the path, or when, read as a regular expression, it
// matches the whole path. An entry with its own anchor (leading `^` or trailing `$`) is used as
// written, so `^/static/` matches every path under /static/.

import { posix } from 'node:path';

/** Characters that make an entry a regular expression rather than a literal path. */
const REGEX_SYNTAX = /[\\^$*+?()[\]{}|]/;

export class PatternError extends Error {
  override readonly name = 'PatternError';
}

export interface PathPattern {
  readonly source: string;
  matches(path: string): boolean;
}

/** @throws PatternError when the entry is empty or not a valid regular expression */
export function compilePathPattern(entry: string): PathPattern {
  if (entry === '') throw new PatternError('empty pattern');
  if (!REGEX_SYNTAX.test(entry) && !entry.includes('.')) {
    return { source: entry, matches: path => path === entry };
  }
  const anchored = entry.startsWith('^') || entry.endsWith('$');
  let regex: RegExp;
  try {
    regex = new RegExp(anchored ? entry : `^(?:${entry})$`);
  } catch (err: unknown) {
    throw new PatternError(`invalid regular expression ${JSON.stringify(entry)}: ${String(err)}`);
  }
  return { source: entry, matches: path => path === entry || regex.test(path) };
}

/**
 * The path lists and maps match against: dot segments resolved (`%2e` too) and repeated slashes
 * merged, so `/static/../checkout` is not taken for a static file when the proxy does not
 * normalise paths itself. Percent-encoding is otherwise left as received.
 */
export function normalizeForMatching(path: string): string {
  if (!path.includes('//') && !path.includes('.') && !path.includes('%')) return path;
  return posix.normalize(path.replace(/%2e/gi, '.'));
}

/** Matches a path against a list of patterns; empty list matches nothing. */
export class PathPatternList {
  private readonly patterns: readonly PathPattern[];

  constructor(entries: readonly string[]) {
    this.patterns = entries.map(compilePathPattern);
  }

  matches(path: string): boolean {
    if (this.patterns.length === 0) return false;
    const normalized = normalizeForMatching(path);
    return this.patterns.some(p => p.matches(normalized));
  }
}

/** Maps paths to values; the first matching entry, in configuration order, wins. */
export class PathMap<T> {
  private readonly entries: readonly (readonly [PathPattern, T])[];

  constructor(entries: Iterable<readonly [string, T]>) {
    this.entries = [...entries].map(([pattern, value]) => [compilePathPattern(pattern), value]);
  }

  lookup(path: string): T | undefined {
    if (this.entries.length === 0) return undefined;
    const normalized = normalizeForMatching(path);
    return this.entries.find(([pattern]) => pattern.matches(normalized))?.[1];
  }
}
