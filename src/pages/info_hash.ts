/**
 * Reading the torrent a page is about from its `info_hash` parameter. Pure.
 *
 * @module
 */
import { hexToBinary } from "../protocol/binary.ts";

/** A torrent named by a page request. */
export interface PageHash {
  /** The 20-byte key the tracker stores the torrent under (binary string). */
  key: string;
  /** The full hash as given: 20 bytes (v1) or 32 bytes (v2), binary string. */
  full: string;
}

/**
 * Reads an already percent-decoded `info_hash` value: 40 or 64 hex digits (either case), or the
 * raw 20 or 32 bytes as a binary string (percent-encoded in the URL, as in an announce). A v2
 * hash is looked up by its first 20 bytes (BEP 52). Returns `undefined` for anything else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePageHash } from "./info_hash.ts";
 * assert.equal(parsePageHash("ab".repeat(20))?.key, "\xab".repeat(20));
 * assert.equal(parsePageHash("\xab".repeat(20))?.key, "\xab".repeat(20));
 * assert.equal(parsePageHash("ab".repeat(32))?.key, "\xab".repeat(20));
 * assert.equal(parsePageHash("abc"), undefined);
 * ```
 */
export function parsePageHash(value: string): PageHash | undefined {
  let full: string | undefined;
  if (value.length === 40 || value.length === 64) full = hexToBinary(value);
  else if (value.length === 20 || value.length === 32) full = value;
  if (full === undefined) return undefined;
  return { key: full.slice(0, 20), full };
}
