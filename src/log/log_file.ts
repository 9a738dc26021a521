/**
 * The log file of `--log-file`: a strftime(3) name, time-based rotation and compression of the
 * previous file in the background.
 *
 * Lines are buffered and written at most every 100 ms or per 64 KiB (at once for error and
 * above), so a busy tracker logging every announce does not pay a system call per line.
 *
 * Unlike the original (reference §12):
 * - a rotation whose new name equals the old (a pattern without time fields) moves the old file
 *   aside before compressing it, instead of compressing and deleting the live file;
 * - compression runs off the logging path, one file at a time;
 * - parent directories are created, so `%Y/%m/hefur.log` works.
 *
 * @module
 */
import { dirname } from "node:path";
import { openAppendSafelySync, writablePathSync } from "../sandbox/safe_files.ts";
import { compressFile, type Compression, compressionSuffix } from "./compress.ts";
import { strftime } from "./strftime.ts";

/** Settings of a {@link LogFile}. */
export interface LogFileOptions {
  /** strftime pattern of the file name, expanded in local time when a file is opened. */
  pattern: string;
  /** Seconds after which the next line starts a new file; 0 never rotates. */
  rotationInterval: number;
  compression: Compression;
  /** Reports a problem of the log file itself (defaults to standard error). */
  onError?: (message: string) => void;
  /** Monotonic clock in ms (tests inject their own). */
  clock?: () => number;
  /** Wall clock in ms, for file names (tests inject their own). */
  now?: () => number;
}

const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 100;
/** Lines kept while the file cannot be written, at most; later lines are dropped and counted. */
const MAX_BUFFERED = 4 * 1024 * 1024;

const encoder = new TextEncoder();

/** A log file that cannot be opened. */
export class LogFileError extends Error {
  /** The file name. */
  readonly path: string;

  constructor(message: string, path: string, cause?: unknown) {
    super(message, { cause });
    this.name = "LogFileError";
    this.path = path;
  }
}

/** A log file that can be rotated and reopened. */
export class LogFile {
  readonly #options: Required<LogFileOptions>;
  #file: Deno.FsFile | undefined;
  #path = "";
  #openedAt = 0;
  #buffer: string[] = [];
  #buffered = 0;
  #dropped = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #compressing: Promise<void> = Promise.resolve();
  #aside = 0;
  #closed = false;
  /** Set while the file cannot be opened; lines wait in the buffer (bounded). */
  #failing = false;

  /** Opens the first file at once, so a bad path is reported at start-up. */
  constructor(options: LogFileOptions) {
    this.#options = {
      onError: (m) => writeAll(Deno.stderr, encoder.encode(`hefur: log file: ${m}\n`)),
      clock: () => performance.now(),
      now: () => Date.now(),
      ...options,
    };
    this.#open(this.#nameNow());
  }

  /** Name of the file being written. */
  get path(): string {
    return this.#path;
  }

  /** Adds a line (with its newline); `urgent` writes it out at once. */
  write(line: string, urgent = false): void {
    if (this.#closed) return;
    const { rotationInterval } = this.#options;
    if (rotationInterval > 0 && this.#options.clock() - this.#openedAt >= rotationInterval * 1000) {
      this.rotate();
    }
    if (this.#buffered + line.length > MAX_BUFFERED) {
      this.#dropped++;
      return;
    }
    this.#buffer.push(line);
    this.#buffered += line.length;
    if (urgent || this.#buffered >= FLUSH_BYTES) this.flush();
    else if (this.#timer === undefined) {
      const timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, FLUSH_MS);
      Deno.unrefTimer(timer as unknown as number);
      this.#timer = timer;
    }
  }

  /** Writes the buffered lines out. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#buffer.length === 0) return;
    if (this.#file === undefined && !this.#retryOpen()) return;
    if (this.#dropped > 0) {
      this.#buffer.push(
        `(${this.#dropped} log lines dropped: the log file could not be written)\n`,
      );
      this.#dropped = 0;
    }
    const bytes = encoder.encode(this.#buffer.join(""));
    this.#buffer = [];
    this.#buffered = 0;
    try {
      writeAll(this.#file!, bytes);
    } catch (e) {
      this.#options.onError(`cannot write ${this.#path}: ${(e as Error).message}`);
    }
  }

  /**
   * Starts a new file (a fresh strftime name) and compresses the previous one in the background
   * unless compression is `identity`. With `identity` and an unchanged name this only reopens the
   * file, which is what an outside rotation (logrotate moving the file away) needs.
   */
  rotate(): void {
    this.flush();
    const old = this.#path;
    const name = this.#nameNow();
    const compression = this.#options.compression;
    this.#closeFile();
    let toCompress = old;
    if (name === old && compression !== "identity") {
      // Same name: move the old file aside so the new one starts empty; it is compressed into
      // the same archive name as ever.
      toCompress = `${old}.${Date.now()}-${++this.#aside}.rotated`;
      try {
        Deno.renameSync(old, toCompress);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          this.#options.onError(`cannot move ${old} aside: ${(e as Error).message}`);
        }
        toCompress = "";
      }
    }
    try {
      this.#open(name);
    } catch (e) {
      this.#failing = true;
      this.#options.onError((e as Error).message);
    }
    if (compression !== "identity" && toCompress !== "") {
      this.#queueCompression(toCompress, old + compressionSuffix(compression));
    }
  }

  /** Resolves when every compression started so far has ended. */
  async settled(): Promise<void> {
    let current;
    do {
      current = this.#compressing;
      await current;
    } while (current !== this.#compressing);
  }

  /**
   * Writes out, closes the file and, unless compression is `identity`, compresses it like the
   * original does at exit; resolves when every compression has ended.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    const last = this.#path;
    this.#closeFile();
    if (this.#options.compression !== "identity" && last !== "") {
      this.#queueCompression(last, last + compressionSuffix(this.#options.compression));
    }
    await this.settled();
  }

  #nameNow(): string {
    return strftime(this.#options.pattern, new Date(this.#options.now()));
  }

  /** Tries to open the current name again after a failure; reports only the first failure. */
  #retryOpen(): boolean {
    try {
      this.#open(this.#nameNow());
      this.#failing = false;
      return true;
    } catch (e) {
      if (!this.#failing) this.#options.onError((e as Error).message);
      this.#failing = true;
      return false;
    }
  }

  #open(path: string): void {
    try {
      // Where the file really is: never through a link, never into a path the sandbox denies.
      const real = writablePathSync(path);
      Deno.mkdirSync(dirname(real), { recursive: true, mode: 0o755 });
      // Logs hold peer addresses: readable by the owner and its group only.
      this.#file = openAppendSafelySync(real, 0o640).file;
      this.#path = path;
      this.#openedAt = this.#options.clock();
    } catch (e) {
      this.#file = undefined;
      throw new LogFileError(`cannot open log file ${path}: ${(e as Error).message}`, path, e);
    }
  }

  #closeFile(): void {
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = undefined;
  }

  #queueCompression(path: string, target: string): void {
    const compression = this.#options.compression;
    this.#compressing = this.#compressing.then(async () => {
      try {
        await compressFile(path, compression, target);
      } catch (e) {
        this.#options.onError(`cannot compress ${path}: ${(e as Error).message}`);
      }
    });
  }
}

/** Writes every byte (a single write may be partial). */
export function writeAll(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}
