/**
 * Encodes the bencoded bodies of HTTP announce and scrape replies.
 *
 * These replies are written directly rather than through the general bencode encoder: their shape
 * is fixed, keys are emitted already sorted (canonical bencode, which the original did not do —
 * reference §16.1), and the compact peer bytes are copied in without building any intermediate
 * value.
 *
 * @module
 */
import type { AnnounceReply, SwarmCounts } from "./types.ts";
import { formatIp } from "./ip.ts";

/** Appends ASCII text and raw bytes to a growing buffer. */
class Writer {
  buf: Uint8Array;
  at = 0;
  /** Writes into `into` when given and at least `size` long, else into a buffer of `size`. */
  constructor(size: number, into?: Uint8Array) {
    this.buf = into !== undefined && into.length >= size ? into : new Uint8Array(size);
  }
  #room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    grown.set(this.buf.subarray(0, this.at));
    this.buf = grown;
  }
  /** Text whose characters are all below 256 (ASCII, or a binary string). */
  text(s: string): this {
    this.#room(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.at++] = s.charCodeAt(i);
    return this;
  }
  bytes(b: Uint8Array): this {
    this.#room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
  /** A bencoded byte string whose content is a binary string. */
  str(s: string): this {
    return this.digits(s.length).byte(58).text(s);
  }
  int(n: number): this {
    return this.byte(105).digits(Math.trunc(n)).byte(101);
  }
  byte(b: number): this {
    this.#room(1);
    this.buf[this.at++] = b;
    return this;
  }
  /** The decimal digits of an integer, written in place (no string is built for them). */
  digits(n: number): this {
    if (!Number.isSafeInteger(n)) return this.text(String(n));
    if (n < 0) {
      this.byte(45);
      n = -n;
    }
    let len = 1;
    for (let p = 10; p <= n; p *= 10) len++;
    this.#room(len);
    const buf = this.buf;
    for (let i = this.at + len - 1; i >= this.at; i--) {
      buf[i] = 48 + n % 10;
      n = Math.floor(n / 10);
    }
    this.at += len;
    return this;
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }
}

/**
 * The body of a failed announce or scrape: `d14:failure reason<len>:<msg>e`, plus BEP 31's
 * `retry in` (whole minutes, at least 1) when the client may try again later.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFailure } from "./http_reply.ts";
 * assert.equal(new TextDecoder().decode(encodeFailure("busy", 0.5)),
 *   "d14:failure reason4:busy8:retry ini1ee");
 * ```
 */
export function encodeFailure(reason: string, retryInMinutes?: number): Uint8Array {
  const utf8 = new TextEncoder().encode(reason);
  const w = new Writer(utf8.length + 48).text("d14:failure reason" + utf8.length + ":").bytes(utf8);
  if (retryInMinutes !== undefined) {
    w.text("8:retry in").int(Math.max(1, Math.ceil(retryInMinutes)));
  }
  return w.text("e").done();
}

/**
 * The body of a successful announce. Compact replies (BEP 23, BEP 7) carry `peers` and `peers6` as
 * packed bytes; non-compact ones a list of `{ip, peer id, port}` dictionaries.
 *
 * Written into `into` when it is given and large enough (the result is then a view of it, valid
 * until `into` is written again): a fresh buffer per reply costs an allocation outside the V8
 * heap, which is a measurable part of an HTTP announce.
 *
 * @example
 * ```ts
 * import { encodeAnnounceReply } from "./http_reply.ts";
 * const body = encodeAnnounceReply({
 *   interval: 900, minInterval: 60, complete: 1, incomplete: 0, downloaded: 0,
 *   peers4: new Uint8Array([10, 0, 0, 2, 0x1a, 0xe1]), peers6: new Uint8Array(), peerIds: ["x".repeat(20)],
 * }, true, false);
 * new TextDecoder().decode(body).startsWith("d8:completei1e"); // true
 * ```
 */
export function encodeAnnounceReply(
  reply: AnnounceReply,
  compact: boolean,
  noPeerId: boolean,
  into?: Uint8Array,
): Uint8Array {
  const w = new Writer(128 + reply.peers4.length + reply.peers6.length, into);
  w.text("d8:complete").int(reply.complete)
    .text("10:downloaded").int(reply.downloaded)
    .text("10:incomplete").int(reply.incomplete)
    .text("8:interval").int(reply.interval)
    .text("12:min interval").int(reply.minInterval);
  if (compact) {
    w.text("5:peers").digits(reply.peers4.length).byte(58).bytes(reply.peers4);
    w.text("6:peers6").digits(reply.peers6.length).byte(58).bytes(reply.peers6);
  } else {
    w.text("5:peersl");
    let n = 0;
    const entry = (bytes: Uint8Array, at: number, len: 4 | 16) => {
      w.text("d2:ip").str(formatIp(bytes, at, len));
      if (!noPeerId) w.text("7:peer id").str(reply.peerIds[n]);
      w.text("4:port").int(bytes[at + len] * 256 + bytes[at + len + 1]).text("e");
      n++;
    };
    for (let at = 0; at < reply.peers4.length; at += 6) entry(reply.peers4, at, 4);
    for (let at = 0; at < reply.peers6.length; at += 18) entry(reply.peers6, at, 16);
    w.text("e");
  }
  return w.text("e").done();
}

/**
 * The body of a scrape (BEP 48): a `files` dictionary with one entry per tracked torrent asked for
 * (unknown hashes are left out, as BEP 48 describes only torrents the tracker has), plus
 * `flags.min_request_interval`, and a `warning message` when `warning` is given (BEP 48 has no
 * field for it; clients ignore keys they do not know). Keys come out sorted: hashes are sorted
 * bytewise, duplicates dropped.
 */
export function encodeScrapeReply(
  entries: Iterable<[infoHash: string, counts: SwarmCounts]>,
  minRequestInterval: number,
  warning?: string,
): Uint8Array {
  const sorted = [...new Map(entries)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const w = new Writer(64 + sorted.length * 80);
  w.text("d5:filesd");
  for (const [hash, c] of sorted) {
    w.str(hash).text("d8:complete").int(c.complete)
      .text("10:downloaded").int(c.downloaded)
      .text("10:incomplete").int(c.incomplete).text("e");
  }
  w.text("e5:flagsd20:min_request_interval").int(minRequestInterval).text("e");
  if (warning !== undefined) w.text("15:warning message").str(warning);
  return w.text("e").done();
}
