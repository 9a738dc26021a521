import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type BValue, decode, encode } from "../src/protocol/bencode.ts";
import { AnnounceEvent, isFailure, Want } from "../src/protocol/types.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { Whitelist, type WhitelistLogLevel } from "../src/whitelist/whitelist.ts";
import { walkTree } from "../src/whitelist/walk.ts";
import { type Hefur, startHefur } from "../src/app.ts";
import { HttpServer } from "../src/net/http_server.ts";
import { pct, testConfig } from "./helpers.ts";
import { type WhitelistFixture, whitelistFixture } from "./support/whitelist_fixture.ts";

// ---- torrents -------------------------------------------------------------------------------

const PIECE = 16384;
let serial = 0;

/** A v1, v2 or hybrid torrent with a unique info dict (so a unique hash) per call. */
function makeTorrent(version: 1 | 2 | "hybrid", name = `t${++serial}`): Uint8Array {
  const length = 1000 + serial;
  const info: Record<string, BValue | string> = { name, "piece length": PIECE };
  if (version !== 2) {
    info.length = length;
    info.pieces = new Uint8Array(20).fill(serial & 0xff);
  }
  if (version !== 1) {
    info["meta version"] = 2;
    info["file tree"] = new Map<string, BValue>([[
      name,
      new Map<string, BValue>([[
        "",
        new Map<string, BValue>([["length", length], [
          "pieces root",
          new Uint8Array(32).fill(serial & 0xff),
        ]]),
      ]]),
    ]]);
  }
  return encode({ announce: "http://127.0.0.1/announce", info });
}

/** The raw `info` bytes of a torrent made by {@link makeTorrent} (re-encoding is canonical). */
function infoBytes(torrent: Uint8Array): Uint8Array {
  const root = decode(torrent) as Map<string, BValue>;
  return encode(root.get("info")!);
}

const binary = (b: Uint8Array): string => String.fromCharCode(...b);
const sha1 = (t: Uint8Array) => binary(createHash("sha1").update(infoBytes(t)).digest());
const sha256 = (t: Uint8Array) => binary(createHash("sha256").update(infoBytes(t)).digest());

// ---- fixtures -------------------------------------------------------------------------------

function logged(f: WhitelistFixture, level: WhitelistLogLevel, pattern: RegExp): boolean {
  return f.logs.some(([l, m]) => l === level && pattern.test(m));
}

const PEER = {
  peerId: "-TS0001-abcdefghijkl",
  ip: "10.0.0.1",
  port: 6881,
  uploaded: 0,
  downloaded: 0,
  left: 100,
  event: AnnounceEvent.Started,
  numwant: -1,
  want: Want.V4,
};

// ---- registration -----------------------------------------------------------------------------

Deno.test("v1, v2 and hybrid files register exactly the hashes of their versions", async () => {
  await using f = await whitelistFixture();
  const v1 = makeTorrent(1);
  const v2 = makeTorrent(2);
  const hybrid = makeTorrent("hybrid", "a-rather-long-name");
  await Deno.writeFile(`${f.dir}/v1.torrent`, v1);
  await Deno.writeFile(`${f.dir}/v2.TORRENT`, v2); // the suffix is matched in any case
  await Deno.writeFile(`${f.dir}/hybrid.torrent`, hybrid);
  await Deno.writeFile(`${f.dir}/ignored.txt`, v1);
  const report = await f.whitelist.start();
  assert.equal(report.files, 3);
  assert.equal(report.tracked, 4);
  assert.equal(f.tracker.size, 4);

  const t1 = f.tracker.get(sha1(v1))!;
  assert.equal(t1.info?.version, 1);
  assert.equal(t1.info?.fullHash, sha1(v1));
  assert.equal(t1.info?.path, `${f.dir}/v1.torrent`);
  const mtime = (await Deno.stat(`${f.dir}/v1.torrent`)).mtime!.getTime();
  assert.equal(t1.info?.addedAt, mtime);
  assert.equal(f.tracker.get(sha256(v1).slice(0, 20)), undefined, "no phantom v2 row for v1");

  const t2 = f.tracker.get(sha256(v2).slice(0, 20))!;
  assert.equal(t2.info?.version, 2);
  assert.equal(t2.info?.fullHash, sha256(v2));
  assert.equal(f.tracker.get(sha1(v2)), undefined, "no phantom v1 row for v2");

  const h1 = f.tracker.get(sha1(hybrid))!;
  const h2 = f.tracker.get(sha256(hybrid).slice(0, 20))!;
  assert.equal(h1.info?.version, 1);
  assert.equal(h2.info?.version, 2);
  assert.notEqual(h1.swarm, h2.swarm, "a hybrid has two swarms");
  assert.equal(h1.info?.name, "a-rather-long-name", "names are kept whole; pages cut them");
  assert.deepEqual(
    f.whitelist.hashesOf(`${f.dir}/hybrid.torrent`).sort(),
    [sha1(hybrid), sha256(hybrid).slice(0, 20)].sort(),
  );
});

