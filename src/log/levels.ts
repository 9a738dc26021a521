/**
 * Log levels, origins and the `--log-filter` grammar of Hefur (reference §12). Pure: strings in,
 * values out.
 *
 * Hefur keeps the original's six levels; LogTape has no `critical`, so a critical record travels
 * as LogTape's `fatal` marked with a property (see {@link toLogtapeLevel}).
 *
 * @module
 */
import type { LogLevel as LogtapeLevel } from "@logtape/logtape";

/** The six levels of the original, from the most verbose to the most severe. */
export const LEVELS = ["debug", "info", "warning", "error", "critical", "fatal"] as const;

/** One of {@link LEVELS}. */
export type Level = typeof LEVELS[number];

/** Where a message comes from; each origin can be filtered on its own. */
export const ORIGINS = ["hefur", "http", "udp", "whitelist", "control", "audit", "store"] as const;

/** One of {@link ORIGINS}. */
export type Origin = typeof ORIGINS[number];

/** Rank of a level: larger is more severe. */
export function levelRank(level: Level): number {
  return LEVELS.indexOf(level);
}

/** A `--log-level` or `--log-filter` value that names no level or origin. */
export class LogOptionError extends Error {
  /** The offending text. */
  readonly value: string;

  constructor(message: string, value: string) {
    super(message);
    this.name = "LogOptionError";
    this.value = value;
  }
}

/**
 * Reads a level name, case-insensitively. Unlike the original, which took an unknown word for
 * `info`, an unknown word is an error: a typo must not silently change what is logged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseLevel } from "./levels.ts";
 * assert.equal(parseLevel("Warning"), "warning");
 * ```
 */
export function parseLevel(text: string): Level {
  const level = text.trim().toLowerCase();
  if ((LEVELS as readonly string[]).includes(level)) return level as Level;
  throw new LogOptionError(`unknown log level "${text}" (one of ${LEVELS.join(", ")})`, text);
}

/**
 * Reads `--log-filter`: comma-separated `origin:level`, `+origin` (debug), `-origin` (critical)
 * or a bare `origin` (info). A later entry for the same origin wins.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseLogFilter } from "./levels.ts";
 * assert.deepEqual(
 *   parseLogFilter("http:error,+udp,-whitelist,control"),
 *   new Map([["http", "error"], ["udp", "debug"], ["whitelist", "critical"], ["control", "info"]]),
 * );
 * ```
 */
export function parseLogFilter(text: string): Map<Origin, Level> {
  const filter = new Map<Origin, Level>();
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    let name: string;
    let level: Level;
    if (entry.startsWith("+")) [name, level] = [entry.slice(1), "debug"];
    else if (entry.startsWith("-")) [name, level] = [entry.slice(1), "critical"];
    else if (entry.includes(":")) {
      const at = entry.indexOf(":");
      name = entry.slice(0, at);
      level = parseLevel(entry.slice(at + 1));
    } else [name, level] = [entry, "info"];
    filter.set(parseOrigin(name.trim()), level);
  }
  return filter;
}

/** Reads an origin name, case-insensitively. */
export function parseOrigin(text: string): Origin {
  const origin = text.toLowerCase();
  if ((ORIGINS as readonly string[]).includes(origin)) return origin as Origin;
  throw new LogOptionError(`unknown log origin "${text}" (one of ${ORIGINS.join(", ")})`, text);
}

/** Property that marks a LogTape `fatal` record as Hefur's `critical`. */
export const CRITICAL_MARK = "hefur.critical";

/** The LogTape level a Hefur level is emitted at. */
export function toLogtapeLevel(level: Level): LogtapeLevel {
  return level === "critical" ? "fatal" : level;
}

/** The Hefur level of a LogTape record (its level and properties). */
export function fromLogtapeLevel(level: LogtapeLevel, properties: Record<string, unknown>): Level {
  if (level === "trace") return "debug";
  if (level === "fatal" && properties[CRITICAL_MARK] === true) return "critical";
  return level;
}
