// The Check method as our server registers it: proto-loader's definition with protobufjs's
// encode and decode alone. proto-loader copies every message once more on the way: each answer
// into message instances (fromObject, a third of the encoding cost), each request out of them
// into plain objects (toObject, a third of the decoding cost). Our answers are built by
// toCheckResponse, typed field for field after the protos, so they encode as they are; requests
// are read by toAttributes, which takes decoded messages as they come.

import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { Root } from 'protobufjs';
import type { CheckRequest } from '../../generated/envoy/service/auth/v3/CheckRequest';
import type { CheckResponse } from '../../generated/envoy/service/auth/v3/CheckResponse';
import { EXT_AUTHZ_PROTO_FILE, PROTO_LOADER_OPTIONS, type ExtAuthzPackage } from './load-protos';

/** The Authorization service definition with protobufjs's encode and decode for Check. */
export function serverServiceDefinition(pkg: ExtAuthzPackage): grpc.ServiceDefinition {
  const { service } = pkg.proto.envoy.service.auth.v3.Authorization;
  const check = service['Check'];
  if (!check) throw new Error('the Authorization service has no Check method');
  const codec = checkCodec(pkg.protoDir);
  return {
    ...service,
    Check: { ...check, requestDeserialize: codec.decode, responseSerialize: codec.encode },
  };
}

export interface CheckCodec {
  /** Decodes a CheckRequest; throws on bytes that are not one (grpc-js answers INTERNAL). */
  readonly decode: (bytes: Buffer) => CheckRequest;
  /** Encodes a CheckResponse built by toCheckResponse (snake_case keys, enums as numbers). */
  readonly encode: (response: CheckResponse) => Buffer;
}

export function checkCodec(protoDir: string): CheckCodec {
  const root = new Root();
  // google/protobuf/* are not in proto/: protobufjs has them built in under their own names.
  root.resolvePath = (_origin, target) => {
    if (isAbsolute(target)) return target;
    const file = join(protoDir, target);
    return existsSync(file) ? file : target;
  };
  root.loadSync(EXT_AUTHZ_PROTO_FILE, { keepCase: PROTO_LOADER_OPTIONS.keepCase });
  const request = root.lookupType('envoy.service.auth.v3.CheckRequest');
  const response = root.lookupType('envoy.service.auth.v3.CheckResponse');
  return {
    // A decoded message has the input type's shape: unset messages null, int64 a Long.
    decode: bytes => request.decode(bytes) as CheckRequest,
    encode: answer => response.encode(answer).finish() as Buffer,
  };
}
