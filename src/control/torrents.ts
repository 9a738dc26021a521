/**
 * Publishing and retiring torrents for `hefur ctl release-torrent` / `retire-torrent`: the
 * `.torrent` is checked, placed atomically in the torrent directory and tracked at once; retiring
 * stops tracking and removes the file.
 *
 * The original's removed `add-torrent` trusted the client's parse and tracked files outside the
 * torrent directory forever (reference §11.4); here the server parses the bytes itself and the
 * file always lands in the directory, so the whitelist sees the same torrents.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import {
  magnetLink,
  type Metainfo,
  parseMetainfo,
  TorrentFileError,
  wireHashes,
} from "../protocol/metainfo.ts";
import { binaryToHex, hexToBinary } from "../protocol/binary.ts";
import { assertAllowed } from "../sandbox/safe_files.ts";
import type { Tracker } from "../tracker/tracker.ts";
import type { Whitelist } from "../whitelist/whitelist.ts";
import { ControlError, type HashInfo, type ReleaseResult, type RetireResult } from "./protocol.ts";

/** The part of the whitelist that publishing uses: the door every tracked file goes through. */
export type TorrentDoor = Pick<Whitelist, "root" | "rescanPath" | "pathsOf" | "hashesOf">;

/** Where released torrents go and how they are checked. */
export interface TorrentShelf {
  /** The whitelist of `--torrent-dir`: files are written under its root and checked through it. */
  whitelist: TorrentDoor;
  tracker: Tracker;
  /** Largest `.torrent` accepted, in bytes. */
  maxTorrentSize: number;
  /** Longest torrent name kept, in characters. */
  maxNameLength?: number;
}

/** Longest file name stem written, in UTF-8 bytes (file systems allow 255 with the suffix). */
const MAX_STEM_BYTES = 200;

/**
 * A safe file name for a torrent called `name`: no path separators, control characters or
 * leading dots (no hidden files, no `..`), at most 200 bytes, ending in `.torrent`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { torrentFileName } from "./torrents.ts";
 * assert.equal(torrentFileName("../../etc/passwd"), "_.._etc_passwd.torrent");
 * assert.equal(torrentFileName(" Debian 12\n"), "Debian 12_.torrent");
 * assert.equal(torrentFileName("..."), "torrent.torrent");
 * ```
 */
export function torrentFileName(name: string): string {
  // deno-lint-ignore no-control-regex
  let stem = name.replace(/[/\\\x00-\x1f\x7f]/g, "_").trim().replace(/^\.+/, "");
  const bytes = new TextEncoder();
  while (bytes.encode(stem).length > MAX_STEM_BYTES) stem = Array.from(stem).slice(0, -1).join("");
  if (stem === "") stem = "torrent";
  return `${stem}.torrent`;
}

/** The info hashes of a parsed torrent, for answers. */
export function hashInfos(m: Metainfo): HashInfo[] {
  const out: HashInfo[] = [];
  if (m.infoHashV1 !== undefined) {
    const hex = binaryToHex(m.infoHashV1);
    out.push({ version: 1, hex, wire: hex });
  }
  if (m.infoHashV2 !== undefined) {
    const hex = binaryToHex(m.infoHashV2);
    out.push({ version: 2, hex, wire: hex.slice(0, 40) });
  }
  return out;
}

/** Parses `.torrent` bytes, turning a bad file into a `invalid_torrent` answer. */
export function parseTorrent(bytes: Uint8Array, maxSize: number, maxNameLength?: number): Metainfo {
  if (bytes.length > maxSize) {
    throw new ControlError(
      "invalid_torrent",
      `the .torrent is ${bytes.length} bytes, more than the ${maxSize} allowed (--max-torrent-size)`,
    );
  }
  try {
    return parseMetainfo(bytes, { maxNameLength });
  } catch (e) {
    if (e instanceof TorrentFileError) {
      throw new ControlError("invalid_torrent", `not a valid .torrent: ${e.message}`);
    }
    throw e;
  }
}

/**
 * Publishes a torrent: refuses an invalid file or one already tracked, writes it atomically into
 * the directory (a temporary file in the same directory, then a hard link that cannot overwrite,
 * so neither a reader nor the whitelist's watcher sees half a file and no existing file is
 * replaced), then has the whitelist check that file at once, so it is tracked when this returns.
 */
