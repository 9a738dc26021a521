// The WebSocket (WebTorrent) swarms' completed counts in the state file: the version 2 section,
// version 1 files still read, hostile lines refused, the torrent bound, and a real restart.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  decodeState,
  encodeState,
  type StateContents,
  StateFileError,
} from "../src/state/state_format.ts";
import { StateStore } from "../src/state/state_store.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { WsTracker } from "../src/tracker/ws_tracker.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { getBencoded, httpBase, pct, startTestHefur } from "./helpers.ts";
import { WsClient } from "./support/clients.ts";
import type { Hefur } from "../src/app.ts";

const HASH = "\x5a".repeat(20);
const WS_HASH = "\x01\xff".repeat(10);
const enc = new TextEncoder();

function sample(): StateContents {
  return {
    savedAt: 1_700_000_000_000,
    hefur: "0.1.0",
    torrents: [{ infoHash: HASH, completed: 3, announces: 10, firstSeen: 1, peers: [] }],
    wsSwarms: [{ infoHash: WS_HASH, completed: 7 }, { infoHash: "\x02".repeat(20), completed: 1 }],
  };
}

/** Lines sealed with a correct checksum; `ws_swarms` is left out of the end line when undefined. */
function seal(lines: string[], torrents: number, ws_swarms?: number): Uint8Array {
  const body = lines.map((l) => l + "\n").join("");
  const sha256 = createHash("sha256").update(enc.encode(body)).digest("hex");
  return enc.encode(
    body + JSON.stringify({ end: true, torrents, peers: 0, ws_swarms, sha256 }) + "\n",
  );
}

/** The message of the StateFileError that decoding `bytes` throws ("none" if it decodes). */
function refusal(bytes: Uint8Array): string {
  try {
    decodeState(bytes);
  } catch (e) {
    assert.ok(e instanceof StateFileError, String(e));
    assert.equal(e.problem, "damaged");
    return e.message;
  }
  return "none";
}

const HEADER_V1 = JSON.stringify({
  format: "hefur-state",
  version: 1,
  saved_at: "2023-11-14T22:13:20.000Z",
  saved_at_ms: 1_700_000_000_000,
  hefur: "0.1.0",
});
const HEADER_V2 = HEADER_V1.replace('"version":1', '"version":2');
const TORRENT_LINE = JSON.stringify({
  info_hash: "5a".repeat(20),
  completed: 3,
  announces: 10,
  first_seen_ms: 1,
  peers: [],
});

Deno.test("ws state format: round trip, one line per WebSocket swarm, version 2", () => {
  const bytes = encodeState(sample());
  assert.deepEqual(decodeState(bytes), sample());
  const lines = new TextDecoder().decode(bytes).trimEnd().split("\n");
  assert.equal(JSON.parse(lines[0]).version, 2);
  assert.deepEqual(JSON.parse(lines[2]), { ws_info_hash: "01ff".repeat(10), completed: 7 });
  const end = JSON.parse(lines[4]);
  assert.deepEqual([end.torrents, end.peers, end.ws_swarms], [1, 0, 2]);
  // Sealed by hand the same way, the file decodes the same: the helper matches the writer.
  assert.deepEqual(decodeState(seal(lines.slice(0, 4), 1, 2)), sample());
});

Deno.test("ws state format: a version 1 file reads as before, with no WebSocket swarms", () => {
  const v1 = seal([HEADER_V1, TORRENT_LINE], 1);
  const back = decodeState(v1);
  assert.deepEqual(back.wsSwarms, []);
  assert.deepEqual(back.torrents.map((t) => [t.infoHash, t.completed, t.announces]), [
    [HASH, 3, 10],
  ]);
  // Version 1 knew no WebSocket lines and no `ws_swarms` count: either one there is damage.
  const wsLine = JSON.stringify({ ws_info_hash: "01ff".repeat(10), completed: 7 });
  assert.match(refusal(seal([HEADER_V1, TORRENT_LINE, wsLine], 1)), /line 3: bad info_hash/);
  assert.match(refusal(seal([HEADER_V1, TORRENT_LINE], 1, 0)), /counts do not match/);
  // Version 2 must carry the count.
  assert.match(refusal(seal([HEADER_V2, TORRENT_LINE], 1)), /counts do not match/);
  assert.equal(refusal(seal([HEADER_V2, TORRENT_LINE], 1, 0)), "none");
});

