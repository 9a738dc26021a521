// The torrent directory belongs to its owner: Hefur only reads it, except for `ctl
// release-torrent` and `retire-torrent`, and those never let anyone see half a file.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import { encode } from "../src/protocol/bencode.ts";
import { parseMetainfo, TorrentFileError, wireHashes } from "../src/protocol/metainfo.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import { encodeUdpRequest, parseUdpReply } from "../src/protocol/udp_packet.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { controlHandler } from "../src/control/commands.ts";
import type { ReleaseResult } from "../src/control/protocol.ts";
import { freePort, httpBase, pct, startTestHefur } from "./helpers.ts";

/** A v1 torrent named `name` with `pieces` SHA-1 slots (20 bytes each). */
function torrent(name: string, pieces = 1): Uint8Array {
  return encode({
    announce: "http://tracker.example/announce",
    info: {
      name,
      length: pieces * 16384,
      "piece length": 16384,
      pieces: new Uint8Array(20 * pieces).fill(name.length),
    },
  });
}

/** Every entry under `root`: type, size, mode, modification time and content hash. */
async function manifest(root: string, withDirTimes = true): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (dir: string) => {
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    for (const name of names) {
      const path = join(dir, name);
      const st = await Deno.lstat(path);
      const rel = relative(root, path);
      if (st.isDirectory) {
        lines.push(`d ${rel} ${st.mode} ${withDirTimes ? st.mtime?.getTime() : ""}`);
        await walk(path);
      } else if (st.isSymlink) {
        lines.push(`l ${rel} -> ${await Deno.readLink(path)}`);
      } else {
        const sha = createHash("sha256").update(await Deno.readFile(path)).digest("hex");
        lines.push(`f ${rel} ${st.size} ${st.mode} ${st.mtime?.getTime()} ${sha}`);
      }
    }
  };
  const top = await Deno.lstat(root);
  lines.push(`d . ${top.mode} ${withDirTimes ? top.mtime?.getTime() : ""}`);
  await walk(root);
  return lines;
}

/** A torrent directory with torrents at several depths, a broken one, and other files. */
async function populate(dir: string): Promise<Uint8Array[]> {
  const files: [string, Uint8Array][] = [
    ["a.torrent", torrent("alpha")],
    ["sub/b.torrent", torrent("beta", 3)],
    ["sub/deeper/c.torrent", torrent("gamma")],
    ["other/d.torrent", torrent("delta")],
    ["broken.torrent", new TextEncoder().encode("d4:infoi1e")],
    ["README.txt", new TextEncoder().encode("not a torrent\n")],
  ];
  for (const [rel, bytes] of files) {
    await Deno.mkdir(join(dir, rel, ".."), { recursive: true });
    await Deno.writeFile(join(dir, rel), bytes);
  }
  await Deno.symlink("a.torrent", join(dir, "link.torrent"));
  // Times in the past, so that any write during the test would show as a change.
  const past = new Date(Date.now() - 3600_000);
  for (const line of await manifest(dir)) {
    const rel = line.split(" ")[1];
    if (!line.startsWith("l ")) await Deno.utime(join(dir, rel), past, past);
  }
  return files.filter(([rel]) => rel.endsWith(".torrent") && !rel.startsWith("broken"))
    .map(([, b]) => b);
}

