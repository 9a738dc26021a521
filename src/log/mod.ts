/**
 * Hefur's logging, on LogTape: `getLogger(origin)` for the code, `startLogging(config)` for the
 * `serve` command. Before `startLogging` (and in tests and library use) every logger is silent.
 *
 * Emission rule: a line is written when its level is at least its origin's level; an origin's
 * level is its `--log-filter` entry, else `--log-level`. Unlike the original, where a filter could
 * only make an origin stricter than the global level (reference §12), a filter can also make one
 * origin more verbose (`--log-level warning --log-filter +http`).
 *
 * Lines go to standard error (the original used standard output, which Hefur keeps for command
 * output such as `--log-origins`), or to `--log-file`.
 *
 * @module
 */
import {
  configure,
  dispose,
  getLogger as getLogtapeLogger,
  type LogRecord,
  type Sink,
} from "@logtape/logtape";
import { type Compression, parseCompression } from "./compress.ts";
import { formatLine } from "./format.ts";
import {
  CRITICAL_MARK,
  fromLogtapeLevel,
  type Level,
  levelRank,
  type Origin,
  ORIGINS,
  parseLevel,
  parseLogFilter,
  toLogtapeLevel,
} from "./levels.ts";
import { LogFile, writeAll } from "./log_file.ts";
import { strftime } from "./strftime.ts";

export { type Level, LEVELS, LogOptionError, type Origin, ORIGINS } from "./levels.ts";
export { CompressionError } from "./compress.ts";
export { LogFileError } from "./log_file.ts";
export { StrftimeError } from "./strftime.ts";

/** How logging is set up, read from the `--log-*` options by {@link parseLogConfig}. */
export interface LogConfig {
  /** Level of every origin without a filter entry. */
  level: Level;
  /** Per-origin levels from `--log-filter`. */
  filter: Map<Origin, Level>;
  color: boolean;
  /** strftime pattern of the log file; "" means standard error. */
  file: string;
  /** Seconds between rotations of the log file; 0 never rotates. */
  rotationInterval: number;
  compression: Compression;
}

/** The `--log-*` option values, as the serve command has them. */
export interface LogOptionValues {
  logLevel: string;
  logFilter?: string;
  logColor: boolean;
  logFile: string;
  logRotationInterval: number;
  logCompression: string;
}

/**
 * Reads and checks the `--log-*` options. Throws a `LogOptionError`, `CompressionError` or
 * `StrftimeError` naming the bad value.
 */
export function parseLogConfig(values: LogOptionValues): LogConfig {
  if (values.logFile !== "") strftime(values.logFile, new Date()); // checks the pattern
  return {
    level: parseLevel(values.logLevel),
    filter: parseLogFilter(values.logFilter ?? ""),
    color: values.logColor,
    file: values.logFile,
    rotationInterval: values.logRotationInterval,
    compression: parseCompression(values.logCompression),
  };
}

/**
 * The level each origin logs at under `config`. The `audit` origin (control actions) logs at info
 * or more verbose even when `--log-level` is stricter: an audit trail that is off by default would
 * be no trail. Only its own `--log-filter` entry can quiet it.
 */
export function originLevels(config: Pick<LogConfig, "level" | "filter">): Map<Origin, Level> {
  const audit: Level = levelRank(config.level) < levelRank("info") ? config.level : "info";
  return new Map(
    ORIGINS.map((o) => [o, config.filter.get(o) ?? (o === "audit" ? audit : config.level)]),
  );
}

/** The `--log-origins` text: one ` - name (level)` line per origin, like the original. */
export function originsText(config: Pick<LogConfig, "level" | "filter">): string {
  return [...originLevels(config)].map(([o, l]) => ` - ${o} (${l})\n`).join("");
}

/** A logger of one origin, with Hefur's six levels. */
export interface Logger {
  debug(message: string, properties?: Record<string, unknown>): void;
  info(message: string, properties?: Record<string, unknown>): void;
  warning(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
  critical(message: string, properties?: Record<string, unknown>): void;
  fatal(message: string, properties?: Record<string, unknown>): void;
  /** Whether a line of `level` would be written: guards messages that are costly to build. */
  enabled(level: Level): boolean;
}

const loggers = new Map<Origin, Logger>();

/**
 * The logger of `origin`. Messages are LogTape templates: `{name}` is replaced by
 * `properties.name`, whose control characters are escaped in the output.
 *
 * @example
 * ```ts
 * import { getLogger } from "./mod.ts";
 * const log = getLogger("whitelist");
 * log.error("{path}: parse error: {reason}", { path: "a.torrent", reason: "not bencode" });
 * ```
 */
export function getLogger(origin: Origin): Logger {
  let logger = loggers.get(origin);
  if (logger !== undefined) return logger;
  const lt = getLogtapeLogger([origin]);
  logger = {
    debug: (m, p) => lt.debug(m, p),
    info: (m, p) => lt.info(m, p),
    warning: (m, p) => lt.warning(m, p),
    error: (m, p) => lt.error(m, p),
    critical: (m, p) => lt.fatal(m, { ...p, [CRITICAL_MARK]: true }),
    fatal: (m, p) => lt.fatal(m, p),
    enabled: (level) => lt.isEnabledFor(toLogtapeLevel(level)),
  };
  loggers.set(origin, logger);
  return logger;
}

/** Running logging, from {@link startLogging}. */
export interface Logging {
  readonly config: LogConfig;
  /** The log file, when `--log-file` is set. */
  readonly file?: LogFile;
  /**
   * `release-logs` and SIGHUP: starts a new log file (compressing the previous one as
   * configured), or reopens it under the same name after an outside rotation.
   */
  release(): void;
  /** Writes out every line, compresses as configured and detaches the sinks. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/**
 * Configures LogTape from `config`: one sink (standard error or the log file) and, per origin, its
 * level. Throws a `LogFileError` when the log file cannot be opened.
 */
export async function startLogging(config: LogConfig): Promise<Logging> {
  const file = config.file === "" ? undefined : new LogFile({
    pattern: config.file,
    rotationInterval: config.rotationInterval,
    compression: config.compression,
  });
  const urgent = levelRank("error");
  const sink: Sink = (record: LogRecord) => {
    const line = formatLine(record, config.color);
    if (file === undefined) writeAll(Deno.stderr, encoder.encode(line));
    else file.write(line, levelRank(fromLogtapeLevel(record.level, record.properties)) >= urgent);
  };
  // A threshold of fatal must not let critical (LogTape fatal + mark) through.
  const notCritical = (r: LogRecord) => r.properties[CRITICAL_MARK] !== true;
  await configure({
    reset: true,
    sinks: { main: sink },
    filters: { notCritical },
    loggers: [
      // LogTape's own diagnostics (a failing sink), kept quiet unless they matter.
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
      ...[...originLevels(config)].map(([origin, level]) => ({
        category: [origin],
        lowestLevel: toLogtapeLevel(level),
        sinks: ["main" as const],
        filters: level === "fatal" ? ["notCritical" as const] : [],
      })),
    ],
  });
  let closed = false;
  return {
    config,
    file,
    release() {
      file?.rotate();
    },
    async close() {
      if (closed) return;
      closed = true;
      await dispose();
      await file?.close();
    },
  };
}