export async function releaseTorrent(
  shelf: TorrentShelf,
  bytes: Uint8Array,
): Promise<ReleaseResult> {
  const m = parseTorrent(bytes, shelf.maxTorrentSize, shelf.maxNameLength);
  const hashes = wireHashes(m);
  for (const h of hashes) {
    const tracked = shelf.tracker.get(h);
    if (tracked !== undefined) {
      const where = tracked.info?.path ? ` from ${tracked.info.path}` : "";
      throw new ControlError(
        "duplicate",
        `already tracked: ${binaryToHex(h)} (${tracked.info?.name ?? m.name})${where}`,
      );
    }
  }
  const dir = shelf.whitelist.root;
  const file = await writeNew(dir, torrentFileName(m.name), binaryToHex(hashes[0]), bytes);
  const tracked = await shelf.whitelist.rescanPath(file);
  if (!hashes.every((h) => tracked.includes(h))) {
    // Not tracked after all (e.g. the directory is past --max-scan-inodes): do not leave it.
    await Deno.remove(file).catch(() => {});
    await shelf.whitelist.rescanPath(file);
    throw new ControlError(
      "failed",
      `${file} was written but the whitelist did not take it (see the whitelist log); removed it`,
    );
  }
  const trackers = [...new Set([m.announce, ...(m.announceList?.flat() ?? [])])]
    .filter((t): t is string => t !== undefined && t !== "");
  return { name: m.name, file, infoHashes: hashInfos(m), magnet: magnetLink(m, trackers) };
}

/** Writes `bytes` as a new file in `dir` named `name`, or `<stem>-<hash8>.torrent` if taken. */
async function writeNew(
  dir: string,
  name: string,
  hex: string,
  bytes: Uint8Array,
): Promise<string> {
  let tmp = "";
  try {
    // Into the directory where it really is, checked against the sandbox; `createNew` and `link`
    // never follow a link at the new name (they fail when anything is there).
    const real = await Deno.realPath(dir);
    assertAllowed(dir, real, "write");
    tmp = join(real, `.${crypto.randomUUID()}.tmp`);
    await Deno.writeFile(tmp, bytes, { createNew: true, mode: 0o644 });
    const candidates = [name, name.replace(/\.torrent$/, `-${hex.slice(0, 8)}.torrent`)];
    for (const candidate of candidates) {
      try {
        await Deno.link(tmp, join(real, candidate));
        return join(dir, candidate);
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
    }
    throw new ControlError(
      "failed",
      `${join(dir, name)} and its hash-suffixed variant exist already; remove or rename them`,
    );
  } catch (e) {
    if (e instanceof ControlError) throw e;
    throw new ControlError("failed", `cannot write into ${dir}: ${(e as Error).message}`);
  } finally {
    if (tmp !== "") await Deno.remove(tmp).catch(() => {});
  }
}

/** Reads a hash given on the command line: 40 hex digits (v1 or v2 wire) or 64 (full v2). */
export function parseHash(text: string): string {
  const hex = text.trim().toLowerCase();
  const binary = hex.length === 40 || hex.length === 64 ? hexToBinary(hex) : undefined;
  if (binary === undefined) {
    throw new ControlError(
      "bad_request",
      `"${text.slice(0, 80)}" is not an info hash (40 or 64 hexadecimal digits)`,
    );
  }
  return binary.slice(0, 20);
}

/**
 * Stops tracking a torrent given by hash or by its `.torrent` bytes. With a whitelist, every file
 * that holds it is removed and checked again, which untracks all of its hashes (both swarms of a
 * hybrid); in open mode the hashes are simply dropped (a client announcing again brings them back).
 */
export async function retireTorrent(
  tracker: Tracker,
  whitelist: TorrentDoor | undefined,
  target: { hash: string } | { metainfo: Metainfo },
): Promise<RetireResult> {
  const asked = "hash" in target ? [target.hash] : wireHashes(target.metainfo);
  const found = asked.map((h) => tracker.get(h)).filter((t) => t !== undefined);
  if (found.length === 0) {
    throw new ControlError(
      "not_found",
      `no tracked torrent has info hash ${asked.map(binaryToHex).join(" or ")}`,
    );
  }
  const name = found[0].info?.name;
  if (whitelist === undefined) {
    for (const t of found) tracker.removeTorrent(t.infoHash);
    return { name, retired: found.map((t) => binaryToHex(t.infoHash)), removedFiles: [] };
  }
  const paths = new Set(found.flatMap((t) => whitelist.pathsOf(t.infoHash)));
  const retire = new Set(found.map((t) => t.infoHash));
  for (const path of paths) for (const h of whitelist.hashesOf(path)) retire.add(h);
  const removedFiles: string[] = [];
  for (const path of paths) {
    try {
      // Removing a link removes the link; a directory on the way must not lead where writing is
      // denied (a link followed with --follow-external-links).
      assertAllowed(path, join(await Deno.realPath(dirname(path)), basename(path)), "write");
      await Deno.remove(path);
      removedFiles.push(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new ControlError("failed", `cannot remove ${path}: ${(e as Error).message}`);
      }
    }
    await whitelist.rescanPath(path);
  }
  const left = [...retire].filter((h) => tracker.get(h) !== undefined);
  if (left.length > 0) {
    throw new ControlError(
      "failed",
      `still tracked after removing ${removedFiles.join(", ") || "nothing"}: ` +
        left.map((h) => `${binaryToHex(h)} (held by ${whitelist.pathsOf(h).join(", ")})`).join(
          ", ",
        ),
    );
  }
  return { name, retired: [...retire].map(binaryToHex), removedFiles };
}
