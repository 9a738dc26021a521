/**
 * Bencoding (BEP 3): the encoding of `.torrent` files and of HTTP tracker replies.
 *
 * The decoder is written for hostile input: it never allocates in proportion to a length it has
 * not yet seen in the input, it walks nested lists and dicts with an explicit stack bounded by
 * {@linkcode DecodeLimits.maxDepth} (so deep nesting cannot overflow the call stack), and every
 * error is a {@linkcode BencodeError} carrying the byte offset where decoding stopped.
 *
 * Decoded values:
 * - integers → `number` (only safe integers; larger ones are refused rather than rounded);
 * - byte strings → `Uint8Array` views into the input (no copy);
 * - lists → arrays;
 * - dicts → `Map<string, BValue>` whose keys are *binary strings* (one character per byte, see
 *   `binary.ts`), in the order they appear in the input.
 *
 * @module
 */

import { bytesToBinary } from "./binary.ts";

/** A decoded bencoded value. */
export type BValue = number | Uint8Array | BValue[] | Map<string, BValue>;

/**
 * What {@linkcode encode} accepts: everything {@linkcode decode} returns, plus JS strings (written
 * as UTF-8) and plain objects (as dicts).
 */
export type BEncodable =
  | number
  | string
  | Uint8Array
  | readonly BEncodable[]
  | ReadonlyMap<string, BEncodable>
  | { readonly [key: string]: BEncodable | undefined };

/** Bounds applied while decoding. */
export interface DecodeLimits {
  /** Deepest nesting of lists and dicts accepted (a top-level list is depth 1). Default 64. */
  maxDepth?: number;
}

/** `[start, end)` byte offsets of a value inside the input it was decoded from. */
export type Span = readonly [start: number, end: number];

/** A bencoded value that could not be decoded (or a value that cannot be encoded). */
export class BencodeError extends Error {
  /** Byte offset in the input where the problem was found (in the output, for encoding). */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = "BencodeError";
    this.offset = offset;
  }
}

/** The default of {@linkcode DecodeLimits.maxDepth}. */
export const DEFAULT_MAX_DEPTH = 64;

const CH_I = 0x69; // i
const CH_L = 0x6c; // l
const CH_D = 0x64; // d
const CH_E = 0x65; // e
const CH_COLON = 0x3a;
const CH_MINUS = 0x2d;
const CH_0 = 0x30;
const CH_9 = 0x39;

/**
 * Decodes one bencoded value that must span the whole of `bytes`.
 *
 * Dict keys may come in any order (some real torrents are not sorted) but must not repeat.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decode } from "./bencode.ts";
 * const v = decode(new TextEncoder().encode("d3:fooi42e3:barl1:xee")) as Map<string, unknown>;
 * assert.equal(v.get("foo"), 42);
 * assert.deepEqual(v.get("bar"), [new Uint8Array([0x78])]);
 * ```
 *
 * @throws {BencodeError} on malformed, truncated, non-canonical or too deeply nested input, and on
 * trailing bytes after the value.
 */
export function decode(bytes: Uint8Array, limits?: DecodeLimits): BValue {
  return parse(bytes, limits, undefined);
}

/**
 * Like {@linkcode decode}, and also returns the exact byte span of each value of the top-level
 * dict (empty when the top-level value is not a dict). A `.torrent`'s info hash is the hash of the
 * raw bytes of its `info` value, which re-encoding would change if the file is not canonical.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeWithSpans } from "./bencode.ts";
 * const bytes = new TextEncoder().encode("d4:infod1:ai1eee");
 * const { spans } = decodeWithSpans(bytes);
 * assert.deepEqual(spans.get("info"), [7, 15]); // the bytes "d1:ai1ee"
 * ```
 *
 * @throws {BencodeError} as {@linkcode decode}.
 */
export function decodeWithSpans(
  bytes: Uint8Array,
  limits?: DecodeLimits,
): { value: BValue; spans: Map<string, Span> } {
  const spans = new Map<string, Span>();
  const value = parse(bytes, limits, spans);
  return { value, spans };
}

/** A list or dict being filled while decoding. */
type Frame =
  | { list: BValue[]; dict?: undefined; key?: undefined; start: number }
  | { list?: undefined; dict: Map<string, BValue>; key: string | undefined; start: number };