Deno.test("a rescan reads only changed files and keeps swarms", async () => {
  await using f = await whitelistFixture();
  const a = makeTorrent(1);
  const b = makeTorrent(1);
  await Deno.writeFile(`${f.dir}/a.torrent`, a);
  await Deno.writeFile(`${f.dir}/b.torrent`, b);
  assert.equal((await f.whitelist.start()).read, 2);
  const swarm = f.tracker.get(sha1(a))!.swarm;
  assert.ok(!isFailure(f.tracker.announce({ ...PEER, infoHash: sha1(a) })));
  assert.equal(swarm.size, 1);

  const again = await f.whitelist.scanNow();
  assert.equal(again.read, 0, "unchanged files are not read again");
  assert.equal(again.tracked, 2);

  // Rewrite a with the same torrent: read again, same hash, same swarm and peers.
  await Deno.writeFile(`${f.dir}/a.torrent`, a);
  await Deno.utime(`${f.dir}/a.torrent`, 1, 1);
  const third = await f.whitelist.scanNow();
  assert.equal(third.read, 1);
  assert.equal(f.tracker.get(sha1(a))!.swarm, swarm);
  assert.equal(swarm.size, 1);

  // Rename: the old path disappears and the new one appears in the same walk.
  await Deno.rename(`${f.dir}/a.torrent`, `${f.dir}/z.torrent`);
  await f.whitelist.scanNow();
  assert.equal(f.tracker.get(sha1(a))!.swarm, swarm, "a rename keeps the swarm");
  assert.equal(swarm.size, 1);
  assert.deepEqual(f.whitelist.pathsOf(sha1(a)), [`${f.dir}/z.torrent`]);

  // Removal frees the swarm's peers.
  await Deno.remove(`${f.dir}/z.torrent`);
  await f.whitelist.scanNow();
  assert.equal(f.tracker.get(sha1(a)), undefined);
  assert.equal(swarm.size, 0);
  assert.equal(f.tracker.size, 1);
});

Deno.test("two files with the same torrent: tracked while either exists", async () => {
  await using f = await whitelistFixture();
  const t = makeTorrent("hybrid");
  await Deno.writeFile(`${f.dir}/one.torrent`, t);
  await Deno.mkdir(`${f.dir}/sub`);
  await Deno.writeFile(`${f.dir}/sub/two.torrent`, t);
  await f.whitelist.start();
  assert.equal(f.tracker.size, 2);
  assert.equal(f.tracker.get(sha1(t))!.info?.path, `${f.dir}/one.torrent`);

  await Deno.remove(`${f.dir}/one.torrent`);
  assert.deepEqual(await f.whitelist.rescanPath(`${f.dir}/one.torrent`), []);
  assert.equal(f.tracker.size, 2, "still held by the other file");
  assert.equal(f.tracker.get(sha1(t))!.info?.path, `${f.dir}/sub/two.torrent`);

  await Deno.remove(`${f.dir}/sub`, { recursive: true });
  await f.whitelist.rescanPath(`${f.dir}/sub`);
  assert.equal(f.tracker.size, 0);
});

