// RTI verdicts for unit tests, in the core's model (src/core/rti-port.ts).

import type { RtiVerdict } from '../../src/core/rti-port';
import { v1Verdict } from '../../src/rti/rti-wire';

/** A verdict with every field a generation may leave out left out; `fields` override. */
export function rtiVerdict(fields: Partial<RtiVerdict> = {}): RtiVerdict {
  return {
    verdict: 'benign',
    code: 0,
    reasons: [],
    riskScore: undefined,
    ruleName: undefined,
    requestId: undefined,
    rayId: undefined,
    setCookie: undefined,
    ...fields,
  };
}

/** What a v1 answer `{ isInvalid, threatTypeCode }` becomes. */
export function v1(isInvalid: boolean, code: number, fields: Partial<RtiVerdict> = {}): RtiVerdict {
  return rtiVerdict({ verdict: v1Verdict(isInvalid, code), code, ...fields });
}
