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
 * Stops after `maxPairs` pairs and throws, so a huge query costs little.
 */
export function forEachPair(
  query: string,
  visit: (key: string, value: string) => void,
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
      if (eq < 0 || eq > end) visit(percentDecode(query, start, end), "");
      else if (eq > start) {
        visit(percentDecode(query, start, eq), percentDecode(query, eq + 1, end));
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

function nonNegative(key: string, value: string): number {
  if (!/^[0-9]{1,20}$/.test(value)) throw new QueryError(`invalid ${key}: not a whole number`, key);
  const n = Number(value);
  return n > MAX_COUNT ? MAX_COUNT : n;
}

function exactly20(key: string, value: string | undefined): string {
  if (value === undefined) throw new QueryError(`missing ${key}`, key);
  if (value.length !== 20) {
    throw new QueryError(`invalid ${key}: ${value.length} bytes, expected 20`, key);
  }
  return value;
}

/**
 * Decodes an announce query. `ip` is the address the request came from (already resolved through a
 * trusted reverse proxy, if any). Throws {@link QueryError} for a request that must be refused.
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
  let infoHash: string | undefined;
  let peerId: string | undefined;
  let port: string | undefined;
  let left: string | undefined;
  let uploaded = "0";
  let downloaded = "0";
  let event = AnnounceEvent.None;
  let numwant = -1;
  let compact = true;
  let noPeerId = false;
  let ipParam: string | undefined;
  let want = 0;

  forEachPair(query, (key, value) => {
    switch (key) {
      case "info_hash":
        infoHash ??= value;
        break;
      case "peer_id":
        peerId ??= value;
        break;
      case "port":
        port ??= value;
        break;
      case "left":
        left ??= value;
        break;
      case "uploaded":
        uploaded = value;
        break;
      case "downloaded":
        downloaded = value;
        break;
      case "event":
        switch (value.toLowerCase()) {
          case "started":
            event = AnnounceEvent.Started;
            break;
          case "completed":
            event = AnnounceEvent.Completed;
            break;
          case "stopped":
            event = AnnounceEvent.Stopped;
            break;
          default:
            event = AnnounceEvent.None; // "", "paused" (BEP 21) and unknown words
        }
        break;
      case "numwant": {
        const n = /^[0-9]{1,9}$/.test(value) ? Number(value) : -1;
        numwant = n;
        break;
      }
      case "compact":
        compact = value !== "0";
        break;
      case "no_peer_id":
        noPeerId = value !== "0";
        break;
      case "ip":
        ipParam = value;
        break;
      case "ipv4":
        want |= Want.V4;
        break;
      case "ipv6":
        want |= Want.V6;
        break;
    }
  });

  const hash = exactly20("info_hash", infoHash);
  const id = exactly20("peer_id", peerId);
  if (port === undefined) throw new QueryError("missing port", "port");
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) {
    throw new QueryError(`invalid port: ${JSON.stringify(port.slice(0, 16))}`, "port");
  }
  if (left === undefined) throw new QueryError("missing left", "left");

  let address = ip;
  if (options.allowProxy && ipParam !== undefined && ipParam !== "") {
    const given = canonicalIp(ipParam);
    if (given === undefined) {
      throw new QueryError(`invalid ip: ${JSON.stringify(ipParam.slice(0, 64))}`, "ip");
    }
    address = given;
  }
  // BEP 7: an IPv4 client that says it also has IPv6 gets IPv6 peers too, and vice versa.
  want |= isIpv6(address) ? Want.Both : Want.V4;

  return {
    request: {
      infoHash: hash,
      peerId: id,
      ip: address,
      port: Number(port),
      uploaded: nonNegative("uploaded", uploaded),
      downloaded: nonNegative("downloaded", downloaded),
      left: nonNegative("left", left),
      event,
      numwant,
      want: want as Want,
    },
    compact,
    noPeerId,
  };
}

/** The info hashes of a scrape; an empty list asks for a full scrape. */
export interface HttpScrape {
  infoHashes: string[];
}

/**
 * Decodes a scrape query: every `info_hash` value, in order. Throws {@link QueryError} when a value
 * is not 20 bytes or when there are more than `maxHashes`.
 */
export function parseScrapeQuery(query: string, maxHashes: number): HttpScrape {
  const infoHashes: string[] = [];
  forEachPair(query, (key, value) => {
    if (key !== "info_hash") return;
    if (value.length !== 20) {
      throw new QueryError(`invalid info_hash: ${value.length} bytes, expected 20`, "info_hash");
    }
    if (infoHashes.length >= maxHashes) {
      throw new QueryError(`too many info_hash values (max ${maxHashes})`, "info_hash");
    }
    infoHashes.push(value);
  }, maxHashes + 64);
  return { infoHashes };
}
