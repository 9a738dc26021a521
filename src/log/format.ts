/**
 * The text of a log line: `<ISO time> <origin>: <level>: <message>\n`, like the original's
 * (reference §12) but with an ISO 8601 local time carrying its UTC offset, so lines from hosts in
 * different zones sort and compare. Pure.
 *
 * @module
 */
import type { LogRecord } from "@logtape/logtape";
import { fromLogtapeLevel, type Level } from "./levels.ts";

const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, "0");

/**
 * ISO 8601 local time with milliseconds and offset, e.g. `2024-02-03T04:05:06.007+01:00`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isoLocal } from "./format.ts";
 * assert.match(isoLocal(0), /^19(70|69)-\d\d-\d\dT\d\d:\d\d:00\.000[+-]\d\d:\d\d$/);
 * ```
 */
export function isoLocal(ms: number): string {
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.` +
    `${pad(d.getMilliseconds(), 3)}${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
}

/** ANSI colours of the original: debug green, warning yellow, error red, critical bold red, fatal bold magenta. */
const COLORS: Record<Level, string> = {
  debug: "\x1b[32m",
  info: "",
  warning: "\x1b[33m",
  error: "\x1b[31m",
  critical: "\x1b[1;31m",
  fatal: "\x1b[1;35m",
};
const RESET = "\x1b[0m";

/**
 * Renders a value placed in a message. Control characters are escaped so that a peer-supplied
 * string (a path, a header) cannot forge extra log lines or terminal escapes.
 */
export function renderValue(value: unknown): string {
  let text: string;
  if (typeof value === "string") text = value;
  else if (value instanceof Error) text = value.message;
  else if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    text = String(value);
  } else text = Deno.inspect(value, { compact: true, breakLength: Infinity, colors: false });
  return escapeControls(text);
}

/** Replaces C0 control characters and DEL with visible escapes (`\n`, `\x1b`). */
export function escapeControls(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

/** Formats one record as a line (with its newline), coloured when `color` is set. */
export function formatLine(record: LogRecord, color = false): string {
  const level = fromLogtapeLevel(record.level, record.properties);
  let message = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    message += i % 2 === 0 ? escapeControls(String(part)) : renderValue(part);
  }
  const origin = record.category.length > 0 ? `${record.category.join(".")}: ` : "";
  const line = `${isoLocal(record.timestamp)} ${origin}${level}: ${message}\n`;
  return color && COLORS[level] !== "" ? `${COLORS[level]}${line}${RESET}` : line;
}
