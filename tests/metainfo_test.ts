import assert from "node:assert/strict";
import { type BEncodable, encode } from "../src/protocol/bencode.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import {
  magnetLink,
  MAX_NAME_LENGTH,
  parseMetainfo,
  TorrentFileError,
  wireHashes,
} from "../src/protocol/metainfo.ts";

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** SHA digest as a binary string, computed with WebCrypto (independent of the module's node:crypto). */
async function sha(algorithm: "SHA-1" | "SHA-256", bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest(algorithm, bytes as Uint8Array<ArrayBuffer>));
  return String.fromCharCode(...d);
}

const PIECE = 16384;
const root32 = (n: number) => new Uint8Array(32).fill(n);

/** Asserts that parsing fails with a TorrentFileError naming `field` and matching `message`. */
function assertBad(bytes: Uint8Array, field: string | undefined, message: RegExp): void {
  assert.throws(() => parseMetainfo(bytes), (e: unknown) => {
    assert.ok(e instanceof TorrentFileError, `expected TorrentFileError, got ${e}`);
    assert.equal(e.field, field);
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("v1 single-file torrent", async () => {
  const info = {
    name: "ubuntu.iso",
    length: 40000,
    "piece length": PIECE,
    pieces: new Uint8Array(60),
  };
  const bytes = encode({
    announce: "http://t.example/announce",
    "announce-list": [["http://t.example/announce"], [
      "udp://u.example:6969",
      "http://b.example/a",
    ]],
    "url-list": "http://seed.example/ubuntu.iso",
    comment: "a comment",
    "created by": "test",
    "creation date": 1700000000,
    info,
  });
  const m = parseMetainfo(bytes);
  const sha1 = await sha("SHA-1", encode(info));
  assert.deepEqual(m, {
    name: "ubuntu.iso",
    version: 1,
    infoHashV1: sha1,
    totalLength: 40000,
    files: [{ path: "ubuntu.iso", length: 40000 }],
    pieceLength: PIECE,
    announce: "http://t.example/announce",
    announceList: [["http://t.example/announce"], ["udp://u.example:6969", "http://b.example/a"]],
    urlList: ["http://seed.example/ubuntu.iso"],
    comment: "a comment",
    createdBy: "test",
    creationDate: 1700000000,
  });
  assert.deepEqual(wireHashes(m), [sha1]);
  assert.equal(
    magnetLink(m, ["udp://u.example:6969/announce", "http://t.example/announce?a=1&b=2"]),
    `magnet:?xt=urn:btih:${binaryToHex(sha1)}&dn=ubuntu.iso` +
      "&tr=udp%3A%2F%2Fu.example%3A6969%2Fannounce" +
      "&tr=http%3A%2F%2Ft.example%2Fannounce%3Fa%3D1%26b%3D2",
  );
});

Deno.test("v1 multi-file torrent skips BEP 47 padding files", async () => {
  const info = {
    name: "album",
    "piece length": PIECE,
    pieces: new Uint8Array(40),
    files: [
      { length: 1000, path: ["cd1", "01 intro.flac"] },
      { length: PIECE - 1000, path: [".pad", "15384"], attr: "p" },
      { length: 5, path: ["cover.jpg"], attr: "x" },
      { length: 0, path: ["empty"] },
    ],
  };
  const m = parseMetainfo(encode({ info, "url-list": ["http://a.example/", ""] }));
  assert.equal(m.version, 1);
  assert.equal(m.infoHashV1, await sha("SHA-1", encode(info)));
  assert.equal(m.infoHashV2, undefined);
  assert.equal(m.totalLength, 1005);
  assert.deepEqual(m.files, [
    { path: "cd1/01 intro.flac", length: 1000 },
    { path: "cover.jpg", length: 5 },
    { path: "empty", length: 0 },
  ]);
  assert.deepEqual(m.urlList, ["http://a.example/"]);
  assert.equal(m.announce, undefined);
  assert.equal(magnetLink(m), `magnet:?xt=urn:btih:${binaryToHex(m.infoHashV1!)}&dn=album`);
});

const v2Tree = {
  "README": { "": { length: 100, "pieces root": root32(1) } },
  "src": {
    "a.ts": { "": { length: 2 * PIECE, "pieces root": root32(2) } },
    "empty.ts": { "": { length: 0 } },
  },
};

Deno.test("v2-only torrent", async () => {
  const info = { name: "proj", "meta version": 2, "piece length": PIECE, "file tree": v2Tree };
  const bytes = encode({
    info,
    "piece layers": new Map([["\x02".repeat(32), new Uint8Array(64)]]),
  });
  const m = parseMetainfo(bytes);
  const sha256 = await sha("SHA-256", encode(info));
  assert.equal(m.version, 2);
  assert.equal(m.infoHashV1, undefined);
  assert.equal(m.infoHashV2, sha256);
  assert.equal(m.infoHashV2?.length, 32);
  assert.equal(m.totalLength, 100 + 2 * PIECE);
  assert.deepEqual(m.files, [
    { path: "README", length: 100 },
    { path: "src/a.ts", length: 2 * PIECE },
    { path: "src/empty.ts", length: 0 },
  ]);
  assert.deepEqual(wireHashes(m), [sha256.slice(0, 20)]);
  assert.equal(magnetLink(m), `magnet:?xt=urn:btmh:1220${binaryToHex(sha256)}&dn=proj`);
});

Deno.test("hybrid torrent has both hashes and counts no padding", async () => {
  const info = {
    name: "proj",
    "meta version": 2,
    "piece length": PIECE,
    "file tree": v2Tree,
    pieces: new Uint8Array(60),
    files: [
      { length: 100, path: ["README"] },
      { length: PIECE - 100, path: [".pad", String(PIECE - 100)], attr: "p" },
      { length: 2 * PIECE, path: ["src", "a.ts"] },
      { length: 0, path: ["src", "empty.ts"] },
    ],
  };
  const m = parseMetainfo(encode({ info }));
  const sha1 = await sha("SHA-1", encode(info));
  const sha256 = await sha("SHA-256", encode(info));
  assert.equal(m.version, "hybrid");
  assert.equal(m.infoHashV1, sha1);
  assert.equal(m.infoHashV2, sha256);
  assert.equal(m.totalLength, 100 + 2 * PIECE);
  assert.equal(m.files.length, 3);
  assert.deepEqual(wireHashes(m), [sha1, sha256.slice(0, 20)]);
  assert.equal(
    magnetLink(m, ["http://t/a"]),
    `magnet:?xt=urn:btih:${binaryToHex(sha1)}&xt=urn:btmh:1220${binaryToHex(sha256)}` +
      "&dn=proj&tr=http%3A%2F%2Ft%2Fa",
  );
});

Deno.test("hybrid torrent whose v1 and v2 sizes disagree is refused", () => {
  const info = {
    name: "proj",
    "meta version": 2,
    "piece length": PIECE,
    "file tree": v2Tree,
    pieces: new Uint8Array(20),
    length: 5,
  };
  assertBad(encode({ info }), "info", /v1 files total 5 bytes but the v2 file tree/);
});

Deno.test("info hash uses the raw info bytes, not a re-encoding (unsorted keys)", async () => {
  // Keys out of order: "pieces" before "name", "length" last. Re-encoding would sort them.
  const rawInfo = "d12:piece lengthi16384e6:pieces20:" + "\x00".repeat(20) +
    "4:name3:abc6:lengthi7ee";
  const bytes = ascii(`d8:announce9:http://t/4:info${rawInfo}e`);
  const m = parseMetainfo(bytes);
  assert.equal(m.infoHashV1, await sha("SHA-1", ascii(rawInfo)));
  const reencoded = encode({
    "piece length": PIECE,
    pieces: new Uint8Array(20),
    name: "abc",
    length: 7,
  });
  assert.notEqual(m.infoHashV1, await sha("SHA-1", reencoded));
  assert.equal(m.name, "abc");
  assert.equal(m.totalLength, 7);
});

Deno.test("name: invalid UTF-8 is replaced, and maxNameLength truncates with an ellipsis", () => {
  const torrent = (name: Uint8Array | string) =>
    encode({ info: { name, length: 1, "piece length": PIECE, pieces: new Uint8Array(20) } });
  assert.equal(parseMetainfo(torrent(new Uint8Array([0x61, 0xff, 0x62]))).name, "a\ufffdb");
  assert.equal(parseMetainfo(torrent("héllo wörld")).name, "héllo wörld");
  assert.equal(parseMetainfo(torrent("héllo wörld"), { maxNameLength: 11 }).name, "héllo wörld");
  assert.equal(parseMetainfo(torrent("héllo wörld"), { maxNameLength: 6 }).name, "héllo…");
  // Counted in code points: an emoji is one character and is never split.
  assert.equal(parseMetainfo(torrent("🎵🎵🎵🎵"), { maxNameLength: 3 }).name, "🎵🎵…");
  assert.equal(parseMetainfo(torrent("🎵🎵🎵"), { maxNameLength: 3 }).name, "🎵🎵🎵");
  // The file list keeps the full name.
  assert.deepEqual(parseMetainfo(torrent("abcdef"), { maxNameLength: 3 }).files, [
    { path: "abcdef", length: 1 },
  ]); // By default a name is kept whole up to MAX_NAME_LENGTH (1024) characters, and no longer.
  assert.equal(MAX_NAME_LENGTH, 1024);
  const long = "n".repeat(1024);
  assert.equal(parseMetainfo(torrent(long)).name, long);
  assert.equal(parseMetainfo(torrent(long + "xyz")).name, "n".repeat(1023) + "…");
});

Deno.test("bad torrents are refused with the field at fault", () => {
  const good = { name: "x", length: 1, "piece length": PIECE, pieces: new Uint8Array(20) };
  const t = (info: BEncodable, extra: Record<string, BEncodable> = {}) =>
    encode({ info, ...extra });
  assertBad(ascii("i1e"), undefined, /the root is not a dict/);
  assertBad(ascii("d4:info"), undefined, /not valid bencode: unexpected end of input/);
  assertBad(ascii("d4:infode4:infodee"), undefined, /not valid bencode: duplicate dict key/);
  assertBad(ascii("99999999999:x"), undefined, /not valid bencode/);
  assertBad(encode({ announce: "x" }), "info", /missing/);
  assertBad(t("abc"), "info", /not a dict/);
  assertBad(t({ ...good, files: [{ length: 1, path: ["a"] }] }), "info", /both length and files/);
  assertBad(t({ ...good, name: undefined }), "info.name", /missing/);
  assertBad(t({ ...good, name: 5 }), "info.name", /not a string/);
  assertBad(t({ ...good, "piece length": undefined }), "info.piece length", /missing/);
  assertBad(t({ ...good, "piece length": "16384" }), "info.piece length", /not an integer/);
  assertBad(t({ ...good, "piece length": 0 }), "info.piece length", /must be positive/);
  assertBad(t({ ...good, pieces: new Uint8Array(21) }), "info.pieces", /not a multiple of 20/);
  assertBad(t({ ...good, pieces: 3 }), "info.pieces", /not a string/);
  assertBad(t({ ...good, length: -1 }), "info.length", /negative/);
  assertBad(t({ ...good, length: "1" }), "info.length", /not an integer/);
  assertBad(t({ ...good, pieces: undefined }), "info", /neither v1/);
  assertBad(t({ ...good, pieces: undefined, "meta version": 3 }), "info", /meta version 3/);
  assertBad(t({ ...good, "meta version": "2" }), "info.meta version", /not an integer/);
  const multi = { ...good, length: undefined };
  assertBad(t({ ...multi, files: "a" }), "info.files", /not a list/);
  assertBad(t({ ...multi, files: [1] }), "info.files[0]", /not a dict/);
  assertBad(
    t({ ...multi, files: [{ length: 1, path: ["a"] }, { length: 1, path: "b" }] }),
    "info.files[1].path",
    /not a list/,
  );
  assertBad(t({ ...multi, files: [{ length: 1, path: [] }] }), "info.files[0].path", /empty/);
  assertBad(t({ ...multi, files: [{ length: 1, path: [1] }] }), "info.files[0].path[0]", /string/);
  assertBad(t({ ...multi, files: [{ path: ["a"] }] }), "info.files[0].length", /missing/);
  assertBad(
    t({ ...multi, files: [{ length: 1, path: ["a"], attr: 1 }] }),
    "info.files[0].attr",
    /not a string/,
  );
  assertBad(
    t({ ...multi, files: [{ length: 2 ** 52, path: ["a"] }, { length: 2 ** 52, path: ["b"] }] }),
    "info.files",
    /too large/,
  );
  assertBad(t(good, { announce: 1 }), "announce", /not a string/);
  assertBad(t(good, { "announce-list": ["a"] }), "announce-list[0]", /not a list/);
  assertBad(t(good, { "announce-list": [["a", 1]] }), "announce-list[0][1]", /not a string/);
  assertBad(t(good, { "url-list": 5 }), "url-list", /not a list/);
  assertBad(t(good, { comment: [] }), "comment", /not a string/);
  assertBad(t(good, { "creation date": "today" }), "creation date", /not an integer/);
});

Deno.test("bad v2 file trees are refused with the field at fault", () => {
  const t = (tree: BEncodable) =>
    encode({ info: { name: "x", "meta version": 2, "piece length": PIECE, "file tree": tree } });
  assertBad(t("a"), "info.file tree", /not a dict/);
  assertBad(t({ "": { length: 1 } }), "info.file tree", /a file without a name/);
  assertBad(t({ a: 1 }), 'info.file tree["a"]', /not a dict/);
  assertBad(
    t({ a: { "": { length: 0 }, b: { "": { length: 0 } } } }),
    'info.file tree["a"]',
    /both a file and a directory/,
  );
  assertBad(t({ a: { "": 1 } }), 'info.file tree["a"][""]', /not a dict/);
  assertBad(t({ a: { "": {} } }), 'info.file tree["a"][""].length', /missing/);
  assertBad(
    t({ a: { "": { length: 1 } } }),
    'info.file tree["a"][""].pieces root',
    /missing for a non-empty file/,
  );
  assertBad(
    t({ d: { a: { "": { length: 1, "pieces root": new Uint8Array(20) } } } }),
    'info.file tree["d"]["a"][""].pieces root',
    /not a 32-byte string/,
  );
});

Deno.test("an info dict nested elsewhere is not taken for the top-level one", () => {
  const bytes = encode({ x: { info: { name: "y", length: 1 } } });
  assertBad(bytes, "info", /missing/);
});

const MKTORRENT = "/usr/bin/mktorrent";
const hasMktorrent = (() => {
  try {
    return Deno.statSync(MKTORRENT).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "a real torrent made by mktorrent parses",
  ignore: !hasMktorrent,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "hefur-metainfo-" });
    try {
      await Deno.mkdir(`${dir}/data/sub`, { recursive: true });
      await Deno.writeFile(`${dir}/data/a.bin`, new Uint8Array(70000).fill(7));
      await Deno.writeFile(`${dir}/data/sub/b.txt`, new TextEncoder().encode("hello"));
      const out = await new Deno.Command(MKTORRENT, {
        args: [
          "-a",
          "http://tracker.example/announce",
          "-a",
          "udp://backup.example:6969",
          "-c",
          "made in a test",
          "-l",
          "15",
          "-t",
          "1",
          "-o",
          `${dir}/data.torrent`,
          `${dir}/data`,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const bytes = await Deno.readFile(`${dir}/data.torrent`);
      const m = parseMetainfo(bytes);
      assert.equal(m.version, 1);
      assert.equal(m.name, "data");
      assert.equal(m.pieceLength, 32768);
      assert.equal(m.totalLength, 70005);
      assert.deepEqual(
        [...m.files].sort((a, b) => a.path.localeCompare(b.path)),
        [{ path: "a.bin", length: 70000 }, { path: "sub/b.txt", length: 5 }],
      );
      assert.equal(m.announce, "http://tracker.example/announce");
      assert.deepEqual(m.announceList, [
        ["http://tracker.example/announce"],
        ["udp://backup.example:6969"],
      ]);
      assert.equal(m.comment, "made in a test");
      assert.match(m.createdBy ?? "", /mktorrent/);
      assert.equal(typeof m.creationDate, "number");
      // mktorrent writes sorted keys and "info" is the last one: its raw bytes run from after
      // "4:info" to just before the root's closing "e". Found here without the decoder.
      const text = String.fromCharCode(...bytes);
      const infoStart = text.indexOf("4:infod") + "4:info".length;
      const rawInfo = bytes.subarray(infoStart, bytes.length - 1);
      assert.equal(m.infoHashV1, await sha("SHA-1", rawInfo));
      assert.equal(m.infoHashV2, undefined);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
