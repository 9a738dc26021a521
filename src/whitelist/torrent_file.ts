/**
 * Reading one `.torrent` file from disk without trusting it: only regular files, never more than
 * the size limit, and never a blocking open.
 *
 * @module
 */
import { constants, open } from "node:fs/promises";
import { confirmOpened } from "../sandbox/safe_files.ts";

/** A file larger than `--max-torrent-size`: skipped without being read. */
export class TorrentTooLargeError extends Error {
  /** The file's path. */
  readonly path: string;
  /** Its size in bytes (at least; it may have grown while being read). */
  readonly size: number;
  /** The limit in bytes. */
  readonly max: number;

  constructor(path: string, size: number, max: number) {
    super(`${path}: ${size} bytes, larger than the limit of ${max} bytes (--max-torrent-size)`);
    this.name = "TorrentTooLargeError";
    this.path = path;
    this.size = size;
    this.max = max;
  }
}

/** A path that is not a regular file (a fifo, socket, device or directory): never read. */
export class NotRegularFileError extends Error {
  /** The path. */
  readonly path: string;

  constructor(path: string) {
    super(`${path}: not a regular file`);
    this.name = "NotRegularFileError";
    this.path = path;
  }
}

/**
 * Reads a whole file of at most `maxBytes` bytes, given by its real path (no link on the way).
 *
 * The file is opened with `O_NONBLOCK`, so a path swapped for a fifo after the caller's `stat`
 * cannot hang the open; the open handle is then checked to be a regular file, and to be the file
 * `path` still names with no link on the way (a link swapped in after the caller resolved the
 * path is refused: see ../sandbox/safe_files.ts). At most
 * `maxBytes + 1` bytes are read, so a file that grows past the limit is refused without being read
 * whole.
 *
 * @throws {TorrentTooLargeError} when the file is, or grows, larger than `maxBytes`.
 * @throws {NotRegularFileError} when the path is not a regular file.
 * @throws {LinkRefusedError} when `path` is not a real path, or changed while being opened.
 * @throws the system's error (`ENOENT`, `EACCES`, …) when the file cannot be opened or read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTorrentFile, TorrentTooLargeError } from "./torrent_file.ts";
 * const path = await Deno.makeTempFile({ suffix: ".torrent" });
 * await Deno.writeTextFile(path, "d4:infode");
 * assert.equal((await readTorrentFile(path, 100)).length, 9);
 * await assert.rejects(readTorrentFile(path, 8), TorrentTooLargeError);
 * await Deno.remove(path);
 * ```
 */
export async function readTorrentFile(path: string, maxBytes: number): Promise<Uint8Array> {
  const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new NotRegularFileError(path);
    await confirmOpened(path, stat);
    if (stat.size > maxBytes) throw new TorrentTooLargeError(path, stat.size, maxBytes);
    // Room for one byte past the limit: reading it proves the file grew too large.
    const buffer = new Uint8Array(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw new TorrentTooLargeError(path, length, maxBytes);
    // A file that grew (but stays within the limit) since its stat is read to the end.
    if (length === buffer.length) return await readRest(file, buffer, maxBytes, path);
    return buffer.subarray(0, length);
  } finally {
    await file.close();
  }
}

/** Keeps reading a file that grew after its stat, still never past `maxBytes + 1` bytes. */
async function readRest(
  file: Awaited<ReturnType<typeof open>>,
  start: Uint8Array,
  maxBytes: number,
  path: string,
): Promise<Uint8Array> {
  let buffer = start;
  let length = start.length;
  for (;;) {
    if (length === buffer.length) {
      const next = new Uint8Array(Math.min(buffer.length * 2, maxBytes + 1));
      next.set(buffer);
      buffer = next;
    }
    const { bytesRead } = await file.read(buffer, length, buffer.length - length, null);
    if (bytesRead === 0) break;
    length += bytesRead;
    if (length > maxBytes) throw new TorrentTooLargeError(path, length, maxBytes);
  }
  return buffer.subarray(0, length);
}
