/**
 * The control protocol between `hefur ctl` and a running Hefur: JSON lines over a Unix stream
 * socket. Pure: text in, values out; the socket is the server's and the client's business.
 *
 * Each request is one line of JSON, answered by one line carrying the same `id`; a connection
 * may carry several requests, answered in order.
 *
 * ```text
 * → {"v":1,"id":1,"cmd":"status","args":{}}
 * ← {"v":1,"id":1,"ok":true,"result":{"uptime":12,"torrents":3,…}}
 * → {"v":1,"id":2,"cmd":"retire-torrent","args":{"hash":"…40 hex…"}}
 * ← {"v":1,"id":2,"ok":false,"code":"not_found","error":"no tracked torrent has info hash …"}
 * ```
 *
 * - `v` is the protocol version, 1. A server answers a request of another version with code
 *   `unsupported_version` (and its own `v`), so a client can tell a version mismatch apart.
 * - `id` is a number or string chosen by the client, echoed back (null when unreadable).
 * - `code` is one of {@link ErrorCode}; `error` is a sentence for people.
 * - A line is at most {@link MAX_LINE_BYTES} bytes (a `.torrent` in base64 fits); a longer one
 *   is answered with `too_large` and the connection is closed.
 *
 * Commands (arguments → result):
 * - `status` {} → {@link StatusResult}
 * - `release-torrent` {name, data: base64 of the .torrent} → {@link ReleaseResult}
 * - `retire-torrent` {hash: 40 or 64 hex digits} or {data: base64 of the .torrent}
 *   → {@link RetireResult}
 * - `release-logs` {} → {file?: the log file now written}
 * - `metrics` {} → {@link MetricsResult}; `unavailable` with `--disable-metrics`
 * - `quit` {} → {stopping: true}; the server stops after answering.
 *
 * @module
 */

/** The protocol version this code speaks. */
export const PROTOCOL_VERSION = 1;

/** Longest request or response line, newline excluded: a 10 MiB `.torrent` in base64 and more. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** The commands of version 1. */
export const COMMANDS = [
  "status",
  "release-torrent",
  "retire-torrent",
  "release-logs",
  "metrics",
  "quit",
] as const;

/** One of {@link COMMANDS}. */
export type Command = typeof COMMANDS[number];

/** Machine-readable failure causes. */
export type ErrorCode =
  /** The line is not a valid request (JSON, fields, argument types). */
  | "bad_request"
  | "unsupported_version"
  | "unknown_command"
  | "too_large"
  /** The `.torrent` cannot be parsed. */
  | "invalid_torrent"
  /** The torrent is tracked already. */
  | "duplicate"
  /** No tracked torrent has this hash. */
  | "not_found"
  /** The command cannot apply to this server (e.g. release-torrent without --torrent-dir). */
  | "unavailable"
  /** The server failed (e.g. the torrent directory is not writable). */
  | "failed"
  | "internal";

/** A request, as sent on the wire. */
export interface ControlRequest {
  v: number;
  id: number | string;
  cmd: string;
  args: Record<string, unknown>;
}

/** A response, as sent on the wire. */
export type ControlResponse =
  | { v: number; id: number | string | null; ok: true; result: unknown }
  | { v: number; id: number | string | null; ok: false; code: ErrorCode; error: string };

/** A failure with its {@link ErrorCode}; handlers throw it, clients receive it. */
export class ControlError extends Error {
  readonly code: ErrorCode;
  /** The request id, when known. */
  readonly id: number | string | null;

  constructor(code: ErrorCode, message: string, id: number | string | null = null) {
    super(message);
    this.name = "ControlError";
    this.code = code;
    this.id = id;
  }
}

/** What `status` answers. */
export interface StatusResult {
  version: string;
  pid: number;
  /** Seconds since start. */
  uptime: number;
  startedAt: string;
  /** `open` without --torrent-dir, else `whitelist`. */
  mode: "open" | "whitelist";
  torrentDir?: string;
  /** The whitelist's figures: `.torrent` files and the hashes they hold. */
  whitelist?: { files: number; hashes: number };
  /** Torrents, those only browsers announced included (open mode). */
  torrents: number;
  /** Every kind of peer: UDP and HTTP clients, and browsers over WebSocket. */
  peers: number;
  seeders: number;
  leechers: number;
  /** Completed downloads recorded for every torrent. */
  completed: number;
  /** Of the above, the browsers (WebTorrent over WebSocket). */
  webtorrent: { peers: number; seeders: number; leechers: number; completed: number };
  /**
   * Requests since start, over every protocol; `webtorrent` those over WebSocket. `refused`:
   * answered with a failure reason (unknown torrent, bad request, …), as /stat names them;
   * `failures` is the same count under its first name.
   */
  requests: {
    announces: number;
    scrapes: number;
    refused: number;
    failures: number;
    webtorrent: { announces: number; scrapes: number; failures: number };
  };
  /** The shared store (`--store redis://…`), by its redacted URL, and its state. */
  store?: { name: string; state: string; detail?: string };
  /** Listener figures (addresses, open connections), keyed by listener. */
  listeners: Record<string, Record<string, unknown>>;
  logFile?: string;
}

/** What `metrics` answers. */
export interface MetricsResult {
  /** The metrics in the Prometheus text format, as `/metrics` serves them. */
  text: string;
}

/** One info hash of a torrent, as hex. */
export interface HashInfo {
  /** 1 (SHA-1), or 2 (SHA-256; `wire` is the 20-byte prefix clients announce with). */
  version: 1 | 2;
  hex: string;
  wire: string;
}

