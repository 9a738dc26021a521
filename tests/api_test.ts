// The JSON API: /api/stats.json and /api/torrents/<hex>.json on a live server.
import assert from "node:assert/strict";
import { AnnounceEvent, Want } from "../src/protocol/types.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import { API_MAX_PEERS, type TorrentJson } from "../src/api/json_api.ts";
import type { Tracker } from "../src/tracker/tracker.ts";
import { getBencoded, httpBase, pct, rawHttp, startTestHefur } from "./helpers.ts";

const HASH = "\x11".repeat(10) + "\xee".repeat(10);

interface PeerBody {
  ip: string;
  port: number;
  peer_id: string;
  seeder: boolean;
  left: number;
  uploaded: number;
  downloaded: number;
  last_seen_seconds_ago: number;
}

interface TorrentBody extends TorrentJson {
  peers: PeerBody[] | null;
  peers_total: number;
  peers_limit: number;
  peers_truncated: boolean;
}

interface StatsBody {
  tracker: { mode: string; announces: number };
  totals: Record<string, number>;
  page: number;
  pages: number;
  page_size: number;
  torrents: TorrentJson[];
}

async function getJson(url: string, init?: RequestInit): Promise<[number, Headers, unknown]> {
  const res = await fetch(url, init);
  const text = await res.text();
  return [res.status, res.headers, text === "" ? undefined : JSON.parse(text)];
}

function announce(tracker: Tracker, hash: string, ip: string, port: number, left: number) {
  tracker.announce({
    infoHash: hash,
    peerId: ("-AP0001-" + port).padEnd(20, "y"),
    ip,
    port,
    uploaded: 5,
    downloaded: 7,
    left,
    event: AnnounceEvent.Started,
    numwant: 0,
    want: Want.V4,
  });
}

Deno.test("/api/stats.json: tracker counters, totals and torrents, readable from any origin", async () => {
  await using hefur = await startTestHefur();
  const base = httpBase(hefur);
  const url = (port: number, left: number) =>
    `${base}/announce?info_hash=${pct(HASH)}&peer_id=${
      ("-AP0001-" + port).padEnd(20, "x")
    }&port=${port}&left=${left}&uploaded=0&downloaded=0`;
  await getBencoded(url(6001, 10));
  await getBencoded(url(6002, 0));
  await getBencoded(url(6001, 0) + "&event=completed");
  hefur.tracker.addTorrent("\x22".repeat(20), {
    name: "Some ISO",
    length: 1234,
    version: 1,
    fullHash: "\x22".repeat(20),
    path: "/srv/t/iso.torrent",
  });

  const [status, headers, body] = await getJson(`${base}/api/stats.json`);
  assert.equal(status, 200);
  assert.equal(headers.get("access-control-allow-origin"), "*");
  assert.equal(headers.get("content-type"), "application/json; charset=utf-8");
  const b = body as StatsBody;
  assert.equal(b.tracker.mode, "open");
  assert.equal(b.tracker.announces, 3);
  assert.deepEqual(b.totals, {
    torrents: 2,
    seeders: 2,
    leechers: 0,
    completed: 1,
    webtorrent: { seeders: 0, leechers: 0, completed: 0 },
    length: 1234,
  });
  assert.deepEqual([b.page, b.pages, b.page_size], [1, 1, 1000]);
  const [t, iso] = b.torrents;
  assert.equal(t.info_hash, binaryToHex(HASH));
  assert.deepEqual(
    [t.version, t.name, t.length, t.seeders, t.leechers, t.completed, t.announces],
    [null, null, null, 2, 0, 1, 3],
  );
  assert.equal(t.url, `/api/torrents/${binaryToHex(HASH)}.json`);
  assert.ok(Math.abs(Date.parse(t.first_seen!) - Date.now()) < 60_000);
  assert.deepEqual([iso.name, iso.version, iso.length], ["Some ISO", 1, 1234]);

  const [s2, , e2] = await getJson(`${base}/api/stats.json?page=2`);
  assert.equal(s2, 404);
  assert.match((e2 as { error: string }).error, /no page 2/);
  const [s3] = await getJson(`${base}/api/stats.json?page=abc`);
  assert.equal(s3, 400);
});

