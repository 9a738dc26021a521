/**
 * RFC 6455 WebSocket framing as a pure codec: the checks and the accept key of the opening
 * handshake, a {@link FrameReader} that turns client bytes into messages and control frames, and
 * the encoders of (unmasked) server frames.
 *
 * Hand-written on purpose. The `ws` npm package upgrades only node:http requests and node
 * sockets, and `Deno.upgradeWebSocket` only `Deno.serve` requests; Hefur's HTTP server reads raw
 * `Deno.Conn`s to keep its own timeouts and bounds, so neither fits without an adapter larger than
 * this file. A tracker needs a small subset: server side only, no extensions (no compression), no
 * subprotocols.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { concatBytes } from "./binary.ts";

/** Frame opcodes (RFC 6455 §5.2). */
export enum Opcode {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xa,
}

/** Close status codes Hefur sends (RFC 6455 §7.4.1). */
export enum CloseCode {
  Normal = 1000,
  GoingAway = 1001,
  ProtocolError = 1002,
  UnsupportedData = 1003,
  /** Never sent: stands for "the close frame had no code". */
  NoStatus = 1005,
  InvalidPayload = 1007,
  PolicyViolation = 1008,
  TooBig = 1009,
  InternalError = 1011,
}

/** A client broke the framing rules; `code` is the close code to answer with. */
export class WebSocketProtocolError extends Error {
  override name = "WebSocketProtocolError";
  /** The close code that describes the fault. */
  readonly code: CloseCode;
  /** The offending value (an opcode, a length…), when there is one. */
  readonly value?: unknown;
  constructor(message: string, code: CloseCode, value?: unknown) {
    super(message);
    this.code = code;
    this.value = value;
  }
}

/** An upgrade request that cannot become a WebSocket; `status` is the HTTP answer. */
export class HandshakeError extends Error {
  override name = "HandshakeError";
  /** 400, or 426 when only the protocol version is wrong (the reply then names version 13). */
  readonly status: 400 | 426;
  /** The offending header value. */
  readonly value?: string;
  constructor(message: string, status: 400 | 426, value?: string) {
    super(message);
    this.status = status;
    this.value = value;
  }
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
 *
 * @example
 * ```ts
 * import { acceptKey } from "./websocket_frame.ts";
 * acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (RFC 6455 §1.3)
 * ```
 */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  return value.split(",").some((t) => t.trim().toLowerCase() === token);
}

/** True when a request asks to switch to the WebSocket protocol (header names in lower case). */
export function isWebSocketUpgrade(headers: ReadonlyMap<string, string>): boolean {
  return hasToken(headers.get("upgrade"), "websocket");
}

/**
 * Checks an opening handshake (RFC 6455 §4.2.1) and returns the `Sec-WebSocket-Accept` value.
 * `headers` has lower-case names. Throws {@link HandshakeError}.
 */
export function checkHandshake(method: string, headers: ReadonlyMap<string, string>): string {
  if (method !== "GET") {
    throw new HandshakeError("a WebSocket handshake must be a GET", 400, method);
  }
  if (!isWebSocketUpgrade(headers)) {
    throw new HandshakeError("Upgrade must name websocket", 400, headers.get("upgrade"));
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    throw new HandshakeError("Connection must name Upgrade", 400, headers.get("connection"));
  }
  const version = headers.get("sec-websocket-version");
  if (version !== "13") {
    throw new HandshakeError("unsupported Sec-WebSocket-Version: only 13 is spoken", 426, version);
  }
  const key = headers.get("sec-websocket-key");
  // The key is 16 random bytes in base64.
  if (key === undefined || !/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    throw new HandshakeError("missing or malformed Sec-WebSocket-Key", 400, key);
  }
  return acceptKey(key);
}

/** What a {@link FrameReader} hands out: whole messages and control frames. */
export type WebSocketEvent =
  | { kind: "text"; text: string }
  | { kind: "binary"; data: Uint8Array }
  | { kind: "ping"; data: Uint8Array }
  | { kind: "pong"; data: Uint8Array }
  | { kind: "close"; code: number; reason: string };

/** Bounds and role of a {@link FrameReader}. */
export interface FrameReaderOptions {
  /** Largest message, all fragments together, in bytes; past it the reader throws (1009). */
  maxMessageBytes: number;
  /**
   * True to read client frames, which must be masked (the server side); false to read server
   * frames, which must not be (used by tests and clients).
   */
  fromClient: boolean;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new WebSocketProtocolError("text is not valid UTF-8", CloseCode.InvalidPayload);
  }
}

function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
    (code >= 3000 && code <= 4999);
}

