// Proves that our own minimal protos (proto/) are wire-compatible with the upstream Envoy
// data-plane-api protos vendored in @grpc/grpc-js-xds: identical bytes, lossless decoding in both
// directions, identical field sets (name, number, type, label, type name, oneof) and a real gRPC
// round trip between an upstream-defined peer and an our-defined peer.

import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  AUTHORIZATION_SERVICE_NAME,
  CHECK_METHOD_PATH,
  loadExtAuthzPackage,
} from '../../src/adapters/grpc/load-protos';
import type { ExtAuthzPackage } from '../../src/adapters/grpc/load-protos';
import type {
  AuthorizationClient,
  AuthorizationHandlers,
} from '../../src/generated/envoy/service/auth/v3/Authorization';
import type {
  CheckRequest,
  CheckRequest__Output,
} from '../../src/generated/envoy/service/auth/v3/CheckRequest';
import type {
  CheckResponse,
  CheckResponse__Output,
} from '../../src/generated/envoy/service/auth/v3/CheckResponse';
import {
  createUpstreamAuthorizationClient,
  getUpstreamAuthorizationService,
  getUpstreamCheckMethod,
  loadUpstreamExtAuthzPackageDefinition,
  upstreamCheck,
} from '../helpers/upstream-protos';
import type { UpstreamAuthorizationClient } from '../helpers/upstream-protos';

// ---------------------------------------------------------------------------------------------
// Fixtures. Every object is written in proto-loader OUTPUT form (int64 as strings, bytes as
// Buffers, enums as numbers, oneof discriminators present), so decode(encode(x)) must equal x.

const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36';
const BOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

function richCheckRequest(userAgent: string = BROWSER_UA): CheckRequest {
  return {
    attributes: {
      source: {
        address: {
          socket_address: {
            address: '203.0.113.7',
            port_value: 54321,
            port_specifier: 'port_value',
          },
          address: 'socket_address',
        },
        service: 'frontend-gateway',
        principal: 'spiffe://cluster.local/ns/default/sa/frontend',
        certificate: '-----BEGIN%20CERTIFICATE-----%0AMIIB...%0A-----END%20CERTIFICATE-----%0A',
      },
      destination: {
        address: {
          socket_address: {
            address: '10.0.0.5',
            port_value: 8443,
            port_specifier: 'port_value',
            resolver_name: 'envoy.resolvers.custom',
            ipv4_compat: true,
          },
          address: 'socket_address',
        },
        labels: { app: 'shop', version: 'v1' },
        principal: 'spiffe://cluster.local/ns/default/sa/shop',
      },
      request: {
        time: { seconds: '1767225600', nanos: 123000000 },
        http: {
          id: '12345678901234567890',
          method: 'GET',
          headers: {
            ':authority': 'www.example.com',
            ':method': 'GET',
            ':path': '/checkout?step=2',
            ':scheme': 'https',
            'user-agent': userAgent,
            'x-forwarded-for': '198.51.100.1, 203.0.113.7',
            'x-request-id': '2f1c7a3e-6a53-4c8e-9f0b-1d2e3f4a5b6c',
            cookie: 'a=1; b=2',
          },
          header_map: {
            headers: [
              { key: 'user-agent', raw_value: Buffer.from(userAgent) },
              { key: 'cookie', raw_value: Buffer.from('a=1') },
              { key: 'cookie', raw_value: Buffer.from([0x62, 0x3d, 0xff, 0x00, 0x80]) },
              { key: 'x-legacy', value: 'value-not-raw' },
            ],
          },
          path: '/checkout?step=2',
          host: 'www.example.com',
          scheme: 'https',
          query: 'step=2',
          fragment: 'top',
          size: '9007199254740993', // 2^53 + 1: only survives as a string
          protocol: 'HTTP/2',
          body: '{"cart":[1,2]}',
          raw_body: Buffer.from([0x00, 0x01, 0xfe, 0xff]),
        },
      },
      context_extensions: { virtual_host: 'shop', cheq_site: 'shop-eu' },
      metadata_context: {
        filter_metadata: {
          'envoy.filters.http.jwt_authn': {
            fields: {
              sub: { stringValue: 'user-1', kind: 'stringValue' },
              score: { numberValue: 0.75, kind: 'numberValue' },
              verified: { boolValue: true, kind: 'boolValue' },
              nothing: { nullValue: 0, kind: 'nullValue' },
              nested: {
                structValue: { fields: { iss: { stringValue: 'issuer', kind: 'stringValue' } } },
                kind: 'structValue',
              },
              list: {
                listValue: {
                  values: [
                    { stringValue: 'a', kind: 'stringValue' },
                    { numberValue: 2, kind: 'numberValue' },
                  ],
                },
                kind: 'listValue',
              },
            },
          },
        },
        typed_filter_metadata: {
          'envoy.filters.http.rbac': {
            type_url: 'type.googleapis.com/google.protobuf.StringValue',
            value: Buffer.from([0x0a, 0x02, 0x68, 0x69]),
          },
        },
      },
      tls_session: { sni: 'www.example.com' },
      route_metadata_context: {
        filter_metadata: {
          'cheq.rti': { fields: { mode: { stringValue: 'monitor', kind: 'stringValue' } } },
        },
      },
    },
  };
}

