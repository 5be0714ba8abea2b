// Path patterns for uri_exclusion and route_to_event_type, matched against the canonical path
// (canonical-path.ts) in time linear in the path, whatever the operator wrote.
//
// Forms: an exact path (no regex syntax; `.` is literal); an anchored literal prefix (`^/static/`);
// a glob (starts with `/`, has `*` and no other regex syntax: `*` within one segment, `**` any
// number of whole segments, at least one at the end); else a regular expression in RE2 syntax,
// matching the whole path unless it has its own `^` or `$`. RE2 has no lookaround or
// backreferences, so no entry can backtrack; an entry it cannot express is refused at load.
// Exact paths, prefixes and globs are compared in canonical form, as the paths are; an entry
// with dot segments or `//`, which no canonical path holds, is refused.
// A regex costs time in its program size times the path length: entries over
// MAX_REGEX_PROGRAM_SIZE are refused, and a path over MAX_REGEX_PATH_LENGTH matches no regex.

import { RE2JS, RE2JSException } from 're2js';
import { canonicalPath } from './canonical-path';

/** Characters that make an entry more than an exact path. */
const REGEX_SYNTAX = /[\\^$*+?()[\]{}|]/;
/** Regex syntax other than `*`: an entry with `*` and none of these (nor `.*`) is a glob. */
const NON_GLOB_SYNTAX = /[\\^$+?()[\]{}|]|\.\*/;

/** RE2 instructions a regex entry may compile to (`[a-z]{1000}` is over 1,000). */
export const MAX_REGEX_PROGRAM_SIZE = 200;
/** Longer paths match no regex entry (never excluded; the default event type). */
export const MAX_REGEX_PATH_LENGTH = 2048;

/** A `//` or a `.`/`..` segment (also encoded, or before a regex `$`). */
const NON_CANONICAL = /\/\/|\/(?:\.|%2e){1,2}(?=\/|\$|$)/i;

export class PatternError extends Error {
  override readonly name = 'PatternError';
}

export type PatternForm = 'exact' | 'prefix' | 'glob' | 'regex';

export interface PathPattern {
  readonly source: string;
  readonly form: PatternForm;
  /** @param path a canonical path (canonical-path.ts) */
  matches(path: string): boolean;
}

/**
 * @throws PatternError when the entry is empty, has dot segments or `//`, or is a regular
 * expression RE2 cannot compile or that is over MAX_REGEX_PROGRAM_SIZE
 */
export function compilePathPattern(entry: string): PathPattern {
  if (entry === '') throw new PatternError('empty pattern');
  if (NON_CANONICAL.test(entry)) throw nonCanonical(entry);
  if (!REGEX_SYNTAX.test(entry)) {
    const path = literalPath(entry);
    return { source: entry, form: 'exact', matches: candidate => candidate === path };
  }
  const literal = entry.slice(1);
  if (entry.startsWith('^') && !REGEX_SYNTAX.test(literal) && !literal.includes('.')) {
    const prefix = literalPath(literal);
    return { source: entry, form: 'prefix', matches: path => path.startsWith(prefix) };
  }
  if (entry.startsWith('/') && !NON_GLOB_SYNTAX.test(entry)) return compileGlob(entry);
  return compileRegex(entry);
}

function nonCanonical(entry: string): PatternError {
  const anchor = entry.startsWith('^') ? '^' : '';
  const literal = entry.slice(anchor.length);
  const reading =
    REGEX_SYNTAX.test(literal) || !literal.startsWith('/')
      ? 'a regular expression is matched against canonical paths; in it . is any character'
      : `as a path it reads ${JSON.stringify(anchor + canonicalPath(literal))}`;
  return new PatternError(
    `${JSON.stringify(entry)} has dot segments or //, which no canonical path holds (${reading})`,
  );
}

/** A literal written as a path, in canonical form: `/caf%C3%A9` is `/café`. */
function literalPath(literal: string): string {
  return literal.startsWith('/') ? canonicalPath(literal) : literal;
}

function compileRegex(entry: string): PathPattern {
  const anchored = entry.startsWith('^') || entry.endsWith('$');
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(anchored ? entry : `^(?:${entry})$`);
  } catch (err: unknown) {
    if (!(err instanceof RE2JSException)) throw err;
    throw new PatternError(
      `invalid regular expression ${JSON.stringify(entry)} (RE2 syntax, matched in linear ` +
        `time: no lookaround or backreferences): ${err.message}`,
    );
  }
  if (regex.programSize() > MAX_REGEX_PROGRAM_SIZE) {
    throw new PatternError(
      `${JSON.stringify(entry)} compiles to ${regex.programSize()} RE2 instructions, over ` +
        `${MAX_REGEX_PROGRAM_SIZE}: each costs time on every path (counted repetitions such as ` +
        '{1000} count that many); write a prefix or glob, or a smaller expression',
    );
  }
  return {
    source: entry,
    form: 'regex',
    matches: path => path.length <= MAX_REGEX_PATH_LENGTH && regex.test(path),
  };
}

/** A glob as segments; each segment is the literal pieces between its `*`s, or `**`. */
type GlobSegment = readonly string[] | '**';

