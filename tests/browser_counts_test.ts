// Browsers (WebTorrent peers over WebSocket) counted everywhere a reader looks: /stat, /peers, the
// badges, the JSON API, `hefur ctl status`, /metrics and the state file, in open mode and with a
// torrent directory; merged into each torrent's totals, with the browsers' part apart.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Hefur } from "../src/app.ts";
import { controlHandler } from "../src/control/commands.ts";
import { ControlServer } from "../src/control/server.ts";
import type { StatusResult } from "../src/control/protocol.ts";
import { encode } from "../src/protocol/bencode.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { parseMetainfo } from "../src/protocol/metainfo.ts";
import { decodeState } from "../src/state/state_format.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { WsTracker } from "../src/tracker/ws_tracker.ts";
import { getBencoded, httpBase, pct, startTestHefur } from "./helpers.ts";
import { runCtl, tempDir } from "./process_helpers.ts";
import { WsClient } from "./support/clients.ts";

/** A `.torrent` of one small file, and its v1 info hash (binary string). */
function torrentFile(name: string): { bytes: Uint8Array; hash: string } {
  const bytes = encode({
    info: { name, length: 3, "piece length": 16384, pieces: new Uint8Array(20) },
  });
  return { bytes, hash: parseMetainfo(bytes).infoHashV1! };
}

/** A peer id with markup in it: pages must escape it. */
const MARKUP_ID = "<b>&'\"</b>".padEnd(20, "z");

interface Browsers {
  clients: WsClient[];
  close(): Promise<void>;
}

/**
 * Three browsers join `hash` over WebSocket: A seeds from the start, B leeches, C leeches then
 * completes, and says `completed` a second time (counted once). Five announces in all.
 */
async function browsersJoin(hefur: Hefur, hash: string): Promise<Browsers> {
  const url = `ws://127.0.0.1:${hefur.http!.addr.port}/announce`;
  const clients = await Promise.all([0, 1, 2].map(() => WsClient.open(url)));
  const [a, b, c] = clients;
  const send = async (client: WsClient, peerId: string, event: string, left: number) => {
    client.send({
      action: "announce",
      info_hash: hash,
      peer_id: peerId,
      event,
      left,
      numwant: 0,
      offers: [],
    });
    const reply = await client.next();
    assert.equal(reply.failure_reason, undefined, String(reply.failure_reason));
    return reply;
  };
  await send(a, "A".repeat(20), "started", 0);
  await send(b, MARKUP_ID, "started", 5);
  await send(c, "C".repeat(20), "started", 5);
  const done = await send(c, "C".repeat(20), "completed", 0);
  assert.deepEqual([done.complete, done.incomplete], [2, 1]);
  await send(c, "C".repeat(20), "completed", 0);
  return {
    clients,
    close: async () => {
      await Promise.all(clients.map((cl) => cl.close()));
    },
  };
}

/** One UDP/HTTP peer that starts, then completes: one seeder, one completion. */
async function httpPeerCompletes(hefur: Hefur, hash: string): Promise<void> {
  const url = `${httpBase(hefur)}/announce?info_hash=${pct(hash)}&peer_id=${
    "-HT0001-".padEnd(20, "h")
  }&port=6881&uploaded=0&downloaded=0`;
  await getBencoded(`${url}&left=10&event=started`);
  const done = await getBencoded(`${url}&left=0&event=completed`);
  assert.equal(done.get("failure reason"), undefined);
}

async function get(hefur: Hefur, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${httpBase(hefur)}${path}`);
  return { status: res.status, body: await res.text() };
}

async function getJson(hefur: Hefur, path: string): Promise<Record<string, unknown>> {
  const { status, body } = await get(hefur, path);
  assert.equal(status, 200, body);
  return JSON.parse(body);
}

/** The text between the tags of the element with `id` (its markup included). */
function byId(page: string, id: string): string {
  const m = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</`).exec(page);
  assert.ok(m, `no #${id} in the page`);
  return m[1].trim();
}

