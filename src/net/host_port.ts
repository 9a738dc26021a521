/**
 * Reading and writing `ADDR:PORT` text (`127.0.0.1:9469`, `[::1]:9469`). Pure.
 *
 * @module
 */
import { canonicalIp } from "../protocol/ip.ts";

/** An address and port to listen on. */
export interface HostPort {
  /** Canonical IP address text. */
  hostname: string;
  /** 0 lets the system choose. */
  port: number;
}

/**
 * Reads `ADDR:PORT` where ADDR is an IPv4 address or a bracketed IPv6 address. Returns
 * `undefined` for anything else (host names included: a listener binds an address).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHostPort } from "./host_port.ts";
 * assert.deepEqual(parseHostPort("[::1]:9469"), { hostname: "::1", port: 9469 });
 * assert.equal(parseHostPort("localhost:9469"), undefined);
 * ```
 */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(text.trim());
  if (m === null) return undefined;
  const hostname = canonicalIp(m[1] ?? m[2]);
  const port = Number(m[3]);
  if (hostname === undefined || port > 65535) return undefined;
  if ((m[1] !== undefined) !== hostname.includes(":")) return undefined;
  return { hostname, port };
}

/** `hostname:port` as {@link parseHostPort} reads it: an IPv6 address goes in brackets. */
export function formatHostPort(hostname: string, port: number): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}
