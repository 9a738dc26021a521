/**
 * Fuzz inputs for the BEP 15 request parser: well-formed connect, announce and scrape packets
 * written here byte by byte (with the fields they carry, to compare a parse with), and noise,
 * truncations, flipped bytes and trailing junk.
 *
 * @module
 */
import type { Rng } from "./prng.ts";

/** The fields of a clean packet, as written. */
export interface UdpIntent {
  action: 0 | 1 | 2;
  connectionIdHi: number;
  connectionIdLo: number;
  transactionId: number;
  /** Announce fields (action 1). */
  infoHash?: string;
  peerId?: string;
  downloaded?: number;
  left?: number;
  uploaded?: number;
  event?: number;
  ip?: number;
  key?: number;
  numwant?: number;
  port?: number;
  /** Scrape hashes (action 2), all of them (the parser cuts to its bound). */
  infoHashes?: string[];
}

/** A generated packet and, when it was left clean, what it carries. */
export interface UdpCase {
  packet: Uint8Array;
  intent?: UdpIntent;
  /** The parser's scrape bound for this case. */
  maxScrapeTorrents: number;
}

function u32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function u64(b: Uint8Array, o: number, v: number): void {
  u32(b, o, Math.floor(v / 2 ** 32));
  u32(b, o + 4, v % 2 ** 32);
}

function bin(b: Uint8Array, o: number, s: string): void {
  for (let i = 0; i < s.length; i++) b[o + i] = s.charCodeAt(i);
}

/** A u64 value: small, on the safe-integer edge, or beyond it (the parser clamps). */
function u64Value(rng: Rng): number {
  return rng.pick([0, 1, rng.u32(), Number.MAX_SAFE_INTEGER, rng.u32() * 2 ** 21]);
}

function cleanPacket(rng: Rng): [Uint8Array, UdpIntent] {
  const action = rng.pick([0, 1, 2] as const);
  const intent: UdpIntent = {
    action,
    connectionIdHi: action === 0 ? 0x417 : rng.u32(),
    connectionIdLo: action === 0 ? 0x27101980 : rng.u32(),
    transactionId: rng.u32(),
  };
  let b: Uint8Array;
  if (action === 0) {
    b = new Uint8Array(16 + (rng.chance(0.1) ? rng.int(20) : 0));
  } else if (action === 1) {
    Object.assign(intent, {
      infoHash: rng.binary(20),
      peerId: rng.binary(20),
      downloaded: u64Value(rng),
      left: u64Value(rng),
      uploaded: u64Value(rng),
      event: rng.pick([0, 1, 2, 3, 4, 0xffffffff]),
      ip: rng.chance(0.7) ? 0 : rng.u32(),
      key: rng.u32(),
      numwant: rng.pick([-1, 0, 50, 2 ** 31 - 1, -(2 ** 31)]),
      port: rng.int(65536),
    });
    // BEP 41 options may follow the 98 bytes.
    b = new Uint8Array(98 + (rng.chance(0.2) ? rng.int(64) : 0));
    bin(b, 16, intent.infoHash!);
    bin(b, 36, intent.peerId!);
    u64(b, 56, intent.downloaded!);
    u64(b, 64, intent.left!);
    u64(b, 72, intent.uploaded!);
    u32(b, 80, intent.event!);
    u32(b, 84, intent.ip!);
    u32(b, 88, intent.key!);
    u32(b, 92, intent.numwant!);
    b[96] = intent.port! >> 8;
    b[97] = intent.port! & 0xff;
    if (rng.chance(0.1)) {
      // Past 2^53 - 1 on the wire: the parser clamps to MAX_SAFE_INTEGER, and reads a negative
      // int64 (high bit set) as -1, which every listener refuses.
      const hi = 0x200000 + rng.int(0xffdfffff);
      u32(b, 64, hi);
      intent.left = hi >= 0x80000000 ? -1 : Number.MAX_SAFE_INTEGER;
    }
  } else {
    intent.infoHashes = Array.from({ length: rng.range(1, 100) }, () => rng.binary(20));
    // A partial trailing hash is ignored by the parser.
    b = new Uint8Array(16 + 20 * intent.infoHashes.length + (rng.chance(0.2) ? rng.int(20) : 0));
    intent.infoHashes.forEach((h, i) => bin(b, 16 + 20 * i, h));
  }
  u32(b, 0, intent.connectionIdHi);
  u32(b, 4, intent.connectionIdLo);
  u32(b, 8, action);
  u32(b, 12, intent.transactionId);
  return [b, intent];
}

/** One packet: clean with its intent, mutated, or noise. */
export function randomPacket(rng: Rng): UdpCase {
  const maxScrapeTorrents = rng.pick([1, 10, 74, 200]);
  const r = rng.float();
  if (r < 0.15) {
    const noise = rng.bytes(rng.length(1500));
    // A valid action word now and then, so noise reaches every branch.
    if (noise.length >= 12 && rng.chance(0.5)) u32(noise, 8, rng.int(5));
    return { packet: noise, maxScrapeTorrents };
  }
  const [packet, intent] = cleanPacket(rng);
  if (r < 0.45) return { packet, intent, maxScrapeTorrents };
  let p = packet;
  for (let n = rng.range(1, 3); n > 0; n--) {
    switch (rng.int(4)) {
      case 0:
        p = p.slice(0, rng.int(p.length + 1));
        break;
      case 1:
        if (p.length > 0) p[rng.int(p.length)] = rng.u32() & 0xff;
        break;
      case 2: {
        const longer = new Uint8Array(p.length + rng.length(200));
        longer.set(p);
        longer.set(rng.bytes(longer.length - p.length), p.length);
        p = longer;
        break;
      }
      default:
        if (p.length >= 12) u32(p, 8, rng.pick([0, 1, 2, 3, 4, 0xffffffff]));
    }
  }
  return { packet: p, maxScrapeTorrents };
}
