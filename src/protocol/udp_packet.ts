/**
 * The UDP tracker protocol (BEP 15) as pure functions over bytes: no sockets, no clock, no
 * globals. A listener reads a datagram, calls {@linkcode parseUdpRequest}, asks the core, and
 * writes the answer with one of the `write*Reply` functions into a buffer it reuses.
 *
 * The packet loop runs these at tens of thousands of packets per second, so they avoid
 * allocation: integers are read by hand from the `Uint8Array` (no `DataView`, no `BigInt`; a
 * 64-bit connection id is two unsigned 32-bit halves), replies are written into a caller's
 * buffer, and the parser can fill reusable objects ({@linkcode UdpParseScratch}).
 *
 * All integers are big-endian on the wire (BEP 15).
 *
 * @module
 */

import type { AnnounceReply, SwarmCounts } from "./types.ts";
import { AnnounceEvent } from "./types.ts";
import { InfoHashCache } from "./info_hash_cache.ts";
import { binary20 } from "./binary.ts";
import { OUT_OF_RANGE } from "./announce_check.ts";

/** High 32 bits of the BEP 15 protocol id `0x41727101980` that every connect request carries. */
export const UDP_PROTOCOL_ID_HI = 0x417;
/** Low 32 bits of the BEP 15 protocol id `0x41727101980`. */
export const UDP_PROTOCOL_ID_LO = 0x27101980;

/** Every packet starts with connection id (8), action (4), transaction id (4). */
export const UDP_HEADER_LENGTH = 16;
/** An announce request without BEP 41 options is exactly this long. */
export const UDP_ANNOUNCE_REQUEST_LENGTH = 98;
/** Size of one IPv4 peer in an announce reply (address, port). */
const PEER4_LENGTH = 6;
/** Size of one IPv6 peer in an announce reply (BEP 15 IPv6 variant). */
const PEER6_LENGTH = 18;

/**
 * How many info hashes one scrape may ask for. BEP 15 notes that about 74 fit in a packet and
 * trackers commonly stop there; hashes beyond the bound are cut while parsing.
 */
export const DEFAULT_MAX_SCRAPE_TORRENTS = 74;

/** The `action` field of BEP 15 packets. */
export enum UdpAction {
  Connect = 0,
  Announce = 1,
  Scrape = 2,
  Error = 3,
}

/** Bounds applied while parsing, so oversized input is cut before it costs anything. */
export interface UdpLimits {
  /** At most this many hashes of a scrape are read; the rest of the packet is ignored. */
  maxScrapeTorrents: number;
}

/** The bounds used when a caller gives none. */
export const DEFAULT_UDP_LIMITS: Readonly<UdpLimits> = Object.freeze({
  maxScrapeTorrents: DEFAULT_MAX_SCRAPE_TORRENTS,
});

/** A connect request; its protocol id has been checked. */
export interface UdpConnectRequest {
  kind: "connect";
  transactionId: number;
}

/** An announce request, fields as on the wire (the listener turns it into an AnnounceRequest). */
export interface UdpAnnounceRequest {
  kind: "announce";
  /** High half of the connection id; the listener checks it with its connection id issuer. */
  connectionIdHi: number;
  /** Low half of the connection id. */
  connectionIdLo: number;
  transactionId: number;
  /** 20-byte info hash as a binary string. */
  infoHash: string;
  /** 20-byte peer id as a binary string. */
  peerId: string;
  /** Wire int64, clamped to `Number.MAX_SAFE_INTEGER`; -1 (`OUT_OF_RANGE`) when negative. */
  downloaded: number;
  /** Wire int64, clamped to `Number.MAX_SAFE_INTEGER`; -1 (`OUT_OF_RANGE`) when negative. */
  left: number;
  /** Wire int64, clamped to `Number.MAX_SAFE_INTEGER`; -1 (`OUT_OF_RANGE`) when negative. */
  uploaded: number;
  /** 0–3 as BEP 15 numbers them; any other value reads as `None`. */
  event: AnnounceEvent;
  /** IPv4 address the client claims, as an unsigned 32-bit number; 0 means "use the sender". */
  ip: number;
  /** Unsigned 32-bit key; Hefur does not use it, it is kept for round trips and logs. */
  key: number;
  /** Signed: -1 means "tracker's default"; the core clamps it. */
  numwant: number;
  port: number;
}

