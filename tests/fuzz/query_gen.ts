/**
 * Fuzz inputs for the HTTP announce and scrape query parser: well-formed queries whose fields are
 * known (so a parse can be checked field by field), and hostile ones: percent-encoding edge cases,
 * repeated and missing keys, huge values, bytes that are not UTF-8, odd numbers and addresses.
 *
 * Queries are *binary strings*, one char per byte, as the HTTP server hands them over.
 *
 * @module
 */
import type { Rng } from "./prng.ts";

/** What a clean announce query asks for, to compare a parse with. */
export interface AnnounceIntent {
  infoHash: string;
  peerId: string;
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
  /** The `event` word sent, or undefined when none. */
  event?: string;
  numwant?: number;
  compact?: boolean;
}

/** A generated query and, when it was left clean, what it must parse to. */
export interface QueryCase {
  kind: "announce" | "scrape";
  query: string;
  /** Set when the query is well formed and unmutated. */
  announce?: AnnounceIntent;
  /** Set when the scrape query is well formed and unmutated. */
  scrape?: string[];
  /** Honour the `ip` parameter. */
  allowProxy: boolean;
  /** The address the request came from. */
  remoteIp: string;
  maxHashes: number;
}

const HEX = "0123456789ABCDEF";

/**
 * Percent-encodes a binary string the way clients do, with random variations that mean the same
 * bytes: lower- or upper-case hex, unreserved characters left as they are or encoded.
 */
export function encodeBytes(rng: Rng, s: string): string {
  const lower = rng.chance(0.5);
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const unreserved = /[A-Za-z0-9\-._~]/.test(s[i]);
    if (unreserved && rng.chance(0.7)) out += s[i];
    else {
      const h = "%" + HEX[c >> 4] + HEX[c & 15];
      out += lower ? h.toLowerCase() : h;
    }
  }
  return out;
}

/** Values and fragments that sit on the edges of percent-decoding and number parsing. */
const ODD_VALUES = [
  "%",
  "%4",
  "%G1",
  "%%41",
  "%00",
  "%ff",
  "%C3%28",
  "%ED%A0%80",
  "%F4%90%80%80",
  "\x80\xff\xc3",
  "+",
  "=",
  "==",
  "-1",
  "1e3",
  "0x10",
  " 1",
  "1 ",
  "00001",
  "99999999999999999999",
  "999999999999999999999",
  "65536",
  "NaN",
  "Infinity",
  "",
];

/** Addresses for the `ip` parameter, valid and not. */
const IPS = [
  "10.0.0.1",
  "255.255.255.255",
  "0.0.0.0",
  "2001:db8::1",
  "2001:DB8:0:0:0:0:0:1",
  "::ffff:10.1.2.3",
  "::",
  "fe80::1%25eth0",
  "fe80::1%eth0",
  "::1%1",
  "10.0.0.256",
  "10.0.0",
  "010.0.0.1",
  "0x7f.0.0.1",
  "[::1]",
  "1.2.3.4:80",
  "example.org",
  "1.2.3.4,5.6.7.8",
  "",
];

function randomNumberText(rng: Rng): [string, number] {
  const n = rng.pick([0, 1, rng.int(1000), rng.int(2 ** 31), Number.MAX_SAFE_INTEGER]);
  return [String(n), n];
}

/** A well-formed announce query, its fields in random order, and what it asks for. */
function cleanAnnounce(rng: Rng): [string[], AnnounceIntent] {
  const intent: AnnounceIntent = {
    infoHash: rng.binary(20),
    peerId: rng.chance(0.5) ? "-XX0001-" + rng.binary(12) : rng.binary(20),
    // Port 0 is refused by every listener: a clean announce never gives it.
    port: rng.pick([1, 6881, 65535, 1 + rng.int(65535)]),
    uploaded: 0,
    downloaded: 0,
    left: 0,
  };
  const pairs = [
    `info_hash=${encodeBytes(rng, intent.infoHash)}`,
    `peer_id=${encodeBytes(rng, intent.peerId)}`,
    `port=${intent.port}`,
  ];
  for (const key of ["uploaded", "downloaded", "left"] as const) {
    const [text, n] = randomNumberText(rng);
    intent[key] = n;
    pairs.push(`${key}=${text}`);
  }
  if (rng.chance(0.5)) {
    intent.event = rng.pick(["started", "completed", "stopped", "", "paused", "STARTED"]);
    pairs.push(`event=${intent.event}`);
  }
  if (rng.chance(0.5)) {
    intent.numwant = rng.pick([0, 1, 50, 200, 999999999]);
    pairs.push(`numwant=${intent.numwant}`);
  }
  if (rng.chance(0.5)) {
    intent.compact = rng.chance(0.5);
    pairs.push(`compact=${intent.compact ? 1 : 0}`);
  }
  if (rng.chance(0.2)) {
    pairs.push(rng.pick(["ipv4=", "ipv6=", "key=abc", "corrupt=0", "no_peer_id=1"]));
  }
  shuffle(rng, pairs);
  return [pairs, intent];
}

