// Validates an Envoy configuration (as parsed from YAML/JSON) STRICTLY against the upstream
// Envoy protos vendored in @grpc/grpc-js-xds (envoyproxy/data-plane-api, ≈ Envoy 1.31), the way
// Envoy's own proto JSON parser reads it, so a config that passes here is one Envoy can load:
//
// * every key is a field of its message, by proto name or JSON (lowerCamel) name, never both;
// * values have the field's type: messages, repeated, maps, enums by name (or number), 32/64-bit
//   integers with their ranges, google.protobuf.Duration as "0.25s", wrappers (BoolValue,
//   UInt32Value...) as plain scalars, Struct/Value/ListValue as JSON;
// * a oneof has at most one member set;
// * google.protobuf.Any is resolved through "@type" (`type.googleapis.com/<full name>`); its
//   proto package is loaded on demand from the vendored protos, and an unknown type is an error;
// * the protoc-gen-validate rules Envoy enforces at load time that matter for hand-written
//   configs: required messages and oneofs, string min_len, repeated min_items, numeric bounds;
// * deprecated fields are reported (Envoy only warns, but new configs should not use them).
//
// Errors come back as "path: message" strings, e.g.
// `static_resources.clusters[1].connect_timeout: Duration must be a string like "0.25s"`.

import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { upstreamIncludeDirs } from './upstream-protos';

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';
const BOOTSTRAP_PROTO = 'envoy/config/bootstrap/v3/bootstrap.proto';

type Json = unknown;
type ScalarCheck = (value: Json) => string | undefined;

/** protoc's JSON name of a field: lowerCamelCase of the proto name. */
export function jsonName(protoName: string): string {
  let out = '';
  let upper = false;
  for (const ch of protoName) {
    if (ch === '_') upper = true;
    else {
      out += upper ? ch.toUpperCase() : ch;
      upper = false;
    }
  }
  return out;
}

function isPlainObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const UINT32 = { min: 0, max: 2 ** 32 - 1 };

function integerCheck(range: { min: number; max: number }, name: string): ScalarCheck {
  return value => {
    const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n))
      return `expected ${name}, got ${describe(value)}`;
    if (n < range.min || n > range.max) return `${name} out of range: ${n}`;
    return undefined;
  };
}

function int64Check(unsigned: boolean): ScalarCheck {
  const name = unsigned ? 'uint64' : 'int64';
  return value => {
    const ok =
      (typeof value === 'number' && Number.isInteger(value)) ||
      (typeof value === 'string' && /^-?\d+$/.test(value));
    if (!ok) return `expected ${name}, got ${describe(value)}`;
    if (unsigned && String(value).startsWith('-')) return `${name} must not be negative`;
    return undefined;
  };
}

const SCALARS: Readonly<Record<string, ScalarCheck>> = {
  string: v => (typeof v === 'string' ? undefined : `expected string, got ${describe(v)}`),
  bytes: v =>
    typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v)
      ? undefined
      : `expected base64 bytes, got ${describe(v)}`,
  bool: v => (typeof v === 'boolean' ? undefined : `expected bool, got ${describe(v)}`),
  double: v =>
    typeof v === 'number' || v === 'NaN' || v === 'Infinity' || v === '-Infinity'
      ? undefined
      : `expected number, got ${describe(v)}`,
  int32: integerCheck(INT32, 'int32'),
  sint32: integerCheck(INT32, 'int32'),
  sfixed32: integerCheck(INT32, 'int32'),
  uint32: integerCheck(UINT32, 'uint32'),
  fixed32: integerCheck(UINT32, 'uint32'),
  int64: int64Check(false),
  sint64: int64Check(false),
  sfixed64: int64Check(false),
  uint64: int64Check(true),
  fixed64: int64Check(true),
};
const FLOAT_CHECK = SCALARS['double'];

const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;
const WRAPPERS: Readonly<Record<string, string>> = {
  '.google.protobuf.DoubleValue': 'double',
  '.google.protobuf.FloatValue': 'double',
  '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.UInt64Value': 'uint64',
  '.google.protobuf.Int32Value': 'int32',
  '.google.protobuf.UInt32Value': 'uint32',
  '.google.protobuf.BoolValue': 'bool',
  '.google.protobuf.StringValue': 'string',
  '.google.protobuf.BytesValue': 'bytes',
};
const NUMERIC_BOUNDS = ['lt', 'lte', 'gt', 'gte'] as const;