/** What `release-torrent` answers. */
export interface ReleaseResult {
  name: string;
  /** Where the file was written. */
  file: string;
  infoHashes: HashInfo[];
  magnet: string;
}

/** What `retire-torrent` answers. */
export interface RetireResult {
  name?: string;
  /** The wire hashes (hex) that are no longer tracked. */
  retired: string[];
  /** The `.torrent` files removed from the torrent directory (none in open mode). */
  removedFiles: string[];
}

/**
 * Reads one request line. Throws {@link ControlError} (`bad_request`, `unsupported_version`,
 * `unknown_command`) carrying the id when it could be read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRequest } from "./protocol.ts";
 * assert.deepEqual(decodeRequest('{"v":1,"id":7,"cmd":"status"}'),
 *   { v: 1, id: 7, cmd: "status", args: {} });
 * assert.throws(() => decodeRequest('{"v":1,"id":8,"cmd":"dance"}'), /unknown command "dance"/);
 * ```
 */
export function decodeRequest(line: string): ControlRequest & { cmd: Command } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ControlError("bad_request", "the request is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ControlError("bad_request", "the request is not a JSON object");
  }
  const r = value as Record<string, unknown>;
  const id = typeof r.id === "number" || typeof r.id === "string" ? r.id : null;
  if (id === null) throw new ControlError("bad_request", "missing id (a number or a string)");
  if (r.v !== PROTOCOL_VERSION) {
    throw new ControlError(
      "unsupported_version",
      `protocol version ${
        JSON.stringify(r.v)
      } is not supported (this server speaks ${PROTOCOL_VERSION})`,
      id,
    );
  }
  if (typeof r.cmd !== "string") throw new ControlError("bad_request", "missing cmd", id);
  if (!(COMMANDS as readonly string[]).includes(r.cmd)) {
    throw new ControlError(
      "unknown_command",
      `unknown command "${r.cmd.slice(0, 64)}" (known: ${COMMANDS.join(", ")})`,
      id,
    );
  }
  const args = r.args ?? {};
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    throw new ControlError("bad_request", "args must be an object", id);
  }
  return { v: PROTOCOL_VERSION, id, cmd: r.cmd as Command, args: args as Record<string, unknown> };
}

/** The line (without newline) of a request. */
export function encodeRequest(
  id: number | string,
  cmd: string,
  args: Record<string, unknown> = {},
): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, id, cmd, args });
}

/** The line (without newline) of a successful response. */
export function encodeResult(id: number | string | null, result: unknown): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, id, ok: true, result });
}

/** The line (without newline) of a failed response. */
export function encodeError(error: ControlError): string {
  return JSON.stringify({
    v: PROTOCOL_VERSION,
    id: error.id,
    ok: false,
    code: error.code,
    error: error.message,
  });
}

/**
 * Reads one response line. Throws {@link ControlError} `bad_request` when it is not a response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeResponse } from "./protocol.ts";
 * const r = decodeResponse('{"v":1,"id":1,"ok":false,"code":"not_found","error":"no"}');
 * assert.equal(r.ok, false);
 * ```
 */
export function decodeResponse(line: string): ControlResponse {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ControlError("bad_request", "the server's answer is not JSON");
  }
  const r = value as Record<string, unknown>;
  if (typeof r !== "object" || r === null || typeof r.ok !== "boolean") {
    throw new ControlError("bad_request", "the server's answer is not a control response");
  }
  if (r.ok === false && (typeof r.error !== "string" || typeof r.code !== "string")) {
    throw new ControlError("bad_request", "the server's error answer has no code or message");
  }
  return r as unknown as ControlResponse;
}

/** A line longer than the bound. */
export class LineTooLongError extends Error {
  /** The bound that was passed. */
  readonly limit: number;

  constructor(limit: number) {
    super(`line longer than ${limit} bytes`);
    this.name = "LineTooLongError";
    this.limit = limit;
  }
}

const decoder = new TextDecoder();

/**
 * Cuts a byte stream into lines, holding at most `limit` bytes of an unfinished line. Feed it
 * chunks; it returns the complete lines (without `\n`, UTF-8 decoded).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineSplitter } from "./protocol.ts";
 * const s = new LineSplitter(100);
 * const bytes = new TextEncoder().encode('{"a":1}\n{"b"');
 * assert.deepEqual(s.push(bytes), ['{"a":1}']);
 * assert.deepEqual(s.push(new TextEncoder().encode(":2}\n")), ['{"b":2}']);
 * ```
 */
export class LineSplitter {
  readonly #limit: number;
  #parts: Uint8Array[] = [];
  #size = 0;

  constructor(limit = MAX_LINE_BYTES) {
    this.#limit = limit;
  }

  /** Bytes held of an unfinished line. */
  get pending(): number {
    return this.#size;
  }

  /** Adds a chunk; throws {@link LineTooLongError} when a line passes the limit. */
  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      this.#add(chunk.subarray(start, nl));
      lines.push(this.#take());
      start = nl + 1;
    }
    this.#add(chunk.subarray(start));
    return lines;
  }

  #add(part: Uint8Array): void {
    if (part.length === 0) return;
    if (this.#size + part.length > this.#limit) throw new LineTooLongError(this.#limit);
    this.#parts.push(part.slice());
    this.#size += part.length;
  }

  #take(): string {
    let bytes: Uint8Array;
    if (this.#parts.length === 1) bytes = this.#parts[0];
    else {
      bytes = new Uint8Array(this.#size);
      let at = 0;
      for (const p of this.#parts) {
        bytes.set(p, at);
        at += p.length;
      }
    }
    this.#parts = [];
    this.#size = 0;
    return decoder.decode(bytes);
  }
}