/** Every sample of a metric as `name{labels}` → value. */
async function metrics(hefur: Hefur): Promise<Map<string, number>> {
  const { body } = await get(hefur, "/metrics");
  const out = new Map<string, number>();
  for (const line of body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** `counts` are [seeders, leechers, completed] in all and of browsers; `announces` likewise. */
interface Expected {
  all: [number, number, number];
  browsers: [number, number, number];
  announces: [number, number];
  torrents: number;
}

/** Checks every place a reader looks: pages, API, badge, ctl status, metrics. */
async function checkEverywhere(hefur: Hefur, hash: string, want: Expected): Promise<void> {
  const hex = binaryToHex(hash);
  const [seeders, leechers, completed] = want.all;
  const [wSeeders, wLeechers, wCompleted] = want.browsers;

  // /stat: the cards and the totals count browsers; a note gives their part.
  const stat = (await get(hefur, "/stat")).body;
  const cards = [...stat.matchAll(/<span class="k">([^<]+)<\/span><span class="v">([^<]+)</g)]
    .map((m) => [m[1], m[2]]);
  assert.deepEqual(cards.slice(0, 4), [
    ["Torrents", String(want.torrents)],
    ["Seeders", String(seeders)],
    ["Leechers", String(leechers)],
    ["Completed", String(completed)],
  ]);
  assert.ok(stat.includes(hex), "the torrent is listed");
  assert.deepEqual(
    [
      byId(stat, "browser-seeders"),
      byId(stat, "browser-leechers"),
      byId(stat, "browser-completed"),
    ],
    [String(wSeeders), String(wLeechers), String(wCompleted)],
  );
  assert.equal(byId(stat, "announces"), String(want.announces[0]));
  if (want.announces[1] > 0) assert.equal(byId(stat, "ws-announces"), String(want.announces[1]));
  else assert.ok(!stat.includes('id="ws-announces"'), "no WebSocket figures without any");

  // /peers: the counts, and the browsers listed apart, escaped, marked as browsers.
  const peers = await get(hefur, `/peers?info_hash=${hex}`);
  assert.equal(peers.status, 200, peers.body);
  const peerCards = [
    ...peers.body.matchAll(/<span class="k">([^<]+)<\/span><span class="v"[^>]*>([^<]+)</g),
  ]
    .map((m) => [m[1], m[2]]);
  assert.deepEqual(peerCards.slice(0, 4), [
    ["Seeders", String(seeders)],
    ["Leechers", String(leechers)],
    ["Completed", String(completed)],
    ["Of which browsers", `${wSeeders} / ${wLeechers} / ${wCompleted}`],
  ]);
  const browserTable = peers.body.slice(peers.body.indexOf('id="browsers"'));
  const live = wSeeders + wLeechers;
  assert.equal([...browserTable.matchAll(/class="badge browser"/g)].length, live);
  if (live > 0) {
    assert.ok(browserTable.includes("<code>127.0.0.1</code>"), "the connection's address");
    assert.ok(browserTable.includes("&lt;b&gt;&amp;&#39;&quot;&lt;/b&gt;"), "the peer id, escaped");
  }
  assert.ok(!peers.body.includes("<b>&"), "no markup from a peer id");

  // The JSON API: merged numbers and the split, per torrent and in the totals.
  const t = await getJson(hefur, `/api/torrents/${hex}.json`);
  assert.deepEqual([t.seeders, t.leechers, t.completed], want.all);
  assert.deepEqual(t.webtorrent, { seeders: wSeeders, leechers: wLeechers, completed: wCompleted });
  const wPeers = t.webtorrent_peers as { peer_id: string; seeder: boolean; address: string }[];
  assert.equal(wPeers.length, live);
  assert.equal(t.webtorrent_peers_total, live);
  if (live > 0) {
    assert.ok(wPeers.some((p) => p.peer_id === binaryToHex(MARKUP_ID) && !p.seeder));
    assert.ok(wPeers.every((p) => p.address === "127.0.0.1"));
  }
  const stats = await getJson(hefur, "/api/stats.json");
  const totals = stats.totals as Record<string, unknown>;
  assert.deepEqual(
    [totals.torrents, totals.seeders, totals.leechers, totals.completed],
    [want.torrents, ...want.all],
  );
  assert.deepEqual(totals.webtorrent, {
    seeders: wSeeders,
    leechers: wLeechers,
    completed: wCompleted,
  });
  const tracker = stats.tracker as Record<string, unknown>;
  assert.equal(tracker.announces, want.announces[0]);
  assert.equal((tracker.webtorrent as Record<string, number>).announces, want.announces[1]);
  const listed = (stats.torrents as Record<string, unknown>[]).find((x) => x.info_hash === hex);
  assert.deepEqual([listed?.seeders, listed?.leechers, listed?.completed], want.all);

  // The badge.
  const badge = await get(hefur, `/badge/${hex}.svg`);
  assert.equal(badge.status, 200, badge.body);
  assert.match(
    badge.body,
    new RegExp(`>${seeders} seeders? · ${leechers} leechers? · ${completed} completed<`),
  );

  // ctl status.
  const status = await controlHandler({ hefur, startedAt: Date.now(), stop: () => {} })(
    "status",
    {},
  ) as StatusResult;
  assert.deepEqual(
    [status.torrents, status.seeders, status.leechers, status.completed, status.peers],
    [want.torrents, ...want.all, seeders + leechers],
  );
  assert.deepEqual(status.webtorrent, {
    peers: wSeeders + wLeechers,
    seeders: wSeeders,
    leechers: wLeechers,
    completed: wCompleted,
  });
  assert.equal(status.requests.announces, want.announces[0]);
  assert.equal(status.requests.webtorrent.announces, want.announces[1]);

  // /metrics: UDP/HTTP and WebSocket apart, adding up to what the pages show.
  const m = await metrics(hefur);
  const v = (k: string) => m.get(k) ?? 0;
  assert.equal(v('hefur_ws_peers_by_state{state="seeder"}'), wSeeders);
  assert.equal(v('hefur_ws_peers_by_state{state="leecher"}'), wLeechers);
  assert.equal(v("hefur_ws_completed"), wCompleted);
  assert.equal(v('hefur_peers{state="seeder"}') + wSeeders, seeders);
  assert.equal(v('hefur_peers{state="leecher"}') + wLeechers, leechers);
  assert.equal(v("hefur_completed") + wCompleted, completed);
  assert.equal(v("hefur_ws_peers"), wSeeders + wLeechers);
  assert.equal(
    v('hefur_announces_total{protocol="ws",result="ok"}') +
      v('hefur_announces_total{protocol="ws",result="failure"}'),
    want.announces[1],
  );
}

Deno.test("open mode: a torrent only browsers announced is known and counted everywhere", async () => {
  await using dir = await tempDir();
  const stateFile = join(dir.path, "state.jsonl");
  const { hash } = torrentFile("browsers only");
  {
    await using hefur = await startTestHefur({ stateFile });
    const browsers = await browsersJoin(hefur, hash);
    try {
      await checkEverywhere(hefur, hash, {
        torrents: 1,
        all: [2, 1, 1],
        browsers: [2, 1, 1],
        announces: [5, 5],
      });
    } finally {
      await browsers.close();
    }
  } // close() saves
  assert.deepEqual(decodeState(Deno.readFileSync(stateFile)).wsSwarms, [
    { infoHash: hash, completed: 1 },
  ]);
  {
    // After a restart: no browser yet, the completion is still there, on every page.
    await using hefur = await startTestHefur({ stateFile });
    hefur.wsTracker.sweep();
    await checkEverywhere(hefur, hash, {
      torrents: 1,
      all: [0, 0, 1],
      browsers: [0, 0, 1],
      announces: [0, 0],
    });
  }
});

Deno.test("open mode: an unknown torrent is still unknown", async () => {
  await using hefur = await startTestHefur();
  const hex = "ab".repeat(20);
  assert.equal((await get(hefur, `/peers?info_hash=${hex}`)).status, 404);
  assert.equal((await get(hefur, `/badge/${hex}.svg`)).status, 404);
  assert.equal((await get(hefur, `/api/torrents/${hex}.json`)).status, 404);
});

Deno.test("torrent directory: browsers and UDP/HTTP peers merged, across a restart", async () => {
  await using dir = await tempDir();
  const torrents = join(dir.path, "torrents");
  await Deno.mkdir(torrents);
  const stateFile = join(dir.path, "state.jsonl");
  const kept = torrentFile("kept");
  const gone = torrentFile("gone");
  await Deno.writeFile(join(torrents, "kept.torrent"), kept.bytes);
  await Deno.writeFile(join(torrents, "gone.torrent"), gone.bytes);
  const config = { stateFile, torrentDir: torrents };
  {
    await using hefur = await startTestHefur(config);
    const browsers = await browsersJoin(hefur, kept.hash);
    try {
      await httpPeerCompletes(hefur, kept.hash);
      await checkEverywhere(hefur, kept.hash, {
        torrents: 2,
        all: [3, 1, 2],
        browsers: [2, 1, 1],
        announces: [7, 5],
      });
      // Scrapes answer each kind of client its own swarm: the peers it can reach.
      const scrape = await getBencoded(`${httpBase(hefur)}/scrape?info_hash=${pct(kept.hash)}`);
      const files = scrape.get("files") as Map<string, Map<string, number>>;
      const f = files.get(kept.hash)!;
      assert.deepEqual([f.get("complete"), f.get("incomplete"), f.get("downloaded")], [1, 0, 1]);
      const wsScrape = browsers.clients[0];
      wsScrape.send({ action: "scrape", info_hash: [kept.hash] });
      const w =
        ((await wsScrape.next()).files as Record<string, Record<string, number>>)[kept.hash];
      assert.deepEqual(w, { complete: 2, incomplete: 1, downloaded: 1 });
    } finally {
      await browsers.close();
    }
    await (await browsersJoin(hefur, gone.hash)).close();
  }
  // The .torrent of one of them goes away while the tracker is down.
  await Deno.remove(join(torrents, "gone.torrent"));
  {
    await using hefur = await startTestHefur(config);
    // The first sweep keeps the count whose .torrent is there, and keeps the other waiting.
    hefur.wsTracker.sweep();
    await checkEverywhere(hefur, kept.hash, {
      torrents: 1,
      all: [0, 0, 2],
      browsers: [0, 0, 1],
      announces: [0, 0],
    });
    assert.equal(hefur.wsTracker.get(gone.hash), undefined);
    assert.deepEqual([...hefur.wsTracker.pending()], [[gone.hash, 1]]);
    assert.equal((await get(hefur, `/badge/${binaryToHex(gone.hash)}.svg`)).status, 404);
  }
  // Saved again while waiting; back on the pages once its .torrent is back.
  assert.deepEqual(
    decodeState(Deno.readFileSync(stateFile)).wsSwarms.map((s) => [s.infoHash, s.completed]),
    [[kept.hash, 1], [gone.hash, 1]],
  );
  await Deno.writeFile(join(torrents, "gone.torrent"), gone.bytes);
  {
    await using hefur = await startTestHefur(config);
    hefur.wsTracker.sweep();
    const t = await getJson(hefur, `/api/torrents/${binaryToHex(gone.hash)}.json`);
    assert.deepEqual([t.completed, t.webtorrent], [1, { seeders: 0, leechers: 0, completed: 1 }]);
    const k = await getJson(hefur, `/api/torrents/${binaryToHex(kept.hash)}.json`);
    assert.deepEqual([k.completed, k.webtorrent], [2, { seeders: 0, leechers: 0, completed: 1 }]);
  }
});

Deno.test("torrent directory: a WebSocket count waiting for its .torrent comes back at the sweep after it appears", async () => {
  await using dir = await tempDir();
  const { bytes, hash } = torrentFile("late");
  const stateFile = join(dir.path, "state.jsonl");
  {
    // Counted in open mode first (one completion).
    await using hefur = await startTestHefur({ stateFile });
    const browsers = await browsersJoin(hefur, hash);
    await browsers.close();
  }
  const torrents = join(dir.path, "torrents");
  await Deno.mkdir(torrents);
  await using hefur = await startTestHefur({ stateFile, torrentDir: torrents });
  hefur.wsTracker.sweep();
  assert.deepEqual([...hefur.wsTracker.pending()], [[hash, 1]]);
  await Deno.writeFile(join(torrents, "late.torrent"), bytes);
  await hefur.whitelist!.scanNow();
  assert.ok(hefur.tracker.get(hash) !== undefined, "tracked once its file is there");
  hefur.wsTracker.sweep();
  assert.deepEqual([...hefur.wsTracker.pending()], []);
  const t = await getJson(hefur, `/api/torrents/${binaryToHex(hash)}.json`);
  assert.deepEqual([t.completed, t.webtorrent], [1, { seeders: 0, leechers: 0, completed: 1 }]);
});

Deno.test("ctl status prints the browsers and the WebSocket requests", async () => {
  await using dir = await tempDir();
  await using hefur = await startTestHefur();
  const { hash } = torrentFile("ctl");
  const socket = join(dir.path, "control");
  const server = await ControlServer.listen(
    socket,
    controlHandler({ hefur, startedAt: Date.now(), stop: () => {} }),
  );
  try {
    const browsers = await browsersJoin(hefur, hash);
    try {
      const out = await runCtl(["--socket", socket, "status"]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /peers: +3 \(2 seeders, 1 leecher\), 1 completed/);
      assert.match(
        out.stdout,
        /browsers: +3 \(2 seeders, 1 leecher\), 1 completed, counted above/,
      );
      assert.match(
        out.stdout,
        /requests: +5 announces, 0 scrapes, 0 refused \(over WebSocket: 5, 0, 0\)/,
      );
    } finally {
      await browsers.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("open mode with --official-seed: a torrent only browsers announced has its seed down", async () => {
  await using hefur = await startTestHefur({ officialSeed: ["10.0.0.0/8"] });
  const { hash } = torrentFile("official");
  const browsers = await browsersJoin(hefur, hash);
  try {
    const stat = (await get(hefur, "/stat")).body;
    const body = stat.slice(stat.indexOf("<tbody>"), stat.indexOf("</tbody>"));
    const header = stat.slice(stat.indexOf("<thead>"), stat.indexOf("</thead>"));
    // Every row has a cell under every heading, the official seed's included.
    assert.equal([...body.matchAll(/<td[ >]/g)].length, [...header.matchAll(/<th[ >]/g)].length);
    assert.match(body, /data-label="Official seed"[^>]*><span class="badge down">down</);
    const t = await getJson(hefur, `/api/torrents/${binaryToHex(hash)}.json`);
    assert.equal(t.official_seeds, 0);
  } finally {
    await browsers.close();
  }
});

Deno.test("core: WebSocket counts waiting for their torrent are bounded by maxTorrents", () => {
  const tracker = new Tracker({ open: false, maxTorrents: 2 });
  const ws = new WsTracker<string>(tracker);
  for (const c of "abc") assert.equal(ws.restore(c.repeat(20), 1), false, "waits");
  // The oldest goes first; a count for a waiting hash adds up.
  assert.deepEqual([...ws.pending()].map(([h]) => h[0]), ["b", "c"]);
  ws.restore("c".repeat(20), 2);
  assert.deepEqual([...ws.pending()], [["b".repeat(20), 1], ["c".repeat(20), 3]]);
  // Tracked now: the next sweep gives the count back to a (peerless) swarm.
  tracker.addTorrent("c".repeat(20));
  ws.sweep();
  assert.equal(ws.get("c".repeat(20))?.downloaded, 3);
  assert.deepEqual([...ws.pending()].map(([h]) => h[0]), ["b"]);
  // No longer tracked: the swarm goes, its count waits again.
  tracker.removeTorrent("c".repeat(20));
  ws.sweep();
  assert.equal(ws.get("c".repeat(20)), undefined);
  assert.deepEqual([...ws.pending()].map(([h, n]) => [h[0], n]), [["b", 1], ["c", 3]]);
});

Deno.test("core: a browser's `completed` without `left` counts once, and makes it a seeder", () => {
  const ws = new WsTracker<string>(new Tracker({ open: true }));
  const hash = "h".repeat(20);
  const announce = (peer: string, event: AnnounceEvent, left?: number) =>
    ws.announce(peer, {
      action: "announce",
      infoHash: hash,
      peerId: peer.repeat(20),
      event,
      left,
      offers: [],
      numwant: 0,
    });
  // bittorrent-tracker's client without a torrent to ask sends no `left` at all.
  announce("a", AnnounceEvent.Started);
  announce("a", AnnounceEvent.None);
  const swarm = ws.get(hash)!;
  assert.deepEqual([swarm.complete, swarm.incomplete, swarm.downloaded], [0, 1, 0]);
  announce("a", AnnounceEvent.Completed);
  assert.deepEqual([swarm.complete, swarm.incomplete, swarm.downloaded], [1, 0, 1]);
  announce("a", AnnounceEvent.Completed);
  announce("a", AnnounceEvent.None);
  assert.deepEqual([swarm.complete, swarm.incomplete, swarm.downloaded], [1, 0, 1], "once");
  // A peer first heard with `completed` is a seeder, but did not complete here.
  announce("b", AnnounceEvent.Completed);
  assert.deepEqual([swarm.complete, swarm.incomplete, swarm.downloaded], [2, 0, 1]);
});