function durationSeconds(value: string): number {
  return Number(value.slice(0, -1));
}

/** Well-known types whose JSON form is not an object of their fields. */
function isSpecialJsonType(fullName: string): boolean {
  return (
    fullName in WRAPPERS ||
    [
      '.google.protobuf.Duration',
      '.google.protobuf.Timestamp',
      '.google.protobuf.FieldMask',
      '.google.protobuf.Struct',
      '.google.protobuf.Value',
      '.google.protobuf.ListValue',
    ].includes(fullName)
  );
}

let commonProtosAdded = false;

/** google/protobuf/descriptor.proto (imported by validate.proto) is not bundled by default. */
function addCommonProtos(): void {
  if (commonProtosAdded) return;
  for (const name of ['descriptor', 'api', 'source_context', 'type']) {
    const file = require.resolve(`protobufjs/google/protobuf/${name}.json`);
    const json = JSON.parse(readFileSync(file, 'utf8')) as {
      nested: { google: { nested: { protobuf: { nested: Record<string, unknown> } } } };
    };
    protobuf.common(name, json.nested.google.nested.protobuf.nested);
  }
  commonProtosAdded = true;
}

export class EnvoyConfigValidator {
  private readonly root = new protobuf.Root();
  private readonly loadedDirs = new Set<string>();

  constructor(private readonly includeDirs: readonly string[] = upstreamIncludeDirs()) {
    addCommonProtos();
    this.root.resolvePath = (_origin, target) => {
      if (path.isAbsolute(target)) return target;
      for (const dir of this.includeDirs) {
        const full = path.join(dir, target);
        try {
          accessSync(full, constants.R_OK);
          return full;
        } catch {
          // try the next include dir
        }
      }
      return target; // google/protobuf/*.proto: bundled with protobufjs
    };
    this.load([BOOTSTRAP_PROTO]);
  }

  /** Errors of a whole bootstrap (the top-level object of `envoy -c`). */
  validateBootstrap(config: Json): string[] {
    return this.validate(BOOTSTRAP_TYPE, config);
  }

  /** Errors of `value` read as message `typeName` (full name without the leading dot). */
  validate(typeName: string, value: Json, rootPath = ''): string[] {
    const type = this.findType(typeName);
    if (!type) return [`${rootPath || '(root)'}: unknown message type ${typeName}`];
    const errors: string[] = [];
    this.checkMessage(type, value, rootPath, errors);
    return errors;
  }

  /** The message type a `@type` URL names, loading its proto package when needed. */
  resolveTypeUrl(typeUrl: string): protobuf.Type | undefined {
    const slash = typeUrl.lastIndexOf('/');
    if (slash < 0) return undefined;
    return this.findType(typeUrl.slice(slash + 1));
  }

  private load(files: string[]): void {
    this.root.loadSync(files, { keepCase: true });
    this.root.resolveAll();
  }

  private findType(fullName: string): protobuf.Type | undefined {
    const lookup = (): protobuf.Type | undefined => {
      const found = this.root.lookup(fullName);
      return found instanceof protobuf.Type ? found : undefined;
    };
    const found = lookup();
    if (found || !/^[A-Za-z_][\w.]*$/.test(fullName)) return found;
    this.loadPackageOf(fullName);
    return lookup();
  }

  /** Loads every .proto of the directory of the longest package prefix of `fullName`. */
  private loadPackageOf(fullName: string): void {
    const parts = fullName.split('.');
    for (let n = parts.length - 1; n > 0; n--) {
      const rel = parts.slice(0, n).join('/');
      for (const dir of this.includeDirs) {
        const abs = path.join(dir, rel);
        let isDir = false;
        try {
          isDir = statSync(abs).isDirectory();
        } catch {
          continue;
        }
        if (!isDir) continue;
        if (this.loadedDirs.has(abs)) return;
        this.loadedDirs.add(abs);
        const files = readdirSync(abs)
          .filter(f => f.endsWith('.proto'))
          .map(f => `${rel}/${f}`);
        if (files.length > 0) this.load(files);
        return;
      }
    }
  }

