// The RTI API generations this server speaks: where each posts, in which format, and how its
// answer becomes the core's verdict model. The client is the same for all of them.

import type { ApiVersion } from '../core/policy';
import type { RtiInput, RtiVerdict } from '../core/rti-port';
import { parseRtiResponse, toRtiForm, type RtiCredentials } from './rti-wire';
import { parseRtiV4Response, RTI_V4_PATH, toRtiV4Body } from './rti-wire-v4';
import { RTI_V41_PATH, toRtiV41Body } from './rti-wire-v41';

export interface WireFormat {
  /** Appended to the endpoint's own path. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly encode: (input: RtiInput, credentials: RtiCredentials) => string;
  /** @throws RtiError rti_bad_response when the answer holds no verdict */
  readonly parse: (text: string) => RtiVerdict;
}

export const WIRE_FORMATS: Readonly<Record<ApiVersion, WireFormat>> = {
  v1: {
    path: '/v1/realtime-interception',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    encode: toRtiForm,
    parse: parseRtiResponse,
  },
  v4: {
    path: RTI_V4_PATH,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    encode: toRtiV4Body,
    parse: text => parseRtiV4Response(text, '4.0'),
  },
  'v4.1': {
    path: RTI_V41_PATH,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    encode: toRtiV41Body,
    parse: text => parseRtiV4Response(text, '4.1'),
  },
};