/**
 * Reads a byte stream into WebSocket events: unmasks, reassembles fragmented messages, checks
 * UTF-8 and every framing rule, and refuses a message as soon as its header says it is too large
 * (before its payload is buffered). Bytes after a close frame are ignored.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameReader, Opcode } from "./websocket_frame.ts";
 * const reader = new FrameReader({ maxMessageBytes: 1024, fromClient: true });
 * const frame = encodeFrame(Opcode.Text, new TextEncoder().encode("hi"), new Uint8Array(4));
 * reader.push(frame); // [{ kind: "text", text: "hi" }]
 * ```
 */
export class FrameReader {
  readonly #options: FrameReaderOptions;
  #buf = new Uint8Array(256);
  #start = 0;
  #end = 0;
  /** Payloads of the message being reassembled; `#opcode` 0 when none is in progress. */
  #parts: Uint8Array[] = [];
  #partBytes = 0;
  #opcode = 0;
  #closed = false;
  /** Complete frames read so far (control frames and fragments included): proof of life. */
  frames = 0;

  constructor(options: FrameReaderOptions) {
    this.#options = options;
  }

  /** Bytes held while waiting for the rest of a frame. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Feeds bytes; returns the events they complete. Throws {@link WebSocketProtocolError}. */
  push(chunk: Uint8Array): WebSocketEvent[] {
    const events: WebSocketEvent[] = [];
    if (this.#closed) return events;
    this.#append(chunk);
    while (!this.#closed) {
      const consumed = this.#next(events);
      if (!consumed) break;
    }
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return events;
  }

  #append(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buf.length) {
      const held = this.#end - this.#start;
      if (held + chunk.length <= this.#buf.length) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        let size = this.#buf.length * 2;
        while (size < held + chunk.length) size *= 2;
        const grown = new Uint8Array(size);
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = held;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** Reads one frame if it is all there; returns false when more bytes are needed. */
  #next(events: WebSocketEvent[]): boolean {
    const buf = this.#buf;
    const at = this.#start;
    const avail = this.#end - at;
    if (avail < 2) return false;
    const b0 = buf[at];
    const b1 = buf[at + 1];
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    if ((b0 & 0x70) !== 0) {
      throw new WebSocketProtocolError(
        "reserved bits set: no extension was agreed",
        CloseCode.ProtocolError,
        b0,
      );
    }
    const control = opcode >= 0x8;
    if (
      opcode !== Opcode.Continuation && opcode !== Opcode.Text && opcode !== Opcode.Binary &&
      opcode !== Opcode.Close && opcode !== Opcode.Ping && opcode !== Opcode.Pong
    ) {
      throw new WebSocketProtocolError(`unknown opcode ${opcode}`, CloseCode.ProtocolError, opcode);
    }
    if (masked !== this.#options.fromClient) {
      throw new WebSocketProtocolError(
        masked ? "masked server frame" : "unmasked client frame",
        CloseCode.ProtocolError,
      );
    }
    if (control && !fin) {
      throw new WebSocketProtocolError("fragmented control frame", CloseCode.ProtocolError);
    }
    if (!control) {
      if (opcode === Opcode.Continuation && this.#opcode === 0) {
        throw new WebSocketProtocolError("continuation without a message", CloseCode.ProtocolError);
      }
      if (opcode !== Opcode.Continuation && this.#opcode !== 0) {
        throw new WebSocketProtocolError(
          "new message before the last one ended",
          CloseCode.ProtocolError,
        );
      }
    }

    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (avail < 4) return false;
      length = (buf[at + 2] << 8) | buf[at + 3];
      header = 4;
    } else if (length === 127) {
      if (avail < 10) return false;
      const high =
        ((buf[at + 2] << 24) | (buf[at + 3] << 16) | (buf[at + 4] << 8) | buf[at + 5]) >>>
        0;
      const low = ((buf[at + 6] << 24) | (buf[at + 7] << 16) | (buf[at + 8] << 8) | buf[at + 9]) >>>
        0;
      // Anything past 2^32 is far over any bound; keep the number exact enough to report.
      length = high * 0x1_0000_0000 + low;
      header = 10;
    }
    if (control && length > 125) {
      throw new WebSocketProtocolError(
        "control frame over 125 bytes",
        CloseCode.ProtocolError,
        length,
      );
    }
    if (!control && this.#partBytes + length > this.#options.maxMessageBytes) {
      throw new WebSocketProtocolError(
        `message over ${this.#options.maxMessageBytes} bytes`,
        CloseCode.TooBig,
        this.#partBytes + length,
      );
    }
    const maskAt = at + header;
    if (masked) header += 4;
    if (avail < header + length) return false;

    const payload = buf.slice(at + header, at + header + length);
    if (masked) {
      const m0 = buf[maskAt], m1 = buf[maskAt + 1], m2 = buf[maskAt + 2], m3 = buf[maskAt + 3];
      let i = 0;
      for (; i + 3 < length; i += 4) {
        payload[i] ^= m0;
        payload[i + 1] ^= m1;
        payload[i + 2] ^= m2;
        payload[i + 3] ^= m3;
      }
      for (; i < length; i++) payload[i] ^= buf[maskAt + (i & 3)];
    }
    this.#start = at + header + length;
    this.frames++;

    switch (opcode) {
      case Opcode.Ping:
        events.push({ kind: "ping", data: payload });
        return true;
      case Opcode.Pong:
        events.push({ kind: "pong", data: payload });
        return true;
      case Opcode.Close:
        this.#closed = true;
        events.push(parseClose(payload));
        return true;
    }
    if (opcode !== Opcode.Continuation) this.#opcode = opcode;
    this.#parts.push(payload);
    this.#partBytes += length;
    if (!fin) return true;

    const whole = this.#parts.length === 1 ? this.#parts[0] : concatBytes(this.#parts);
    const kind = this.#opcode;
    this.#parts = [];
    this.#partBytes = 0;
    this.#opcode = 0;
    events.push(
      kind === Opcode.Text
        ? { kind: "text", text: decodeUtf8(whole) }
        : { kind: "binary", data: whole },
    );
    return true;
  }
}

