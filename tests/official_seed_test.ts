import { strict as assert } from "node:assert/strict";
import { IpSet } from "../src/protocol/ip_set.ts";
import { AnnounceEvent, Want } from "../src/protocol/types.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { httpBase, startTestHefur } from "./helpers.ts";
import { failureOf, httpAnnounce } from "./support/clients.ts";
import { makeTorrent, writeTorrent } from "./support/torrents.ts";
import { tempDir } from "./process_helpers.ts";
import { seederJoins } from "./support/announce_requests.ts";

const HASH = "\x71".repeat(20);

function core(options: { maxPeers?: number } = {}) {
  let clock = 0;
  const tracker = new Tracker({
    open: true,
    official: new IpSet(["192.0.2.0/24", "2001:db8:5eed::/48"]),
    peerTimeout: 1200,
    clock: () => clock,
    ...options,
  });
  const announce = (ip: string, left: number, event = AnnounceEvent.Started, port = 6881) =>
    tracker.announce({
      infoHash: HASH,
      peerId: `${ip}:${port}`.padEnd(20, "-").slice(0, 20),
      ip,
      port,
      uploaded: 0,
      downloaded: 0,
      left,
      event,
      numwant: 0,
      want: Want.V4,
    });
  return {
    tracker,
    announce,
    official: () => tracker.officialSeeds(tracker.get(HASH)!),
    advance: (s: number) => clock += s * 1000,
  };
}

Deno.test("official seeds: only seeders in the networks count, and they stop counting when they go", () => {
  const c = core();
  c.announce("198.51.100.1", 0); // a seeder, not official
  c.announce("192.0.2.10", 500); // official, but still downloading
  assert.equal(c.official(), 0);
  c.announce("192.0.2.10", 0, AnnounceEvent.Completed);
  assert.equal(c.official(), 1);
  c.announce("2001:db8:5eed::1", 0);
  assert.equal(c.official(), 2);
  c.announce("2001:db8:5eed::1", 0, AnnounceEvent.None); // an update changes nothing
  assert.equal(c.official(), 2);
  c.announce("2001:db8:5eed::1", 0, AnnounceEvent.Stopped);
  assert.equal(c.official(), 1);
  // A seed box that goes silent is down once its peers time out, even with no other announce.
  c.advance(1199);
  assert.equal(c.official(), 1);
  c.advance(1);
  assert.equal(c.official(), 0);
  assert.equal(c.tracker.get(HASH)!.swarm.size, 0);
});

Deno.test("official seeds: eviction and a seeder turning leecher keep the count exact", () => {
  const c = core({ maxPeers: 2 });
  c.announce("192.0.2.1", 0);
  c.advance(1);
  c.announce("192.0.2.2", 0);
  assert.equal(c.official(), 2);
  c.advance(1);
  c.announce("198.51.100.1", 10); // evicts 192.0.2.1, heard from longest ago
  assert.equal(c.official(), 1);
  c.announce("192.0.2.2", 100, AnnounceEvent.Started); // re-checking: a leecher again
  assert.equal(c.official(), 0);
});

Deno.test("official seeds: none configured means no count and nothing to pay", () => {
  const tracker = new Tracker({ open: true });
  tracker.announce(
    seederJoins({ infoHash: HASH, peerId: "p".repeat(20), ip: "192.0.2.1", port: 1 }),
  );
  assert.equal(tracker.officialSeeds(tracker.get(HASH)!), undefined);
  assert.equal(tracker.hasOfficialNetworks, false);
  assert.equal(new Tracker({ official: new IpSet([]) }).hasOfficialNetworks, false);
});

