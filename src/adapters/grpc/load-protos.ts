// Loads our own minimal Envoy ext_authz protos (proto/ at the package root) with @grpc/proto-loader.
// The options below are the contract for every object proto-loader's serializers hand over:
// snake_case keys, int64 as decimal strings, enums as numbers, no default values, and a virtual
// property per oneof naming the member that is set. The generated types in src/generated assume
// exactly these options (see the gen:proto script). The server's Check method skips them and
// uses protobufjs directly (./check-codec).

import { statSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../../generated/external_auth';

/** proto-loader options shared by our server, our tests and the upstream conformance loader. */
export const PROTO_LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: false,
  oneofs: true,
});

/** Root file, relative to the proto directory. */
export const EXT_AUTHZ_PROTO_FILE = 'envoy/service/auth/v3/external_auth.proto';

/** Fully qualified service name, the key of the service in the PackageDefinition. */
export const AUTHORIZATION_SERVICE_NAME = 'envoy.service.auth.v3.Authorization';

/** HTTP/2 path of the only RPC Envoy calls. */
export const CHECK_METHOD_PATH = '/envoy.service.auth.v3.Authorization/Check';

export interface ExtAuthzPackage {
  /** Typed view of grpc.loadPackageDefinition(packageDefinition). */
  readonly proto: ProtoGrpcType;
  /** Raw proto-loader definition (serializers, descriptors). */
  readonly packageDefinition: protoLoader.PackageDefinition;
  /** Absolute path of the proto directory that was loaded. */
  readonly protoDir: string;
}

function isDirectory(candidate: string): boolean {
  try {
    return statSync(candidate).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Finds the package's proto/ directory by walking up from `startDir` until a directory containing
 * proto/envoy exists. Works from src/ (ts-node), dist/ (build) and build/src/ (tests), and from an
 * installed package (node_modules/cheq-rti-authz/dist -> node_modules/cheq-rti-authz/proto).
 */
export function findProtoDir(startDir: string = __dirname): string {
  let dir = path.resolve(startDir);
  for (;;) {
    const candidate = path.join(dir, 'proto');
    if (isDirectory(path.join(candidate, 'envoy'))) {
      return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find a proto/envoy directory above ${startDir}`);
    }
    dir = parent;
  }
}

/** Loads our ext_authz protos synchronously (call once at startup). */
export function loadExtAuthzPackage(protoDir: string = findProtoDir()): ExtAuthzPackage {
  const packageDefinition = protoLoader.loadSync(EXT_AUTHZ_PROTO_FILE, {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: [protoDir],
  });
  const proto = grpc.loadPackageDefinition(packageDefinition) as unknown as ProtoGrpcType;
  return { proto, packageDefinition, protoDir };
}
