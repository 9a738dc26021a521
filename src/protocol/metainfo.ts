/**
 * `.torrent` metainfo (BEP 3, BEP 52 v2 and hybrid, BEP 12 announce-list, BEP 19 url-list, BEP 47
 * padding files): what the tracker needs to know about a torrent it whitelists.
 *
 * Info hashes are computed over the raw bytes of the `info` value exactly as they appear in the
 * file, never over a re-encoding (a non-canonical file would otherwise get a hash no client uses).
 * Only the hashes of the versions a file really has are returned; the original Hefur registered a
 * SHA-1 and a SHA-256 for every file whatever its version (behaviour reference §0.5, §9.3).
 *
 * Pure: bytes in, values out. Reading files is the whitelist's job.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { BencodeError, type BValue, decodeWithSpans } from "./bencode.ts";
import { binaryToBytes, binaryToHex, bytesToBinary } from "./binary.ts";

/** Which BitTorrent versions a torrent supports. */
export type TorrentVersion = 1 | 2 | "hybrid";

/** One file of a torrent. */
export interface TorrentFile {
  /**
   * The file's path inside the torrent, components joined with `/`: for a single-file torrent the
   * file name, for a multi-file torrent the path below the torrent's directory.
   */
  path: string;
  /** Size in bytes. */
  length: number;
}

/** What Hefur keeps of a parsed `.torrent` file. */
export interface Metainfo {
  /**
   * The torrent's name, UTF-8 decoded (invalid bytes replaced), whole up to
   * {@link MAX_NAME_LENGTH} characters (or the `maxNameLength` asked for).
   */
  name: string;
  version: TorrentVersion;
  /** SHA-1 of the raw `info` bytes as a 20-byte binary string; set for v1 and hybrid. */
  infoHashV1?: string;
  /** SHA-256 of the raw `info` bytes as a 32-byte binary string; set for v2 and hybrid. */
  infoHashV2?: string;
  /** Sum of the file lengths, padding files excluded. */
  totalLength: number;
  /** The files, padding files excluded. */
  files: TorrentFile[];
  pieceLength: number;
  announce?: string;
  announceList?: string[][];
  /** BEP 19 web seeds. */
  urlList?: string[];
  comment?: string;
  createdBy?: string;
  /** Seconds since the Unix epoch, as written in the file. */
  creationDate?: number;
}

/**
 * Longest name kept by default, in characters. Names are kept whole for the magnet links, the
 * feed and download file names (pages cut them for display at `--max-torrent-name`); this bound
 * only keeps what a crafted file can make every tracked torrent hold in memory small (a name is
 * otherwise limited only by `--max-torrent-size`). No real torrent's name comes near it:
 * file systems stop at 255 bytes a name.
 */
export const MAX_NAME_LENGTH = 1024;

/** Options of {@linkcode parseMetainfo}. */
export interface ParseMetainfoOptions {
  /**
   * Longest name kept, in characters (code points). A longer name is cut so that, with a final
   * `…`, it is exactly this long. {@link MAX_NAME_LENGTH} when absent.
   */
  maxNameLength?: number;
}

/** A `.torrent` file that cannot be used, with the field at fault when there is one. */
export class TorrentFileError extends Error {
  /** The offending field, e.g. `info.piece length` or `info.files[3].path`. */
  readonly field?: string;