function parseClose(payload: Uint8Array): WebSocketEvent {
  if (payload.length === 0) return { kind: "close", code: CloseCode.NoStatus, reason: "" };
  if (payload.length === 1) {
    throw new WebSocketProtocolError("close frame of 1 byte", CloseCode.ProtocolError);
  }
  const code = (payload[0] << 8) | payload[1];
  if (!validCloseCode(code)) {
    throw new WebSocketProtocolError(`invalid close code ${code}`, CloseCode.ProtocolError, code);
  }
  return { kind: "close", code, reason: decodeUtf8(payload.subarray(2)) };
}

/**
 * One frame. Servers send unmasked frames; a `mask` (4 bytes) is for clients and tests.
 *
 * @example
 * ```ts
 * import { encodeFrame, Opcode } from "./websocket_frame.ts";
 * encodeFrame(Opcode.Text, new TextEncoder().encode("hi")); // Uint8Array [0x81, 2, 0x68, 0x69]
 * ```
 */
export function encodeFrame(
  opcode: Opcode,
  payload: Uint8Array,
  mask?: Uint8Array,
  fin = true,
): Uint8Array {
  const n = payload.length;
  const header = (n < 126 ? 2 : n < 0x10000 ? 4 : 10) + (mask ? 4 : 0);
  const out = new Uint8Array(header + n);
  out[0] = (fin ? 0x80 : 0) | opcode;
  const maskBit = mask ? 0x80 : 0;
  if (n < 126) {
    out[1] = maskBit | n;
  } else if (n < 0x10000) {
    out[1] = maskBit | 126;
    out[2] = n >> 8;
    out[3] = n & 0xff;
  } else {
    out[1] = maskBit | 127;
    const high = Math.floor(n / 0x1_0000_0000);
    for (let i = 0; i < 4; i++) out[2 + i] = (high >>> (24 - 8 * i)) & 0xff;
    for (let i = 0; i < 4; i++) out[6 + i] = (n >>> (24 - 8 * i)) & 0xff;
  }
  if (mask) {
    const at = header - 4;
    out.set(mask.subarray(0, 4), at);
    for (let i = 0; i < n; i++) out[header + i] = payload[i] ^ mask[i & 3];
  } else {
    out.set(payload, header);
  }
  return out;
}

/** A text frame holding `text` (UTF-8). */
export function encodeText(text: string, mask?: Uint8Array): Uint8Array {
  return encodeFrame(Opcode.Text, encoder.encode(text), mask);
}

/** A close frame with a code and a reason cut to the 123 bytes a control frame allows. */
export function encodeClose(code: number, reason = "", mask?: Uint8Array): Uint8Array {
  let bytes = encoder.encode(reason);
  if (bytes.length > 123) {
    // Cut on a character boundary so the reason stays valid UTF-8.
    let end = 123;
    while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
    bytes = bytes.subarray(0, end);
  }
  const payload = new Uint8Array(2 + bytes.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(bytes, 2);
  return encodeFrame(Opcode.Close, payload, mask);
}
