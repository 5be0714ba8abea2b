// The one reading of a request path that every path decision (uri_exclusion, route_to_event_type)
// matches against. Pure; imports nothing.
//
// The rule: a request is excluded only if every reasonable reading of its path is excluded, so a
// path that proxies and backends may read differently is ambiguous and never excluded (RTI is
// asked). Ambiguous: a percent-encoded delimiter (`%2F` `%5C` `%2E` `%3B` `%3F` `%23` `%25` and
// the other gen-/sub-delims), an encoded control character or non-UTF-8 byte sequence (overlong
// `%C0%AE`), invalid percent-encoding, a raw `\`, `;` (path parameters), `#`, control character
// or character outside printable ASCII (browsers percent-encode those; a raw one is read by each
// hop in its own charset), `..` above the root, and a path not starting with `/`.
// The canonical reading, as NGINX normalises: unreserved and UTF-8 escapes decoded, other escapes
// kept (hex upper-cased), `.`/`..` segments resolved, repeated slashes merged.

/** The path as the canonical reading, whether or not it is ambiguous (for route lookups). */
export function canonicalPath(rawPath: string): string {
  return isPlain(rawPath) ? rawPath : readPath(rawPath).path;
}

/** The canonical reading, or undefined when the path has more than one reasonable reading. */
export function unambiguousPath(rawPath: string): string | undefined {
  if (isPlain(rawPath)) return rawPath;
  const reading = readPath(rawPath);
  return reading.ambiguous ? undefined : reading.path;
}

/**
 * The readings a backend may take of an ambiguous path, the most resolved first: fully
 * percent-decoded with `\` as `/` and `;` parameters stripped from each segment (Tomcat,
 * Spring), decoded only, parameters stripped only, and the canonical reading last. For route
 * lookups, where the backend most likely serves the most resolved reading.
 */
export function pathReadings(rawPath: string): readonly string[] {
  const decoded = `/${decodeAll(rawPath).replaceAll('\\', '/')}`;
  const readings = [
    resolveSegments(withoutParameters(decoded)).path,
    resolveSegments(decoded).path,
    readPath(withoutParameters(rawPath)).path,
    readPath(rawPath).path,
  ];
  return [...new Set(readings)];
}

const NO_READINGS: readonly string[] = [];

/**
 * Looser readings of a canonical path that many backends route as the path itself (Express by
 * default, Rails, Spring MVC before 6, ASP.NET Core): without its trailing slash (never `/`
 * itself), lower-cased, and both. For route lookups only: in uri_exclusion a miss is the safe
 * direction. Empty, after one scan and no allocation, when the path has neither.
 */
export function looseReadings(path: string): readonly string[] {
  const trailingSlash = path.length > 1 && path.charCodeAt(path.length - 1) === SLASH;
  const upperCase = hasUpperCase(path);
  if (!trailingSlash && !upperCase) return NO_READINGS;
  const trimmed = trailingSlash ? path.slice(0, -1) : path;
  if (!upperCase) return [trimmed];
  const lower = path.toLowerCase();
  return trailingSlash ? [trimmed, lower, lower.slice(0, -1)] : [lower];
}

function hasUpperCase(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}

function withoutParameters(path: string): string {
  return path.replace(/;[^/]*/g, '');
}

const LENIENT_UTF8 = new TextDecoder('utf-8');

/** Every valid escape decoded, as a backend that decodes once before routing reads it. */
function decodeAll(raw: string): string {
  return raw.replace(/(?:%[0-9A-Fa-f]{2})+/g, run =>
    LENIENT_UTF8.decode(Uint8Array.from(run.slice(1).split('%'), hex => parseInt(hex, 16))),
  );
}

const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * True when the path is already canonical and unambiguous: starts with `/`, is printable ASCII,
 * and has no `%`, `\`, `;`, `#`, `//` or `/.`. The hot path: a scan, no allocation.
 */
