/**
 * Number and time formats of the pages. Pure functions.
 *
 * @module
 */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/**
 * A byte count in binary units, the one size format of every page: three significant digits,
 * cut (never rounded up, so a size is never overstated, as the original does), trailing zeros
 * dropped, a space before the unit. Unlike the original (reference §10.1), a leading zero of the
 * fraction is kept (1076 → `1.05 KiB`, not `1.5KiB`) and 10 to 99 units get one decimal like
 * 11 to 99 (`10.2 KiB`, not `10.25KiB`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes } from "./format.ts";
 * assert.equal(formatBytes(1536), "1.5 KiB");
 * assert.equal(formatBytes(1076), "1.05 KiB");
 * assert.equal(formatBytes(4160752058), "3.87 GiB");
 * assert.equal(formatBytes(711983104), "679 MiB");
 * ```
 */
export function formatBytes(v: number): string {
  if (!Number.isFinite(v) || v < 0) return "?";
  if (v < 1024) return `${Math.floor(v)} B`;
  let u = 1;
  while (u < 6 && v >= 1024 ** (u + 1)) u++;
  const unit = 1024 ** u;
  const whole = v / unit;
  const decimals = whole >= 100 ? 0 : whole >= 10 ? 1 : 2;
  // Dividing by a power of two is exact, so the cut never falls on the wrong side of a digit.
  const scaled = Math.floor((v * 10 ** decimals) / unit) / 10 ** decimals;
  let text = scaled.toFixed(decimals);
  if (decimals > 0) text = text.replace(/\.?0+$/, "");
  return `${text} ${UNITS[u]}`;
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

/**
 * An integer with its thousands grouped by a narrow no-break space (`12 345`), the one number
 * format of every page, badge and feed, so large counters stay readable and never wrap.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatCount } from "./format.ts";
 * assert.equal(formatCount(1234567), "1\u202f234\u202f567");
 * assert.equal(formatCount(999), "999");
 * ```
 */
export function formatCount(n: number): string {
  return Math.floor(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
}

/**
 * A count in words, grouped like {@link formatCount} and pluralised by adding `s` (or `plural`
 * when given): `1 seeder`, `2 seeders`, `0 seeders`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countOf } from "./format.ts";
 * assert.equal(countOf(1, "seeder"), "1 seeder");
 * assert.equal(countOf(1500, "leecher"), "1\u202f500 leechers");
 * ```
 */
export function countOf(n: number, singular: string, plural = singular + "s"): string {
  return `${formatCount(n)} ${nounFor(n, singular, plural)}`;
}

/** The noun that goes after the count `n`: `singular` for exactly one, else `plural`. */
export function nounFor(n: number, singular: string, plural = singular + "s"): string {
  return n === 1 ? singular : plural;
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