Deno.test("rescanPath returns the hashes now tracked for a file", async () => {
  await using f = await whitelistFixture();
  await f.whitelist.start();
  const a = makeTorrent(1);
  const path = `${f.dir}/late.torrent`;
  await Deno.writeFile(path, a);
  assert.deepEqual(await f.whitelist.rescanPath(path), [sha1(a)]);
  const b = makeTorrent(2);
  await Deno.writeFile(path, b);
  assert.deepEqual(await f.whitelist.rescanPath(path), [sha256(b).slice(0, 20)]);
  assert.equal(f.tracker.get(sha1(a)), undefined, "replacing a file swaps its torrents");
  assert.deepEqual(await f.whitelist.rescanPath("/elsewhere/x.torrent"), []);
});

// ---- limits and hostile trees ---------------------------------------------------------------

Deno.test("--max-scan-depth: files deeper than depth + 1 are not tracked", async () => {
  await using f = await whitelistFixture({ maxScanDepth: 2 });
  const byLevel: Uint8Array[] = [];
  let dir = f.dir;
  for (let level = 1; level <= 5; level++) {
    const t = makeTorrent(1);
    byLevel.push(t);
    await Deno.writeFile(`${dir}/l${level}.torrent`, t);
    dir = `${dir}/d${level}`;
    await Deno.mkdir(dir);
  }
  await f.whitelist.start();
  const tracked = byLevel.map((t) => f.tracker.get(sha1(t)) !== undefined);
  assert.deepEqual(tracked, [true, true, true, false, false]);
  assert.ok(logged(f, "warning", /deeper than --max-scan-depth 2/));

  // A file created at a depth past the limit is refused on a direct check too.
  const deep = makeTorrent(1);
  await Deno.writeFile(`${f.dir}/d1/d2/d3/deep.torrent`, deep);
  assert.deepEqual(await f.whitelist.rescanPath(`${f.dir}/d1/d2/d3/deep.torrent`), []);
  assert.deepEqual(await f.whitelist.rescanPath(`${f.dir}/d1/d2/d3`), []);
  assert.equal(f.tracker.get(sha1(deep)), undefined);
});

Deno.test("--max-scan-inodes stops the walk and says so", async () => {
  await using f = await whitelistFixture({ maxScanInodes: 10 });
  for (let d = 0; d < 4; d++) {
    await Deno.mkdir(`${f.dir}/d${d}`);
    for (let i = 0; i < 5; i++) await Deno.writeFile(`${f.dir}/d${d}/${i}.torrent`, makeTorrent(1));
  }
  const report = await f.whitelist.start();
  assert.equal(report.truncated, true);
  assert.equal(report.entries, 10, "the walk visits exactly the limit, then stops");
  // 4 directory entries at the root, then d0's five files and one entry of d1.
  assert.equal(report.files, 6);
  assert.equal(f.tracker.size, 6);
  assert.ok(logged(f, "error", /reached the limit of 10 scanned inodes/));
  const second = await f.whitelist.scanNow();
  assert.equal(second.files, 6, "what was tracked stays tracked, nothing past the limit is added");
});