/** The other Address oneof members (pipe, envoy_internal_address). */
const ADDRESS_VARIANTS_REQUEST: CheckRequest = {
  attributes: {
    source: {
      address: { pipe: { path: '/var/run/envoy.sock', mode: 0o660 }, address: 'pipe' },
    },
    destination: {
      address: {
        envoy_internal_address: {
          server_listener_name: 'internal-listener',
          endpoint_id: 'ep-1',
          address_name_specifier: 'server_listener_name',
        },
        address: 'envoy_internal_address',
      },
    },
    request: { http: { method: 'GET' } },
  },
};

/** What an xDS-enabled gRPC server (gRFC A92) sends: header_map only, size -1. The named port
 * and UDP protocol are only there to exercise the other port_specifier member and the enum. */
const A92_REQUEST: CheckRequest = {
  attributes: {
    source: {
      address: {
        socket_address: {
          protocol: 1,
          address: '192.0.2.10',
          named_port: 'grpc',
          port_specifier: 'named_port',
        },
        address: 'socket_address',
      },
    },
    request: {
      http: {
        method: 'POST',
        path: '/pkg.Service/Method',
        size: '-1',
        protocol: 'HTTP/2',
        header_map: {
          headers: [
            { key: ':authority', raw_value: Buffer.from('svc.example:443') },
            { key: 'content-type', raw_value: Buffer.from('application/grpc') },
          ],
        },
      },
    },
  },
};

const ALLOW_RESPONSE: CheckResponse = {
  status: { code: 0 },
  ok_response: {
    headers: [{ header: { key: 'x-cheq-verdict', value: 'human' }, append: { value: false } }],
    headers_to_remove: ['x-cheq-internal'],
    response_headers_to_add: [
      { header: { key: 'set-cookie', value: 'cheq=abc; Path=/; Secure' }, append: { value: true } },
      { header: { key: 'set-cookie', value: 'cheq2=def; Path=/' }, append: { value: true } },
      { header: { key: 'x-cheq-id', value: 'r-1' }, append: { value: false } },
    ],
    query_parameters_to_set: [{ key: 'cheq', value: '1' }],
    query_parameters_to_remove: ['cheq_token'],
    dynamic_metadata: { fields: { legacy: { boolValue: true, kind: 'boolValue' } } },
  },
  http_response: 'ok_response',
  dynamic_metadata: {
    fields: {
      verdict: { stringValue: 'human', kind: 'stringValue' },
      rti_ms: { numberValue: 12.5, kind: 'numberValue' },
    },
  },
};

const DENY_RESPONSE: CheckResponse = {
  status: {
    code: 7,
    message: 'bot',
    details: [
      {
        type_url: 'type.googleapis.com/google.rpc.ErrorInfo',
        value: Buffer.from('0a03626f74', 'hex'),
      },
    ],
  },
  denied_response: {
    status: { code: 403 },
    headers: [
      { header: { key: 'cache-control', value: 'no-store' }, append_action: 2 },
      { header: { key: 'set-cookie', value: 'cheq=blocked; Path=/' } },
    ],
    body: 'Forbidden',
  },
  http_response: 'denied_response',
};

const REDIRECT_LOCATION = 'https://www.example.com/cheq-challenge?return=%2Fcheckout';

