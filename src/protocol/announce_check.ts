/**
 * The checks every listener applies to an announce once its codec has read the fields, so that
 * HTTP, HTTPS, UDP and WebSocket accept and refuse the same announces.
 *
 * Codecs read each field from their own wire form (query digits, big-endian bytes, JSON) and turn
 * a count that cannot be carried as BEP 15's signed 64-bit integer (negative, or above 2^63 − 1)
 * into -1 ({@link OUT_OF_RANGE}); the rules on values live here.
 *
 * @module
 */
import type { AnnounceRequest } from "./types.ts";

/** What a codec reads a count (`left`, `uploaded`, `downloaded`) as when it is out of range. */
export const OUT_OF_RANGE = -1;

/** 2^63 − 1 in decimal: the largest count BEP 15's int64 fields can carry. */
const MAX_INT64_TEXT = "9223372036854775807";

/**
 * True when decimal `digits` (no sign, no leading spaces) are above 2^63 − 1. Hot paths call it
 * only for numbers past `Number.MAX_SAFE_INTEGER`, which are rare.
 */
export function aboveInt64(digits: string): boolean {
  let start = 0;
  while (start < digits.length - 1 && digits.charCodeAt(start) === 48) start++;
  const n = digits.length - start;
  if (n !== MAX_INT64_TEXT.length) return n > MAX_INT64_TEXT.length;
  return digits.slice(start) > MAX_INT64_TEXT;
}

/**
 * A count given as a JSON value (WebTorrent): the number, capped at `Number.MAX_SAFE_INTEGER`,
 * or {@link OUT_OF_RANGE} when it is not a whole number from 0 to 2^63 − 1 (numeric text allowed).
 *
 * @example
 * ```ts
 * import { countFromJson, OUT_OF_RANGE } from "./announce_check.ts";
 * countFromJson(10); // 10
 * countFromJson("-1") === OUT_OF_RANGE; // true
 * ```
 */
export function countFromJson(value: unknown): number {
  let n = NaN;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^[0-9]{1,20}$/.test(value)) {
    n = aboveInt64(value) ? NaN : Number(value);
  }
  // 2^63 is exact as a double; anything from it up is out of range.
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 63) return OUT_OF_RANGE;
  return n > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : n;
}

/** The failure reason for a count out of range. */
export function countError(key: string): string {
  return `invalid ${key}: not a whole number from 0 to 2^63-1`;
}

/** The failure reason for port 0: no peer can be reached there, so it is never handed out. */
export const PORT_ZERO = "invalid port: 0 (give the port the client listens on)";

/**
 * Why `req` must be refused though its codec read every field, or undefined: port 0, or a count
 * its codec found out of range. A few comparisons: cheap enough for the UDP hot path.
 */
export function announceError(req: AnnounceRequest): string | undefined {
  if (req.port === 0) return PORT_ZERO;
  if (req.left < 0) return countError("left");
  if (req.uploaded < 0) return countError("uploaded");
  if (req.downloaded < 0) return countError("downloaded");
  return undefined;
}