function shuffle<T>(rng: Rng, items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
}

const KEYS = [
  "info_hash",
  "peer_id",
  "port",
  "uploaded",
  "downloaded",
  "left",
  "event",
  "numwant",
  "compact",
  "no_peer_id",
  "ip",
  "ipv4",
  "ipv6",
  "INFO_HASH",
  "info%5Fhash",
  "",
];

/** Breaks a list of `key=value` pairs in one to three hostile ways. */
function mutatePairs(rng: Rng, pairs: string[]): string[] {
  const out = [...pairs];
  for (let n = rng.range(1, 3); n > 0; n--) {
    const at = rng.int(out.length + 1);
    switch (rng.int(9)) {
      case 0: // a required key goes missing
        if (out.length > 0) out.splice(rng.int(out.length), 1);
        break;
      case 1: // a key repeats, with another value
        out.splice(at, 0, `${rng.pick(KEYS)}=${encodeBytes(rng, rng.binary(rng.length(24)))}`);
        break;
      case 2: // an odd value for a known key
        out.splice(at, 0, `${rng.pick(KEYS)}=${rng.pick(ODD_VALUES)}`);
        break;
      case 3: { // a huge value
        const size = rng.pick([1000, 8192, 70_000]);
        out.splice(at, 0, `${rng.pick(KEYS)}=${rng.pick(["a", "%41", "%", "1"]).repeat(size)}`);
        break;
      }
      case 4: // empty pairs, bare keys, stray separators
        out.splice(at, 0, rng.pick(["", "&", "=", "==", "info_hash", "port", "=x", "&&&"]));
        break;
      case 5: // raw bytes that are not ASCII (not UTF-8 either)
        out.splice(at, 0, `${rng.pick(KEYS)}=${rng.binary(rng.length(30))}`);
        break;
      case 6: { // a value cut in the middle of a percent escape
        const i = rng.int(out.length || 1);
        if (out[i] !== undefined) out[i] = out[i].slice(0, rng.int(out[i].length + 1));
        break;
      }
      case 7: // the ip parameter
        out.splice(
          at,
          0,
          `ip=${rng.chance(0.5) ? rng.pick(IPS) : encodeBytes(rng, rng.pick(IPS))}`,
        );
        break;
      default: // many pairs
        for (let k = rng.pick([10, 100, 300]); k > 0; k--) out.push(`x${k}=${k}`);
    }
  }
  return out;
}

/** One announce or scrape case, clean (with its intent) or mutated. */
export function randomQuery(rng: Rng): QueryCase {
  const allowProxy = rng.chance(0.3);
  const remoteIp = rng.pick(["127.0.0.1", "10.9.8.7", "2001:db8::9", "::1"]);
  const maxHashes = rng.pick([1, 5, 74]);
  if (rng.chance(0.3)) {
    const hashes = Array.from({ length: rng.int(maxHashes + 1) }, () => rng.binary(20));
    let pairs = hashes.map((h) => `info_hash=${encodeBytes(rng, h)}`);
    const clean = rng.chance(0.3);
    if (!clean) pairs = mutatePairs(rng, pairs);
    return {
      kind: "scrape",
      query: pairs.join("&"),
      scrape: clean ? hashes : undefined,
      allowProxy,
      remoteIp,
      maxHashes,
    };
  }
  const [pairs, intent] = cleanAnnounce(rng);
  const clean = rng.chance(0.3);
  return {
    kind: "announce",
    query: (clean ? pairs : mutatePairs(rng, pairs)).join("&"),
    announce: clean ? intent : undefined,
    allowProxy,
    remoteIp,
    maxHashes,
  };
}