  private checkMessage(type: protobuf.Type, value: Json, at: string, errors: string[]): void {
    const err = (message: string): void => {
      errors.push(`${at || '(root)'}: ${message}`);
    };
    const fullName = type.fullName;
    if (fullName === '.google.protobuf.Any') return this.checkAny(value, at, errors);
    if (fullName === '.google.protobuf.Duration') {
      if (typeof value !== 'string' || !DURATION.test(value))
        err(`Duration must be a string like "0.25s", got ${describe(value)}`);
      return;
    }
    if (fullName === '.google.protobuf.Timestamp') {
      if (typeof value !== 'string' || !TIMESTAMP.test(value))
        err(`Timestamp must be an RFC 3339 string, got ${describe(value)}`);
      return;
    }
    if (fullName === '.google.protobuf.FieldMask') {
      if (typeof value !== 'string') err(`FieldMask must be a string, got ${describe(value)}`);
      return;
    }
    if (fullName === '.google.protobuf.Struct') {
      if (!isPlainObject(value)) err(`Struct must be an object, got ${describe(value)}`);
      return;
    }
    if (fullName === '.google.protobuf.ListValue') {
      if (!Array.isArray(value)) err(`ListValue must be a list, got ${describe(value)}`);
      return;
    }
    if (fullName === '.google.protobuf.Value') return; // any JSON value
    const wrapped = WRAPPERS[fullName];
    if (wrapped !== undefined) {
      const problem = (SCALARS[wrapped] ?? FLOAT_CHECK)?.(value);
      if (problem) err(`${type.name}: ${problem}`);
      return;
    }

    if (!isPlainObject(value)) {
      err(`expected an object (${fullName.slice(1)}), got ${describe(value)}`);
      return;
    }
    const byKey = new Map<string, protobuf.Field>();
    for (const field of type.fieldsArray) {
      byKey.set(field.name, field);
      const json = (field.options?.['json_name'] as string | undefined) ?? jsonName(field.name);
      byKey.set(json, field);
    }
    const seen = new Map<protobuf.Field, string>();
    const oneofMembers = new Map<string, string>();
    for (const [key, fieldValue] of Object.entries(value)) {
      const keyPath = at ? `${at}.${key}` : key;
      const field = byKey.get(key);
      if (!field) {
        errors.push(`${keyPath}: unknown field "${key}" in ${fullName.slice(1)}`);
        continue;
      }
      const previous = seen.get(field);
      if (previous !== undefined) {
        errors.push(`${keyPath}: field set twice (as "${previous}" and "${key}")`);
        continue;
      }
      seen.set(field, key);
      if (field.options?.['deprecated'] === true)
        errors.push(`${keyPath}: deprecated field ${fullName.slice(1)}.${field.name}`);
      if (field.partOf) {
        const other = oneofMembers.get(field.partOf.name);
        if (other !== undefined)
          errors.push(
            `${keyPath}: oneof "${field.partOf.name}" has two members set: "${other}" and "${key}"`,
          );
        else oneofMembers.set(field.partOf.name, key);
      }
      this.checkField(field, fieldValue, keyPath, errors);
    }
    // protoc-gen-validate rules on absent fields and oneofs.
    for (const field of type.fieldsArray) {
      // A oneof member's rules apply only when it is the member that is set.
      if (seen.has(field) || field.partOf) continue;
      const rules = field.options ?? {};
      const required =
        rules['(validate.rules).message.required'] === true ||
        rules['(validate.rules).duration.required'] === true ||
        rules['(validate.rules).any.required'] === true ||
        rules['(validate.rules).timestamp.required'] === true;
      const minLen = Number(rules['(validate.rules).string.min_len'] ?? 0);
      const minItems = Number(rules['(validate.rules).repeated.min_items'] ?? 0);
      const minPairs = Number(rules['(validate.rules).map.min_pairs'] ?? 0);
      if (required || minLen > 0 || minItems > 0 || minPairs > 0)
        err(`missing required field "${field.name}" in ${fullName.slice(1)}`);
    }
    for (const oneof of type.oneofsArray) {
      if (oneof.options?.['(validate.required)'] === true && !oneofMembers.has(oneof.name))
        err(`one of ${oneof.oneof.map(n => `"${n}"`).join(', ')} is required`);
    }
  }