  constructor(message: string, field?: string, options?: ErrorOptions) {
    super(field === undefined ? message : `${field}: ${message}`, options);
    this.name = "TorrentFileError";
    this.field = field;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/**
 * Parses a `.torrent` file and computes the info hashes of the versions it has.
 *
 * The version is 1 when `info` has `pieces` and `length` or `files`, 2 when it has `meta version`
 * 2 and a `file tree`, and `"hybrid"` when both hold.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "./bencode.ts";
 * import { parseMetainfo } from "./metainfo.ts";
 * const torrent = encode({
 *   announce: "http://tracker.example/announce",
 *   info: { name: "a.txt", length: 3, "piece length": 16384, pieces: new Uint8Array(20) },
 * });
 * const m = parseMetainfo(torrent);
 * assert.equal(m.version, 1);
 * assert.equal(m.infoHashV1?.length, 20);
 * assert.deepEqual(m.files, [{ path: "a.txt", length: 3 }]);
 * ```
 *
 * @throws {TorrentFileError} when the bytes are not bencoded, the root is not a dict, `info` is
 * missing or not a dict, a field has the wrong type, or the torrent is neither v1 nor v2.
 */
export function parseMetainfo(bytes: Uint8Array, options?: ParseMetainfoOptions): Metainfo {
  let root: BValue;
  let spans;
  try {
    ({ value: root, spans } = decodeWithSpans(bytes));
  } catch (e) {
    if (e instanceof BencodeError) {
      throw new TorrentFileError(`not valid bencode: ${e.message}`, undefined, { cause: e });
    }
    throw e;
  }
  if (!(root instanceof Map)) throw new TorrentFileError("the root is not a dict");
  const info = root.get("info");
  if (info === undefined) throw new TorrentFileError("missing", "info");
  if (!(info instanceof Map)) throw new TorrentFileError("not a dict", "info");
  const span = spans.get("info")!;
  const rawInfo = bytes.subarray(span[0], span[1]);

  const hasV1 = info.has("pieces") && (info.has("length") || info.has("files"));
  const metaVersion = optionalInteger(info, "meta version", "info.meta version");
  const hasV2 = metaVersion === 2 && info.has("file tree");
  if (!hasV1 && !hasV2) {
    throw new TorrentFileError(
      metaVersion !== undefined && metaVersion !== 2
        ? `unsupported meta version ${metaVersion}`
        : "neither v1 (pieces with length or files) nor v2 (meta version 2 with file tree)",
      "info",
    );
  }
  const version: TorrentVersion = hasV1 && hasV2 ? "hybrid" : hasV1 ? 1 : 2;

  const rawName = info.get("name");
  if (rawName === undefined) throw new TorrentFileError("missing", "info.name");
  if (!(rawName instanceof Uint8Array)) throw new TorrentFileError("not a string", "info.name");
  const fullName = utf8.decode(rawName);
  const name = truncateName(fullName, options?.maxNameLength ?? MAX_NAME_LENGTH);

  const pieceLength = optionalInteger(info, "piece length", "info.piece length");
  if (pieceLength === undefined) throw new TorrentFileError("missing", "info.piece length");
  if (pieceLength <= 0) {
    throw new TorrentFileError(`must be positive, got ${pieceLength}`, "info.piece length");
  }

  let v1Files: TorrentFile[] | undefined;
  if (hasV1) {
    const pieces = info.get("pieces");
    if (!(pieces instanceof Uint8Array)) throw new TorrentFileError("not a string", "info.pieces");
    if (pieces.length % 20 !== 0) {
      throw new TorrentFileError(
        `length ${pieces.length} is not a multiple of 20`,
        "info.pieces",
      );
    }
    v1Files = v1FileList(info, fullName);
  }
  const v2Files = hasV2 ? v2FileList(info.get("file tree")!) : undefined;
  const files = (v2Files ?? v1Files)!;
  const totalLength = sumLengths(files, hasV2 ? "info.file tree" : "info.files");
  if (v1Files !== undefined && v2Files !== undefined) {
    const v1Total = sumLengths(v1Files, "info.files");
    if (v1Total !== totalLength) {
      throw new TorrentFileError(
        `v1 files total ${v1Total} bytes but the v2 file tree ${totalLength}`,
        "info",
      );
    }
  }

  const m: Metainfo = { name, version, totalLength, files, pieceLength };
  if (hasV1) m.infoHashV1 = digest("sha1", rawInfo);
  if (hasV2) m.infoHashV2 = digest("sha256", rawInfo);

  const announce = optionalText(root, "announce", "announce");
  if (announce !== undefined) m.announce = announce;
  const announceList = root.get("announce-list");
  if (announceList !== undefined) {
    m.announceList = listOf(
      announceList,
      "announce-list",
      (tier, field) => listOf(tier, field, (url, f) => text(url, f)),
    );
  }
  const urlList = root.get("url-list");
  if (urlList !== undefined) {
    // BEP 19 allows a single string or a list; an empty string means "none".
    const urls = urlList instanceof Uint8Array
      ? [text(urlList, "url-list")]
      : listOf(urlList, "url-list", (url, field) => text(url, field));
    m.urlList = urls.filter((u) => u !== "");
  }
  const comment = optionalText(root, "comment", "comment");
  if (comment !== undefined) m.comment = comment;
  const createdBy = optionalText(root, "created by", "created by");
  if (createdBy !== undefined) m.createdBy = createdBy;
  const creationDate = optionalInteger(root, "creation date", "creation date");
  if (creationDate !== undefined) m.creationDate = creationDate;
  return m;
}

/**
 * The 20-byte keys clients announce a torrent with, as binary strings: the SHA-1 for v1, the first
 * 20 bytes of the SHA-256 for v2 (BEP 52), both for a hybrid (two separate swarms).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wireHashes } from "./metainfo.ts";
 * const m = {
 *   name: "x", version: 2 as const, infoHashV2: "\x01".repeat(32),
 *   totalLength: 0, files: [], pieceLength: 16384,
 * };
 * assert.deepEqual(wireHashes(m), ["\x01".repeat(20)]);
 * ```
 */
export function wireHashes(m: Metainfo): string[] {
  const keys: string[] = [];
  if (m.infoHashV1 !== undefined) keys.push(m.infoHashV1);
  if (m.infoHashV2 !== undefined) keys.push(m.infoHashV2.slice(0, 20));
  return keys;
}

/**
 * A magnet link (BEP 9; `btmh` multihash form of BEP 52 for v2) naming the torrent and the given
 * trackers: one `xt` per version, then `dn` and one `tr` per tracker, percent-encoded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { magnetLink } from "./metainfo.ts";
 * const m = {
 *   name: "a b", version: 1 as const, infoHashV1: "\xab".repeat(20),
 *   totalLength: 0, files: [], pieceLength: 16384,
 * };
 * assert.equal(
 *   magnetLink(m, ["udp://t.example:6969"]),
 *   `magnet:?xt=urn:btih:${"ab".repeat(20)}&dn=a%20b&tr=udp%3A%2F%2Ft.example%3A6969`,
 * );
 * ```
 */
export function magnetLink(m: Metainfo, trackers: string[] = []): string {
  const parts: string[] = [];
  if (m.infoHashV1 !== undefined) parts.push(`xt=urn:btih:${binaryToHex(m.infoHashV1)}`);
  // 0x12 = sha2-256 multihash code, 0x20 = 32-byte digest.
  if (m.infoHashV2 !== undefined) parts.push(`xt=urn:btmh:1220${binaryToHex(m.infoHashV2)}`);
  parts.push(`dn=${encodeURIComponent(m.name)}`);
  for (const t of trackers) parts.push(`tr=${encodeURIComponent(t)}`);
  return `magnet:?${parts.join("&")}`;
}

function digest(algorithm: "sha1" | "sha256", bytes: Uint8Array): string {
  return bytesToBinary(createHash(algorithm).update(bytes).digest());
}

/**
 * `name` cut to at most `max` characters (code points), the last of them `…` when it was cut.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { truncateName } from "./metainfo.ts";
 * assert.equal(truncateName("héllo wörld", 6), "héllo…");
 * assert.equal(truncateName("short", 64), "short");
 * ```
 */
export function truncateName(name: string, max: number): string {
  if (name.length <= max) return name; // UTF-16 length ≥ code points
  const chars = Array.from(name);
  if (chars.length <= max) return name;
  return max <= 0 ? "" : chars.slice(0, max - 1).join("") + "…";
}

/** The v1 file list: `length` (single file named `name`) or `files`, padding files left out. */
function v1FileList(info: Map<string, BValue>, name: string): TorrentFile[] {
  const length = info.get("length");
  const files = info.get("files");
  if (length !== undefined && files !== undefined) {
    throw new TorrentFileError("has both length and files", "info");
  }
  if (length !== undefined) return [{ path: name, length: fileLength(length, "info.length") }];
  const out: TorrentFile[] = [];
  listOf(files, "info.files", (entry, field) => {
    if (!(entry instanceof Map)) throw new TorrentFileError("not a dict", field);
    const len = fileLength(entry.get("length"), `${field}.length`);
    const path = listOf(entry.get("path"), `${field}.path`, (c, f) => text(c, f));
    if (path.length === 0) throw new TorrentFileError("empty", `${field}.path`);
    if (!isPadding(entry, field)) out.push({ path: path.join("/"), length: len });
  });
  return out;
}

/**
 * The v2 file list from a BEP 52 `file tree`: nested dicts of path components, where a file is a
 * component mapping to `{"": {length, "pieces root"}}`. Recursion is bounded by the decoder's
 * depth limit.
 */
function v2FileList(tree: BValue): TorrentFile[] {
  const out: TorrentFile[] = [];
  const walk = (node: BValue, path: string[], field: string): void => {
    if (!(node instanceof Map)) throw new TorrentFileError("not a dict", field);
    for (const [key, child] of node) {
      if (key === "") {
        if (path.length === 0) throw new TorrentFileError("a file without a name", field);
        if (node.size !== 1) {
          throw new TorrentFileError("both a file and a directory", field);
        }
        const fileField = `${field}[""]`;
        if (!(child instanceof Map)) throw new TorrentFileError("not a dict", fileField);
        const length = fileLength(child.get("length"), `${fileField}.length`);
        const root = child.get("pieces root");
        if (root !== undefined && !(root instanceof Uint8Array && root.length === 32)) {
          throw new TorrentFileError("not a 32-byte string", `${fileField}.pieces root`);
        }
        if (root === undefined && length > 0) {
          throw new TorrentFileError("missing for a non-empty file", `${fileField}.pieces root`);
        }
        if (!isPadding(child, fileField)) out.push({ path: path.join("/"), length });
      } else {
        const component = utf8.decode(binaryToBytes(key));
        walk(child, [...path, component], `${field}[${JSON.stringify(component)}]`);
      }
    }
  };
  walk(tree, [], "info.file tree");
  return out;
}

/** BEP 47: a file whose `attr` contains `p` is padding. */
function isPadding(entry: Map<string, BValue>, field: string): boolean {
  const attr = entry.get("attr");
  if (attr === undefined) return false;
  if (!(attr instanceof Uint8Array)) throw new TorrentFileError("not a string", `${field}.attr`);
  return attr.includes(0x70); // 'p'
}

function sumLengths(files: TorrentFile[], field: string): number {
  let total = 0;
  for (const f of files) total += f.length;
  if (!Number.isSafeInteger(total)) {
    throw new TorrentFileError("total length is too large", field);
  }
  return total;
}

function fileLength(v: BValue | undefined, field: string): number {
  if (v === undefined) throw new TorrentFileError("missing", field);
  if (typeof v !== "number") throw new TorrentFileError("not an integer", field);
  if (v < 0) throw new TorrentFileError(`negative (${v})`, field);
  return v;
}

function optionalInteger(d: Map<string, BValue>, key: string, field: string): number | undefined {
  const v = d.get(key);
  if (v !== undefined && typeof v !== "number") {
    throw new TorrentFileError("not an integer", field);
  }
  return v;
}

function optionalText(d: Map<string, BValue>, key: string, field: string): string | undefined {
  const v = d.get(key);
  return v === undefined ? undefined : text(v, field);
}

function text(v: BValue, field: string): string {
  if (!(v instanceof Uint8Array)) throw new TorrentFileError("not a string", field);
  return utf8.decode(v);
}

function listOf<T>(
  v: BValue | undefined,
  field: string,
  item: (v: BValue, field: string) => T,
): T[] {
  if (v === undefined) throw new TorrentFileError("missing", field);
  if (!Array.isArray(v)) throw new TorrentFileError("not a list", field);
  return v.map((x, i) => item(x, `${field}[${i}]`));
}
