/**
 * Opening configured files by where they really are, so that a symbolic link cannot lead Hefur
 * into a path the permission sandbox denies.
 *
 * Deno checks the path it is given, not where a link leads: a link named `x.torrent` pointing at
 * `/etc/shadow` passes the check and the read follows it. So every configured file is resolved to
 * its real path (`realPath`) first, and that real path is checked against the sandbox's deny
 * lists (./deny_lists.ts) and opened instead of the configured one: with no link left on the way,
 * Deno's own check then sees the real path too.
 *
 * - A file Hefur reads: the real path must not be denied for reading; after the open, the real
 *   path must still resolve to itself and name the very file that was opened (same device and
 *   inode), so a link swapped in between the check and the open is caught.
 * - A file Hefur writes: its directory is resolved, the real path must not be denied for writing,
 *   and the file itself must not be a link. New files are created with `createNew` (which never
 *   follows a link); files replaced whole are written aside and renamed over (a rename replaces a
 *   link, never follows it); files appended to are opened, then checked to be the file the path
 *   names, not a link.
 *
 * What remains: between two system calls, an attacker who can write into a directory on the way
 * and swaps links in and out several times could still win a race. Closing that fully needs
 * `openat2(RESOLVE_NO_SYMLINKS)`, which Deno does not offer.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { type Access, deniedBy, SANDBOX_DOC } from "./deny_lists.ts";

/** A configured path refused because of where a link leads, or because it is a link. */
export class LinkRefusedError extends Error {
  /** The path as configured or found. */
  readonly path: string;

  constructor(message: string, path: string) {
    super(message);
    this.name = "LinkRefusedError";
    this.path = path;
  }
}

/** Throws {@link LinkRefusedError} when the sandbox denies `real` (where `path` leads). */
export function assertAllowed(path: string, real: string, access: Access): void {
  const refusal = sandboxRefusal(path, real, access);
  if (refusal !== undefined) throw new LinkRefusedError(refusal, path);
}

/**
 * Why the sandbox refuses `access` to `path` whose real path is `real`, or undefined when it
 * allows it: the one wording of that refusal, wherever it is found (here, the whitelist's walk).
 */
export function sandboxRefusal(path: string, real: string, access: Access): string | undefined {
  const denied = deniedBy(real, access);
  if (denied === undefined) return undefined;
  const where = real === path ? "it" : `it leads to ${real}, which`;
  const doing = access === "read" ? "reading" : "writing";
  return `Hefur's sandbox does not allow ${access} access to ${path}: ${where} is under ${denied}, ` +
    `denied for ${doing} (see ${SANDBOX_DOC})`;
}

/** The real path of an existing `path`, refused when the sandbox denies reading it. */
export function readablePathSync(path: string): string {
  const real = Deno.realPathSync(path);
  assertAllowed(path, real, "read");
  return real;
}

/** The real path of an existing `path`, refused when the sandbox denies reading it. */
export async function readablePath(path: string): Promise<string> {
  const real = await Deno.realPath(path);
  assertAllowed(path, real, "read");
  return real;
}

/**
 * The real path of a file Hefur writes, which may not exist yet: the real path of its nearest
 * existing ancestor, then the names that do not exist yet. Refused when the sandbox denies writing
 * there, or when the file itself is a symbolic link.
 */
export function writablePathSync(path: string): string {
  const abs = resolve(path);
  const refuseLink = () =>
    new LinkRefusedError(
      `${path} is a symbolic link; Hefur does not write through links (give the real path)`,
      path,
    );
  if (isLinkSync(abs)) throw refuseLink();
  let real: string | undefined;
  const missing: string[] = [];
  for (let at = dirname(abs);; at = dirname(at)) {
    try {
      real = join(Deno.realPathSync(at), ...missing, basename(abs));
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound) || dirname(at) === at) throw e;
      missing.unshift(basename(at));
    }
  }
  if (isLinkSync(real)) throw refuseLink();
  assertAllowed(path, real, "write");
  return real;
}

function isLinkSync(path: string): boolean {
  try {
    return Deno.lstatSync(path).isSymlink;
  } catch {
    return false;
  }
}

/** Device and inode of a file, as both Deno and node:fs report them. */
export interface FileIdentity {
  dev: number | bigint | null;
  ino: number | bigint | null;
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.ino !== null && Number(a.dev) === Number(b.dev) && Number(a.ino) === Number(b.ino);
}

