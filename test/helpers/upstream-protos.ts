// Loads the UPSTREAM Envoy ext_authz protos (envoyproxy/data-plane-api as vendored in the dev
// dependency @grpc/grpc-js-xds under deps/) so tests can talk to our server exactly like Envoy's
// own definitions would. Deliberately independent of src/: objects are typed as `unknown`.

import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const UPSTREAM_EXT_AUTHZ_PROTO_FILE = 'envoy/service/auth/v3/external_auth.proto';
export const UPSTREAM_AUTHORIZATION_SERVICE_NAME = 'envoy.service.auth.v3.Authorization';

/** Same options as src/adapters/grpc/load-protos.ts (kept separate on purpose). */
export const UPSTREAM_PROTO_LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: false,
  oneofs: true,
});

export type UpstreamCheckCallback = (error: grpc.ServiceError | null, response?: unknown) => void;

/** Minimal typing of a grpc-js client for envoy.service.auth.v3.Authorization. */
export interface UpstreamAuthorizationClient extends grpc.Client {
  Check(request: unknown, callback: UpstreamCheckCallback): grpc.ClientUnaryCall;
  Check(
    request: unknown,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: UpstreamCheckCallback,
  ): grpc.ClientUnaryCall;
}

/** Directory of the installed @grpc/grpc-js-xds package. */
export function upstreamPackageDir(): string {
  return path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
}

/** Include dirs holding the upstream Envoy, googleapis, xds/udpa and PGV protos. */
export function upstreamIncludeDirs(): string[] {
  const deps = path.join(upstreamPackageDir(), 'deps');
  return ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'].map(dir => path.join(deps, dir));
}

let cachedDefinition: protoLoader.PackageDefinition | undefined;

/** Upstream package definition (loaded once, ~130 types). */
export function loadUpstreamExtAuthzPackageDefinition(): protoLoader.PackageDefinition {
  cachedDefinition ??= protoLoader.loadSync(UPSTREAM_EXT_AUTHZ_PROTO_FILE, {
    ...UPSTREAM_PROTO_LOADER_OPTIONS,
    includeDirs: upstreamIncludeDirs(),
  });
  return cachedDefinition;
}

function isServiceDefinition(
  definition: protoLoader.AnyDefinition | undefined,
): definition is protoLoader.ServiceDefinition {
  return definition !== undefined && !('format' in definition);
}

/** Upstream service definition, usable with grpc.Server#addService. */
export function getUpstreamAuthorizationService(): protoLoader.ServiceDefinition {
  const service = loadUpstreamExtAuthzPackageDefinition()[UPSTREAM_AUTHORIZATION_SERVICE_NAME];
  if (!isServiceDefinition(service)) {
    throw new Error(`${UPSTREAM_AUTHORIZATION_SERVICE_NAME} is not a service in upstream protos`);
  }
  return service;
}

/** The upstream method definition of Check (path, serializers, message types). */
export function getUpstreamCheckMethod(): protoLoader.MethodDefinition<object, object> {
  const method = getUpstreamAuthorizationService()['Check'];
  if (method === undefined) {
    throw new Error('upstream Authorization service has no Check method');
  }
  return method;
}

/** A grpc-js client built from the upstream definition (insecure by default). */
export function createUpstreamAuthorizationClient(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options?: grpc.ClientOptions,
): UpstreamAuthorizationClient {
  const Client = grpc.makeGenericClientConstructor(
    getUpstreamAuthorizationService(),
    'Authorization',
  );
  return new Client(address, credentials, options) as unknown as UpstreamAuthorizationClient;
}

/** Promise wrapper around Check with an optional deadline (ms from now). */
export function upstreamCheck(
  client: UpstreamAuthorizationClient,
  request: unknown,
  deadlineMs = 5000,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    client.Check(request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
      if (error) {
        reject(error);
      } else {
        resolve(response);
      }
    });
  });
}