const REDIRECT_RESPONSE: CheckResponse = {
  status: { code: 7 },
  denied_response: {
    status: { code: 302 },
    headers: [
      { header: { key: 'location', value: REDIRECT_LOCATION }, append_action: 2 },
      { header: { key: 'set-cookie', value: 'cheq=challenge; Path=/' } },
    ],
  },
  http_response: 'denied_response',
};

// ---------------------------------------------------------------------------------------------
// Descriptor helpers (for the field-set comparison).

interface FieldDescriptor {
  name?: string;
  number?: number;
  label?: string;
  type?: string;
  typeName?: string;
  oneofIndex?: number;
}

interface EnumDescriptor {
  name?: string;
  value?: { name?: string; number?: number }[];
}

interface MessageDescriptor {
  name?: string;
  field?: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
  enumType?: EnumDescriptor[];
  oneofDecl?: { name?: string }[];
  options?: { mapEntry?: boolean };
}

interface FileDescriptor {
  name?: string;
  package?: string;
  messageType?: MessageDescriptor[];
  enumType?: EnumDescriptor[];
}

interface DescriptorIndex {
  messages: Map<string, MessageDescriptor>;
  enums: Map<string, EnumDescriptor>;
}

interface FieldShape {
  number: number | undefined;
  label: string | undefined;
  type: string | undefined;
  typeName: string;
  oneof: string | null;
}

type TypeDefinition =
  protoLoader.MessageTypeDefinition<object, object> | protoLoader.EnumTypeDefinition;

function isTypeDefinition(definition: protoLoader.AnyDefinition): definition is TypeDefinition {
  return 'format' in definition && 'fileDescriptorProtos' in definition;
}

function isMessageDefinition(
  definition: protoLoader.AnyDefinition | undefined,
): definition is protoLoader.MessageTypeDefinition<object, object> {
  return (
    definition !== undefined &&
    isTypeDefinition(definition) &&
    definition.format === 'Protocol Buffer 3 DescriptorProto'
  );
}

function isServiceDefinition(
  definition: protoLoader.AnyDefinition | undefined,
): definition is protoLoader.ServiceDefinition {
  return definition !== undefined && !isTypeDefinition(definition);
}

/**
 * Decodes the FileDescriptorProtos proto-loader attaches to every type. Unlike the `type` object
 * (rendered with defaults:true, so oneofIndex is 0 for every field), these keep field presence.
 */
function indexDescriptors(definition: protoLoader.PackageDefinition): DescriptorIndex {
  const descriptorPackage = protoLoader.loadSync('google/protobuf/descriptor.proto', {
    longs: String,
    enums: String,
    defaults: false,
    oneofs: false,
  });
  const fileType = descriptorPackage['google.protobuf.FileDescriptorProto'];
  if (!isMessageDefinition(fileType)) {
    throw new Error('google.protobuf.FileDescriptorProto not loaded');
  }
  const files = new Map<string, FileDescriptor>();
  for (const entry of Object.values(definition)) {
    if (!isTypeDefinition(entry)) continue;
    for (const bytes of entry.fileDescriptorProtos) {
      const file = fileType.deserialize(bytes) as FileDescriptor;
      files.set(file.name ?? '', file);
    }
  }
  const index: DescriptorIndex = { messages: new Map(), enums: new Map() };
  const visit = (scope: string, messages: MessageDescriptor[], enums: EnumDescriptor[]): void => {
    for (const en of enums) index.enums.set(`${scope}.${en.name ?? ''}`, en);
    for (const message of messages) {
      const fullName = `${scope}.${message.name ?? ''}`;
      index.messages.set(fullName, message);
      visit(fullName, message.nestedType ?? [], message.enumType ?? []);
    }
  };
  for (const file of files.values()) {
    visit(file.package ?? '', file.messageType ?? [], file.enumType ?? []);
  }
  return index;
}

/** protobufjs writes type names relative to the scope; resolve them like protoc does. */
function resolveTypeName(index: DescriptorIndex, scope: string, typeName: string): string {
  if (typeName.startsWith('.')) return typeName.slice(1);
  const parts = scope.split('.');
  for (let i = parts.length; i >= 0; i--) {
    const candidate = [...parts.slice(0, i), typeName].join('.');
    if (index.messages.has(candidate) || index.enums.has(candidate)) return candidate;
  }
  throw new Error(`cannot resolve ${typeName} from ${scope}`);
}