function isPlain(path: string): boolean {
  if (path.charCodeAt(0) !== SLASH) return false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (!isPrintableAscii(c) || c === 0x25 || c === 0x5c || c === 0x3b || c === 0x23) return false;
    if (c === SLASH) {
      const next = path.charCodeAt(i + 1);
      if (next === SLASH || next === DOT) return false;
    }
  }
  return true;
}

function isPrintableAscii(c: number): boolean {
  return c >= 0x20 && c < 0x7f;
}

interface Reading {
  readonly path: string;
  readonly ambiguous: boolean;
}

/** ASCII bytes that, percent-encoded, are decoded without making the path ambiguous. */
const DECODED_ASCII = /^[A-Za-z0-9\-_~ "<>^`{|}]$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function readPath(raw: string): Reading {
  let ambiguous = raw.charCodeAt(0) !== SLASH;
  let decoded = '';
  for (let i = 0; i < raw.length;) {
    const c = raw.charCodeAt(i);
    if (c !== 0x25) {
      if (!isPrintableAscii(c) || c === 0x5c || c === 0x3b || c === 0x23) ambiguous = true;
      decoded += raw[i];
      i++;
      continue;
    }
    const bytes = escapedBytes(raw, i);
    if (bytes.length === 0) {
      ambiguous = true; // `%` not followed by two hex digits
      decoded += '%';
      i++;
      continue;
    }
    const run = decodeEscapes(bytes);
    if (run.ambiguous) ambiguous = true;
    decoded += run.text;
    i += bytes.length * 3;
  }
  const resolved = resolveSegments(decoded.charCodeAt(0) === SLASH ? decoded : `/${decoded}`);
  return { path: resolved.path, ambiguous: ambiguous || resolved.aboveRoot };
}

/** The bytes of the run of `%XX` escapes starting at `start`; empty when `%` is not one. */
function escapedBytes(raw: string, start: number): number[] {
  const bytes: number[] = [];
  for (let i = start; raw.charCodeAt(i) === 0x25; i += 3) {
    const byte = hexByte(raw, i + 1);
    if (byte === undefined) break;
    bytes.push(byte);
  }
  return bytes;
}

function hexByte(raw: string, at: number): number | undefined {
  const hex = raw.slice(at, at + 2);
  return /^[0-9A-Fa-f]{2}$/.test(hex) ? parseInt(hex, 16) : undefined;
}

/**
 * A run of escaped bytes: unreserved ASCII and valid UTF-8 decoded (an encoded `.` is decoded but
 * ambiguous, as some backends resolve dot segments before decoding); the rest kept, upper-cased.
 */
function decodeEscapes(bytes: readonly number[]): { text: string; ambiguous: boolean } {
  let text = '';
  let ambiguous = false;
  for (let i = 0; i < bytes.length;) {
    const byte = bytes[i] as number;
    if (byte < 0x80) {
      const char = String.fromCharCode(byte);
      if (byte === DOT) {
        ambiguous = true;
        text += char;
      } else if (DECODED_ASCII.test(char)) {
        text += char;
      } else {
        ambiguous = true;
        text += escape(byte);
      }
      i++;
      continue;
    }
    let end = i + 1;
    while (end < bytes.length && (bytes[end] as number) >= 0x80) end++;
    const run = bytes.slice(i, end);
    try {
      text += UTF8.decode(Uint8Array.from(run));
    } catch {
      ambiguous = true; // overlong forms (`%C0%AE` for `.`) and other invalid UTF-8
      text += run.map(escape).join('');
    }
    i = end;
  }
  return { text, ambiguous };
}

function escape(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** RFC 3986 dot-segment removal with repeated slashes merged; notes a `..` above the root. */
function resolveSegments(path: string): { path: string; aboveRoot: boolean } {
  const segments = path.split('/');
  const out: string[] = [];
  let aboveRoot = false;
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === '..') {
      if (out.length === 0) aboveRoot = true;
      out.pop();
      if (last) out.push('');
    } else if (segment === '.' || segment === '') {
      if (last) out.push('');
    } else {
      out.push(segment);
    }
  }
  return { path: `/${out.join('/')}`, aboveRoot };
}