/** A scrape request with at least one hash, cut to the scrape bound. */
export interface UdpScrapeRequest {
  kind: "scrape";
  connectionIdHi: number;
  connectionIdLo: number;
  transactionId: number;
  /** 20-byte info hashes as binary strings, in request order. */
  infoHashes: string[];
}

/** Any well-formed request. */
export type UdpRequest = UdpConnectRequest | UdpAnnounceRequest | UdpScrapeRequest;

/** Why a packet could not be parsed. */
export enum UdpParseFailure {
  /** Shorter than the 16-byte header (unsendable; `value` is the length). */
  TooShort = "too short",
  /** Action is not connect, announce or scrape (unsendable; `value` is the action). */
  UnknownAction = "unknown action",
  /** Connect without the protocol id (unsendable; `value` is the high half read). */
  BadProtocolId = "bad protocol id",
  /** Announce shorter than 98 bytes (sendable; `value` is the length). */
  AnnounceTooShort = "announce too short",
  /** Scrape without a single whole hash (sendable; `value` is the length). */
  NoInfoHashes = "no info hash",
}

/**
 * A packet that must be dropped without an answer: its transaction id could not be trusted or
 * read, and answering garbage is how a tracker becomes a traffic amplifier.
 *
 * It is a plain class, not an `Error`: a flood of bad packets must not pay for stack traces.
 */
export class UdpUnsendableError {
  /** Discriminant of {@linkcode UdpParseResult}. */
  readonly kind = "unsendable";
  constructor(
    /** What was wrong. */
    readonly reason: UdpParseFailure,
    /** The offending value (see {@linkcode UdpParseFailure}). */
    readonly value: number,
  ) {}

  /** A line for logs. */
  get message(): string {
    return `unanswerable UDP packet: ${this.reason} (${this.value})`;
  }
}

/**
 * A packet whose connection and transaction ids were read, so an error packet can go back.
 * The listener must still verify the connection id before it answers (an unverified source may
 * be spoofed), and {@linkcode writeErrorReply} keeps the answer no larger than the request.
 */
export class UdpSendableError {
  /** Discriminant of {@linkcode UdpParseResult}. */
  readonly kind = "sendable";
  constructor(
    /** What was wrong. */
    readonly reason: UdpParseFailure,
    /** The offending value (see {@linkcode UdpParseFailure}). */
    readonly value: number,
    /** The action the packet asked for. */
    readonly action: UdpAction,
    readonly connectionIdHi: number,
    readonly connectionIdLo: number,
    readonly transactionId: number,
  ) {}

  /** The text sent back to the client in the error packet. */
  get message(): string {
    return this.reason === UdpParseFailure.AnnounceTooShort
      ? "announce packet too short"
      : "scrape without info_hash";
  }
}

/** What {@linkcode parseUdpRequest} returns; switch on `kind`. */
export type UdpParseResult = UdpRequest | UdpSendableError | UdpUnsendableError;

/**
 * Reusable result objects for {@linkcode parseUdpRequest}, so a packet loop parses without
 * allocating (apart from the hash strings). A result filled into a scratch is valid until the
 * next parse that uses the same scratch.
 */
export class UdpParseScratch {
  /** Filled by connect requests. */
  readonly connect: UdpConnectRequest = { kind: "connect", transactionId: 0 };
  /** Filled by announce requests. */
  readonly announce: UdpAnnounceRequest = newAnnounce();
  /** Filled by scrape requests; its array is reused too. */
  readonly scrape: UdpScrapeRequest = newScrape();
  /** Info hashes already seen, so that a known one costs no new string. */
  readonly infoHashes: InfoHashCache = new InfoHashCache();
}

function newAnnounce(): UdpAnnounceRequest {
  return {
    kind: "announce",
    connectionIdHi: 0,
    connectionIdLo: 0,
    transactionId: 0,
    infoHash: "",
    peerId: "",
    downloaded: 0,
    left: 0,
    uploaded: 0,
    event: AnnounceEvent.None,
    ip: 0,
    key: 0,
    numwant: -1,
    port: 0,
  };
}