function fieldShape(
  index: DescriptorIndex,
  scope: string,
  message: MessageDescriptor,
  field: FieldDescriptor,
): FieldShape {
  let typeName = '';
  if (field.typeName) {
    typeName = resolveTypeName(index, scope, field.typeName);
    const entry = index.messages.get(typeName);
    if (entry?.options?.mapEntry) {
      const [key, value] = ['key', 'value'].map(name => {
        const entryField = entry.field?.find(f => f.name === name);
        assert.ok(entryField, `${typeName} has no ${name}`);
        const inner = fieldShape(index, typeName, entry, entryField);
        return inner.typeName || inner.type;
      });
      typeName = `map<${key}, ${value}>`;
    }
  }
  const oneof =
    field.oneofIndex === undefined ? null : (message.oneofDecl?.[field.oneofIndex]?.name ?? '?');
  return { number: field.number, label: field.label, type: field.type, typeName, oneof };
}

/** Fields declared by us that the pinned upstream snapshot does not have yet. */
const NEWER_THAN_SNAPSHOT = new Set(['envoy.service.auth.v3.CheckResponse.error_response']);

// ---------------------------------------------------------------------------------------------

function bindInsecure(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error) reject(error);
      else resolve(port);
    });
  });
}

function ourCheck(
  client: AuthorizationClient,
  request: CheckRequest,
): Promise<CheckResponse__Output> {
  return new Promise((resolve, reject) => {
    client.Check(request, { deadline: Date.now() + 5000 }, (error, response) => {
      if (error) reject(error);
      else if (response === undefined) reject(new Error('no response'));
      else resolve(response);
    });
  });
}

