// @ts-check
// The protected share: checks answered from a real RTI verdict over all checks screened, from
// our server's decision counters. The protected reasons come from the server's own core.

import { PROTECTED_REASONS } from '../../dist/core/protected-reasons.js';

/**
 * @typedef {object} Protection
 * @property {number} screened verdicts + unprotected
 * @property {number} verdicts checks answered from an RTI verdict
 * @property {number} unprotected fail-opens of any cause and answers without a decision
 * @property {Record<string, number>} failOpenByCause
 * @property {number} droppedAtEnd streams the client dropped unanswered when its time was up
 * @property {number | undefined} share verdicts ÷ screened; undefined when nothing was screened
 */

/**
 * The protected share of a window from our server's decisions delta (decisionsByReason) and,
 * when the load generator reports them, the checks it sent (`started`) and got answered
 * (`done`): checks answered from an RTI verdict over all checks screened, protected or not.
 * Unprotected: every fail-open, whatever the cause, and the checks the client got an answer to
 * that our server never decided (`undecided`: grpc-js answers DEADLINE_EXCEEDED by itself when
 * a call's grpc-timeout passes before our handler runs; a proxy fails those open). Left out:
 * streams the client dropped unanswered when its time was up (started − done), which the
 * server counts as `cancelled` fail-opens though no proxy would have dropped them.
 * @param {Record<string, number>} [decisions]
 * @param {{ started?: number, done?: number }} [client]
 * @returns {Protection}
 */
export function protection(decisions = {}, { started = NaN, done = NaN } = {}) {
  const verdicts = PROTECTED_REASONS.reduce((sum, reason) => sum + (decisions[reason] ?? 0), 0);
  /** @type {Record<string, number>} */
  const failOpenByCause = {};
  for (const [key, n] of Object.entries(decisions)) {
    if (key.startsWith('fail_open:')) failOpenByCause[key.slice('fail_open:'.length)] = n;
  }
  const droppedAtEnd = Math.min(started - done || 0, failOpenByCause['cancelled'] ?? 0);
  if (droppedAtEnd > 0)
    failOpenByCause['cancelled'] = Number(failOpenByCause['cancelled']) - droppedAtEnd;
  const decided = verdicts + (decisions['fail_open'] ?? 0) - droppedAtEnd;
  const undecided = Math.max(0, done - decided || 0);
  if (undecided > 0) failOpenByCause['undecided'] = undecided;
  for (const [cause, n] of Object.entries(failOpenByCause)) {
    if (n === 0) delete failOpenByCause[cause];
  }
  return withShare({
    verdicts,
    unprotected: decided - verdicts + undecided,
    failOpenByCause,
    droppedAtEnd,
  });
}

/**
 * Several windows' protection pooled: counts summed, the share recomputed.
 * @param {Protection[]} list
 */
export function pooledProtection(list) {
  /** @type {Omit<Protection, 'screened' | 'share'>} */
  const pooled = { verdicts: 0, unprotected: 0, failOpenByCause: {}, droppedAtEnd: 0 };
  for (const p of list) {
    pooled.verdicts += p.verdicts;
    pooled.unprotected += p.unprotected;
    pooled.droppedAtEnd += p.droppedAtEnd;
    for (const [cause, n] of Object.entries(p.failOpenByCause)) {
      pooled.failOpenByCause[cause] = (pooled.failOpenByCause[cause] ?? 0) + n;
    }
  }
  return withShare(pooled);
}

/**
 * @param {Omit<Protection, 'screened' | 'share'>} p
 * @returns {Protection}
 */
function withShare(p) {
  const screened = p.verdicts + p.unprotected;
  return { screened, ...p, share: screened > 0 ? p.verdicts / screened : undefined };
}

/**
 * A share as a percentage with two decimals, rounded down (99.899 % does not show as 99.9).
 * @param {number | undefined} share
 */
export const sharePct = share =>
  share === undefined ? undefined : Math.floor(share * 10000 + 1e-9) / 100;

/**
 * "99.95 % (fail-open: rti_timeout 3, cancelled 1)" from a counted window or summary.
 * @param {{ protection?: Protection }} x
 */
export function protectedNote(x) {
  const p = x.protection;
  if (!p) return '–';
  const causes = Object.entries(p.failOpenByCause).map(([cause, n]) => `${cause} ${n}`);
  return `${sharePct(p.share)} %${causes.length ? ` (fail-open: ${causes.join(', ')})` : ''}`;
}
