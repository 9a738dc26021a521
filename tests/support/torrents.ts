/**
 * `.torrent` files for tests of the publishing features (feed, badges, official seeds): v1, v2 or
 * hybrid, each with a unique info dict, plus their info hashes.
 */
import { createHash } from "node:crypto";
import { type BEncodable, encode } from "../../src/protocol/bencode.ts";
import { binaryToHex } from "../../src/protocol/binary.ts";

let serial = 0;

/** A test torrent: its bytes and hashes (binary strings and hex). */
export interface TestTorrent {
  bytes: Uint8Array;
  name: string;
  length: number;
  /** SHA-1 of the info dict (v1 and hybrid). */
  v1?: string;
  /** SHA-256 of the info dict (v2 and hybrid). */
  v2?: string;
  /** Hex of the hash pages name the torrent by: v1 when there is one. */
  hex: string;
  /** The 20-byte key clients announce with. */
  key: string;
}

/** Options of {@link makeTorrent}. */
export interface MakeTorrentOptions {
  version?: 1 | 2 | "hybrid";
  /** BEP 19 web seeds. */
  urlList?: string[];
  length?: number;
}

/** A torrent named `name` with a unique info dict. */
export function makeTorrent(name: string, options: MakeTorrentOptions = {}): TestTorrent {
  const version = options.version ?? 1;
  const n = ++serial;
  const length = options.length ?? 1000 + n;
  const info = new Map<string, BEncodable>([["name", name], ["piece length", 16384]]);
  if (version !== 2) {
    info.set("length", length);
    info.set("pieces", new Uint8Array(20).fill(n & 0xff));
  }
  if (version !== 1) {
    info.set("meta version", 2);
    info.set(
      "file tree",
      new Map([[
        name,
        new Map([[
          "",
          new Map<string, BEncodable>([["length", length], [
            "pieces root",
            new Uint8Array(32).fill(n & 0xff),
          ]]),
        ]]),
      ]]),
    );
  }
  // A unique field, so two torrents never share a hash even with the same name and length.
  info.set("x-serial", n);
  const root = new Map<string, BEncodable>([["announce", "http://127.0.0.1/announce"], [
    "info",
    info,
  ]]);
  if (options.urlList !== undefined) root.set("url-list", options.urlList);
  const infoBytes = encode(info);
  const digest = (a: string) =>
    String.fromCharCode(...createHash(a).update(infoBytes).digest()) as string;
  const v1 = version !== 2 ? digest("sha1") : undefined;
  const v2 = version !== 1 ? digest("sha256") : undefined;
  return {
    bytes: encode(root),
    name,
    length,
    v1,
    v2,
    hex: binaryToHex(v1 ?? v2!),
    key: (v1 ?? v2!).slice(0, 20),
  };
}

/**
 * Writes `torrent` as `<dir>/<file>` with the modification time `mtime` (seconds since the
 * epoch): the whitelist takes it as the date the torrent was added.
 */
export async function writeTorrent(
  dir: string,
  file: string,
  torrent: TestTorrent,
  mtime: number,
): Promise<string> {
  const path = `${dir}/${file}`;
  await Deno.writeFile(path, torrent.bytes);
  await Deno.utime(path, mtime, mtime);
  return path;
}
