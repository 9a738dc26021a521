/**
 * Decodes the query string of an HTTP announce (BEP 3, 7, 23) or scrape (BEP 48) into a request.
 *
 * Values are percent-decoded to *binary strings* (one character per byte), because `info_hash` and
 * `peer_id` are raw bytes, not text. A `+` stays a `+`: BitTorrent clients percent-encode every
 * byte that is not unreserved, and the original's `+` → space rule corrupts hashes that contain a
 * raw `+` (reference §3.4).
 *
 * @module
 */
import { AnnounceEvent, type AnnounceRequest, Want } from "./types.ts";
import { canonicalIp, isIpv6 } from "./ip.ts";
import { aboveInt64, announceError, countError } from "./announce_check.ts";

/** Why a query was refused; `message` is sent to the client as the `failure reason`. */
export class QueryError extends Error {
  override name = "QueryError";
  constructor(message: string, readonly key?: string) {
    super(message);
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Bytes decoded by {@link percentDecode}, reused: it builds one string from them at the end. */
let decoded = new Uint8Array(256);

/** A binary string of the first `n` bytes of `decoded`. */
function decodedString(n: number): string {
  const b = decoded;
  // Info hashes and peer ids: one call with the bytes as arguments, nothing else allocated.
  if (n === 20) {
    return String.fromCharCode(
      b[0],
      b[1],
      b[2],
      b[3],
      b[4],
      b[5],
      b[6],
      b[7],
      b[8],
      b[9],
      b[10],
      b[11],
      b[12],
      b[13],
      b[14],
      b[15],
      b[16],
      b[17],
      b[18],
      b[19],
    );
  }
  let out = "";
  // In slices, so that no call gets more arguments than engines accept.
  for (let at = 0; at < n; at += 4096) {
    out += String.fromCharCode.apply(
      null,
      b.subarray(at, Math.min(n, at + 4096)) as unknown as number[],
    );
  }
  return out;
}

/**
 * Percent-decodes `s[start, end)` into a binary string. A `%` not followed by two hex digits is
 * kept as it is.
 *
 * @example
 * ```ts
 * import { percentDecode } from "./http_query.ts";
 * percentDecode("%41b%ff", 0, 7); // "Ab\xff"
 * ```
 */
export function percentDecode(s: string, start = 0, end = s.length): string {
  const first = s.indexOf("%", start);
  if (first < 0 || first >= end) return s.slice(start, end);
  // The bytes go to a buffer, then become one string: adding characters one by one would build
  // a string per character.
  if (decoded.length < end - start) decoded = new Uint8Array(end - start);
  const b = decoded;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && i + 2 < end) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        b[n++] = hi * 16 + lo;
        i += 2;
        continue;
      }
    }
    if (c > 0xff) return percentDecodeWide(s, start, end);
    b[n++] = c;
  }
  return decodedString(n);
}

/** {@link percentDecode} for text with characters above 0xFF (never a client's query). */
function percentDecodeWide(s: string, start: number, end: number): string {
  let out = "";
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && i + 2 < end) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        out += String.fromCharCode(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

/**
 * Calls `visit(key, value)` for each `key=value` pair of a query string (without the `?`), keys
 * and values percent-decoded. Empty pairs are skipped; a pair without `=` has an empty value.
 * Stops quietly when `visit` returns `true` (exactly); throws past `maxPairs` pairs, so a huge
 * query costs little.
 */
export function forEachPair(
  query: string,
  visit: (key: string, value: string) => unknown,
  maxPairs = 256,
): void {
  let pairs = 0;
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf("&", start);
    if (end < 0) end = query.length;
    if (end > start) {
      if (++pairs > maxPairs) throw new QueryError(`too many query parameters (max ${maxPairs})`);
      const eq = query.indexOf("=", start);
      if (eq < 0 || eq > end) {
        if (visit(percentDecode(query, start, end), "") === true) return;
      } else if (eq > start) {
        if (visit(percentDecode(query, start, eq), percentDecode(query, eq + 1, end)) === true) {
          return;
        }
      }
    }
    start = end + 1;
  }
}

