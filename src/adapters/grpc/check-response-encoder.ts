// The bytes of a CheckAnswer (./to-check-response), written straight into one buffer.
// protobufjs's writer allocates an object for every field and every nested message it writes; an
// allow carries some sixty of them (verdict headers, dynamic metadata), and encoding them that way
// cost a tenth of the server's throughput (docs/design-notes.md). Each message is described once,
// by a walk function, and walked twice: a sizing pass records the byte length of every string and
// nested message, a writing pass fills a buffer of exactly the total size. protobufjs stays the
// authority: the tests hold these bytes to its encoding, byte for byte.

import type {
  CheckAnswer,
  DeniedAnswer,
  HeaderOption,
  MetadataValue,
  OkAnswer,
} from './to-check-response';

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;

/** What a walk function sees: the sizing pass or the writing pass. Field numbers are < 16. */
interface Pass {
  varint(field: number, value: number): void;
  double(field: number, value: number): void;
  string(field: number, value: string): void;
  /** A nested message, walked by `walk` over `message` (and `extra`, when it needs two values). */
  message<T, U = undefined>(
    field: number,
    walk: (pass: Pass, message: T, extra: U) => void,
    message: T,
    extra?: U,
  ): void;
}

/** The sizing pass: the total size, and each string's and message's length in walk order. */
class Sizer implements Pass {
  size = 0;
  readonly lengths: number[] = [];

  varint(_field: number, value: number): void {
    this.size += 1 + varintSize(value);
  }

  double(): void {
    this.size += 1 + 8;
  }

  string(_field: number, value: string): void {
    const length = Buffer.byteLength(value);
    this.lengths.push(length);
    this.size += 1 + varintSize(length) + length;
  }

  message<T, U>(
    _field: number,
    walk: (pass: Pass, message: T, extra: U) => void,
    message: T,
    extra: U,
  ): void {
    // The slot is taken before the children's, since the writer needs it before theirs.
    const slot = this.lengths.push(0) - 1;
    const before = this.size;
    walk(this, message, extra);
    const length = this.size - before;
    this.lengths[slot] = length;
    this.size += 1 + varintSize(length);
  }
}

/** Up to this many characters, an ASCII string is copied by hand (see Writer.string). */
const SHORT_STRING = 64;

/** The writing pass, reading the lengths the sizing pass recorded, in the same order. */
class Writer implements Pass {
  private offset = 0;
  private next = 0;

  constructor(
    readonly bytes: Buffer,
    private readonly lengths: readonly number[],
  ) {}

  get written(): number {
    return this.offset;
  }

  varint(field: number, value: number): void {
    this.tag(field, VARINT);
    this.raw(value);
  }

  double(field: number, value: number): void {
    this.tag(field, FIXED64);
    this.offset = this.bytes.writeDoubleLE(value, this.offset);
  }

  string(field: number, value: string): void {
    const length = this.length();
    this.tag(field, LENGTH_DELIMITED);
    this.raw(length);
    if (length === value.length && length <= SHORT_STRING) {
      // One byte per character: ASCII. Copied here, since a call into Buffer's encoder costs
      // more than the copy for the short strings an answer mostly holds.
      const { bytes, offset } = this;
      for (let i = 0; i < length; i++) bytes[offset + i] = value.charCodeAt(i);
      this.offset = offset + length;
    } else if (length === value.length) {
      // A block page: Buffer's native copy of one byte per character beats the loop.
      this.offset += this.bytes.write(value, this.offset, length, 'latin1');
    } else {
      this.offset += this.bytes.write(value, this.offset, length, 'utf8');
    }
  }

  message<T, U>(
    field: number,
    walk: (pass: Pass, message: T, extra: U) => void,
    message: T,
    extra: U,
  ): void {
    this.tag(field, LENGTH_DELIMITED);
    this.raw(this.length());
    walk(this, message, extra);
  }

  private length(): number {
    const length = this.lengths[this.next++];
    if (length === undefined) throw new Error('CheckResponse encoder: the passes disagree');
    return length;
  }

  private tag(field: number, wireType: number): void {
    this.bytes[this.offset++] = (field << 3) | wireType;
  }

  private raw(value: number): void {
    let rest = value;
    while (rest > 0x7f) {
      this.bytes[this.offset++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.bytes[this.offset++] = rest;
  }
}

/** Encodes an answer; the same bytes as protobufjs's encoding of the CheckResponse it stands for. */
export function encodeCheckResponse(answer: CheckAnswer): Buffer {
  const sizer = new Sizer();
  checkResponse(sizer, answer);
  const writer = new Writer(Buffer.allocUnsafe(sizer.size), sizer.lengths);
  checkResponse(writer, answer);
  if (writer.written !== sizer.size) throw new Error('CheckResponse encoder: the passes disagree');
  return writer.bytes;
}

/** Our numbers are small non-negative integers (status codes, enums); one byte per 7 bits. */
function varintSize(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`CheckResponse encoder: ${value} is not an unsigned 32-bit integer`);
  }
  let size = 1;
  for (let rest = value >>> 7; rest > 0; rest >>>= 7) size++;
  return size;
}

// The walk functions, one per message, in the proto's field order (as protobufjs writes them);
// a field present in the answer is written even when it holds the default value, as protobufjs does.

function checkResponse(pass: Pass, answer: CheckAnswer): void {
  pass.message(1, rpcStatus, answer.status);
  if (answer.denied_response) pass.message(2, deniedResponse, answer.denied_response);
  if (answer.ok_response) pass.message(3, okResponse, answer.ok_response);
  if (answer.dynamic_metadata) pass.message(4, struct, answer.dynamic_metadata.fields);
}

function rpcStatus(pass: Pass, status: CheckAnswer['status']): void {
  pass.varint(1, status.code);
  if (status.message !== undefined) pass.string(2, status.message);
}

function deniedResponse(pass: Pass, denied: DeniedAnswer): void {
  pass.message(1, httpStatus, denied.status.code);
  for (const option of denied.headers) pass.message(2, headerValueOption, option);
  pass.string(3, denied.body);
}

function httpStatus(pass: Pass, code: number): void {
  pass.varint(1, code);
}

function okResponse(pass: Pass, ok: OkAnswer): void {
  for (const option of ok.headers) pass.message(2, headerValueOption, option);
  for (const name of ok.headers_to_remove) pass.string(5, name);
  for (const option of ok.response_headers_to_add) pass.message(6, headerValueOption, option);
}

function headerValueOption(pass: Pass, option: HeaderOption): void {
  pass.message(1, headerValue, option.header);
  if (option.append) pass.message(2, boolValue, option.append.value);
  if (option.append_action !== undefined) pass.varint(3, option.append_action);
}

function headerValue(pass: Pass, header: HeaderOption['header']): void {
  pass.string(1, header.key);
  pass.string(2, header.value);
}

function boolValue(pass: Pass, value: boolean): void {
  pass.varint(1, value ? 1 : 0);
}

/** google.protobuf.Struct: its map is a repeated entry message (key 1, value 2). */
function struct(pass: Pass, fields: Readonly<Record<string, MetadataValue>>): void {
  for (const key in fields) pass.message(1, structEntry, key, fields[key]);
}

function structEntry(pass: Pass, key: string, value: MetadataValue | undefined): void {
  pass.string(1, key);
  if (value) pass.message(2, structValue, value);
}

function structValue(pass: Pass, value: MetadataValue): void {
  if (value.numberValue !== undefined) pass.double(2, value.numberValue);
  if (value.stringValue !== undefined) pass.string(3, value.stringValue);
}
