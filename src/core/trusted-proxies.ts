// The proxies whose word about the client address is believed (trusted_proxies), and the one
// reading of an address that every hop goes through. Imports only node: builtins.

import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Nobody beyond the proxy that calls us. A private range is no sign of a proxy: an L4 load
 * balancer that SNATs gives NGINX a private peer, and trusting it would believe the
 * X-Forwarded-For the client wrote.
 */
export const DEFAULT_TRUSTED_PROXIES: readonly string[] = [];

/** An IP address as one hop reported it, normalised: no port, brackets or IPv4-mapped prefix. */
export interface HopAddress {
  readonly ip: string;
  readonly family: 'ipv4' | 'ipv6';
}

/** Answers remembered per address; past this many they are forgotten at once (a flood of new ones). */
const MAX_REMEMBERED = 4096;

export class TrustedProxies {
  /**
   * BlockList.check costs microseconds (it builds a SocketAddress per call), and the same
   * addresses recur: the proxies on every request, a visitor on each of theirs.
   */
  private readonly remembered = new Map<string, boolean>();

  private constructor(private readonly ranges: BlockList | undefined) {}

  /** Trusts no address: every peer is the client. */
  static readonly NONE = new TrustedProxies(undefined);

  /**
   * `entries`: addresses or CIDR ranges, IPv4 or IPv6; `none` alone trusts nothing.
   * @throws Error naming the first entry that is neither, or that trusts every address of a
   *   family (a /0; an IPv6 range holding all IPv4-mapped addresses, which matches IPv4 peers)
   */
  static parse(entries: readonly string[]): TrustedProxies {
    if (entries.length === 0 || (entries.length === 1 && entries[0] === 'none')) {
      return TrustedProxies.NONE;
    }
    const ranges = new BlockList();
    for (const entry of entries) addEntry(ranges, entry);
    return new TrustedProxies(ranges);
  }

  includes(address: HopAddress): boolean {
    if (!this.ranges) return false;
    let trusted = this.remembered.get(address.ip);
    if (trusted === undefined) {
      trusted = this.ranges.check(address.ip, address.family);
      if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
      this.remembered.set(address.ip, trusted);
    }
    return trusted;
  }
}

/** One trusted_proxies entry: an address is a range of its family's full length. */
interface Range {
  readonly ip: string;
  readonly family: 'ipv4' | 'ipv6';
  readonly prefix: number;
}

function parseRange(entry: string): Range {
  const slash = entry.indexOf('/');
  const ip = slash < 0 ? entry : entry.slice(0, slash);
  const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) && !ip.includes('%') ? 'ipv6' : undefined;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix =
    slash < 0
      ? max
      : /^\d{1,3}$/.test(entry.slice(slash + 1))
        ? Number(entry.slice(slash + 1))
        : NaN;
  if (family === undefined || !(prefix <= max)) {
    throw new Error(
      `${JSON.stringify(entry)} is not an IP address or CIDR range (e.g. 10.0.0.0/8, fc00::/7)`,
    );
  }
  return { ip, family, prefix };
}

function addEntry(ranges: BlockList, entry: string): void {
  const { ip, family, prefix } = parseRange(entry);
  if (prefix === 0 || ipv4PrefixOf({ ip, family, prefix }) === 0) {
    const every = family === 'ipv6' && prefix === 0 ? 'IPv4 and IPv6' : 'IPv4';
    throw new Error(
      `${JSON.stringify(entry)} trusts every ${every} address: each client could pick its own ` +
        "IP with X-Forwarded-For; list your proxies' addresses or ranges",
    );
  }
  if (prefix === (family === 'ipv4' ? 32 : 128)) ranges.addAddress(ip, family);
  else ranges.addSubnet(ip, prefix, family);
}

function blockListOf(ip: string, prefix: number, family: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList();
  list.addSubnet(ip, prefix, family);
  return list;
}

/** IPv4-mapped IPv6: Node's BlockList matches IPv4 peers against IPv6 ranges holding it. */
const IPV4_MAPPED = blockListOf('::ffff:0:0', 96, 'ipv6');
/** IPv6 global unicast: the public IPv6 Internet. */
const IPV6_GLOBAL = blockListOf('2000::', 3, 'ipv6');

/** The IPv4 prefix length a range reaches IPv4 peers with; undefined if it reaches none. */
function ipv4PrefixOf(range: Range): number | undefined {
  if (range.family === 'ipv4') return range.prefix;
  if (range.prefix <= 96) {
    return blockListOf(range.ip, range.prefix, 'ipv6').check('::ffff:0:0', 'ipv6') ? 0 : undefined;
  }
  return IPV4_MAPPED.check(range.ip, 'ipv6') ? range.prefix - 96 : undefined;
}

/** Below these prefix lengths a trusted range holds public addresses of many networks. */
const BROAD_IPV4_PREFIX = 8;
const BROAD_IPV6_PREFIX = 16;

/**
 * The valid entries that trust a broad range of public addresses (IPv4 shorter than /8, IPv6
 * shorter than /16 reaching global unicast): worth a warning, not a refusal. Private ranges
 * such as fc00::/7 are not listed.
 */
export function broadPublicEntries(entries: readonly string[]): string[] {
  return entries.filter(entry => {
    if (entry === 'none') return false;
    const range = parseRange(entry);
    const ipv4Prefix = ipv4PrefixOf(range);
    if (ipv4Prefix !== undefined) return ipv4Prefix < BROAD_IPV4_PREFIX;
    return (
      range.prefix < BROAD_IPV6_PREFIX &&
      (IPV6_GLOBAL.check(range.ip, 'ipv6') ||
        blockListOf(range.ip, range.prefix, 'ipv6').check('2000::', 'ipv6'))
    );
  });
}

const MAPPED_PREFIX = '::ffff:';

/**
 * One hop's address as proxies write it: `a.b.c.d`, `a.b.c.d:port`, an IPv6 literal, `[v6]` or
 * `[v6]:port`, surrounding spaces allowed. IPv4-mapped IPv6 (`::ffff:a.b.c.d`, Node's form of
 * an IPv4 peer on a dual-stack socket) is read as IPv4. Anything else (`unknown`, a host name,
 * a zone index) is undefined.
 */
export function readHopAddress(text: string): HopAddress | undefined {
  let value = text.trim();
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf(']');
    if (close < 0 || (close + 1 < value.length && value.charCodeAt(close + 1) !== 58)) {
      return undefined;
    }
    value = value.slice(1, close);
  } else {
    const colon = value.indexOf(':');
    // One colon: IPv4 with a port. An IPv6 literal has at least two.
    if (colon > 0 && value.indexOf(':', colon + 1) < 0) value = value.slice(0, colon);
  }
  if (isIPv4(value)) return { ip: value, family: 'ipv4' };
  if (!isIPv6(value) || value.includes('%')) return undefined;
  if (value.length > MAPPED_PREFIX.length && value.slice(0, 7).toLowerCase() === MAPPED_PREFIX) {
    const v4 = value.slice(MAPPED_PREFIX.length);
    if (isIPv4(v4)) return { ip: v4, family: 'ipv4' };
  }
  return { ip: value.toLowerCase(), family: 'ipv6' };
}