function parse(
  bytes: Uint8Array,
  limits: DecodeLimits | undefined,
  spans: Map<string, Span> | undefined,
): BValue {
  const maxDepth = limits?.maxDepth ?? DEFAULT_MAX_DEPTH;
  const end = bytes.length;
  const stack: Frame[] = [];
  let pos = 0;

  for (;;) {
    if (pos >= end) throw new BencodeError("unexpected end of input", pos);
    const top = stack.length > 0 ? stack[stack.length - 1] : undefined;
    const start = pos;
    let value: BValue;
    const c = bytes[pos];

    if (top !== undefined && c === CH_E) {
      if (top.dict !== undefined && top.key !== undefined) {
        throw new BencodeError(`dict key ${JSON.stringify(top.key)} has no value`, pos);
      }
      pos++;
      stack.pop();
      value = top.list !== undefined ? top.list : top.dict;
      if (!place(value, top.start)) return finish(value);
      continue;
    }

    if (top?.dict !== undefined && top.key === undefined) {
      // A dict waits for its next key, which must be a byte string.
      if (c < CH_0 || c > CH_9) throw new BencodeError("dict key is not a byte string", pos);
      const [s, next] = readString(bytes, pos);
      const key = bytesToBinary(s);
      if (top.dict.has(key)) {
        throw new BencodeError(`duplicate dict key ${JSON.stringify(key)}`, pos);
      }
      top.key = key;
      pos = next;
      continue;
    }

    if (c === CH_I) {
      [value, pos] = readInteger(bytes, pos);
    } else if (c >= CH_0 && c <= CH_9) {
      [value, pos] = readString(bytes, pos);
    } else if (c === CH_L || c === CH_D) {
      if (stack.length >= maxDepth) {
        throw new BencodeError(`nesting deeper than ${maxDepth}`, pos);
      }
      stack.push(
        c === CH_L ? { list: [], start: pos } : { dict: new Map(), key: undefined, start: pos },
      );
      pos++;
      continue;
    } else {
      throw new BencodeError(`unexpected byte 0x${c.toString(16).padStart(2, "0")}`, pos);
    }
    if (!place(value, start)) return finish(value);
  }

  /** Stores a finished value in its parent; false when it is the top-level value. */
  function place(value: BValue, start: number): boolean {
    const parent = stack.length > 0 ? stack[stack.length - 1] : undefined;
    if (parent === undefined) return false;
    if (parent.list !== undefined) {
      parent.list.push(value);
    } else {
      const key = parent.key as string;
      parent.dict.set(key, value);
      parent.key = undefined;
      if (spans !== undefined && stack.length === 1) spans.set(key, [start, pos]);
    }
    return true;
  }

  function finish(value: BValue): BValue {
    if (pos !== end) throw new BencodeError(`${end - pos} trailing bytes after the value`, pos);
    return value;
  }
}

/** Reads `i<digits>e` at `pos` (which holds the `i`); returns the value and the next offset. */
function readInteger(bytes: Uint8Array, pos: number): [number, number] {
  const start = pos;
  const end = bytes.length;
  pos++;
  let negative = false;
  if (pos < end && bytes[pos] === CH_MINUS) {
    negative = true;
    pos++;
  }
  const firstDigit = pos;
  let n = 0;
  while (pos < end && bytes[pos] >= CH_0 && bytes[pos] <= CH_9) {
    n = n * 10 + (bytes[pos] - CH_0);
    if (n > Number.MAX_SAFE_INTEGER) {
      throw new BencodeError("integer outside the safe range (±2^53-1)", start);
    }
    pos++;
  }
  if (pos >= end) throw new BencodeError("unexpected end of input in integer", pos);
  if (bytes[pos] !== CH_E) throw new BencodeError("integer has a non-digit", pos);
  const digits = pos - firstDigit;
  if (digits === 0) throw new BencodeError("integer has no digits", start);
  if (digits > 1 && bytes[firstDigit] === CH_0) {
    throw new BencodeError("integer has a leading zero", start);
  }
  if (negative && n === 0) throw new BencodeError("integer is negative zero", start);
  return [negative ? -n : n, pos + 1];
}

/**
 * Reads `<length>:<bytes>` at `pos`; returns a view of the bytes and the next offset. The length is
 * checked against what is left of the input while its digits are read, so a huge declared length
 * costs nothing.
 */