Deno.test("walkTree: the entry budget really stops reading", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-walk-" });
  try {
    for (let i = 0; i < 50; i++) await Deno.writeTextFile(`${dir}/${i}.torrent`, "");
    let seen = 0;
    const result = await walkTree(dir, {
      maxDepth: 4,
      maxEntries: 7,
      wanted: () => true,
      onFiles: (files) => {
        seen += files.length;
      },
    });
    assert.equal(result.truncated, true);
    assert.equal(result.entries, 7);
    assert.equal(seen, 7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("symlink loops and self-links neither hang nor duplicate", async () => {
  await using f = await whitelistFixture();
  const t = makeTorrent(1);
  await Deno.mkdir(`${f.dir}/a/b`, { recursive: true });
  await Deno.writeFile(`${f.dir}/a/b/x.torrent`, t);
  await Deno.symlink(f.dir, `${f.dir}/a/b/up`); // a loop back to the root
  await Deno.symlink(".", `${f.dir}/a/self`); // a loop onto itself
  await Deno.symlink("loop.torrent", `${f.dir}/loop.torrent`); // ELOOP on stat
  await Deno.symlink("nowhere.torrent", `${f.dir}/dangling.torrent`);
  const report = await f.whitelist.start();
  assert.equal(report.files, 1);
  assert.equal(f.tracker.size, 1);
  assert.deepEqual(f.whitelist.pathsOf(sha1(t)), [`${f.dir}/a/b/x.torrent`]);
  assert.ok(report.entries < 20, `walked ${report.entries} entries`);

  // A watcher-style check of the looping directory stops at the loop as well.
  assert.deepEqual(await f.whitelist.rescanPath(`${f.dir}/a/b/up`), []);
  assert.equal(f.tracker.size, 1);
});

Deno.test("a symlinked directory outside is followed once, with followExternalLinks", async () => {
  await using f = await whitelistFixture({ followExternalLinks: true });
  const outside = await Deno.makeTempDir({ prefix: "hefur-wl-out-" });
  try {
    const t = makeTorrent(2);
    await Deno.writeFile(`${outside}/o.torrent`, t);
    await Deno.symlink(outside, `${f.dir}/linked`);
    await Deno.symlink(outside, `${f.dir}/linked-again`);
    await f.whitelist.start();
    assert.deepEqual(f.whitelist.pathsOf(sha256(t).slice(0, 20)), [`${f.dir}/linked/o.torrent`]);
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("--max-torrent-size: a larger file is skipped without being read", async () => {
  await using f = await whitelistFixture({ maxTorrentSize: 300 });
  const small = makeTorrent(1);
  const big = encode({
    info: { name: "big", length: 1, "piece length": PIECE, pieces: new Uint8Array(400) },
  });
  assert.ok(big.length > 300);
  await Deno.writeFile(`${f.dir}/small.torrent`, small);
  await Deno.writeFile(`${f.dir}/big.torrent`, big);
  // A sparse 64 GiB file: reading it would take minutes; only its stat is looked at.
  const huge = await Deno.open(`${f.dir}/huge.torrent`, { create: true, write: true });
  await huge.truncate(64 * 2 ** 30);
  huge.close();
  const report = await f.whitelist.start();
  assert.equal(report.tracked, 1);
  assert.ok(f.tracker.get(sha1(small)));
  assert.ok(logged(f, "warning", /big\.torrent: \d+ bytes, larger than the limit of 300 bytes/));
  assert.ok(logged(f, "warning", /huge\.torrent: 68719476736 bytes/));
  const warnings = f.logs.length;
  await f.whitelist.scanNow();
  assert.equal(f.logs.length, warnings, "an unchanged oversized file is not reported again");
});

Deno.test("corrupt files are refused; a file that breaks keeps its torrents a while", async () => {
  await using f = await whitelistFixture({ brokenGraceMs: 200 });
  await Deno.writeTextFile(`${f.dir}/garbage.torrent`, "this is not bencode");
  await Deno.writeFile(`${f.dir}/no-info.torrent`, encode({ announce: "x" }));
  const good = makeTorrent(1);
  const path = `${f.dir}/good.torrent`;
  await Deno.writeFile(path, good);
  await Deno.mkdir(`${f.dir}/dir.torrent`); // a directory with a torrent's name
  const report = await f.whitelist.start();
  assert.equal(report.tracked, 1);
  assert.ok(logged(f, "error", /garbage\.torrent: not a valid torrent/));
  assert.ok(logged(f, "error", /no-info\.torrent: not a valid torrent: info: missing/));

  // Half rewritten: the first bytes only.
  await Deno.writeFile(path, good.subarray(0, 20));
  assert.deepEqual(await f.whitelist.rescanPath(path), [sha1(good)], "kept during the grace");
  assert.ok(logged(f, "warning", /good\.torrent: not a valid torrent.*keeping its torrents/));
  // Still broken after the grace: its grace timer re-checks it and drops it.
  for (let i = 0; i < 100 && f.tracker.size > 0; i++) await delay(20);
  assert.equal(f.tracker.size, 0);
  assert.ok(logged(f, "error", /good\.torrent: still not a valid torrent/));

  // Fixed: tracked again.
  await Deno.writeFile(path, good);
  assert.deepEqual(await f.whitelist.rescanPath(path), [sha1(good)]);
});

Deno.test("fifos and sockets named .torrent are never opened", async () => {
  await using f = await whitelistFixture();
  const mk = await new Deno.Command("mkfifo", { args: [`${f.dir}/fifo.torrent`] }).output();
  assert.ok(mk.success);
  await Deno.symlink("fifo.torrent", `${f.dir}/to-fifo.torrent`);
  const sock = Deno.listen({ transport: "unix", path: `${f.dir}/sock.torrent` });
  sock.close();
  const t = makeTorrent(1);
  await Deno.writeFile(`${f.dir}/real.torrent`, t);
  const report = await f.whitelist.start();
  assert.equal(report.tracked, 1);
  assert.equal(report.files, 1);
  // A direct check of a fifo (an event for it) does not open it either.
  assert.deepEqual(await f.whitelist.rescanPath(`${f.dir}/fifo.torrent`), []);
  assert.deepEqual(await f.whitelist.rescanPath(`${f.dir}/to-fifo.torrent`), []);
});

Deno.test({
  name: "an unreadable directory keeps the torrents known below it",
  ignore: Deno.uid() === 0, // root reads everything
  async fn() {
    await using f = await whitelistFixture();
    const t = makeTorrent(1);
    await Deno.mkdir(`${f.dir}/locked`);
    await Deno.writeFile(`${f.dir}/locked/x.torrent`, t);
    await f.whitelist.start();
    assert.equal(f.tracker.size, 1);
    await Deno.chmod(`${f.dir}/locked`, 0o000);
    try {
      await f.whitelist.scanNow();
      assert.equal(f.tracker.size, 1);
      assert.ok(logged(f, "warning", /locked: directory cannot be read/));
    } finally {
      await Deno.chmod(`${f.dir}/locked`, 0o755);
    }
  },
});

Deno.test("a missing torrent directory tracks nothing and does not throw", async () => {
  const tracker = new Tracker({ open: false });
  const logs: string[] = [];
  const whitelist = new Whitelist(tracker, {
    root: "/nonexistent/hefur-test-dir",
    log: (_, m) => logs.push(m),
  });
  try {
    const report = await whitelist.start();
    assert.equal(report.tracked, 0);
    assert.ok(logs.some((m) => /torrent directory missing/.test(m)));
  } finally {
    await whitelist.close();
  }
});

Deno.test("a torrent directory removed and re-created is watched again", async () => {
  await using f = await whitelistFixture({ watch: true });
  const a = makeTorrent(1);
  await Deno.writeFile(`${f.dir}/a.torrent`, a);
  await f.whitelist.start();
  assert.equal(f.tracker.size, 1);
  await Deno.remove(f.dir, { recursive: true });
  await eventually("the removal of the root is seen", () => Promise.resolve(f.tracker.size === 0));
  await Deno.mkdir(f.dir);
  await f.whitelist.scanNow(); // the periodic walk finds the new root and watches it
  const b = makeTorrent(2);
  await Deno.writeFile(`${f.dir}/b.torrent`, b);
  await eventually(
    "a file in the new root is seen by the watcher",
    () => Promise.resolve(f.tracker.get(sha256(b).slice(0, 20)) !== undefined),
  );
});

// ---- live, over HTTP ----------------------------------------------------------------------------

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Retries `check` until it holds, for at most 5 s (the watcher should take well under 1 s). */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await delay(50);
  }
  assert.fail(`not within 5 s: ${what}`);
}

interface Live {
  dir: string;
  hefur: Hefur;
  http: HttpServer;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Hefur on a temporary torrent directory, answering HTTP on 127.0.0.1 at a free port. */
async function live(): Promise<Live> {
  const dir = await Deno.makeTempDir({ prefix: "hefur-wl-live-" });
  // HTTP off in the config (port 0 disables it); the test binds its own listener on port 0.
  const hefur = await startHefur(testConfig({ torrentDir: dir }));
  const http = new HttpServer(
    Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    hefur.router.handle,
  );
  return {
    dir,
    hefur,
    http,
    async [Symbol.asyncDispose]() {
      await http.close();
      await hefur.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function get(l: Live, path: string): Promise<Map<string, BValue>> {
  const res = await fetch(`http://127.0.0.1:${l.http.addr.port}${path}`);
  const body = new Uint8Array(await res.arrayBuffer());
  assert.equal(res.status, 200);
  return decode(body) as Map<string, BValue>;
}

/** Announces `hash` as peer number `n`; returns the reply dict. */
function announce(l: Live, hash: string, n = 1): Promise<Map<string, BValue>> {
  const peerId = `-TS0001-${String(n).padStart(12, "0")}`;
  return get(
    l,
    `/announce?info_hash=${pct(hash)}&peer_id=${pct(peerId)}&port=${6880 + n}&left=10&compact=1`,
  );
}

const failure = (reply: Map<string, BValue>): string | undefined => {
  const f = reply.get("failure reason");
  return f instanceof Uint8Array ? new TextDecoder().decode(f) : undefined;
};

async function tracked(l: Live, hash: string): Promise<boolean> {
  return failure(await announce(l, hash)) === undefined;
}

Deno.test("live: add, replace, rename and remove files while the server runs", async () => {
  await using l = await live();
  const a = makeTorrent(1);
  const b = makeTorrent("hybrid");
  const ha = sha1(a);
  const hb1 = sha1(b);
  const hb2 = sha256(b).slice(0, 20);

  assert.equal(failure(await announce(l, ha)), "torrent not found");
  const scrape = await get(l, `/scrape?info_hash=${pct(ha)}`);
  assert.equal(failure(scrape), "torrent not found");

  // Added.
  await Deno.writeFile(`${l.dir}/one.torrent`, a);
  await eventually("a new file is tracked", () => tracked(l, ha));
  const reply = await announce(l, ha, 2);
  assert.equal(reply.get("incomplete"), 2, "both peers are in the swarm");

  // Replaced by another torrent: the old hash goes, both hashes of the new one come.
  await Deno.writeFile(`${l.dir}/one.torrent`, b);
  await eventually("the replacement is tracked", async () => await tracked(l, hb1));
  assert.ok(await tracked(l, hb2));
  assert.equal(failure(await announce(l, ha)), "torrent not found");
  await announce(l, hb1, 2); // a second peer in b's v1 swarm

  // Renamed: still tracked, the swarm kept.
  await Deno.rename(`${l.dir}/one.torrent`, `${l.dir}/two.torrent`);
  await eventually(
    "the rename is seen",
    () => Promise.resolve(l.hefur.whitelist!.pathsOf(hb1)[0] === `${l.dir}/two.torrent`),
  );
  const after = await announce(l, hb1, 3);
  assert.equal(after.get("incomplete"), 3, "peers survive the rename");

  // Removed: untracked, both versions.
  await Deno.remove(`${l.dir}/two.torrent`);
  await eventually("the removal is seen", async () => !(await tracked(l, hb1)));
  assert.equal(failure(await announce(l, hb2)), "torrent not found");
  assert.equal(l.hefur.tracker.size, 0);
});

Deno.test("live: a directory moved in and out, and a half-written file", async () => {
  await using l = await live();
  const outside = await Deno.makeTempDir({ prefix: "hefur-wl-out-" });
  try {
    const t = makeTorrent(2);
    const h = sha256(t).slice(0, 20);
    await Deno.mkdir(`${outside}/pack/inner`, { recursive: true });
    await Deno.writeFile(`${outside}/pack/inner/p.torrent`, t);
    await Deno.rename(`${outside}/pack`, `${l.dir}/pack`);
    await eventually("a moved-in directory is scanned", () => tracked(l, h));
    await Deno.rename(`${l.dir}/pack`, `${outside}/pack`);
    await eventually("a moved-out directory is dropped", async () => !(await tracked(l, h)));

    // Written in two steps: not tracked while it does not parse, tracked once complete.
    const u = makeTorrent(1);
    const file = await Deno.open(`${l.dir}/slow.torrent`, { create: true, write: true });
    await file.write(u.subarray(0, 10));
    await delay(400);
    assert.equal(failure(await announce(l, sha1(u))), "torrent not found");
    await file.write(u.subarray(10));
    file.close();
    await eventually("the completed file is tracked", () => tracked(l, sha1(u)));
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});
