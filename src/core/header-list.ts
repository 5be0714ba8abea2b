// An end user's request headers in arrival order, with case-insensitive lookup.
// Transport-independent: every adapter builds one; the core and the RTI form only read it.

/** A header as it arrived: lower-case name and raw value. */
export type HeaderEntry = readonly [name: string, value: string];

export class HeaderList {
  private readonly byName = new Map<string, string[]>();

  /** @param entries lower-cased names (adapters guarantee it), pseudo-headers already removed */
  constructor(readonly entries: readonly HeaderEntry[]) {
    for (const [name, value] of entries) {
      const values = this.byName.get(name);
      if (values) values.push(value);
      else this.byName.set(name, [value]);
    }
  }

  /** Every value of a header, joined as RFC 9110 allows ("; " for cookie, RFC 6265). */
  get(name: string): string | undefined {
    const values = this.byName.get(name);
    if (!values) return undefined;
    if (values.length === 1) return values[0];
    return values.join(name === 'cookie' ? '; ' : ', ');
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Distinct header names in first-seen order. */
  names(): IterableIterator<string> {
    return this.byName.keys();
  }
}

/**
 * Reads cookies from a Cookie header without throwing on odd input, several in one pass over the Cookie header (the first of each name wins), in the
 * order of `cookieNames`; undefined for those not sent.
 */
export function readCookies(
  cookieHeader: string | undefined,
  cookieNames: readonly string[],
): (string | undefined)[] {
  const values: (string | undefined)[] = cookieNames.map(() => undefined);
  if (!cookieHeader) return values;
  for (const pair of cookieHeader.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const index = cookieNames.indexOf(pair.slice(0, eq).trim());
    if (index >= 0 && values[index] === undefined) values[index] = pair.slice(eq + 1).trim();
  }
  return values;
}
