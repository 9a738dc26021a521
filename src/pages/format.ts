/**
 * Number and time formats of the pages. Pure functions.
 *
 * @module
 */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/**
 * A byte count in binary units, as the original prints it (reference §10.1): three significant
 * digits at most, trailing zeros dropped, no space before the unit. Unlike the original, a leading
 * zero of the fraction is kept (1076 → `1.05KiB`, not `1.5KiB`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes } from "./format.ts";
 * assert.equal(formatBytes(1536), "1.5KiB");
 * assert.equal(formatBytes(1076), "1.05KiB");
 * assert.equal(formatBytes(4160752058), "3.87GiB");
 * assert.equal(formatBytes(711983104), "679MiB");
 * ```
 */
export function formatBytes(v: number): string {
  if (!Number.isFinite(v) || v < 0) return "?";
  if (v < 1024) return `${Math.floor(v)}B`;
  let u = 1;
  while (u < 6 && v >= 1024 ** (u + 1)) u++;
  const unit = 1024 ** u;
  const i = Math.floor(v / unit);
  // Hundredths of the unit, computed like the original: whole 1024^(u-1) steps, then hundredths.
  const hundredths = Math.floor((100 * Math.floor((v % unit) / 1024 ** (u - 1))) / 1024);
  if (hundredths === 0 || i >= 100) return `${i}${UNITS[u]}`;
  let digits = String(hundredths).padStart(2, "0");
  if (i > 10) digits = digits.slice(0, 1); // two digits before the point: keep one after it
  digits = digits.replace(/0+$/, "");
  return digits === "" ? `${i}${UNITS[u]}` : `${i}.${digits}${UNITS[u]}`;
}

function pad2(n: number): string {
  return n < 10 ? "0" + n : String(n);
}

/**
 * A duration in whole seconds as `D days, hh:mm:ss` (the days part only when there is at least
 * one), for the uptime line.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./format.ts";
 * formatDuration(3 * 86400 + 7 * 60 + 5); // "3 days, 00:07:05"
 * ```
 */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const clock = `${pad2(Math.floor((s % 86400) / 3600))}:${pad2(Math.floor((s % 3600) / 60))}:${
    pad2(s % 60)
  }`;
  if (days === 0) return clock;
  return `${days} ${days === 1 ? "day" : "days"}, ${clock}`;
}

/**
 * How long ago something happened, coarsely (`42 s ago`, `3 min ago`, `2 h ago`), for the
 * peers' last announce.
 */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** An integer with thin grouping (`12 345`), so large counters stay readable. */
export function formatCount(n: number): string {
  return Math.floor(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
}

/**
 * A peer id for display: printable ASCII stays as it is, any other byte becomes `%XX`, so the
 * client prefix (`-qB4650-`) stays readable and nothing unprintable reaches the page.
 */
export function formatPeerId(id: string): string {
  let out = "";
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && c !== 0x25
      ? id[i]
      : "%" + (c & 0xff).toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}
