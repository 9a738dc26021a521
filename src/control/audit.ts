/**
 * The audit log: every control action (`release-torrent`, `retire-torrent`, `release-logs`,
 * `quit`) is recorded with its time, command, result and the info hashes it touched, so that
 * "who published what, when, and did it work" can be answered later. `status` and `metrics` only
 * read and are not recorded (a monitoring script polling them would drown the log).
 *
 * Records go to the log origin `audit` (at level info; the origin logs at info unless
 * `--log-filter` says otherwise, see `log/levels.ts`) and, with `--audit-log FILE`, to a file of
 * JSON lines, one record per line, appended and never rotated by Hefur (`release-logs` and
 * SIGHUP reopen it, for logrotate's `create` mode).
 *
 * @module
 */
import { getLogger } from "../log/mod.ts";
import { binaryToHex } from "../protocol/binary.ts";
import { parseMetainfo, wireHashes } from "../protocol/metainfo.ts";
import { openAppendSafelySync } from "../sandbox/safe_files.ts";
import { type Command, ControlError } from "./protocol.ts";
import type { ControlHandler } from "./server.ts";

const log = getLogger("audit");
const encoder = new TextEncoder();

/** One audited action. */
export interface AuditRecord {
  /** When the action finished, ISO 8601 (UTC). */
  time: string;
  command: Command;
  /** `ok`, or the error code of the refusal (`duplicate`, `not_found`, …). */
  result: string;
  /** The error message, when refused. */
  error?: string;
  /** Info hashes (hex) the action touched, or would have touched when refused. */
  hashes: string[];
  /** Torrent name, when there is one. */
  name?: string;
  /** Files written or removed. */
  files?: string[];
  /** Milliseconds the action took. */
  ms: number;
}

/** The `--audit-log` file could not be opened. */
export class AuditLogError extends Error {
  override name = "AuditLogError";
  constructor(message: string, readonly path: string) {
    super(message);
  }
}

/** Where audit records go: the `audit` log origin, and a JSON-lines file when configured. */
export class AuditLog {
  /** The JSON-lines file, "" for none. */
  readonly path: string;
  #file: Deno.FsFile | undefined;

  /** Opens `path` for appending (owner-only when created); throws {@link AuditLogError}. */
  constructor(path = "") {
    this.path = path;
    if (path !== "") this.#file = this.#open();
  }

  /** Writes one record. A failing file write is logged and never stops the action. */
  write(record: AuditRecord): void {
    const level = record.result === "ok" ? "info" : "warning";
    log[level](
      "{command} {result}{error}: hashes {hashes}{name}",
      {
        command: record.command,
        result: record.result,
        error: record.error === undefined ? "" : ` (${record.error})`,
        hashes: record.hashes.length > 0 ? record.hashes.join(",") : "-",
        name: record.name === undefined ? "" : `, name ${JSON.stringify(record.name)}`,
      },
    );
    if (this.#file === undefined) return;
    try {
      const bytes = encoder.encode(JSON.stringify(record) + "\n");
      let at = 0;
      while (at < bytes.length) at += this.#file.writeSync(bytes.subarray(at));
    } catch (e) {
      log.error("cannot write the audit log {path}: {error}", {
        path: this.path,
        error: (e as Error).message,
      });
    }
  }

  /** Reopens the file under its name (after an outside rotation). Keeps the old one on failure. */
  reopen(): void {
    if (this.path === "") return;
    try {
      const file = this.#open();
      this.#file?.close();
      this.#file = file;
    } catch (e) {
      log.error("{error}; still writing to the file open before", { error: (e as Error).message });
    }
  }

  /** Closes the file. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  #open(): Deno.FsFile {
    try {
      // Never through a link, never into a path the sandbox denies.
      return openAppendSafelySync(this.path, 0o600).file;
    } catch (e) {
      throw new AuditLogError(
        `cannot open the audit log ${this.path}: ${(e as Error).message}`,
        this.path,
      );
    }
  }
}

/** Commands that only read: not audited. */
const READ_ONLY: ReadonlySet<Command> = new Set(["status", "metrics"]);

/**
 * Wraps a control handler so that every action it runs is written to `audit`, whether it
 * succeeds or is refused. The answer is passed on unchanged.
 */
export function auditedHandler(
  handler: ControlHandler,
  audit: AuditLog,
  clock: () => number = Date.now,
): ControlHandler {
  return async (cmd, args) => {
    if (READ_ONLY.has(cmd)) return await handler(cmd, args);
    const started = clock();
    const record = (result: string, fields: Partial<AuditRecord>) => {
      const end = clock();
      audit.write({
        time: new Date(end).toISOString(),
        command: cmd,
        result,
        hashes: [],
        ms: end - started,
        ...fields,
      });
    };
    let answer: unknown;
    try {
      answer = await handler(cmd, args);
    } catch (e) {
      const code = e instanceof ControlError ? e.code : "internal";
      record(code, { error: (e as Error).message ?? String(e), ...asked(args) });
      throw e;
    }
    // Reopened first, so the record of a rotation starts the new file.
    if (cmd === "release-logs") audit.reopen();
    record("ok", touched(cmd, answer));
    return answer;
  };
}

/** What a successful answer says was touched. */
function touched(cmd: Command, answer: unknown): Partial<AuditRecord> {
  const a = (answer ?? {}) as Record<string, unknown>;
  const name = typeof a.name === "string" ? a.name : undefined;
  if (cmd === "release-torrent") {
    const hashes = Array.isArray(a.infoHashes)
      ? a.infoHashes.map((h) => String((h as { hex?: unknown }).hex))
      : [];
    return { hashes, name, files: typeof a.file === "string" ? [a.file] : undefined };
  }
  if (cmd === "retire-torrent") {
    const hashes = Array.isArray(a.retired) ? a.retired.map(String) : [];
    const files = Array.isArray(a.removedFiles) ? a.removedFiles.map(String) : undefined;
    return { hashes, name, files };
  }
  return {};
}

/**
 * What a refused request asked for: the hash given, or the hashes of the `.torrent` sent (parsed
 * again here only when the action failed, and only if it is a plausible size).
 */
function asked(args: Record<string, unknown>): Partial<AuditRecord> {
  if (typeof args.hash === "string") {
    return { hashes: /^[0-9a-fA-F]{40,64}$/.test(args.hash) ? [args.hash.toLowerCase()] : [] };
  }
  if (typeof args.data !== "string") return {};
  try {
    const m = parseMetainfo(Uint8Array.fromBase64(args.data));
    const full = [m.infoHashV1, m.infoHashV2].filter((h) => h !== undefined);
    return { hashes: (full.length > 0 ? full : wireHashes(m)).map(binaryToHex), name: m.name };
  } catch {
    return {};
  }
}
