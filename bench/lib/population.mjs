// @ts-check
// The memory phase's visitors: bots and people, told apart by their client IP so that the RTI
// stand-in knows which is which (bots malicious, people benign) without any state. Addresses
// come from 198.18.0.0/15, the range reserved for benchmarks (RFC 2544), which no other phase
// uses: bots 198.18.x.x, people 198.19.x.x. Also the tally of what the server answered each.

/** Client IPs of bots start with this; the RTI stand-in answers them malicious. */
export const BOT_NET = '198.18.';
/** Client IPs of people start with this; the RTI stand-in answers them benign. */
export const PERSON_NET = '198.19.';
/** Bots headless, people a desktop Chrome: what each population's User-Agent looks like. */
const BOT_USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36';
const PERSON_USER_AGENT =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
/** Addresses per population: a /16, 65,536 of them. */
const NET_SIZE = 65_536;

/** @typedef {'bot' | 'person'} Kind */
/** @typedef {{ kind: Kind, clientIp: string, userAgent: string }} Visitor */

/** The n-th address of a /16 that starts with `net`. @param {string} net @param {number} n */
const addressIn = (net, n) => `${net}${(n >> 8) & 255}.${n & 255}`;

/**
 * The population's visitor `index`: the first `bots` are bots, the rest people (each its own
 * address; at most 65,536 of each).
 * @param {number} index
 * @param {number} bots
 * @returns {Visitor}
 */
export function visitorOf(index, bots) {
  if (index < bots) {
    return { kind: 'bot', clientIp: addressIn(BOT_NET, index), userAgent: BOT_USER_AGENT };
  }
  const n = index - bots;
  return { kind: 'person', clientIp: addressIn(PERSON_NET, n), userAgent: PERSON_USER_AGENT };
}

/**
 * The n-th of many unique bots (the fill of the memory): the address wraps around the bots'
 * /16, the User-Agent carries n, so that no two share a key (IP and User-Agent).
 * @param {number} n
 * @returns {Visitor}
 */
export function uniqueBot(n) {
  return {
    kind: 'bot',
    clientIp: addressIn(BOT_NET, n % NET_SIZE),
    userAgent: `${BOT_USER_AGENT} bench-fill/${n}`,
  };
}

/**
 * Which population an RTI call is about, from its body (v1 form `ClientIP=`, v4 JSON
 * `"clientIp":"`); undefined for any other address (the other phases' request).
 * @param {import('node:buffer').Buffer} body
 * @returns {Kind | undefined}
 */
export function kindOfRtiCall(body) {
  if (body.includes(`ClientIP=${BOT_NET}`) || body.includes(`"clientIp":"${BOT_NET}`)) {
    return 'bot';
  }
  if (body.includes(`ClientIP=${PERSON_NET}`) || body.includes(`"clientIp":"${PERSON_NET}`)) {
    return 'person';
  }
  return undefined;
}

/**
 * Repeat visitors in random order: each call picks one of `size` uniformly.
 * @param {number} size
 * @param {() => number} [random] in [0, 1)
 */
export const randomVisitor =
  (size, random = Math.random) =>
  () =>
    Math.min(size - 1, Math.floor(random() * size));

/**
 * @typedef {object} Tally what one population got
 * @property {number} sent
 * @property {number} allowed gRPC OK with status.code 0
 * @property {number} blocked gRPC OK with another status (a denied_response: 403, 404, 302)
 * @property {number} overflow not sent: past the in-flight cap (a proxy fails them open)
 * @property {Record<string, number>} errors gRPC errors by status name (a proxy fails them open)
 */

/** @returns {Tally} */
export const emptyTally = () => ({ sent: 0, allowed: 0, blocked: 0, overflow: 0, errors: {} });

/**
 * The share of a population's requests blocked, %, two decimals rounded down (99.999 % does not
 * show as 100); every request counts, whatever became of it: what the proxy did not block it let
 * in (errors and overflow are failed open). Undefined when none was sent.
 * @param {Tally} t
 */
export const blockedPct = t =>
  t.sent === 0 ? undefined : Math.floor((t.blocked / t.sent) * 10000 + 1e-9) / 100;

/**
 * Tallies summed (rounds, or the two populations).
 * @param {Tally[]} list
 * @returns {Tally}
 */
export function sumTallies(list) {
  const out = emptyTally();
  for (const t of list) {
    out.sent += t.sent;
    out.allowed += t.allowed;
    out.blocked += t.blocked;
    out.overflow += t.overflow;
    for (const [name, n] of Object.entries(t.errors))
      out.errors[name] = (out.errors[name] ?? 0) + n;
  }
  return out;
}
