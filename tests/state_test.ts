// The state file: its format, restarts that keep counts and peers, and bad files set aside.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  decodeState,
  encodeState,
  STATE_MAX_PEERS_PER_TORRENT,
  type StateContents,
  StateFileError,
} from "../src/state/state_format.ts";
import { StateStore } from "../src/state/state_store.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { AnnounceEvent, type AnnounceRequest, Want } from "../src/protocol/types.ts";
import { encode } from "../src/protocol/bencode.ts";
import { freePort, getBencoded, httpBase, pct, startTestHefur } from "./helpers.ts";
import { sandboxed, spawnServe } from "./support/serve_process.ts";

const HASH = "\x5a".repeat(20);
const enc = new TextEncoder();

class FakeClock {
  ms = 5_000_000;
  now = () => this.ms;
  advance(seconds: number) {
    this.ms += seconds * 1000;
  }
}

function req(port: number, over: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return {
    infoHash: HASH,
    peerId: ("-ST0001-" + port).padEnd(20, "z"),
    ip: "10.9.0.1",
    port,
    uploaded: 1,
    downloaded: 2,
    left: 50,
    event: AnnounceEvent.Started,
    numwant: -1,
    want: Want.V4,
    ...over,
  };
}

function sample(): StateContents {
  return {
    savedAt: 1_700_000_000_000,
    hefur: "0.1.0",
    torrents: [{
      infoHash: HASH,
      completed: 3,
      announces: 10,
      firstSeen: 1_600_000_000_000,
      peers: [
        {
          ip: "10.0.0.1",
          port: 1,
          peerId: "p".repeat(20),
          left: 0,
          uploaded: 9,
          downloaded: 8,
          age: 30,
        },
        {
          ip: "2001:db8::7",
          port: 2,
          peerId: "q".repeat(20),
          left: 5,
          uploaded: 0,
          downloaded: 0,
          age: 4,
        },
      ],
    }],
    wsSwarms: [],
  };
}

function problem(bytes: Uint8Array): string {
  try {
    decodeState(bytes);
  } catch (e) {
    assert.ok(e instanceof StateFileError, String(e));
    return e.problem;
  }
  return "none";
}

/** Re-seals edited lines with a correct end line (`ws_swarms` as version 2 writes it). */
function seal(lines: string[], torrents: number, peers: number, ws_swarms = 0): Uint8Array {
  const body = lines.map((l) => l + "\n").join("");
  const sha256 = createHash("sha256").update(enc.encode(body)).digest("hex");
  return enc.encode(
    body + JSON.stringify({ end: true, torrents, peers, ws_swarms, sha256 }) + "\n",
  );
}

Deno.test("state format: round trip, header, and each kind of bad file", () => {
  const bytes = encodeState(sample());
  assert.deepEqual(decodeState(bytes), sample());
  const text = new TextDecoder().decode(bytes);
  const lines = text.trimEnd().split("\n");
  assert.deepEqual(
    JSON.parse(lines[0]),
    {
      format: "hefur-state",
      version: 2,
      saved_at: "2023-11-14T22:13:20.000Z",
      saved_at_ms: 1_700_000_000_000,
      hefur: "0.1.0",
    },
  );
  assert.equal(JSON.parse(lines[1]).info_hash, "5a".repeat(20));
  assert.equal(JSON.parse(lines[2]).end, true);

  // Damaged: a changed byte, a truncation, a missing end line.
  const flipped = bytes.slice();
  flipped[text.indexOf('"completed":3') + 12] = "4".charCodeAt(0);
  assert.equal(problem(flipped), "damaged");
  assert.equal(problem(bytes.slice(0, bytes.length - 10)), "damaged");
  assert.equal(problem(enc.encode(lines.slice(0, 2).join("\n") + "\n")), "damaged");
  // Damaged even with a correct checksum: bad fields are refused, not applied.
  const t = JSON.parse(lines[1]);
  assert.equal(problem(seal([lines[0], JSON.stringify({ ...t, completed: -1 })], 1, 2)), "damaged");
  const badPeer = { ...t, peers: [{ ...t.peers[0], ip: "example.org" }] };
  assert.equal(problem(seal([lines[0], JSON.stringify(badPeer)], 1, 1)), "damaged");
  assert.equal(problem(seal([lines[0], "[1,2]"], 1, 0)), "damaged");
  assert.equal(problem(seal([lines[0], lines[1]], 2, 2)), "damaged", "counts must match");
  assert.equal(problem(seal([lines[0], lines[1]], 1, 2)), "none");

  // Foreign: anything that does not open with the header; newer: a version from the future.
  assert.equal(problem(enc.encode("# my notes\nbuy milk\n")), "foreign");
  assert.equal(problem(enc.encode('{"format":"other","version":1}\n')), "foreign");
  assert.equal(problem(new Uint8Array([0xff, 0xfe, 0, 1])), "foreign");
  assert.equal(problem(new Uint8Array()), "foreign");
  const newer = lines[0].replace('"version":2', '"version":7');
  assert.equal(problem(seal([newer], 0, 0)), "newer");
});