/** An announce request plus the reply format the client asked for. */
export interface HttpAnnounce {
  request: AnnounceRequest;
  /** BEP 23: compact peer lists unless the client sent `compact=0`. */
  compact: boolean;
  /** Leave `peer id` out of non-compact peer lists. */
  noPeerId: boolean;
}

/** How the listener wants announces read. */
export interface AnnounceQueryOptions {
  /** Honour the `ip` parameter (the reference's `--allow-proxy`): anyone can then set any address. */
  allowProxy: boolean;
}

const MAX_COUNT = Number.MAX_SAFE_INTEGER;
/** A DNS name (RFC 1123 labels, at most 253 characters) with a letter, so no malformed address. */
const DNS_NAME =
  /^(?=.{1,253}$)(?=.*[A-Za-z])[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
/** Most `key=value` pairs read from an announce. */
const MAX_PAIRS = 256;

function nonNegative(key: string, value: string): number {
  if (!/^[0-9]{1,20}$/.test(value)) throw new QueryError(`invalid ${key}: not a whole number`, key);
  const n = Number(value);
  if (n > MAX_COUNT && aboveInt64(value)) throw new QueryError(countError(key), key);
  return n > MAX_COUNT ? MAX_COUNT : n;
}

function exactly20(key: string, value: string | undefined): string {
  if (value === undefined) throw new QueryError(`missing ${key}`, key);
  if (value.length !== 20) {
    throw new QueryError(`invalid ${key}: ${value.length} bytes, expected 20`, key);
  }
  return value;
}

/** The announce keys read, and everything else. */
enum Key {
  Other,
  InfoHash,
  PeerId,
  Port,
  Left,
  Uploaded,
  Downloaded,
  Event,
  Numwant,
  Compact,
  NoPeerId,
  Ip,
  Ipv4,
  Ipv6,
}

const KEYS: readonly [string, Key][] = [
  ["info_hash", Key.InfoHash],
  ["peer_id", Key.PeerId],
  ["port", Key.Port],
  ["left", Key.Left],
  ["uploaded", Key.Uploaded],
  ["downloaded", Key.Downloaded],
  ["event", Key.Event],
  ["numwant", Key.Numwant],
  ["compact", Key.Compact],
  ["no_peer_id", Key.NoPeerId],
  ["ip", Key.Ip],
  ["ipv4", Key.Ipv4],
  ["ipv6", Key.Ipv6],
];
const KEY_BY_NAME = new Map(KEYS);
/** The keys by length of their name: a key in a query is compared with those of its length only. */
const KEYS_BY_LENGTH: (readonly [string, Key])[][] = [];
for (const k of KEYS) (KEYS_BY_LENGTH[k[0].length] ??= []).push(k);

/** True when `q[start, end)` holds a `%` (must be decoded before it is compared or parsed). */
function escaped(q: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (q.charCodeAt(i) === 37) return true;
  return false;
}

/**
 * Which key `q[start, end)` names once decoded. Compared in place with the names of its length
 * first (no name holds a `%`, so a match needs no decoding); decoded only when that fails and it
 * has escapes.
 */
function keyAt(q: string, start: number, end: number): Key {
  const candidates = KEYS_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    const first = q.charCodeAt(start);
    for (const [name, key] of candidates) {
      if (name.charCodeAt(0) === first && q.startsWith(name, start)) return key;
    }
  }
  if (escaped(q, start, end)) return KEY_BY_NAME.get(percentDecode(q, start, end)) ?? Key.Other;
  return Key.Other;
}

/**
 * The whole number written in `q[start, end)` with 1 to `maxDigits` digits and nothing else, or
 * -1. Read in place (values with escapes are decoded by the caller first).
 */
function digitsAt(q: string, start: number, end: number, maxDigits: number): number {
  const len = end - start;
  if (len < 1 || len > maxDigits) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = q.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** True when `q[start, end)` is, ASCII case aside, `word` (lower case). */
function wordAt(q: string, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    const c = q.charCodeAt(start + i);
    const w = word.charCodeAt(i);
    if (c !== w && c !== w - 32) return false;
  }
  return true;
}

function eventAt(q: string, start: number, end: number): AnnounceEvent {
  if (escaped(q, start, end)) {
    const word = percentDecode(q, start, end);
    return eventOf(word, 0, word.length);
  }
  return eventOf(q, start, end);
}