Deno.test("ws state format: hostile WebSocket lines are refused with the line and the reason", () => {
  const line = (v: unknown) => seal([HEADER_V2, JSON.stringify(v)], 0, 1);
  const good = { ws_info_hash: "01ff".repeat(10), completed: 7 };
  assert.equal(refusal(line(good)), "none");
  for (const hash of ["zz".repeat(20), "01ff", 42, null, "01ff".repeat(10) + "00", ""]) {
    assert.match(refusal(line({ ...good, ws_info_hash: hash })), /line 2: bad ws_info_hash/);
  }
  for (const completed of [-1, 1.5, "7", null, 2 ** 53, undefined, [7]]) {
    assert.match(
      refusal(line({ ...good, completed })),
      /line 2: bad WebSocket completed count/,
      String(completed),
    );
  }
  const twice = seal([HEADER_V2, JSON.stringify(good), JSON.stringify(good)], 0, 2);
  assert.match(refusal(twice), /line 3: WebSocket swarm listed twice/);
  assert.match(refusal(seal([HEADER_V2, JSON.stringify(good)], 0, 2)), /counts do not match/);
  assert.match(refusal(seal([HEADER_V2, JSON.stringify(good)], 0, -1)), /counts do not match/);
  assert.match(refusal(seal([HEADER_V2, "{not json"], 0, 1)), /line 2: not JSON/);
});

Deno.test("ws state store: counts go back into the WebSocket swarms, at most maxTorrents of them", async () => {
  const path = await Deno.makeTempFile({ prefix: "hefur-ws-state-" });
  try {
    const contents = sample();
    contents.wsSwarms.push({ infoHash: "\x03".repeat(20), completed: 4 });
    Deno.writeFileSync(path, encodeState(contents));
    const tracker = new Tracker({ open: true, maxTorrents: 2 });
    const ws = new WsTracker<string>(tracker);
    const store = new StateStore(tracker, { path, interval: 0, peers: false }, ws);
    const report = store.load();
    assert.equal(report.outcome, "loaded");
    assert.deepEqual([report.wsSwarms, report.wsApplied], [3, 2]);
    assert.equal(ws.size, 2, "no more WebSocket swarms than announces may make");
    assert.equal(ws.get(WS_HASH)!.downloaded, 7);
    assert.equal(ws.get("\x03".repeat(20)), undefined);
    // Peerless but with a count: a sweep keeps it, a scrape shows it.
    ws.sweep();
    const [counts] = ws.scrape([WS_HASH]);
    assert.deepEqual([counts?.complete, counts?.incomplete, counts?.downloaded], [0, 0, 7]);

    // Saved again: only swarms with completions, and a count restored onto a live swarm adds up.
    ws.announce("c", {
      action: "announce",
      infoHash: "\x04".repeat(20),
      peerId: "p".repeat(20),
      event: AnnounceEvent.Started,
      left: 1,
      offers: [],
      numwant: 0,
    });
    assert.ok(await store.save());
    const saved = decodeState(Deno.readFileSync(path)).wsSwarms;
    assert.deepEqual(saved.map((s) => [s.infoHash, s.completed]), [
      [WS_HASH, 7],
      ["\x02".repeat(20), 1],
    ]);
    assert.ok(ws.restore(WS_HASH, 2));
    assert.equal(ws.get(WS_HASH)!.downloaded, 9);
    assert.equal(ws.restore(WS_HASH, 0), false, "a zero count makes nothing");

    // A hostile WebSocket section is a damaged file: set aside and reported, never a crash.
    const bad = seal([HEADER_V2, JSON.stringify({ ws_info_hash: "x", completed: 1 })], 0, 1);
    Deno.writeFileSync(path, bad);
    const fresh = new WsTracker<string>(new Tracker({ open: true }));
    const s2 = new StateStore(
      new Tracker({ open: true }),
      { path, interval: 0, peers: false },
      fresh,
    );
    const r2 = s2.load();
    assert.equal(r2.outcome, "set-aside");
    assert.equal(fresh.size, 0);
    Deno.removeSync(r2.setAsideTo!);
  } finally {
    await Deno.remove(path).catch(() => {});
  }
});