Deno.test("state format: peers are capped per torrent, keeping the most recent", () => {
  const s = sample();
  const many = Array.from({ length: STATE_MAX_PEERS_PER_TORRENT + 20 }, (_, i) => ({
    ...s.torrents[0].peers[0],
    port: i + 1,
    age: 1000 - i,
  }));
  s.torrents[0].peers = many;
  const back = decodeState(encodeState(s));
  assert.equal(back.torrents[0].peers.length, STATE_MAX_PEERS_PER_TORRENT);
  assert.equal(back.torrents[0].peers[0].port, 21);
});

async function tempDir(): Promise<string & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "hefur-state-" });
  return Object.assign(dir, {
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  }) as string & AsyncDisposable;
}

function announceUrl(base: string, port: number, extra: string): string {
  return `${base}/announce?info_hash=${pct(HASH)}&peer_id=${
    ("-ST0001-" + port).padEnd(20, "z")
  }&port=${port}&uploaded=0&downloaded=0${extra}`;
}

async function scrapeCounts(base: string): Promise<Map<string, number>> {
  const s = await getBencoded(`${base}/scrape?info_hash=${pct(HASH)}`);
  return (s.get("files") as Map<string, Map<string, number>>).get(HASH)!;
}

Deno.test("restart: completed counts survive a stop and a start with the same state file", async () => {
  await using dir = await tempDir();
  const stateFile = `${dir}/state.jsonl`;
  {
    await using hefur = await startTestHefur({ stateFile });
    assert.equal(hefur.state!.lastLoad!.outcome, "missing");
    const base = httpBase(hefur);
    for (const port of [7001, 7002]) {
      await getBencoded(announceUrl(base, port, "&left=10"));
      await getBencoded(announceUrl(base, port, "&left=0&event=completed"));
    }
    assert.equal((await scrapeCounts(base)).get("downloaded"), 2);
  } // close() saves
  const names = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.deepEqual(names, ["state.jsonl"], "no temporary file is left behind");
  {
    await using hefur = await startTestHefur({ stateFile });
    assert.equal(hefur.state!.lastLoad!.outcome, "loaded");
    const counts = await scrapeCounts(httpBase(hefur));
    assert.equal(counts.get("downloaded"), 2);
    // Peers are not kept without --state-peers.
    assert.equal(counts.get("complete"), 0);
    assert.equal(hefur.tracker.get(HASH)!.announces, 4);
    await getBencoded(announceUrl(httpBase(hefur), 7003, "&left=10"));
  }
  {
    // Still there after a second restart, with what happened in between.
    await using hefur = await startTestHefur({ stateFile });
    assert.equal(hefur.tracker.get(HASH)!.swarm.downloaded, 2);
    assert.equal(hefur.tracker.get(HASH)!.announces, 5);
  }
});

Deno.test("restart with --state-peers: peers survive and answer the next announce", async () => {
  await using dir = await tempDir();
  const stateFile = `${dir}/state.jsonl`;
  {
    await using hefur = await startTestHefur({ stateFile, statePeers: true });
    const base = httpBase(hefur);
    await getBencoded(announceUrl(base, 7001, "&left=0"));
    await getBencoded(announceUrl(base, 7002, "&left=10"));
  }
  await using hefur = await startTestHefur({ stateFile, statePeers: true });
  assert.equal(hefur.state!.lastLoad!.peers, 2);
  const counts = await scrapeCounts(httpBase(hefur));
  assert.deepEqual([counts.get("complete"), counts.get("incomplete")], [1, 1]);
  const r = await getBencoded(announceUrl(httpBase(hefur), 7003, "&left=10"));
  const peers = r.get("peers") as Uint8Array;
  assert.equal(peers.length, 12, "the new peer gets both restored peers");
});