function swapped(path: string): LinkRefusedError {
  return new LinkRefusedError(`${path} changed into a link while being opened; not used`, path);
}

/**
 * Confirms that an open file is the one `real` names now, with no link on the way: `real` still
 * resolves to itself, and names a file of the same device and inode as the open one.
 */
export async function confirmOpened(real: string, opened: FileIdentity): Promise<void> {
  if ((await Deno.realPath(real)) !== real || !sameFile(await Deno.lstat(real), opened)) {
    throw swapped(real);
  }
}

/** {@link confirmOpened}, synchronously. */
export function confirmOpenedSync(real: string, opened: FileIdentity): void {
  if (Deno.realPathSync(real) !== real || !sameFile(Deno.lstatSync(real), opened)) {
    throw swapped(real);
  }
}

function refuseLarger(info: Deno.FileInfo, maxBytes: number): void {
  if (info.size > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
}

/**
 * A buffer for the whole of the open file `opened`, one byte larger than it: a read that fills
 * that byte shows the file grew after it was opened (see {@link contents}).
 */
function readBuffer(opened: Deno.FileInfo, maxBytes: number): Uint8Array {
  refuseLarger(opened, maxBytes);
  return new Uint8Array(opened.size + 1);
}

/** The `length` bytes read into a {@link readBuffer}; refuses a file that grew meanwhile. */
function contents(buffer: Uint8Array, length: number): Uint8Array {
  if (length === buffer.length) throw new Error("grew while being read");
  return buffer.subarray(0, length);
}

/**
 * Reads a whole regular file of at most `maxBytes` bytes from where it really is (see the module
 * notes); throws {@link LinkRefusedError} for a denied or swapped path.
 */
export function readFileSafelySync(path: string, maxBytes: number): Uint8Array {
  const real = readablePathSync(path);
  const info = Deno.statSync(real);
  if (!info.isFile) throw new Error("not a regular file");
  refuseLarger(info, maxBytes);
  const file = Deno.openSync(real, { read: true });
  try {
    const opened = file.statSync();
    confirmOpenedSync(real, opened);
    const buffer = readBuffer(opened, maxBytes);
    let length = 0;
    while (length < buffer.length) {
      const n = file.readSync(buffer.subarray(length));
      if (n === null) break;
      length += n;
    }
    return contents(buffer, length);
  } finally {
    file.close();
  }
}

/** {@link readFileSafelySync}, without blocking. */
export async function readFileSafely(path: string, maxBytes: number): Promise<Uint8Array> {
  const real = await readablePath(path);
  const info = await Deno.stat(real);
  if (!info.isFile) throw new Error("not a regular file");
  refuseLarger(info, maxBytes);
  const file = await Deno.open(real, { read: true });
  try {
    const opened = await file.stat();
    await confirmOpened(real, opened);
    const buffer = readBuffer(opened, maxBytes);
    let length = 0;
    while (length < buffer.length) {
      const n = await file.read(buffer.subarray(length));
      if (n === null) break;
      length += n;
    }
    return contents(buffer, length);
  } finally {
    file.close();
  }
}

/**
 * Opens a file to append to (a log), creating it with `mode` when missing, never through a link:
 * the path is resolved with {@link writablePathSync}, created with `createNew` when absent, and
 * an existing file is confirmed after the open to be the file the path names, not a link.
 * Returns the open file and its real path.
 */
export function openAppendSafelySync(
  path: string,
  mode: number,
): { file: Deno.FsFile; real: string } {
  const real = writablePathSync(path);
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(real, { write: true, append: true, createNew: true, mode });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    file = Deno.openSync(real, { append: true });
  }
  try {
    const opened = file.statSync();
    confirmOpenedSync(real, opened);
    if (!opened.isFile) throw new Error(`${path}: not a regular file`);
  } catch (e) {
    file.close();
    throw e;
  }
  return { file, real };
}

/**
 * Creates a new file at `real` (a path from {@link writablePathSync}, typically a temporary name
 * beside a file to replace) with `createNew`, which never follows a link. Whatever is in the way
 * (a leftover temporary file, or a planted link) is removed first: removing a link removes the
 * link, not what it points at.
 */
export async function createNewFile(real: string, mode: number): Promise<Deno.FsFile> {
  try {
    return await Deno.open(real, { write: true, createNew: true, mode });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    await Deno.remove(real);
    return await Deno.open(real, { write: true, createNew: true, mode });
  }
}
