/**
 * A small strftime(3) for log file names (`--log-file /var/log/hefur/%Y-%m-%d.log`), in local
 * time like the original. Pure.
 *
 * @module
 */

/** A pattern with a `%` field this strftime does not know. */
export class StrftimeError extends Error {
  /** The offending pattern. */
  readonly pattern: string;

  constructor(message: string, pattern: string) {
    super(message);
    this.name = "StrftimeError";
    this.pattern = pattern;
  }
}

/** The fields understood, for error messages and help. */
export const STRFTIME_FIELDS = "%Y %m %d %H %M %S %j %s %F %T %%";

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function field(c: string, d: Date): string | undefined {
  switch (c) {
    case "Y":
      return pad(d.getFullYear(), 4);
    case "m":
      return pad(d.getMonth() + 1);
    case "d":
      return pad(d.getDate());
    case "H":
      return pad(d.getHours());
    case "M":
      return pad(d.getMinutes());
    case "S":
      return pad(d.getSeconds());
    case "j": {
      const start = new Date(d.getFullYear(), 0, 1);
      // Round: days across a daylight-saving change are not exactly 86400000 ms long.
      return pad(Math.round((d.getTime() - start.getTime()) / 86_400_000) + 1, 3);
    }
    case "s":
      return String(Math.floor(d.getTime() / 1000));
    case "F":
      return `${field("Y", d)}-${field("m", d)}-${field("d", d)}`;
    case "T":
      return `${field("H", d)}:${field("M", d)}:${field("S", d)}`;
    case "%":
      return "%";
    default:
      return undefined;
  }
}

/**
 * Expands the `%` fields of `pattern` for the local time `date`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { strftime } from "./strftime.ts";
 * assert.equal(strftime("hefur-%Y%m%d-%H%M%S.log %%", new Date(2024, 1, 3, 4, 5, 6)),
 *   "hefur-20240203-040506.log %");
 * assert.equal(strftime("%j", new Date(2024, 11, 31)), "366");
 * ```
 *
 * @throws {StrftimeError} for an unknown field or a trailing lone `%`.
 */
export function strftime(pattern: string, date: Date): string {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c !== "%") {
      out += c;
      continue;
    }
    const f = pattern[++i];
    const value = f === undefined ? undefined : field(f, date);
    if (value === undefined) {
      throw new StrftimeError(
        `"${pattern}": unknown field %${f ?? ""} (known: ${STRFTIME_FIELDS})`,
        pattern,
      );
    }
    out += value;
  }
  return out;
}

/** Whether `pattern` has a time field, so that two moments can give two names. */
export function hasTimeField(pattern: string): boolean {
  return /%[YmdHMSjsFT]/.test(pattern.replaceAll("%%", ""));
}