function newScrape(): UdpScrapeRequest {
  return {
    kind: "scrape",
    connectionIdHi: 0,
    connectionIdLo: 0,
    transactionId: 0,
    infoHashes: [],
  };
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function readI32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/** Largest high half whose u64 still fits in a safe integer: 2^53 - 1 = 0x1FFFFF_FFFFFFFF. */
const MAX_SAFE_HI = 0x1fffff;

/** Reads a big-endian u64 as a number, clamped to `Number.MAX_SAFE_INTEGER`. */
function readU64(b: Uint8Array, o: number): number {
  const hi = readU32(b, o);
  if (hi > MAX_SAFE_HI) return Number.MAX_SAFE_INTEGER;
  return hi * 0x100000000 + readU32(b, o + 4);
}

/**
 * A BEP 15 count (signed 64-bit): {@linkcode OUT_OF_RANGE} when negative (the listeners refuse
 * it, as HTTP refuses a count above 2^63 - 1), else as {@linkcode readU64}.
 */
function readCount(b: Uint8Array, o: number): number {
  return b[o] >= 0x80 ? OUT_OF_RANGE : readU64(b, o);
}

/**
 * Parses one client datagram.
 *
 * - Shorter than 16 bytes, an unknown action, or a connect without the protocol id: unsendable.
 * - Announce shorter than 98 bytes: sendable (the ids were read; BEP 15 lets the tracker say
 *   why). Bytes after the 98th (BEP 41 options) are ignored.
 * - Scrape: k = ⌊(length − 16) / 20⌋ hashes, cut to `limits.maxScrapeTorrents`; a partial trailing
 *   hash is ignored; no whole hash is sendable.
 *
 * `packet` may be a view into a larger receive buffer; only `packet.length` bytes are read. With
 * `scratch`, the returned request is one of its objects (see {@linkcode UdpParseScratch}).
 *
 * @example
 * ```ts
 * import { encodeUdpRequest, parseUdpRequest } from "./udp_packet.ts";
 * const packet = encodeUdpRequest({ kind: "connect", transactionId: 7 });
 * const r = parseUdpRequest(packet);
 * if (r.kind !== "connect" || r.transactionId !== 7) throw new Error("unexpected");
 * ```
 */
export function parseUdpRequest(
  packet: Uint8Array,
  limits: Readonly<UdpLimits> = DEFAULT_UDP_LIMITS,
  scratch?: UdpParseScratch,
): UdpParseResult {
  const len = packet.length;
  if (len < UDP_HEADER_LENGTH) return new UdpUnsendableError(UdpParseFailure.TooShort, len);
  const hi = readU32(packet, 0);
  const lo = readU32(packet, 4);
  const action = readU32(packet, 8);
  const tid = readU32(packet, 12);

  switch (action) {
    case UdpAction.Connect: {
      if (hi !== UDP_PROTOCOL_ID_HI || lo !== UDP_PROTOCOL_ID_LO) {
        return new UdpUnsendableError(UdpParseFailure.BadProtocolId, hi);
      }
      const r: UdpConnectRequest = scratch?.connect ?? { kind: "connect", transactionId: 0 };
      r.transactionId = tid;
      return r;
    }
    case UdpAction.Announce: {
      if (len < UDP_ANNOUNCE_REQUEST_LENGTH) {
        return new UdpSendableError(UdpParseFailure.AnnounceTooShort, len, action, hi, lo, tid);
      }
      const r = scratch?.announce ?? newAnnounce();
      r.connectionIdHi = hi;
      r.connectionIdLo = lo;
      r.transactionId = tid;
      r.infoHash = scratch ? scratch.infoHashes.read(packet, 16) : binary20(packet, 16);
      r.peerId = binary20(packet, 36);
      r.downloaded = readCount(packet, 56);
      r.left = readCount(packet, 64);
      r.uploaded = readCount(packet, 72);
      const event = readU32(packet, 80);
      r.event = event <= AnnounceEvent.Stopped ? event : AnnounceEvent.None;
      r.ip = readU32(packet, 84);
      r.key = readU32(packet, 88);
      r.numwant = readI32(packet, 92);
      r.port = (packet[96] << 8) | packet[97];
      return r;
    }
    case UdpAction.Scrape: {
      let k = Math.floor((len - UDP_HEADER_LENGTH) / 20);
      if (k === 0) {
        return new UdpSendableError(UdpParseFailure.NoInfoHashes, len, action, hi, lo, tid);
      }
      if (k > limits.maxScrapeTorrents) k = limits.maxScrapeTorrents;
      const r = scratch?.scrape ?? newScrape();
      r.connectionIdHi = hi;
      r.connectionIdLo = lo;
      r.transactionId = tid;
      const hashes = r.infoHashes;
      const cache = scratch?.infoHashes;
      for (let i = 0; i < k; i++) {
        const at = UDP_HEADER_LENGTH + 20 * i;
        hashes[i] = cache ? cache.read(packet, at) : binary20(packet, at);
      }
      hashes.length = k;
      return r;
    }
    default:
      return new UdpUnsendableError(UdpParseFailure.UnknownAction, action);
  }
}

/** Writes `v` as a big-endian u32, clamped to 0..2^32−1 (counters may outgrow the field). */
function writeU32(b: Uint8Array, o: number, v: number): void {
  const u = v >= 0xffffffff ? 0xffffffff : v > 0 ? v >>> 0 : 0;
  b[o] = u >>> 24;
  b[o + 1] = u >>> 16;
  b[o + 2] = u >>> 8;
  b[o + 3] = u;
}

/** Writes a non-negative safe integer as a big-endian u64. */
function writeU64(b: Uint8Array, o: number, v: number): void {
  const c = v > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : v > 0 ? Math.floor(v) : 0;
  writeU32(b, o, Math.floor(c / 0x100000000));
  writeU32(b, o + 4, c % 0x100000000);
}

/**
 * Writes a connect reply (16 bytes) into `buf` and returns its length.
 *
 * @example
 * ```ts
 * import { writeConnectReply } from "./udp_packet.ts";
 * const buf = new Uint8Array(65536);
 * const n = writeConnectReply(buf, 7, 0x01020304, 0x05060708); // 16
 * ```
 */
export function writeConnectReply(
  buf: Uint8Array,
  transactionId: number,
  connectionIdHi: number,
  connectionIdLo: number,
): number {
  writeU32(buf, 0, UdpAction.Connect);
  writeU32(buf, 4, transactionId);
  writeU32(buf, 8, connectionIdHi);
  writeU32(buf, 12, connectionIdLo);
  return 16;
}

/**
 * Writes an announce reply into `buf` and returns its length: action, transaction id, interval,
 * leechers, seeders, then the compact peers. A request that came over IPv4 (`family` 4) gets
 * `reply.peers4` (6 bytes each); one over IPv6 gets the BEP 15 IPv6 variant with `reply.peers6`
 * (18 bytes each). Peers that would not fit in `buf` are left out, whole entries only.
 *
 * @example
 * ```ts
 * import { writeAnnounceReply } from "./udp_packet.ts";
 * const reply = {
 *   interval: 1800, minInterval: 900, complete: 1, incomplete: 0, downloaded: 3,
 *   peers4: new Uint8Array([10, 0, 0, 1, 0x1a, 0xe1]), peers6: new Uint8Array(0), peerIds: [],
 * };
 * const n = writeAnnounceReply(new Uint8Array(65536), 7, reply, 4); // 26
 * ```
 */
export function writeAnnounceReply(
  buf: Uint8Array,
  transactionId: number,
  reply: AnnounceReply,
  family: 4 | 6,
): number {
  writeU32(buf, 0, UdpAction.Announce);
  writeU32(buf, 4, transactionId);
  writeU32(buf, 8, reply.interval);
  writeU32(buf, 12, reply.incomplete);
  writeU32(buf, 16, reply.complete);
  const peers = family === 6 ? reply.peers6 : reply.peers4;
  const entry = family === 6 ? PEER6_LENGTH : PEER4_LENGTH;
  const room = Math.floor((buf.length - 20) / entry);
  const count = Math.min(Math.floor(peers.length / entry), room);
  const bytes = count * entry;
  buf.set(bytes === peers.length ? peers : peers.subarray(0, bytes), 20);
  return 20 + bytes;
}

/**
 * Writes a scrape reply into `buf` and returns its length: one entry per requested hash, in
 * request order, each seeders, completed, leechers; an unknown torrent (`undefined`) gets zeros
 * so entries keep lining up with the request (the original left them out). Entries that would
 * not fit in `buf` are left out.
 *
 * @example
 * ```ts
 * import { writeScrapeReply } from "./udp_packet.ts";
 * const counts = [{ complete: 2, incomplete: 1, downloaded: 5 }, undefined];
 * const n = writeScrapeReply(new Uint8Array(65536), 7, counts); // 8 + 12 * 2
 * ```
 */
export function writeScrapeReply(
  buf: Uint8Array,
  transactionId: number,
  counts: readonly (SwarmCounts | undefined)[],
): number {
  writeU32(buf, 0, UdpAction.Scrape);
  writeU32(buf, 4, transactionId);
  const n = Math.min(counts.length, Math.floor((buf.length - 8) / 12));
  let o = 8;
  for (let i = 0; i < n; i++, o += 12) {
    const c = counts[i];
    if (c === undefined) {
      buf.fill(0, o, o + 12);
    } else {
      writeU32(buf, o, c.complete);
      writeU32(buf, o + 4, c.downloaded);
      writeU32(buf, o + 8, c.incomplete);
    }
  }
  return o;
}

const encoder = new TextEncoder();

/**
 * Writes an error reply (action 3, transaction id, UTF-8 message without terminator) into `buf`
 * and returns its length.
 *
 * Anti-amplification: the reply is never longer than `requestLength`, the size of the packet it
 * answers, so a spoofed request can never make Hefur send more bytes than it received. The
 * message is cut (on a UTF-8 character boundary) to fit; if even the 8-byte header would be
 * larger than the request, nothing is written and 0 is returned: send nothing.
 *
 * @example
 * ```ts
 * import { writeErrorReply } from "./udp_packet.ts";
 * const n = writeErrorReply(new Uint8Array(65536), 7, "torrent not found", 16); // 16: cut
 * ```
 */
export function writeErrorReply(
  buf: Uint8Array,
  transactionId: number,
  message: string,
  requestLength: number,
): number {
  const limit = Math.min(requestLength, buf.length);
  if (limit < 8) return 0;
  writeU32(buf, 0, UdpAction.Error);
  writeU32(buf, 4, transactionId);
  const { written } = encoder.encodeInto(message, buf.subarray(8, limit));
  return 8 + written;
}

/**
 * Encodes a request as a client would send it, into `buf` (a fresh buffer when omitted), and
 * returns the view of the bytes written. Used by tests and by the load generator.
 * Announce fields are written as given (u64 fields from safe integers); hashes and peer ids
 * must be 20-character binary strings.
 *
 * @example
 * ```ts
 * import { encodeUdpRequest } from "./udp_packet.ts";
 * const bytes = encodeUdpRequest({ kind: "connect", transactionId: 1 }); // 16 bytes
 * ```
 */
export function encodeUdpRequest(request: UdpRequest, buf?: Uint8Array): Uint8Array {
  switch (request.kind) {
    case "connect": {
      const b = buf ?? new Uint8Array(UDP_HEADER_LENGTH);
      writeU32(b, 0, UDP_PROTOCOL_ID_HI);
      writeU32(b, 4, UDP_PROTOCOL_ID_LO);
      writeU32(b, 8, UdpAction.Connect);
      writeU32(b, 12, request.transactionId);
      return b.subarray(0, UDP_HEADER_LENGTH);
    }
    case "announce": {
      const b = buf ?? new Uint8Array(UDP_ANNOUNCE_REQUEST_LENGTH);
      writeU32(b, 0, request.connectionIdHi);
      writeU32(b, 4, request.connectionIdLo);
      writeU32(b, 8, UdpAction.Announce);
      writeU32(b, 12, request.transactionId);
      writeBinary20(b, 16, request.infoHash);
      writeBinary20(b, 36, request.peerId);
      writeU64(b, 56, request.downloaded);
      writeU64(b, 64, request.left);
      writeU64(b, 72, request.uploaded);
      writeU32(b, 80, request.event);
      writeU32(b, 84, request.ip);
      writeU32(b, 88, request.key);
      writeU32(b, 92, request.numwant >>> 0);
      b[96] = (request.port >>> 8) & 0xff;
      b[97] = request.port & 0xff;
      return b.subarray(0, UDP_ANNOUNCE_REQUEST_LENGTH);
    }
    case "scrape": {
      const length = UDP_HEADER_LENGTH + 20 * request.infoHashes.length;
      const b = buf ?? new Uint8Array(length);
      writeU32(b, 0, request.connectionIdHi);
      writeU32(b, 4, request.connectionIdLo);
      writeU32(b, 8, UdpAction.Scrape);
      writeU32(b, 12, request.transactionId);
      request.infoHashes.forEach((h, i) => writeBinary20(b, UDP_HEADER_LENGTH + 20 * i, h));
      return b.subarray(0, length);
    }
  }
}

function writeBinary20(b: Uint8Array, o: number, s: string): void {
  if (s.length !== 20) throw new UdpEncodeError("a hash or peer id must be 20 bytes", s);
  for (let i = 0; i < 20; i++) b[o + i] = s.charCodeAt(i) & 0xff;
}

/** A request or reply that cannot be encoded or decoded on the client side. */
export class UdpEncodeError extends Error {
  constructor(
    message: string,
    /** The offending value. */
    readonly value: unknown,
  ) {
    super(`${message}: ${JSON.stringify(value)}`);
    this.name = "UdpEncodeError";
  }
}

/** A tracker's reply as a client sees it (see {@linkcode parseUdpReply}). */
export type UdpReply =
  | { kind: "connect"; transactionId: number; connectionIdHi: number; connectionIdLo: number }
  | {
    kind: "announce";
    transactionId: number;
    interval: number;
    leechers: number;
    seeders: number;
    /** Compact peers, 6 or 18 bytes each depending on the family the request used. */
    peers: Uint8Array;
  }
  | {
    kind: "scrape";
    transactionId: number;
    entries: { seeders: number; completed: number; leechers: number }[];
  }
  | { kind: "error"; transactionId: number; message: string };

/**
 * Decodes a tracker's reply, for clients: tests, the load generator, end-to-end checks.
 * Throws {@linkcode UdpEncodeError} on a packet no BEP 15 tracker would send.
 *
 * @example
 * ```ts
 * import { parseUdpReply, writeConnectReply } from "./udp_packet.ts";
 * const buf = new Uint8Array(16);
 * const reply = parseUdpReply(buf.subarray(0, writeConnectReply(buf, 7, 1, 2)));
 * ```
 */
export function parseUdpReply(packet: Uint8Array): UdpReply {
  if (packet.length < 8) throw new UdpEncodeError("reply shorter than 8 bytes", packet.length);
  const action = readU32(packet, 0);
  const transactionId = readU32(packet, 4);
  switch (action) {
    case UdpAction.Connect:
      if (packet.length < 16) throw new UdpEncodeError("connect reply too short", packet.length);
      return {
        kind: "connect",
        transactionId,
        connectionIdHi: readU32(packet, 8),
        connectionIdLo: readU32(packet, 12),
      };
    case UdpAction.Announce:
      if (packet.length < 20) throw new UdpEncodeError("announce reply too short", packet.length);
      return {
        kind: "announce",
        transactionId,
        interval: readU32(packet, 8),
        leechers: readU32(packet, 12),
        seeders: readU32(packet, 16),
        peers: packet.slice(20),
      };
    case UdpAction.Scrape: {
      const entries = [];
      for (let o = 8; o + 12 <= packet.length; o += 12) {
        entries.push({
          seeders: readU32(packet, o),
          completed: readU32(packet, o + 4),
          leechers: readU32(packet, o + 8),
        });
      }
      return { kind: "scrape", transactionId, entries };
    }
    case UdpAction.Error:
      return { kind: "error", transactionId, message: new TextDecoder().decode(packet.slice(8)) };
    default:
      throw new UdpEncodeError("unknown reply action", action);
  }
}