/** The event `q[start, end)` names, read as it is (already decoded). */
function eventOf(q: string, start: number, end: number): AnnounceEvent {
  if (wordAt(q, start, end, "started")) return AnnounceEvent.Started;
  if (wordAt(q, start, end, "completed")) return AnnounceEvent.Completed;
  if (wordAt(q, start, end, "stopped")) return AnnounceEvent.Stopped;
  return AnnounceEvent.None; // "", "paused" (BEP 21) and unknown words
}

/** True when `q[start, end)` decodes to exactly "0". */
function zeroAt(q: string, start: number, end: number): boolean {
  if (escaped(q, start, end)) return percentDecode(q, start, end) === "0";
  return end - start === 1 && q.charCodeAt(start) === 48;
}

/**
 * A count (`uploaded`, `downloaded`, `left`) from `q[start, end)`: 1 to 20 digits, capped at the
 * largest safe integer. `start < 0` means the key was absent: `absent` then.
 */
function countAt(q: string, start: number, end: number, key: string, absent: number): number {
  if (start < 0) return absent;
  if (escaped(q, start, end)) return nonNegative(key, percentDecode(q, start, end));
  const n = digitsAt(q, start, end, 20);
  if (n < 0) throw new QueryError(`invalid ${key}: not a whole number`, key);
  // Past 2^53 the sum above is approximate, but it is capped anyway; past 2^63 - 1 UDP could not
  // carry it, so no listener takes it.
  if (n > MAX_COUNT && aboveInt64(q.slice(start, end))) throw new QueryError(countError(key), key);
  return n > MAX_COUNT ? MAX_COUNT : n;
}

/**
 * Decodes an announce query. `ip` is the address the request came from (already resolved through a
 * trusted reverse proxy, if any). Throws {@link QueryError} for a request that must be refused.
 *
 * The query is read in place: keys are compared and numbers parsed where they lie, and only the
 * values kept are decoded (one string each), so an announce costs a handful of allocations.
 * Pairs follow {@link forEachPair}'s rules; the first `info_hash`, `peer_id`, `port` and `left`
 * count, and the last of the other keys.
 *
 * @example
 * ```ts
 * import { parseAnnounceQuery } from "./http_query.ts";
 * const q = "info_hash=%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%14" +
 *   "&peer_id=-XX0001-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=10&compact=1";
 * const { request } = parseAnnounceQuery(q, "10.0.0.1", { allowProxy: false });
 * request.port; // 6881
 * ```
 */