Deno.test("/api/torrents/<hex>.json: one torrent and its peers; v2 hashes by 64 digits", async () => {
  await using hefur = await startTestHefur();
  const base = httpBase(hefur);
  announce(hefur.tracker, HASH, "10.0.0.1", 6881, 100);
  announce(hefur.tracker, HASH, "2001:db8::1", 6882, 0);
  const [status, headers, body] = await getJson(`${base}/api/torrents/${binaryToHex(HASH)}.json`);
  assert.equal(status, 200);
  assert.equal(headers.get("access-control-allow-origin"), "*");
  const b = body as TorrentBody;
  assert.deepEqual([b.seeders, b.leechers, b.peers_total, b.peers_truncated], [1, 1, 2, false]);
  assert.equal(b.peers_limit, API_MAX_PEERS);
  const ips = b.peers!.map((p) => p.ip).sort();
  assert.deepEqual(ips, ["10.0.0.1", "2001:db8::1"]);
  const v4 = b.peers!.find((p) => p.ip === "10.0.0.1");
  assert.deepEqual(v4, {
    ip: "10.0.0.1",
    port: 6881,
    peer_id: binaryToHex("-AP0001-6881".padEnd(20, "y")),
    seeder: false,
    left: 100,
    uploaded: 5,
    downloaded: 7,
    last_seen_seconds_ago: 0,
  });

  // A v2 torrent is named by its full 64-digit hash and found by its first 20 bytes.
  const full = "\x33".repeat(32);
  hefur.tracker.addTorrent(full.slice(0, 20), {
    name: "v2",
    length: 1,
    version: 2,
    fullHash: full,
  });
  const [s2, , v2] = await getJson(`${base}/api/torrents/${binaryToHex(full).toUpperCase()}.json`);
  assert.equal(s2, 200);
  assert.equal((v2 as { info_hash: string }).info_hash, binaryToHex(full));
  assert.deepEqual((v2 as { peers: unknown[] }).peers, []);

  const [s3, , e3] = await getJson(`${base}/api/torrents/${"ab".repeat(20)}.json`);
  assert.deepEqual([s3, e3], [404, { error: "torrent not found" }]);
  for (const bad of ["abc.json", `${"zz".repeat(20)}.json`, `${"ab".repeat(20)}`]) {
    const [s] = await getJson(`${base}/api/torrents/${bad}`);
    assert.equal(s, 400, bad);
  }
});

Deno.test("peer lists are capped, most recent kept, and the reply says so", async () => {
  await using hefur = await startTestHefur({ maxPeers: 5000 });
  const n = API_MAX_PEERS + 50;
  for (let i = 0; i < n; i++) {
    announce(hefur.tracker, HASH, `10.1.${i >> 8}.${i & 255}`, 1000 + i, 1);
  }
  const [, , body] = await getJson(`${httpBase(hefur)}/api/torrents/${binaryToHex(HASH)}.json`);
  const b = body as TorrentBody;
  const peers = b.peers!;
  assert.equal(b.peers_total, n);
  assert.equal(b.peers_truncated, true);
  assert.equal(peers.length, API_MAX_PEERS);
  // The peers dropped from the list are the ones heard from longest ago (the first 50).
  assert.ok(!peers.some((p) => p.port < 1050));
  // Large replies are gzipped for clients that accept it.
  const raw = await rawHttp(
    hefur.http!.addr.port,
    `GET /api/torrents/${
      binaryToHex(HASH)
    }.json HTTP/1.1\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n`,
  );
  assert.match(raw, /\r\ncontent-encoding: gzip\r\n/i);
  assert.match(raw, /\r\naccess-control-allow-origin: \*\r\n/i);
});

Deno.test("the API follows the pages' switches, and is read-only", async () => {
  await using hefur = await startTestHefur({ disableStatPage: true, disablePeersPage: true });
  const base = httpBase(hefur);
  announce(hefur.tracker, HASH, "10.0.0.1", 6881, 100);
  const [s1, , b1] = await getJson(`${base}/api/stats.json`);
  assert.deepEqual([s1, b1], [404, { error: "turned off on this tracker" }]);
  const [s2, , b2] = await getJson(`${base}/api/torrents/${binaryToHex(HASH)}.json`);
  assert.equal(s2, 200);
  assert.equal((b2 as { peers: unknown }).peers, null);
  assert.equal((b2 as { leechers: number }).leechers, 1);

  const hex = binaryToHex(HASH);
  const [s3, h3] = await getJson(`${base}/api/torrents/${hex}.json`, { method: "OPTIONS" });
  assert.equal(s3, 204);
  assert.equal(h3.get("access-control-allow-methods"), "GET, HEAD");
  const [s4] = await getJson(`${base}/api/torrents/${hex}.json`, { method: "DELETE" });
  assert.equal(s4, 405);
});
