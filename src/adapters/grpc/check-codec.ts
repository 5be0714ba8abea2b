// The Check method as our server registers it: proto-loader's definition, except that the
// CheckResponse is encoded straight from our plain objects. proto-loader's serializer first
// copies every answer into protobufjs message instances (fromObject), a third of the encoding
// cost on every check; our answers are built by toCheckResponse, typed field for field after
// the protos, so protobufjs can encode them as they are. Decoding stays proto-loader's.

import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { Root } from 'protobufjs';
import type { CheckResponse } from '../../generated/envoy/service/auth/v3/CheckResponse';
import { EXT_AUTHZ_PROTO_FILE, PROTO_LOADER_OPTIONS, type ExtAuthzPackage } from './load-protos';

const CHECK_RESPONSE_TYPE = 'envoy.service.auth.v3.CheckResponse';

/** The Authorization service definition with a faster CheckResponse serializer. */
export function serverServiceDefinition(pkg: ExtAuthzPackage): grpc.ServiceDefinition {
  const { service } = pkg.proto.envoy.service.auth.v3.Authorization;
  const check = service['Check'];
  if (!check) throw new Error('the Authorization service has no Check method');
  return { ...service, Check: { ...check, responseSerialize: checkResponseEncoder(pkg.protoDir) } };
}

/** Encodes a CheckResponse built by toCheckResponse (snake_case keys, enums as numbers). */
export function checkResponseEncoder(protoDir: string): (response: CheckResponse) => Buffer {
  const root = new Root();
  // google/protobuf/* are not in proto/: protobufjs has them built in under their own names.
  root.resolvePath = (_origin, target) => {
    if (isAbsolute(target)) return target;
    const file = join(protoDir, target);
    return existsSync(file) ? file : target;
  };
  root.loadSync(EXT_AUTHZ_PROTO_FILE, { keepCase: PROTO_LOADER_OPTIONS.keepCase });
  const type = root.lookupType(CHECK_RESPONSE_TYPE);
  return response => type.encode(response).finish() as Buffer;
}
