/**
 * IP address text ⇄ bytes, on top of the well-kept `ipaddr.js` parser.
 *
 * Hefur stores every address in canonical text form: dotted quads for IPv4 and the RFC 5952 form
 * for IPv6, with IPv4-mapped IPv6 (`::ffff:1.2.3.4`) always turned into plain IPv4, as the
 * reference §4.2 requires.
 *
 * @module
 */
import ipaddr from "ipaddr.js";

/**
 * Canonical text form of an IP address, or `undefined` when `text` is not a bare IPv4 (four-part
 * dotted quad) or IPv6 literal. Host names, ports, brackets and lists are refused, and so are
 * IPv6 zone ids (`fe80::1%eth0`): a zone names an interface of the host that wrote it, means
 * nothing to anyone else, and would give one address many text forms.
 *
 * @example
 * ```ts
 * import { canonicalIp } from "./ip.ts";
 * canonicalIp("::ffff:10.0.0.1"); // "10.0.0.1"
 * canonicalIp("2001:DB8:0::1"); // "2001:db8::1"
 * canonicalIp("example.org"); // undefined
 * canonicalIp("fe80::1%eth0"); // undefined
 * ```
 */
export function canonicalIp(text: string): string | undefined {
  if (text.includes("%")) return undefined;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text).toString();
  if (!ipaddr.IPv6.isValid(text)) return undefined;
  const v6 = ipaddr.IPv6.parse(text);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String();
}

/**
 * Fast path for addresses that come from a socket: they are already valid, so only the
 * IPv4-mapped form needs undoing.
 */
export function socketIp(hostname: string): string {
  if (hostname.startsWith("::ffff:") && hostname.indexOf(".") > 0) return hostname.slice(7);
  return hostname;
}

/** True for an IPv6 address in text form (as produced by {@link canonicalIp}). */
export function isIpv6(ip: string): boolean {
  return ip.indexOf(":") >= 0;
}

/**
 * Writes the address bytes (4 for IPv4, 16 for IPv6) of a canonical address into `out` at `offset`.
 * Returns the number of bytes written.
 */
export function writeIp(ip: string, out: Uint8Array, offset: number): number {
  if (!isIpv6(ip)) {
    let part = 0;
    let n = 0;
    for (let i = 0; i < ip.length; i++) {
      const c = ip.charCodeAt(i);
      if (c === 46) {
        out[offset + n++] = part;
        part = 0;
      } else part = part * 10 + (c - 48);
    }
    out[offset + n] = part;
    return 4;
  }
  const bytes = ipaddr.IPv6.parse(ip).toByteArray();
  for (let i = 0; i < 16; i++) out[offset + i] = bytes[i];
  return 16;
}

/** Text form of 4 or 16 address bytes found at `offset` of `bytes`. */
export function formatIp(bytes: Uint8Array, offset: number, length: 4 | 16): string {
  if (length === 4) {
    return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
  }
  return canonicalIp(
    ipaddr.fromByteArray(Array.from(bytes.subarray(offset, offset + 16))).toString(),
  )!;
}

/**
 * A set of networks in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a bare address), used for
 * trusted proxies, deny lists and official seeds.
 */
export class Cidrs {
  #ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];

  /** Parses each entry; throws a `RangeError` naming the entry that is not a network. */
  constructor(entries: Iterable<string> = []) {
    for (const e of entries) this.add(e);
  }

  /** Adds one network; throws a `RangeError` naming the entry when it does not parse. */
  add(entry: string): void {
    const text = entry.trim();
    try {
      if (text.includes("/")) {
        this.#ranges.push(ipaddr.parseCIDR(text));
      } else {
        const ip = canonicalIp(text);
        if (ip === undefined) throw new Error();
        const a = ipaddr.parse(ip);
        this.#ranges.push([a, a.kind() === "ipv4" ? 32 : 128]);
      }
    } catch {
      throw new RangeError(`not an IP address or CIDR network: "${entry}"`);
    }
  }

  /** Number of networks in the set. */
  get size(): number {
    return this.#ranges.length;
  }

  /** True when the canonical address `ip` lies in one of the networks. */
  has(ip: string): boolean {
    if (this.#ranges.length === 0) return false;
    const a = ipaddr.parse(ip);
    for (const [net, bits] of this.#ranges) {
      if (a.kind() === net.kind() && a.match(net, bits)) return true;
    }
    return false;
  }
}