export function parseAnnounceQuery(
  query: string,
  ip: string,
  options: AnnounceQueryOptions,
): HttpAnnounce {
  // Where each value lies in the query, still encoded; -1 when absent.
  let hashAt = -1, hashEnd = 0;
  let idAt = -1, idEnd = 0;
  let portAt = -1, portEnd = 0;
  let leftAt = -1, leftEnd = 0;
  let upAt = -1, upEnd = 0;
  let downAt = -1, downEnd = 0;
  let event = AnnounceEvent.None;
  let numwant = -1;
  let compact = true;
  let noPeerId = false;
  let ipParam: string | undefined;
  let want = 0;

  let pairs = 0;
  for (let start = 0; start <= query.length;) {
    let end = query.indexOf("&", start);
    if (end < 0) end = query.length;
    if (end > start) {
      if (++pairs > MAX_PAIRS) throw new QueryError(`too many query parameters (max ${MAX_PAIRS})`);
      let eq = query.indexOf("=", start);
      let at = end; // a key without "=" has an empty value
      if (eq < 0 || eq > end) eq = end;
      else at = eq + 1;
      // A pair with an empty key is dropped.
      if (eq > start) {
        switch (keyAt(query, start, eq)) {
          case Key.InfoHash:
            if (hashAt < 0) {
              hashAt = at;
              hashEnd = end;
            }
            break;
          case Key.PeerId:
            if (idAt < 0) {
              idAt = at;
              idEnd = end;
            }
            break;
          case Key.Port:
            if (portAt < 0) {
              portAt = at;
              portEnd = end;
            }
            break;
          case Key.Left:
            if (leftAt < 0) {
              leftAt = at;
              leftEnd = end;
            }
            break;
          case Key.Uploaded:
            upAt = at;
            upEnd = end;
            break;
          case Key.Downloaded:
            downAt = at;
            downEnd = end;
            break;
          case Key.Event:
            event = eventAt(query, at, end);
            break;
          case Key.Numwant:
            numwant = escaped(query, at, end)
              ? numwantOf(percentDecode(query, at, end))
              : digitsAt(query, at, end, 9);
            break;
          case Key.Compact:
            compact = !zeroAt(query, at, end);
            break;
          case Key.NoPeerId:
            noPeerId = !zeroAt(query, at, end);
            break;
          case Key.Ip:
            ipParam = percentDecode(query, at, end);
            break;
          case Key.Ipv4:
            want |= Want.V4;
            break;
          case Key.Ipv6:
            want |= Want.V6;
            break;
        }
      }
    }
    start = end + 1;
  }

  const hash = exactly20(
    "info_hash",
    hashAt < 0 ? undefined : percentDecode(query, hashAt, hashEnd),
  );
  const id = exactly20("peer_id", idAt < 0 ? undefined : percentDecode(query, idAt, idEnd));
  if (portAt < 0) throw new QueryError("missing port", "port");
  let port = escaped(query, portAt, portEnd) ? -1 : digitsAt(query, portAt, portEnd, 5);
  if (port < 0 || port > 65535) {
    const text = percentDecode(query, portAt, portEnd);
    port = /^[0-9]{1,5}$/.test(text) ? Number(text) : -1;
    if (port < 0 || port > 65535) {
      throw new QueryError(`invalid port: ${JSON.stringify(text.slice(0, 16))}`, "port");
    }
  }
  if (leftAt < 0) throw new QueryError("missing left", "left");

  let address = ip;
  if (options.allowProxy && ipParam !== undefined && ipParam !== "") {
    const given = canonicalIp(ipParam);
    if (given !== undefined) address = given;
    // BEP 3 allows a DNS name; like the original, Hefur looks none up and keeps the sender's.
    else if (!DNS_NAME.test(ipParam)) {
      throw new QueryError(`invalid ip: ${JSON.stringify(ipParam.slice(0, 64))}`, "ip");
    }
  }
  // BEP 7: an IPv4 client that says it also has IPv6 gets IPv6 peers too, and vice versa.
  want |= isIpv6(address) ? Want.Both : Want.V4;

  const request = {
    infoHash: hash,
    peerId: id,
    ip: address,
    port,
    uploaded: countAt(query, upAt, upEnd, "uploaded", 0),
    downloaded: countAt(query, downAt, downEnd, "downloaded", 0),
    left: countAt(query, leftAt, leftEnd, "left", 0),
    event,
    numwant,
    want: want as Want,
  };
  const refused = announceError(request);
  if (refused !== undefined) throw new QueryError(refused);
  return { request, compact, noPeerId };
}

/** `numwant` from its decoded text: 1 to 9 digits, else -1 (not said). */
function numwantOf(value: string): number {
  return /^[0-9]{1,9}$/.test(value) ? Number(value) : -1;
}

/** The info hashes of a scrape; an empty list asks for a full scrape. */
export interface HttpScrape {
  infoHashes: string[];
  /** True when the query named more than `maxHashes`: only the first ones were read. */
  truncated: boolean;
}

/**
 * Decodes a scrape query: every `info_hash` value, in order, up to `maxHashes` of them; the rest
 * of the query is not read (as opentracker does, a long scrape gets the first hashes answered
 * rather than nothing). Throws {@link QueryError} when a value read is not 20 bytes.
 */
export function parseScrapeQuery(query: string, maxHashes: number): HttpScrape {
  const infoHashes: string[] = [];
  let truncated = false;
  forEachPair(query, (key, value) => {
    if (key !== "info_hash") return;
    if (infoHashes.length >= maxHashes) return truncated = true;
    if (value.length !== 20) {
      throw new QueryError(`invalid info_hash: ${value.length} bytes, expected 20`, "info_hash");
    }
    infoHashes.push(value);
  }, maxHashes + 64);
  return { infoHashes, truncated };
}