  private checkAny(value: Json, at: string, errors: string[]): void {
    const where = at || '(root)';
    if (!isPlainObject(value)) {
      errors.push(`${where}: Any must be an object with "@type", got ${describe(value)}`);
      return;
    }
    const typeUrl = value['@type'];
    if (typeof typeUrl !== 'string') {
      errors.push(`${where}: Any without "@type"`);
      return;
    }
    const type = this.resolveTypeUrl(typeUrl);
    if (!type) {
      errors.push(`${where}: unknown @type ${typeUrl}`);
      return;
    }
    const rest: Record<string, Json> = { ...value };
    delete rest['@type'];
    if (isSpecialJsonType(type.fullName)) {
      const extra = Object.keys(rest).filter(k => k !== 'value');
      if (extra.length > 0) errors.push(`${where}: unknown field(s) ${extra.join(', ')} in Any`);
      this.checkMessage(type, rest['value'], `${at}.value`, errors);
      return;
    }
    this.checkMessage(type, rest, at, errors);
  }

  private checkField(field: protobuf.Field, value: Json, at: string, errors: string[]): void {
    if (value === null) {
      errors.push(`${at}: null (write {} for an empty message, or leave the field out)`);
      return;
    }
    if (field instanceof protobuf.MapField) {
      if (!isPlainObject(value)) {
        errors.push(`${at}: expected a map (object), got ${describe(value)}`);
        return;
      }
      const keyCheck =
        field.keyType === 'string' || field.keyType === 'bool' ? undefined : SCALARS[field.keyType];
      for (const [k, v] of Object.entries(value)) {
        const keyProblem = keyCheck?.(k);
        if (keyProblem) errors.push(`${at}: map key "${k}": ${keyProblem}`);
        this.checkSingle(field, v, `${at}.${k}`, errors);
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        errors.push(`${at}: expected a list, got ${describe(value)}`);
        return;
      }
      const minItems = Number(field.options?.['(validate.rules).repeated.min_items'] ?? 0);
      if (value.length < minItems) errors.push(`${at}: needs at least ${minItems} item(s)`);
      value.forEach((item: Json, i) => this.checkSingle(field, item, `${at}[${i}]`, errors));
      return;
    }
    this.checkSingle(field, value, at, errors);
  }

  private checkSingle(field: protobuf.FieldBase, value: Json, at: string, errors: string[]): void {
    if (value === null) {
      errors.push(`${at}: null`);
      return;
    }
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      this.checkMessage(resolved, value, at, errors);
      return;
    }
    if (resolved instanceof protobuf.Enum) {
      const ok =
        (typeof value === 'string' && value in resolved.values) ||
        (typeof value === 'number' && value in resolved.valuesById);
      if (!ok)
        errors.push(
          `${at}: ${describe(value)} is not a value of enum ${resolved.fullName.slice(1)} (${Object.keys(resolved.values).join(', ')})`,
        );
      return;
    }
    const check = field.type === 'float' ? FLOAT_CHECK : SCALARS[field.type];
    if (!check) {
      errors.push(`${at}: unsupported field type ${field.type}`);
      return;
    }
    const problem = check(value);
    if (problem) {
      errors.push(`${at}: ${problem}`);
      return;
    }
    this.checkRules(field, value, at, errors);
  }

  /** protoc-gen-validate string and numeric rules of a set scalar. */
  private checkRules(field: protobuf.FieldBase, value: Json, at: string, errors: string[]): void {
    const rules = field.options;
    if (!rules) return;
    if (typeof value === 'string' && field.type === 'string') {
      const minLen = Number(rules['(validate.rules).string.min_len'] ?? 0);
      if (value.length < minLen) errors.push(`${at}: must be at least ${minLen} character(s)`);
    }
    const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
    if (Number.isNaN(n)) return;
    for (const bound of NUMERIC_BOUNDS) {
      const limit = rules[`(validate.rules).${field.type}.${bound}`] as number | undefined;
      if (limit === undefined) continue;
      const ok =
        bound === 'lt'
          ? n < limit
          : bound === 'lte'
            ? n <= limit
            : bound === 'gt'
              ? n > limit
              : n >= limit;
      if (!ok) errors.push(`${at}: ${n} violates ${bound} ${limit}`);
    }
  }
}

let shared: EnvoyConfigValidator | undefined;

/** One validator per process: loading the bootstrap protos takes ~0.2 s. */
export function envoyConfigValidator(): EnvoyConfigValidator {
  shared ??= new EnvoyConfigValidator();
  return shared;
}

/** Duration string ("0.25s") in seconds; NaN when malformed. */
export function parseDuration(value: unknown): number {
  return typeof value === 'string' && DURATION.test(value) ? durationSeconds(value) : NaN;
}