function wsUrl(hefur: Hefur): string {
  return `ws://127.0.0.1:${hefur.http!.addr.port}/announce`;
}

async function tempDir(): Promise<string & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "hefur-ws-state-" });
  return Object.assign(dir, {
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  }) as string & AsyncDisposable;
}

/** Scrapes WS_HASH over a fresh WebSocket. */
async function wsScrape(hefur: Hefur): Promise<unknown> {
  const c = await WsClient.open(wsUrl(hefur));
  try {
    c.send({ action: "scrape", info_hash: [WS_HASH] });
    return ((await c.next()).files as Record<string, unknown>)[WS_HASH];
  } finally {
    await c.close();
  }
}

Deno.test("restart: a WebSocket swarm's completed count survives a stop and a start", async () => {
  await using dir = await tempDir();
  const stateFile = `${dir}/state.jsonl`;
  {
    await using hefur = await startTestHefur({ stateFile });
    const a = await WsClient.open(wsUrl(hefur));
    try {
      const base = { action: "announce", info_hash: WS_HASH, peer_id: "a".repeat(20) };
      a.send({ ...base, event: "started", left: 5, numwant: 0, offers: [] });
      assert.equal((await a.next()).incomplete, 1);
      a.send({ ...base, event: "completed", left: 0, numwant: 0, offers: [] });
      assert.equal((await a.next()).complete, 1);
    } finally {
      await a.close();
    }
    for (let i = 0; i < 300 && hefur.wsTracker.peerCount > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(hefur.wsTracker.peerCount, 0, "closing forgets the peer");
    assert.deepEqual(await wsScrape(hefur), { complete: 0, incomplete: 0, downloaded: 1 });
  } // close() saves
  const saved = decodeState(Deno.readFileSync(stateFile));
  assert.deepEqual(saved.wsSwarms, [{ infoHash: WS_HASH, completed: 1 }]);
  assert.deepEqual(saved.torrents, [], "WebSocket peers are not UDP/HTTP torrents");
  {
    await using hefur = await startTestHefur({ stateFile });
    const report = hefur.state!.lastLoad!;
    assert.deepEqual([report.outcome, report.wsSwarms, report.wsApplied], ["loaded", 1, 1]);
    assert.deepEqual(await wsScrape(hefur), { complete: 0, incomplete: 0, downloaded: 1 });
    hefur.wsTracker.sweep();
    assert.equal(hefur.wsTracker.get(WS_HASH)!.downloaded, 1, "a sweep keeps a counted swarm");
  }
  {
    // Still there after a second restart.
    await using hefur = await startTestHefur({ stateFile });
    assert.equal(hefur.wsTracker.get(WS_HASH)!.downloaded, 1);
  }
});

Deno.test("restart: a state file written by the previous version (1) still restores", async () => {
  await using dir = await tempDir();
  const stateFile = `${dir}/state.jsonl`;
  Deno.writeFileSync(stateFile, seal([HEADER_V1, TORRENT_LINE], 1));
  {
    await using hefur = await startTestHefur({ stateFile });
    const report = hefur.state!.lastLoad!;
    assert.deepEqual([report.outcome, report.torrents, report.wsSwarms], ["loaded", 1, 0]);
    const s = await getBencoded(`${httpBase(hefur)}/scrape?info_hash=${pct(HASH)}`);
    const files = s.get("files") as Map<string, Map<string, number>>;
    assert.equal(files.get(HASH)!.get("downloaded"), 3);
    assert.equal(hefur.wsTracker.size, 0);
  }
  // Saved again in the current version.
  assert.equal(JSON.parse(Deno.readTextFileSync(stateFile).split("\n")[0]).version, 2);
});
