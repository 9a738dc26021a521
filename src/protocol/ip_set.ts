/**
 * A set of IP networks that answers "is this address in it?" in O(log n) without allocating, for
 * checks on the request path: deny lists (which may hold many thousands of networks) and the
 * official seeds' networks.
 *
 * Networks are kept as sorted, merged ranges: IPv4 as 32-bit numbers, IPv6 as four 32-bit words.
 * An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) is an IPv4 network, since Hefur always sees
 * such addresses as plain IPv4 (see `ip.ts`).
 *
 * @module
 */
import ipaddr from "ipaddr.js";
import { canonicalIp, isIpv6 } from "./ip.ts";

/** An entry that is not an address or a network in CIDR notation; `entry` is the text at fault. */
export class IpSetError extends RangeError {
  override name = "IpSetError";
  constructor(readonly entry: string) {
    super(`not an IP address or CIDR network: "${entry.slice(0, 100)}"`);
  }
}

type Range4 = [number, number];
type Words = [number, number, number, number];

/** Reads an entry into its address bytes and prefix length; throws {@link IpSetError}. */
function parseEntry(entry: string): { bytes: number[]; bits: number } {
  const text = entry.trim();
  try {
    if (text.includes("/")) {
      const [addr, bits] = ipaddr.parseCIDR(text);
      return { bytes: addr.toByteArray(), bits };
    }
    const ip = canonicalIp(text);
    if (ip === undefined) throw new Error();
    const bytes = ipaddr.parse(ip).toByteArray();
    return { bytes, bits: bytes.length * 8 };
  } catch {
    throw new IpSetError(entry);
  }
}

function wordsOf(bytes: ArrayLike<number>, at: number): Words {
  const w: Words = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    w[i] = ((bytes[at + 4 * i] << 24) | (bytes[at + 4 * i + 1] << 16) |
      (bytes[at + 4 * i + 2] << 8) | bytes[at + 4 * i + 3]) >>> 0;
  }
  return w;
}

function compareWords(a: ArrayLike<number>, ai: number, b: ArrayLike<number>, bi: number): number {
  for (let i = 0; i < 4; i++) {
    const d = a[ai + i] - b[bi + i];
    if (d !== 0) return d;
  }
  return 0;
}

/** The first and last address of a network, as words. */
function rangeOfWords(w: Words, bits: number): [Words, Words] {
  const lo: Words = [0, 0, 0, 0];
  const hi: Words = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    const keep = Math.max(0, Math.min(32, bits - 32 * i));
    const mask = keep === 0 ? 0 : (0xffffffff << (32 - keep)) >>> 0;
    lo[i] = (w[i] & mask) >>> 0;
    hi[i] = (lo[i] | (~mask >>> 0)) >>> 0;
  }
  return [lo, hi];
}

/** Scratch for lookups: addresses are written here, never allocated. */
const scratch = new Uint8Array(16);
const scratchWords = new Uint32Array(4);

/**
 * An immutable set of networks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IpSet } from "./ip_set.ts";
 * const set = new IpSet(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]);
 * assert.equal(set.has("10.1.2.3"), true);
 * assert.equal(set.has("2001:db8:1::1"), true);
 * assert.equal(set.has("192.0.2.8"), false);
 * ```
 */
export class IpSet {
  /** IPv4 ranges: start, end pairs, sorted and merged. */
  readonly #v4: Uint32Array;
  /** IPv6 ranges: start words then end words (8 numbers per range), sorted and merged. */
  readonly #v6: Uint32Array;

  /** Parses every entry; throws {@link IpSetError} naming the first one that is not a network. */
  constructor(entries: Iterable<string> = []) {
    const v4: Range4[] = [];
    const v6: [Words, Words][] = [];
    for (const entry of entries) {
      const { bytes, bits } = parseEntry(entry);
      if (bytes.length === 16) {
        const w = wordsOf(bytes, 0);
        // ::ffff:a.b.c.d/96+n is the IPv4 network a.b.c.d/n.
        if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff && bits >= 96) {
          const [lo, hi] = rangeOfWords([w[3], 0, 0, 0], bits - 96);
          v4.push([lo[0], hi[0]]);
        } else {
          v6.push(rangeOfWords(w, bits));
        }
      } else {
        const a = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
        const [lo, hi] = rangeOfWords([a, 0, 0, 0], bits);
        v4.push([lo[0], hi[0]]);
      }
    }
    v4.sort((a, b) => a[0] - b[0]);
    const merged4: number[] = [];
    for (const [lo, hi] of v4) {
      const n = merged4.length;
      if (n > 0 && lo <= merged4[n - 1] + 1) merged4[n - 1] = Math.max(merged4[n - 1], hi);
      else merged4.push(lo, hi);
    }
    this.#v4 = Uint32Array.from(merged4);
    v6.sort((a, b) => compareWords(a[0], 0, b[0], 0));
    const merged6: Words[] = [];
    for (const [lo, hi] of v6) {
      const last = merged6.length - 1;
      // Merge overlapping ranges (adjacent ones stay apart: rare, and harmless).
      if (last >= 1 && compareWords(lo, 0, merged6[last], 0) <= 0) {
        if (compareWords(hi, 0, merged6[last], 0) > 0) merged6[last] = hi;
      } else {
        merged6.push(lo, hi);
      }
    }
    this.#v6 = Uint32Array.from(merged6.flat());
  }

  /** Number of ranges after merging (for logs). */
  get size(): number {
    return this.#v4.length / 2 + this.#v6.length / 8;
  }

  /** True when the set holds no network: callers skip the lookup entirely. */
  get empty(): boolean {
    return this.#v4.length === 0 && this.#v6.length === 0;
  }

  /** True when the canonical address `ip` (as `ip.ts` produces) lies in one of the networks. */
  has(ip: string): boolean {
    if (!isIpv6(ip)) {
      if (this.#v4.length === 0) return false;
      let part = 0, n = 0;
      for (let i = 0; i < ip.length; i++) {
        const c = ip.charCodeAt(i);
        if (c === 46) {
          scratch[n++] = part;
          part = 0;
        } else part = part * 10 + (c - 48);
      }
      scratch[n] = part;
      return this.hasBytes(scratch, 0, 4);
    }
    if (this.#v6.length === 0) return false;
    let bytes: number[];
    try {
      bytes = ipaddr.IPv6.parse(ip).toByteArray();
    } catch {
      return false;
    }
    for (let i = 0; i < 16; i++) scratch[i] = bytes[i];
    return this.hasBytes(scratch, 0, 16);
  }

  /** True when the address of `len` bytes (4 or 16) at `bytes[at]` lies in one of the networks. */
  hasBytes(bytes: Uint8Array, at: number, len: number): boolean {
    if (len === 4) {
      const r = this.#v4;
      if (r.length === 0) return false;
      const a =
        ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>>
        0;
      // The last range starting at or before a.
      let lo = 0, hi = r.length / 2 - 1, found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (r[2 * mid] <= a) {
          found = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      return found >= 0 && a <= r[2 * found + 1];
    }
    const r = this.#v6;
    if (r.length === 0) return false;
    const w = scratchWords;
    for (let i = 0; i < 4; i++) {
      const j = at + 4 * i;
      w[i] = ((bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3]) >>> 0;
    }
    let lo = 0, hi = r.length / 8 - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (compareWords(r, 8 * mid, w, 0) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && compareWords(w, 0, r, 8 * found + 4) <= 0;
  }
}