/** Reads a nested property of an untyped (upstream-decoded) object. */
function pick(value: unknown, ...keys: string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** The trivial decision both test servers implement. */
function decide(userAgent: unknown): CheckResponse {
  return typeof userAgent === 'string' && userAgent.toLowerCase().includes('bot')
    ? DENY_RESPONSE
    : ALLOW_RESPONSE;
}

describe('conformance: our ext_authz protos vs upstream Envoy protos', () => {
  let ours: ExtAuthzPackage;
  let upstream: protoLoader.PackageDefinition;

  before(() => {
    ours = loadExtAuthzPackage();
    upstream = loadUpstreamExtAuthzPackageDefinition();
  });

  const ourMethod = () => ours.proto.envoy.service.auth.v3.Authorization.service.Check;

  describe('service definition', () => {
    it('uses the exact method path on both sides', () => {
      assert.equal(CHECK_METHOD_PATH, '/envoy.service.auth.v3.Authorization/Check');
      assert.equal(ourMethod().path, '/envoy.service.auth.v3.Authorization/Check');
      assert.equal(getUpstreamCheckMethod().path, '/envoy.service.auth.v3.Authorization/Check');
      const ourService = ours.packageDefinition[AUTHORIZATION_SERVICE_NAME];
      assert.ok(isServiceDefinition(ourService));
      assert.deepEqual(Object.keys(ourService), ['Check']);
      assert.equal(ourService['Check']?.path, '/envoy.service.auth.v3.Authorization/Check');
      for (const method of [ourMethod(), getUpstreamCheckMethod()]) {
        assert.equal(method.requestStream, false);
        assert.equal(method.responseStream, false);
      }
    });
  });

  describe('field sets', () => {
    it('declares every field with the upstream name, number, type, label, type name and oneof', () => {
      const ourIndex = indexDescriptors(ours.packageDefinition);
      const upstreamIndex = indexDescriptors(upstream);
      const compared: string[] = [];
      for (const [fullName, message] of ourIndex.messages) {
        // Well-known types come from protobufjs on both sides; map entries via their map field.
        if (fullName.startsWith('google.protobuf.') || message.options?.mapEntry) continue;
        const upstreamMessage = upstreamIndex.messages.get(fullName);
        assert.ok(upstreamMessage, `${fullName} does not exist upstream`);
        for (const field of message.field ?? []) {
          const name = `${fullName}.${field.name ?? ''}`;
          const upstreamField: FieldDescriptor | undefined = upstreamMessage.field?.find(
            f => f.name === field.name,
          );
          if (upstreamField === undefined) {
            assert.ok(NEWER_THAN_SNAPSHOT.has(name), `${name} does not exist upstream`);
            assert.ok(
              !upstreamMessage.field?.some(f => f.number === field.number),
              `${name}: number ${String(field.number)} is taken upstream`,
            );
            continue;
          }
          assert.deepStrictEqual(
            fieldShape(ourIndex, fullName, message, field),
            fieldShape(upstreamIndex, fullName, upstreamMessage, upstreamField),
            name,
          );
        }
        compared.push(fullName);
      }
      for (const required of [
        'envoy.service.auth.v3.CheckRequest',
        'envoy.service.auth.v3.CheckResponse',
        'envoy.service.auth.v3.OkHttpResponse',
        'envoy.service.auth.v3.DeniedHttpResponse',
        'envoy.service.auth.v3.AttributeContext',
        'envoy.service.auth.v3.AttributeContext.Peer',
        'envoy.service.auth.v3.AttributeContext.Request',
        'envoy.service.auth.v3.AttributeContext.HttpRequest',
        'envoy.service.auth.v3.AttributeContext.TLSSession',
        'envoy.config.core.v3.HeaderValueOption',
        'envoy.config.core.v3.HeaderValue',
        'envoy.config.core.v3.HeaderMap',
        'envoy.config.core.v3.Metadata',
        'envoy.config.core.v3.QueryParameter',
        'envoy.config.core.v3.Address',
        'envoy.config.core.v3.SocketAddress',
        'envoy.config.core.v3.Pipe',
        'envoy.config.core.v3.EnvoyInternalAddress',
        'envoy.type.v3.HttpStatus',
        'google.rpc.Status',
      ]) {
        assert.ok(compared.includes(required), `${required} was not compared`);
      }
    });

    it('declares HttpRequest fields 1-13 and all upstream fields of the messages we mirror fully', () => {
      const ourIndex = indexDescriptors(ours.packageDefinition);
      const upstreamIndex = indexDescriptors(upstream);
      for (const fullName of [
        'envoy.service.auth.v3.AttributeContext',
        'envoy.service.auth.v3.AttributeContext.HttpRequest',
        'envoy.service.auth.v3.CheckResponse',
        'envoy.service.auth.v3.OkHttpResponse',
        'envoy.service.auth.v3.DeniedHttpResponse',
        'envoy.config.core.v3.HeaderValueOption',
        'envoy.config.core.v3.SocketAddress',
        'envoy.config.core.v3.Address',
      ]) {
        const ourNames = ourIndex.messages.get(fullName)?.field?.map(f => f.name) ?? [];
        for (const field of upstreamIndex.messages.get(fullName)?.field ?? []) {
          assert.ok(ourNames.includes(field.name), `${fullName}.${field.name ?? ''} is missing`);
        }
      }
      const httpNumbers = ourIndex.messages
        .get('envoy.service.auth.v3.AttributeContext.HttpRequest')
        ?.field?.map(f => f.number)
        .sort((a, b) => (a ?? 0) - (b ?? 0));
      assert.deepEqual(httpNumbers, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    });

    it('declares every enum with exactly the upstream values', () => {
      const ourIndex = indexDescriptors(ours.packageDefinition);
      const upstreamIndex = indexDescriptors(upstream);
      const compared: string[] = [];
      for (const [fullName, en] of ourIndex.enums) {
        if (fullName.startsWith('google.protobuf.')) continue;
        const values = (e: EnumDescriptor | undefined) =>
          (e?.value ?? []).map(v => `${v.name ?? ''}=${String(v.number)}`);
        assert.deepStrictEqual(values(en), values(upstreamIndex.enums.get(fullName)), fullName);
        compared.push(fullName);
      }
      assert.deepEqual(compared.sort(), [
        'envoy.config.core.v3.HeaderValueOption.HeaderAppendAction',
        'envoy.config.core.v3.SocketAddress.Protocol',
        'envoy.type.v3.StatusCode',
      ]);
      assert.equal(ourIndex.enums.get('envoy.type.v3.StatusCode')?.value?.length, 57);
    });
  });

  describe('CheckRequest wire compatibility', () => {
    const cases: [string, () => CheckRequest][] = [
      ['rich request (every AttributeContext field)', () => richCheckRequest()],
      ['pipe / internal address variants', () => ADDRESS_VARIANTS_REQUEST],
      ['gRFC A92 proxyless request (header_map only, size -1)', () => A92_REQUEST],
      ['empty request', () => ({})],
    ];
    for (const [title, make] of cases) {
      it(`${title}: identical bytes, lossless both ways`, () => {
        const request = make();
        const upstreamBytes = getUpstreamCheckMethod().requestSerialize(request);
        const ourBytes = ourMethod().requestSerialize(request);
        assert.ok(ourBytes.equals(upstreamBytes), 'our encoding differs from upstream');
        // upstream -> ours
        assert.deepStrictEqual(ourMethod().requestDeserialize(upstreamBytes), request);
        // ours -> upstream
        assert.deepStrictEqual(getUpstreamCheckMethod().requestDeserialize(ourBytes), request);
      });
    }

    it('keeps the documented shapes (oneof discriminators, int64 strings, raw bytes)', () => {
      const bytes = getUpstreamCheckMethod().requestSerialize(richCheckRequest());
      const decoded: CheckRequest__Output = ourMethod().requestDeserialize(bytes);
      const source = decoded.attributes?.source?.address;
      assert.equal(source?.address, 'socket_address');
      assert.equal(source?.socket_address?.address, '203.0.113.7');
      assert.equal(source?.socket_address?.port_value, 54321);
      const http = decoded.attributes?.request?.http;
      assert.equal(http?.size, '9007199254740993');
      assert.equal(decoded.attributes?.request?.time?.seconds, '1767225600');
      assert.ok(Buffer.isBuffer(http?.raw_body));
      assert.deepEqual(http?.header_map?.headers?.[2]?.raw_value, Buffer.from('623dff0080', 'hex'));
      const jwt =
        decoded.attributes?.metadata_context?.filter_metadata?.['envoy.filters.http.jwt_authn'];
      assert.equal(jwt?.fields?.['sub']?.stringValue, 'user-1');
    });

    it('silently drops snake_case Struct keys (the camelCase trap) on both sides', () => {
      const request = {
        attributes: {
          metadata_context: {
            filter_metadata: { ns: { fields: { k: { string_value: 'lost' } } } },
          },
        },
      } as unknown as CheckRequest;
      const expected = {
        attributes: { metadata_context: { filter_metadata: { ns: { fields: { k: {} } } } } },
      };
      const upstreamBytes = getUpstreamCheckMethod().requestSerialize(request);
      assert.ok(ourMethod().requestSerialize(request).equals(upstreamBytes));
      assert.deepStrictEqual(ourMethod().requestDeserialize(upstreamBytes), expected);
    });
  });

  describe('CheckResponse wire compatibility', () => {
    const cases: [string, CheckResponse][] = [
      ['allow with ok_response', ALLOW_RESPONSE],
      ['deny with denied_response 403', DENY_RESPONSE],
      ['redirect 302 with location', REDIRECT_RESPONSE],
      ['plain allow status', { status: { code: 0 } }],
    ];
    for (const [title, response] of cases) {
      it(`${title}: identical bytes, lossless both ways`, () => {
        const upstreamBytes = getUpstreamCheckMethod().responseSerialize(response);
        const ourBytes = ourMethod().responseSerialize(response);
        assert.ok(ourBytes.equals(upstreamBytes), 'our encoding differs from upstream');
        assert.deepStrictEqual(ourMethod().responseDeserialize(upstreamBytes), response);
        assert.deepStrictEqual(getUpstreamCheckMethod().responseDeserialize(ourBytes), response);
      });
    }

    it('encodes an empty CheckResponse to 0 bytes on both sides', () => {
      const ourBytes = ourMethod().responseSerialize({});
      const upstreamBytes = getUpstreamCheckMethod().responseSerialize({});
      assert.equal(ourBytes.length, 0);
      assert.equal(upstreamBytes.length, 0);
      assert.deepStrictEqual(ourMethod().responseDeserialize(Buffer.alloc(0)), {});
      assert.deepStrictEqual(getUpstreamCheckMethod().responseDeserialize(Buffer.alloc(0)), {});
    });

    it('keeps the redirect location and status code readable by upstream', () => {
      const decoded = getUpstreamCheckMethod().responseDeserialize(
        ourMethod().responseSerialize(REDIRECT_RESPONSE),
      );
      assert.equal(pick(decoded, 'denied_response', 'status', 'code'), 302);
      const headers = pick(decoded, 'denied_response', 'headers');
      assert.ok(Array.isArray(headers));
      assert.equal(pick(headers[0], 'header', 'key'), 'location');
      assert.equal(pick(headers[0], 'header', 'value'), REDIRECT_LOCATION);
      assert.equal(pick(headers[0], 'append_action'), 2);
      assert.equal(pick(headers[1], 'append'), undefined, 'append must stay unset on deny');
    });

    it('accepts enum names on encode exactly like upstream (Found == 302)', () => {
      const byName: CheckResponse = { denied_response: { status: { code: 'Found' } } };
      const byNumber: CheckResponse = { denied_response: { status: { code: 302 } } };
      const bytes = ourMethod().responseSerialize(byName);
      assert.ok(bytes.equals(ourMethod().responseSerialize(byNumber)));
      assert.ok(bytes.equals(getUpstreamCheckMethod().responseSerialize(byName)));
    });

    it('error_response (Envoy >= 1.37) round-trips on our side and is dropped by the snapshot', () => {
      const response: CheckResponse = {
        status: { code: 14, message: 'rti unavailable' },
        error_response: { status: { code: 503 }, body: 'unavailable' },
        http_response: 'error_response',
      };
      const bytes = ourMethod().responseSerialize(response);
      assert.deepStrictEqual(ourMethod().responseDeserialize(bytes), response);
      assert.deepStrictEqual(getUpstreamCheckMethod().responseDeserialize(bytes), {
        status: { code: 14, message: 'rti unavailable' },
      });
    });
  });

  describe('real gRPC sockets', () => {
    const servers: grpc.Server[] = [];
    const clients: grpc.Client[] = [];

    after(() => {
      for (const client of clients) client.close();
      for (const server of servers) server.forceShutdown();
    });

    describe('upstream-defined client -> our-defined server', () => {
      let client: UpstreamAuthorizationClient;
      const received: CheckRequest__Output[] = [];

      before(async () => {
        const server = new grpc.Server();
        servers.push(server);
        const handlers: AuthorizationHandlers = {
          Check: (call, callback) => {
            received.push(call.request);
            callback(null, decide(call.request.attributes?.request?.http?.headers?.['user-agent']));
          },
        };
        server.addService(ours.proto.envoy.service.auth.v3.Authorization.service, handlers);
        const port = await bindInsecure(server);
        client = createUpstreamAuthorizationClient(`127.0.0.1:${port}`);
        clients.push(client);
      });

      it('allows a browser and delivers the rich request unchanged', async () => {
        const response = await upstreamCheck(client, richCheckRequest());
        assert.deepStrictEqual(response, ALLOW_RESPONSE);
        assert.deepStrictEqual(received.at(-1), richCheckRequest());
      });

      it('denies a bot with 403', async () => {
        const response = await upstreamCheck(client, richCheckRequest(BOT_UA));
        assert.deepStrictEqual(response, DENY_RESPONSE);
        assert.equal(pick(response, 'denied_response', 'status', 'code'), 403);
      });
    });

    describe('our-defined client -> upstream-defined server', () => {
      let client: AuthorizationClient;
      const received: unknown[] = [];

      before(async () => {
        const server = new grpc.Server();
        servers.push(server);
        const check: grpc.handleUnaryCall<unknown, unknown> = (call, callback) => {
          received.push(call.request);
          const headers = pick(call.request, 'attributes', 'request', 'http', 'headers');
          callback(null, decide(pick(headers, 'user-agent')));
        };
        server.addService(getUpstreamAuthorizationService(), { Check: check });
        const port = await bindInsecure(server);
        client = new ours.proto.envoy.service.auth.v3.Authorization(
          `127.0.0.1:${port}`,
          grpc.credentials.createInsecure(),
        );
        clients.push(client);
      });

      it('allows a browser and delivers the rich request unchanged', async () => {
        const response = await ourCheck(client, richCheckRequest());
        assert.deepStrictEqual(response, ALLOW_RESPONSE);
        assert.equal(response.http_response, 'ok_response');
        assert.deepStrictEqual(received.at(-1), richCheckRequest());
      });

      it('denies a bot with 403', async () => {
        const response = await ourCheck(client, richCheckRequest(BOT_UA));
        assert.deepStrictEqual(response, DENY_RESPONSE);
        assert.equal(response.denied_response?.status?.code, 403);
        assert.equal(response.status?.code, 7);
      });
    });
  });
});