function readString(bytes: Uint8Array, pos: number): [Uint8Array, number] {
  const start = pos;
  const end = bytes.length;
  let n = 0;
  while (pos < end && bytes[pos] >= CH_0 && bytes[pos] <= CH_9) {
    n = n * 10 + (bytes[pos] - CH_0);
    if (n > end - pos) {
      throw new BencodeError("byte string is longer than the rest of the input", start);
    }
    pos++;
  }
  if (pos >= end) throw new BencodeError("unexpected end of input in byte string length", pos);
  if (bytes[pos] !== CH_COLON) throw new BencodeError("byte string length has a non-digit", pos);
  if (pos - start > 1 && bytes[start] === CH_0) {
    throw new BencodeError("byte string length has a leading zero", start);
  }
  pos++;
  if (n > end - pos) {
    throw new BencodeError("byte string is longer than the rest of the input", start);
  }
  return [bytes.subarray(pos, pos + n), pos + n];
}

/** The deepest nesting {@linkcode encode} writes; it also stops cyclic values. */
const MAX_ENCODE_DEPTH = 512;

const utf8 = new TextEncoder();

/**
 * Encodes a value canonically: dict keys sorted bytewise, integers in shortest form.
 *
 * - `number`: must be a safe integer.
 * - `string`: written as its UTF-8 bytes; use a `Uint8Array` for raw bytes.
 * - Dict keys (of a `Map` or a plain object) are *binary strings*, one character per byte
 *   (char codes 0–255), the same form {@linkcode decode} produces, so
 *   `decode(encode(v))` equals `v`. Plain-object properties whose value is `undefined` are left
 *   out, so optional fields can be written inline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "./bencode.ts";
 * const bytes = encode({ peers: new Uint8Array(0), interval: 900 });
 * assert.equal(new TextDecoder().decode(bytes), "d8:intervali900e5:peers0:e");
 * ```
 *
 * @throws {BencodeError} for non-integer numbers, keys with characters above U+00FF, values of
 * other types, and nesting deeper than 512 (which also catches cycles).
 */
export function encode(value: BEncodable): Uint8Array {
  const w = new Writer();
  writeValue(w, value, 0);
  return w.bytes();
}

/** A growable output buffer. */
class Writer {
  buf = new Uint8Array(256);
  len = 0;

  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  /** Writes the decimal digits of a safe integer. */
  decimal(n: number): void {
    const s = String(n);
    this.reserve(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.len++] = s.charCodeAt(i);
  }

  raw(bytes: Uint8Array): void {
    this.decimal(bytes.length);
    this.byte(CH_COLON);
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  binaryString(s: string): void {
    this.decimal(s.length);
    this.byte(CH_COLON);
    this.reserve(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) {
        throw new BencodeError(
          `dict key ${JSON.stringify(s)} has a character above U+00FF (keys are binary strings)`,
          this.len,
        );
      }
      this.buf[this.len++] = c;
    }
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function writeValue(w: Writer, value: BEncodable, depth: number): void {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new BencodeError(`cannot encode ${value}: not a safe integer`, w.len);
    }
    w.byte(CH_I);
    w.decimal(value);
    w.byte(CH_E);
  } else if (typeof value === "string") {
    w.raw(utf8.encode(value));
  } else if (value instanceof Uint8Array) {
    w.raw(value);
  } else if (depth >= MAX_ENCODE_DEPTH) {
    throw new BencodeError(`cannot encode nesting deeper than ${MAX_ENCODE_DEPTH}`, w.len);
  } else if (Array.isArray(value)) {
    w.byte(CH_L);
    for (const item of value as readonly BEncodable[]) writeValue(w, item, depth + 1);
    w.byte(CH_E);
  } else if (value instanceof Map) {
    writeDict(w, [...(value as ReadonlyMap<string, BEncodable>)], depth);
  } else if (isPlainObject(value)) {
    const entries: [string, BEncodable][] = [];
    for (const [k, v] of Object.entries(value)) if (v !== undefined) entries.push([k, v]);
    writeDict(w, entries, depth);
  } else {
    throw new BencodeError(`cannot encode a value of type ${describe(value)}`, w.len);
  }
}

function writeDict(w: Writer, entries: [string, BEncodable][], depth: number): void {
  // Keys are binary strings, so UTF-16 code unit order is byte order.
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  w.byte(CH_D);
  for (const [k, v] of entries) {
    if (typeof k !== "string") {
      throw new BencodeError(`cannot encode a dict key of type ${describe(k)}`, w.len);
    }
    w.binaryString(k);
    writeValue(w, v, depth + 1);
  }
  w.byte(CH_E);
}

function isPlainObject(value: unknown): value is Record<string, BEncodable | undefined> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}
