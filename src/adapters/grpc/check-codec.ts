// The Check method as our server registers it: proto-loader's definition with protobufjs's
// decode alone and our own encoder. proto-loader copies every message once more on the way: each
// request out of message instances into plain objects (toObject, a third of the decoding cost),
// each answer into message instances (fromObject). Requests are read by toAttributes, which takes
// decoded messages as they come; answers, built by toCheckResponse, are written by
// ./check-response-encoder, which allocates one buffer where protobufjs allocates per field.

import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { Root } from 'protobufjs';
import type { CheckRequest } from '../../generated/envoy/service/auth/v3/CheckRequest';
import { encodeCheckResponse } from './check-response-encoder';
import { EXT_AUTHZ_PROTO_FILE, PROTO_LOADER_OPTIONS, type ExtAuthzPackage } from './load-protos';
import type { CheckAnswer } from './to-check-response';

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
  /** Encodes an answer built by toCheckResponse. */
  readonly encode: (answer: CheckAnswer) => Buffer;
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
  return {
    // A decoded message has the input type's shape: unset messages null, int64 a Long.
    decode: bytes => request.decode(bytes) as CheckRequest,
    encode: encodeCheckResponse,
  };
}