Deno.test("restored peers keep their age and the downtime, and expire on time", () => {
  // Saved 150 s ago; the peer had been silent 100 s then. With a 300 s timeout, 50 s are left.
  const contents = sample();
  contents.savedAt = Date.now() - 150_000;
  contents.torrents[0].peers = [{ ...contents.torrents[0].peers[0], age: 100 }];
  const path = Deno.makeTempFileSync({ prefix: "hefur-state-" });
  try {
    Deno.writeFileSync(path, encodeState(contents));
    const clock = new FakeClock();
    const tracker = new Tracker({ clock: clock.now, peerTimeout: 300 });
    const store = new StateStore(tracker, { path, interval: 0, peers: true });
    assert.equal(store.load().peers, 1);
    const swarm = tracker.get(HASH)!.swarm;
    assert.equal(swarm.complete, 1);
    clock.advance(40);
    tracker.sweep();
    assert.equal(swarm.size, 1, "still alive 40 s after the start");
    clock.advance(20);
    tracker.sweep();
    assert.equal(swarm.size, 0, "gone 60 s after the start");
    assert.equal(swarm.complete, 0);
    assert.equal(tracker.get(HASH)!.swarm.downloaded, 3, "counts stay");

    // A peer already expired when the file is read is not restored at all.
    contents.savedAt = Date.now() - 250_000;
    Deno.writeFileSync(path, encodeState(contents));
    const t2 = new Tracker({ clock: new FakeClock().now, peerTimeout: 300 });
    new StateStore(t2, { path, interval: 0, peers: true }).load();
    assert.equal(t2.get(HASH)!.swarm.size, 0);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("whitelist mode: saved totals wait for the torrent to be added, and are saved meanwhile", async () => {
  await using dir = await tempDir();
  const path = `${dir}/state.jsonl`;
  Deno.writeFileSync(path, encodeState(sample()));
  const clock = new FakeClock();
  const tracker = new Tracker({ clock: clock.now, open: false });
  const store = new StateStore(tracker, { path, interval: 0, peers: true });
  const report = store.load();
  assert.deepEqual([report.torrents, report.applied], [1, 0]);
  assert.equal(tracker.get(HASH), undefined, "not tracked before the whitelist says so");
  assert.equal([...tracker.pending()].length, 1);

  // Saved again while waiting: a restart before the whitelist's scan loses nothing.
  assert.ok(await store.save());
  const again = decodeState(Deno.readFileSync(path));
  assert.deepEqual(again.torrents.map((t) => [t.completed, t.announces]), [[3, 10]]);

  const t = tracker.addTorrent(HASH, {
    name: "x",
    length: 1,
    version: 1,
    fullHash: HASH,
  });
  assert.deepEqual([t.swarm.downloaded, t.announces, t.firstSeen], [3, 10, 1_600_000_000_000]);
  assert.equal([...tracker.pending()].length, 0);

  // A torrent whose file goes away keeps its totals for when it comes back.
  tracker.announce(req(9, { left: 0 }));
  tracker.removeTorrent(HASH);
  assert.equal(tracker.addTorrent(HASH).swarm.downloaded, 3);
  assert.equal(tracker.get(HASH)!.announces, 11);
  await store.close();
});

/** A small v1 torrent and its info hash (binary string). */
function torrent(name: string): [Uint8Array, string] {
  const info = { name, "piece length": 16384, length: 1000, pieces: new Uint8Array(20) };
  const hash = createHash("sha1").update(encode(info)).digest();
  return [encode({ info }), String.fromCharCode(...hash)];
}

Deno.test("with --torrent-dir, history reaches torrents found at start and those added later", async () => {
  await using dir = await tempDir();
  const torrents = `${dir}/torrents`;
  Deno.mkdirSync(torrents);
  const [early, earlyHash] = torrent("early");
  const [late, lateHash] = torrent("late");
  Deno.writeFileSync(`${torrents}/early.torrent`, early);
  const stateFile = `${dir}/state.jsonl`;
  const history = (infoHash: string, completed: number) => ({
    infoHash,
    completed,
    announces: 0,
    firstSeen: 0,
    peers: [],
  });
  Deno.writeFileSync(
    stateFile,
    encodeState({
      savedAt: Date.now(),
      hefur: "0.1.0",
      torrents: [history(earlyHash, 7), history(lateHash, 2)],
      wsSwarms: [],
    }),
  );
  {
    await using hefur = await startTestHefur({ torrentDir: torrents, stateFile });
    assert.equal(hefur.tracker.get(earlyHash)!.swarm.downloaded, 7);
    assert.equal(hefur.tracker.get(lateHash), undefined);
    Deno.writeFileSync(`${torrents}/late.torrent`, late);
    await hefur.whitelist!.scanNow();
    assert.equal(hefur.tracker.get(lateHash)!.swarm.downloaded, 2);
    Deno.removeSync(`${torrents}/early.torrent`);
    await hefur.whitelist!.scanNow();
    assert.equal(hefur.tracker.get(earlyHash), undefined);
  }
  // Both are saved: the removed one waits for its file to come back.
  const saved = decodeState(Deno.readFileSync(stateFile)).torrents;
  assert.deepEqual(
    saved.map((t) => [t.infoHash, t.completed]).sort(),
    [[earlyHash, 7], [lateHash, 2]].sort(),
  );
});

Deno.test("a damaged state file is reported, set aside, and the server starts", async () => {
  await using dir = await tempDir();
  const stateFile = `${dir}/state.jsonl`;
  const damaged = encodeState(sample()).slice(0, 120);
  Deno.writeFileSync(stateFile, damaged);
  const port = freePort();
  // In the permission sandbox, as deployed.
  const server = await spawnServe(sandboxed("src/main.ts", [
    "serve",
    "--http-port",
    String(port),
    "--udp-port",
    "0",
    "--bind-addr",
    "127.0.0.1",
    "--control-socket",
    "",
    "--state-file",
    stateFile,
  ]));
  let stopped;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/stats.json`);
    assert.equal(res.status, 200, "the server answers");
    await res.body?.cancel();
  } finally {
    stopped = await server.stop();
  }
  const log = stopped.stderr;
  assert.equal(stopped.code, 0, log);
  assert.match(
    log,
    /state\.jsonl is a damaged file \(truncated: no final newline\); set aside as /,
  );
  const aside = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".bad-"));
  assert.equal(aside.length, 1);
  assert.match(aside[0], /^state\.jsonl\.bad-\d{8}T\d{6}Z$/);
  assert.deepEqual(Deno.readFileSync(`${dir}/${aside[0]}`), damaged, "set aside unchanged");
  // The fresh state written at shutdown is a good one.
  assert.equal(decodeState(Deno.readFileSync(stateFile)).torrents.length, 0);
});

Deno.test("a foreign file is never overwritten; an unreadable path turns saving off", async () => {
  await using dir = await tempDir();
  const notes = `${dir}/notes.txt`;
  Deno.writeTextFileSync(notes, "my precious notes\n");
  {
    await using hefur = await startTestHefur({ stateFile: notes });
    const report = hefur.state!.lastLoad!;
    assert.equal(report.outcome, "set-aside");
    assert.equal(Deno.readTextFileSync(report.setAsideTo!), "my precious notes\n");
  }
  // Two files now: the notes, moved, and a new state file.
  assert.equal([...Deno.readDirSync(dir)].length, 2);

  // A path that cannot be read (here a directory) is left alone and nothing is saved over it.
  const sub = `${dir}/a-directory`;
  Deno.mkdirSync(sub);
  Deno.writeTextFileSync(`${sub}/inside`, "x");
  {
    await using hefur = await startTestHefur({ stateFile: sub });
    assert.equal(hefur.state!.lastLoad!.outcome, "unreadable");
    assert.equal(hefur.state!.writable, false);
    assert.equal(await hefur.state!.save(), false);
  }
  assert.deepEqual([...Deno.readDirSync(sub)].map((e) => e.name), ["inside"]);
  assert.ok(Deno.statSync(sub).isDirectory);
});