Deno.test("live: /stat, /peers, the JSON API and metrics show whether the official seed is online", async () => {
  await using tmp = await tempDir();
  const ours = makeTorrent("Our release");
  const theirs = makeTorrent("Mirror only");
  await writeTorrent(tmp.path, "ours.torrent", ours, 1_700_000_000);
  await writeTorrent(tmp.path, "theirs.torrent", theirs, 1_700_000_100);
  await using hefur = await startTestHefur({
    torrentDir: tmp.path,
    officialSeed: ["127.0.0.1/32"],
    // Pages are read right after each change.
    pageCache: 0,
    pageRenderBudget: 0,
  });
  const base = httpBase(hefur);
  // Our seed box (this test, from 127.0.0.1) seeds ours; a mirror elsewhere seeds the other.
  const seed = await httpAnnounce(base, {
    infoHash: ours.key,
    port: 6881,
    left: 0,
    event: "started",
  });
  assert.equal(failureOf(seed), undefined);
  hefur.tracker.announce(
    seederJoins({ infoHash: theirs.key, peerId: "m".repeat(20), ip: "198.51.100.20", port: 6881 }),
  );

  const stat = await (await fetch(`${base}/stat`)).text();
  assert.match(stat, /<th data-sort="num">Official seed<\/th>/);
  assert.match(stat, /id="official-online"\s*>1 of 2</);
  const row = (name: string) => stat.split("<tr>").find((r) => r.includes(name))!;
  assert.match(row("Our release"), /badge official[^>]*>online</);
  assert.match(row("Mirror only"), /badge down">down</);

  const peers = await (await fetch(`${base}/peers?info_hash=${ours.hex}`)).text();
  assert.match(peers, /id="official-seed"><span class="badge official">online</);
  assert.match(
    peers,
    /<code>127\.0\.0\.1<\/code>[\s\S]*badge official" title="In an --official-seed network">official</,
  );
  const mirror = await (await fetch(`${base}/peers?info_hash=${theirs.hex}`)).text();
  assert.match(mirror, /id="official-seed"><span class="badge down">down</);
  assert.ok(!mirror.includes(">official<"));

  const api = await (await fetch(`${base}/api/stats.json`)).json();
  const byName = Object.fromEntries(
    api.torrents.map((t: { name: string; official_seeds: number }) => [t.name, t.official_seeds]),
  );
  assert.deepEqual(byName, { "Our release": 1, "Mirror only": 0 });
  assert.equal(api.totals.official_seed_online, 1);
  const one = await (await fetch(`${base}/api/torrents/${ours.hex}.json`)).json();
  assert.equal(one.official_seeds, 1);
  assert.equal(one.peers[0].official, true);

  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^hefur_official_seed_torrents\{state="online"\} 1$/m);
  assert.match(metrics, /^hefur_official_seed_torrents\{state="down"\} 1$/m);
  assert.match(
    metrics,
    new RegExp(`^hefur_torrent_official_seeds\\{info_hash="${ours.hex}"\\} 1$`, "m"),
  );
  assert.match(
    metrics,
    new RegExp(`^hefur_torrent_official_seeds\\{info_hash="${theirs.hex}"\\} 0$`, "m"),
  );

  // Our seed box stops: every view says so at once.
  await httpAnnounce(base, { infoHash: ours.key, port: 6881, left: 0, event: "stopped" });
  const after = await (await fetch(`${base}/api/torrents/${ours.hex}.json`)).json();
  assert.equal(after.official_seeds, 0);
  const metrics2 = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics2, /^hefur_official_seed_torrents\{state="online"\} 0$/m);
  assert.equal(binaryToHex(ours.key), ours.hex);
});

Deno.test("live: without --official-seed nothing about official seeds is shown", async () => {
  await using hefur = await startTestHefur();
  const base = httpBase(hefur);
  await httpAnnounce(base, { infoHash: HASH, port: 6881, left: 0, event: "started" });
  const stat = await (await fetch(`${base}/stat`)).text();
  assert.ok(!stat.includes("Official seed"));
  const peers = await (await fetch(`${base}/peers?info_hash=${binaryToHex(HASH)}`)).text();
  assert.ok(!peers.includes("official"));
  const one = await (await fetch(`${base}/api/torrents/${binaryToHex(HASH)}.json`)).json();
  assert.equal(one.official_seeds, null);
  assert.equal("official" in one.peers[0], false);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.ok(!/^hefur_official_seed_torrents\{/m.test(metrics));
});

Deno.test("official seeds: peers restored from a state file are counted too", () => {
  const c = core();
  const peer = (ip: string, left: number) => ({
    ip,
    port: 6881,
    v6: ip.includes(":"),
    peerId: "r".repeat(20),
    left,
    uploaded: 0,
    downloaded: 0,
    lastSeen: 0,
  });
  c.tracker.restore({
    infoHash: HASH,
    completed: 3,
    announces: 5,
    firstSeen: 0,
    peers: [peer("192.0.2.1", 0), peer("192.0.2.2", 10), peer("198.51.100.1", 0)],
  });
  assert.equal(c.official(), 1);
});
