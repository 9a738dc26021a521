/**
 * Compression of rotated log files, off the logging path: a file is streamed through gzip or
 * zstd into `<file>.gz` / `<file>.zst` and removed once that succeeded (the original compressed
 * synchronously under the log lock, blocking every thread that logged: reference §16.3).
 *
 * The compressed file is opened for appending: gzip members and zstd frames may follow each other
 * in one file and decompress to the concatenation, so rotating twice into the same name (a pattern
 * without time fields, or a restart) adds to the archive instead of overwriting it.
 *
 * @module
 */
import { type FileHandle, open } from "node:fs/promises";
import {
  confirmOpened,
  LinkRefusedError,
  readablePath,
  writablePathSync,
} from "../sandbox/safe_files.ts";
import { createGzip, createZstdCompress } from "node:zlib";
import { pipeline } from "node:stream/promises";

/** How rotated logs are compressed. `xz` is not possible in Deno (see {@link parseCompression}). */
export type Compression = "identity" | "gzip" | "zstd";

/** A `--log-compression` value Hefur cannot honour. */
export class CompressionError extends Error {
  /** The offending value. */
  readonly value: string;

  constructor(message: string, value: string) {
    super(message);
    this.name = "CompressionError";
    this.value = value;
  }
}

/**
 * Reads `--log-compression`, case-insensitively. The original's default `xz` is refused with a
 * pointer to zstd: neither Deno nor its Node compatibility layer can write xz.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCompression } from "./compress.ts";
 * assert.equal(parseCompression("GZIP"), "gzip");
 * assert.throws(() => parseCompression("xz"), /zstd/);
 * ```
 */
export function parseCompression(text: string): Compression {
  const value = text.trim().toLowerCase();
  if (value === "identity" || value === "gzip" || value === "zstd") return value;
  if (value === "xz" || value === "lzma") {
    throw new CompressionError(
      `${value} is not available: Deno cannot write xz. Use --log-compression zstd ` +
        `(similar ratio, much faster; read with zstd -d or zstdcat) or gzip`,
      text,
    );
  }
  throw new CompressionError(`unknown log compression "${text}" (identity, gzip or zstd)`, text);
}

/** File name suffix of a compression. */
export function compressionSuffix(c: Compression): string {
  return c === "gzip" ? ".gz" : c === "zstd" ? ".zst" : "";
}

/**
 * Compresses `path` into `path + suffix` (appending) and removes `path`; resolves with the
 * compressed file's name. `path` is left in place when compression fails. A missing `path`
 * (already moved away by an outside log rotation) resolves with undefined.
 */
export async function compressFile(
  path: string,
  compression: Compression,
  target = path + compressionSuffix(compression),
): Promise<string | undefined> {
  if (compression === "identity") return undefined;
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  // Neither end through a link: a log swapped for one must not copy or append anywhere else.
  if (!info.isFile) {
    throw new LinkRefusedError(`${path} is not a regular file; not compressed`, path);
  }
  const from = await readablePath(path);
  const to = writablePathSync(target);
  const source = await open(from, "r");
  let sink: FileHandle | undefined;
  try {
    await confirmOpened(from, await source.stat());
    sink = await open(to, "a", 0o640);
    await confirmOpened(to, await sink.stat());
  } catch (e) {
    await source.close();
    await sink?.close();
    throw e;
  }
  const compressor = compression === "gzip" ? createGzip() : createZstdCompress();
  await pipeline(source.createReadStream(), compressor, sink.createWriteStream());
  await Deno.remove(from);
  return target;
}
