// An end user's request headers in arrival order, with case-insensitive lookup.
// Transport-independent: every adapter builds one; the core and the RTI form only read it.

/** A header as it arrived: lower-case name and raw value. */
export type HeaderEntry = readonly [name: string, value: string];

export class HeaderList {
  /** Each name's value, repeated ones joined once here (they are rare; lookups are many). */
  private readonly byName = new Map<string, string>();

  /** @param entries lower-cased names (adapters guarantee it), pseudo-headers already removed */
  constructor(readonly entries: readonly HeaderEntry[]) {
    for (const [name, value] of entries) {
      const previous = this.byName.get(name);
      this.byName.set(name, previous === undefined ? value : joinValues(name, previous, value));
    }
  }

  /** Every value of a header, joined as RFC 9110 allows ("; " for cookie, RFC 6265). */
  get(name: string): string | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Distinct header names in first-seen order. */
  names(): IterableIterator<string> {
    return this.byName.keys();
  }
}

function joinValues(name: string, first: string, next: string): string {
  return `${first}${name === 'cookie' ? '; ' : ', '}${next}`;
}

/**
 * Reads cookies from a Cookie header without throwing on odd input, several in one pass (the
 * first of each name wins), in the order of `cookieNames`; undefined for those not sent. Names
 * are compared in place: only the values wanted are copied out.
 */
export function readCookies(
  header: string | undefined,
  cookieNames: readonly string[],
): (string | undefined)[] {
  const values: (string | undefined)[] = cookieNames.map(() => undefined);
  if (!header) return values;
  for (let start = 0; start < header.length;) {
    const semicolon = header.indexOf(';', start);
    const end = semicolon < 0 ? header.length : semicolon;
    const eq = header.indexOf('=', start);
    if (eq >= 0 && eq < end) {
      let nameStart = start;
      let nameEnd = eq;
      while (nameStart < nameEnd && isSpace(header.charCodeAt(nameStart))) nameStart++;
      while (nameEnd > nameStart && isSpace(header.charCodeAt(nameEnd - 1))) nameEnd--;
      for (let i = 0; i < cookieNames.length; i++) {
        const name = cookieNames[i] as string;
        if (
          values[i] === undefined &&
          name.length === nameEnd - nameStart &&
          header.startsWith(name, nameStart)
        ) {
          values[i] = header.slice(eq + 1, end).trim();
        }
      }
    }
    start = end + 1;
  }
  return values;
}

/** What String.prototype.trim removes, in the ASCII range cookie headers use. */
function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}