Deno.test("scans, announces, scrapes, pages and ctl status leave the torrent directory as it was", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-dir-" });
  try {
    const torrents = await populate(dir);
    const before = await manifest(dir);
    const hefur = await startTestHefur({ torrentDir: dir, udpPort: freePort("udp") });
    try {
      const hashes = torrents.flatMap((b) => wireHashes(parseMetainfo(b)));
      assert.equal(hefur.tracker.size, hashes.length);
      const base = httpBase(hefur);
      const get = async (path: string) => {
        const res = await fetch(base + path);
        await res.body?.cancel();
        return res.status;
      };
      const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      const to = { transport: "udp" as const, hostname: "127.0.0.1", port: hefur.udp!.addr.port };
      try {
        await udp.send(encodeUdpRequest({ kind: "connect", transactionId: 1 }), to);
        const c = parseUdpReply((await udp.receive())[0]);
        assert.equal(c.kind, "connect");
        for (let round = 0; round < 3; round++) {
          await hefur.whitelist!.scanNow();
          for (const [i, h] of hashes.entries()) {
            const q = `info_hash=${pct(h)}&peer_id=${pct(("-TD0001-" + i).padEnd(20, "z"))}` +
              `&port=${7000 + i}&uploaded=0&downloaded=0&left=${round}`;
            assert.equal(await get(`/announce?${q}`), 200);
            assert.equal(await get(`/scrape?info_hash=${pct(h)}`), 200);
            if (c.kind === "connect") {
              await udp.send(
                encodeUdpRequest({
                  kind: "announce",
                  connectionIdHi: c.connectionIdHi,
                  connectionIdLo: c.connectionIdLo,
                  transactionId: 2,
                  infoHash: h,
                  peerId: "-TD0002-" + "u".repeat(12),
                  downloaded: 0,
                  left: round,
                  uploaded: 0,
                  event: AnnounceEvent.Completed,
                  ip: 0,
                  key: 0,
                  numwant: -1,
                  port: 8000 + i,
                }),
                to,
              );
              assert.equal(parseUdpReply((await udp.receive())[0]).kind, "announce");
            }
            const hex = binaryToHex(h);
            for (
              const path of [
                `/peers?info_hash=${hex}`,
                `/file/${hex}.torrent`,
                `/badge/${hex}.svg`,
                `/api/torrents/${hex}.json`,
              ]
            ) assert.equal(await get(path), 200, path);
          }
          for (const path of ["/stat", "/feed.atom", "/api/stats.json", "/metrics"]) {
            assert.equal(await get(path), 200, path);
          }
          const handle = controlHandler({ hefur, startedAt: Date.now(), stop: () => {} });
          await handle("status", {});
        }
      } finally {
        udp.close();
      }
    } finally {
      await hefur.close();
    }
    assert.deepEqual(await manifest(dir), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("release-torrent and retire-torrent: a reader never sees half a file, and nothing else changes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-dir-" });
  try {
    await populate(dir);
    // Directory times change when entries come and go; everything else must not.
    const before = await manifest(dir, false);
    const hefur = await startTestHefur({ torrentDir: dir });
    const handle = controlHandler({ hefur, startedAt: Date.now(), stop: () => {} });
    // A reader racing the writer: every .torrent it can open must parse whole.
    let reading = true;
    let reads = 0;
    const partial: string[] = [];
    const reader = (async () => {
      while (reading) {
        for (const e of Deno.readDirSync(dir)) {
          if (!e.name.endsWith(".torrent") || e.isSymlink || e.name === "broken.torrent") continue;
          let bytes: Uint8Array;
          try {
            bytes = await Deno.readFile(join(dir, e.name));
          } catch (err) {
            if (err instanceof Deno.errors.NotFound) continue;
            throw err;
          }
          reads++;
          try {
            parseMetainfo(bytes);
          } catch (err) {
            if (!(err instanceof TorrentFileError)) throw err;
            partial.push(`${e.name}: ${bytes.length} bytes: ${err.message}`);
          }
        }
        await new Promise((r) => setTimeout(r, 0));
      }
    })();
    const released: ReleaseResult[] = [];
    try {
      // Large files (about 2 MB of piece hashes), so a write takes many system calls.
      for (let i = 0; i < 12; i++) {
        const bytes = torrent(`released ${i}`, 100_000 + i);
        released.push(
          await handle("release-torrent", { data: bytes.toBase64() }) as ReleaseResult,
        );
      }
      for (const r of released) {
        assert.ok(hefur.tracker.get(parseMetainfo(await Deno.readFile(r.file)).infoHashV1!));
        await handle("retire-torrent", { hash: r.infoHashes[0].hex });
      }
    } finally {
      reading = false;
      await reader;
      await hefur.close();
    }
    assert.deepEqual(partial, []);
    assert.ok(reads >= 12, `the reader read ${reads} files`);
    // Every released file is gone again, no temporary file is left, the rest is untouched.
    assert.deepEqual(await manifest(dir, false), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