function compileGlob(entry: string): PathPattern {
  const glob = canonicalPath(entry);
  const segments: GlobSegment[] = glob.split('/').map(segment => {
    if (segment === '**') return '**';
    if (segment.includes('**')) {
      throw new PatternError(`${JSON.stringify(entry)}: ** must be a whole path segment`);
    }
    return segment.split('*');
  });
  // Runs of plain segments between the `**`s: the first anchored at the start, the last at the end.
  const runs: (readonly string[])[][] = [[]];
  for (const segment of segments) {
    if (segment === '**') runs.push([]);
    else runs[runs.length - 1]?.push(segment);
  }
  const trailingAny = segments[segments.length - 1] === '**';
  // Most paths differ before the first `*`: rejected without splitting them into segments.
  const head = glob.slice(0, glob.indexOf('*'));
  return {
    source: entry,
    form: 'glob',
    matches: path => path.startsWith(head) && globMatches(runs, trailingAny, path.split('/')),
  };
}

/**
 * Each `**` takes any number of segments (at least one when last). Taking the earliest place
 * for each middle run is never worse than a later one, so there is no backtracking.
 */
function globMatches(
  runs: readonly (readonly (readonly string[])[])[],
  trailingAny: boolean,
  path: readonly string[],
): boolean {
  const first = runs[0] as readonly (readonly string[])[];
  if (runs.length === 1) return path.length === first.length && runMatchesAt(first, path, 0);
  const last = runs[runs.length - 1] as readonly (readonly string[])[];
  const end = path.length - last.length;
  if (end < first.length + (trailingAny ? 1 : 0)) return false;
  if (!runMatchesAt(first, path, 0) || !runMatchesAt(last, path, end)) return false;
  let at = first.length;
  for (let r = 1; r < runs.length - 1; r++) {
    const run = runs[r] as readonly (readonly string[])[];
    while (at + run.length <= end && !runMatchesAt(run, path, at)) at++;
    if (at + run.length > end) return false;
    at += run.length;
  }
  return !trailingAny || at < end;
}

function runMatchesAt(
  run: readonly (readonly string[])[],
  path: readonly string[],
  at: number,
): boolean {
  return run.every((pieces, i) => segmentMatches(pieces, path[at + i] as string));
}

/** One segment against the literal pieces around its `*`s, earliest place first. */
function segmentMatches(pieces: readonly string[], segment: string): boolean {
  const head = pieces[0] as string;
  if (pieces.length === 1) return segment === head;
  const tail = pieces[pieces.length - 1] as string;
  if (segment.length < head.length + tail.length) return false;
  if (!segment.startsWith(head) || !segment.endsWith(tail)) return false;
  let at = head.length;
  const end = segment.length - tail.length;
  for (let p = 1; p < pieces.length - 1; p++) {
    const piece = pieces[p] as string;
    const found = segment.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

/** Paths unlike each other: entries matching them all leave next to nothing to check. */
const PROBE_PATHS = ['/checkout', '/login/x', '/a/b/c/d/e/f', '/cheq-probe-7Q.x_~'];

/**
 * Whether entries together match every path (`^/`, `.*`, `/**`; `/*` with `/*\/**`), or every
 * path but `/`, judged on PROBE_PATHS.
 */
export function matchesEveryPath(entries: readonly string[]): boolean {
  const list = new PathPatternList(entries);
  return PROBE_PATHS.every(path => list.matches(path));
}

/**
 * Whether an entry can match below any first path segment (`.*\.css`, `\.css$`, `/**\/*.css`):
 * in uri_exclusion it lets a client exclude a protected path by appending `/x.css` on backends
 * that ignore trailing path parts. A heuristic: every alternative must start with `/` and a
 * literal character.
 */
export function matchesUnderAnyPath(entry: string): boolean {
  const pattern = compilePathPattern(entry);
  switch (pattern.form) {
    case 'exact':
    case 'prefix':
      return false;
    case 'glob':
      return entry.split('/', 2)[1]?.includes('*') ?? false;
    case 'regex': {
      const anchored = entry.startsWith('^') || entry.endsWith('$');
      return topLevelAlternatives(entry).some(alternative => {
        if (anchored && !alternative.startsWith('^')) return true;
        return !/^\^?\/[A-Za-z0-9_~%-]/.test(alternative);
      });
    }
  }
}

/** The entry split at each `|` outside groups and character classes. */
function topLevelAlternatives(entry: string): string[] {
  const alternatives: string[] = [];
  let depth = 0;
  let inClass = false;
  let start = 0;
  for (let i = 0; i < entry.length; i++) {
    const c = entry[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      alternatives.push(entry.slice(start, i));
      start = i + 1;
    }
  }
  alternatives.push(entry.slice(start));
  return alternatives;
}

/** Matches a canonical path against a list of patterns; an empty list matches nothing. */
export class PathPatternList {
  private readonly patterns: readonly PathPattern[];

  constructor(entries: readonly string[]) {
    this.patterns = entries.map(compilePathPattern);
  }

  get isEmpty(): boolean {
    return this.patterns.length === 0;
  }

  matches(path: string): boolean {
    return this.patterns.some(p => p.matches(path));
  }
}

/** Maps canonical paths to values; the first matching entry, in configuration order, wins. */
export class PathMap<T> {
  private readonly entries: readonly (readonly [PathPattern, T])[];

  constructor(entries: Iterable<readonly [string, T]>) {
    this.entries = [...entries].map(([pattern, value]) => [compilePathPattern(pattern), value]);
  }

  get isEmpty(): boolean {
    return this.entries.length === 0;
  }

  lookup(path: string): T | undefined {
    return this.entries.find(([pattern]) => pattern.matches(path))?.[1];
  }

  /** The value of the first entry that matches any of the paths. */
  lookupAny(paths: readonly string[]): T | undefined {
    return this.entries.find(([pattern]) => paths.some(path => pattern.matches(path)))?.[1];
  }
}
