// The rules of the tracker core: completion, expiry, eviction, numwant, exclusions, modes.
import assert from "node:assert/strict";
import { AnnounceEvent, type AnnounceReply, Want } from "../src/protocol/types.ts";
import { FAILURE, Tracker, type TrackerOptions } from "../src/tracker/tracker.ts";
import { HASH, ok, req } from "./support/announce_requests.ts";

class FakeClock {
  ms = 1_000_000;
  now = () => this.ms;
  advance(seconds: number) {
    this.ms += seconds * 1000;
  }
}

function tracker(options: Partial<TrackerOptions> = {}, clock = new FakeClock()) {
  return new Tracker({ clock: clock.now, ...options });
}

/** Ports of the IPv4 peers of a reply. */
function ports4(r: AnnounceReply): number[] {
  const out = [];
  for (let i = 0; i < r.peers4.length; i += 6) out.push(r.peers4[i + 4] * 256 + r.peers4[i + 5]);
  return out;
}

Deno.test("a first announce creates the peer and counts it as a leecher or seeder", () => {
  const t = tracker();
  let r = ok(t.announce(req({ port: 1, left: 5 })));
  assert.deepEqual([r.complete, r.incomplete, r.downloaded], [0, 1, 0]);
  r = ok(t.announce(req({ port: 2, left: 0 })));
  assert.deepEqual([r.complete, r.incomplete, r.downloaded], [1, 1, 0]);
  assert.equal(r.interval, 900);
  assert.equal(r.minInterval, 60);
});

Deno.test("completed counts only a known leecher that reports left=0 with event=completed", () => {
  const t = tracker();
  // First-ever announce with completed: not counted (reference §8.3).
  let r = ok(t.announce(req({ port: 1, left: 0, event: AnnounceEvent.Completed })));
  assert.equal(r.downloaded, 0);
  // A leecher that reaches left=0 without the event: not counted.
  ok(t.announce(req({ port: 2, left: 10 })));
  r = ok(t.announce(req({ port: 2, left: 0 })));
  assert.equal(r.downloaded, 0);
  // A known leecher that completes: counted once.
  ok(t.announce(req({ port: 3, left: 10 })));
  r = ok(t.announce(req({ port: 3, left: 0, event: AnnounceEvent.Completed })));
  assert.equal(r.downloaded, 1);
  // A duplicate completed from a peer that is already a seeder: not counted.
  r = ok(t.announce(req({ port: 3, left: 0, event: AnnounceEvent.Completed })));
  assert.equal(r.downloaded, 1);
  // completed with left > 0: not counted.
  ok(t.announce(req({ port: 4, left: 10 })));
  r = ok(t.announce(req({ port: 4, left: 5, event: AnnounceEvent.Completed })));
  assert.equal(r.downloaded, 1);
  assert.deepEqual([r.complete, r.incomplete], [3, 1]);
});

Deno.test("a peer moving between leecher and seeder keeps the counters exact", () => {
  const t = tracker();
  ok(t.announce(req({ port: 1, left: 10 })));
  let r = ok(t.announce(req({ port: 1, left: 0 })));
  assert.deepEqual([r.complete, r.incomplete], [1, 0]);
  r = ok(t.announce(req({ port: 1, left: 7 })));
  assert.deepEqual([r.complete, r.incomplete], [0, 1]);
});

Deno.test("stopped removes the peer and returns no peers", () => {
  const t = tracker();
  ok(t.announce(req({ port: 1 })));
  ok(t.announce(req({ port: 2 })));
  const r = ok(t.announce(req({ port: 1, event: AnnounceEvent.Stopped })));
  assert.equal(r.peers4.length, 0);
  assert.deepEqual([r.complete, r.incomplete], [0, 1]);
  assert.equal(t.get(HASH)!.swarm.size, 1);
  // Stopping an unknown peer is harmless.
  ok(t.announce(req({ port: 99, event: AnnounceEvent.Stopped })));
  assert.equal(t.get(HASH)!.swarm.size, 1);
});

Deno.test("the requester and peers using its peer id are never returned to it", () => {
  const t = tracker();
  ok(t.announce(req({ port: 1, peerId: "A".repeat(20) })));
  ok(t.announce(req({ port: 2, peerId: "B".repeat(20) })));
  // Same peer id as port 1, other port: port 1 must be hidden from it, and itself too.
  const r = ok(t.announce(req({ port: 3, peerId: "A".repeat(20) }), true));
  assert.deepEqual(ports4(r), [2]);
  assert.deepEqual(r.peerIds, ["B".repeat(20)]);
});

Deno.test("numwant: default, clamp to [min, max], explicit 0", () => {
  const t = tracker({ minNumwant: 5, maxNumwant: 10 });
  for (let p = 1; p <= 30; p++) ok(t.announce(req({ port: p })));
  assert.equal(ok(t.announce(req({ port: 1 }))).peers4.length / 6, 5); // -1: default = min
  assert.equal(ok(t.announce(req({ port: 1, numwant: 2 }))).peers4.length / 6, 5);
  assert.equal(ok(t.announce(req({ port: 1, numwant: 8 }))).peers4.length / 6, 8);
  assert.equal(ok(t.announce(req({ port: 1, numwant: 500 }))).peers4.length / 6, 10);
  assert.equal(ok(t.announce(req({ port: 1, numwant: 0 }))).peers4.length, 0);
});

Deno.test("successive announces rotate through a large swarm", () => {
  const t = tracker({ minNumwant: 10, maxNumwant: 10 });
  for (let p = 1; p <= 100; p++) ok(t.announce(req({ port: p })));
  const seen = new Set<number>();
  for (let i = 0; i < 10; i++) {
    for (const p of ports4(ok(t.announce(req({ port: 1000 }))))) seen.add(p);
  }
  // Ten announces of ten peers each cover (nearly) the whole swarm, not the same ten.
  assert.ok(seen.size >= 90, `only ${seen.size} distinct peers seen`);
});

Deno.test("IPv4 requesters get no IPv6 peers unless they ask; IPv6 requesters get both", () => {
  const t = tracker();
  ok(t.announce(req({ port: 1, ip: "10.0.0.2" })));
  ok(t.announce(req({ port: 2, ip: "2001:db8::2", want: Want.Both })));
  let r = ok(t.announce(req({ port: 3, ip: "10.0.0.3", want: Want.V4 })));
  assert.equal(r.peers4.length, 6);
  assert.equal(r.peers6.length, 0);
  r = ok(t.announce(req({ port: 4, ip: "10.0.0.4", want: Want.Both })));
  assert.equal(r.peers6.length, 18);
  r = ok(t.announce(req({ port: 5, ip: "2001:db8::5", want: Want.Both })));
  assert.ok(r.peers4.length >= 6 && r.peers6.length === 18);
  // The IPv6 entry is the address bytes then the port.
  assert.deepEqual([...r.peers6.subarray(0, 4)], [0x20, 0x01, 0x0d, 0xb8]);
  assert.deepEqual([...r.peers6.subarray(16, 18)], [0, 2]);
});

Deno.test("compact IPv4 entries are the address then the big-endian port", () => {
  const t = tracker();
  ok(t.announce(req({ ip: "192.168.1.20", port: 0x1ae1 })));
  const r = ok(t.announce(req({ port: 5 })));
  assert.deepEqual([...r.peers4], [192, 168, 1, 20, 0x1a, 0xe1]);
});

Deno.test("peers expire after the timeout, on announce and on sweep", () => {
  const clock = new FakeClock();
  const t = tracker({ peerTimeout: 100 }, clock);
  ok(t.announce(req({ port: 1 })));
  clock.advance(60);
  ok(t.announce(req({ port: 2 })));
  clock.advance(50); // port 1 silent for 110 s, port 2 for 50 s
  const r = ok(t.announce(req({ port: 3 })));
  assert.deepEqual(ports4(r), [2]);
  assert.equal(r.incomplete, 2);
  clock.advance(101);
  assert.equal(t.sweep(), 2);
  assert.equal(t.get(HASH), undefined, "an empty swarm without history is dropped in open mode");
});

Deno.test("past max-peers the peer heard from longest ago is evicted", () => {
  const clock = new FakeClock();
  const t = tracker({ maxPeers: 3 }, clock);
  for (const p of [1, 2, 3]) {
    ok(t.announce(req({ port: p })));
    clock.advance(1);
  }
  ok(t.announce(req({ port: 1 }))); // port 1 is now the freshest; port 2 the oldest
  const r = ok(t.announce(req({ port: 4, left: 0 })));
  assert.deepEqual(ports4(r).sort(), [1, 3]);
  assert.equal(t.get(HASH)!.swarm.size, 3);
  assert.deepEqual([r.complete, r.incomplete], [1, 2]);
});

Deno.test("open mode is bounded by maxTorrents; whitelist mode refuses unknown torrents", () => {
  const open = tracker({ maxTorrents: 2 });
  ok(open.announce(req({ infoHash: "a".repeat(20) })));
  ok(open.announce(req({ infoHash: "b".repeat(20) })));
  assert.deepEqual(open.announce(req({ infoHash: "c".repeat(20) })), { failure: FAILURE.full });
  assert.equal(open.size, 2);

  const closed = tracker({ open: false });
  assert.deepEqual(closed.announce(req()), { failure: FAILURE.notFound });
  closed.addTorrent(HASH, { name: "x", length: 1, version: 1, fullHash: HASH });
  ok(closed.announce(req()));
  assert.equal(closed.size, 1);
});

Deno.test("addTorrent keeps the swarm of a torrent that is already tracked; remove frees it", () => {
  const t = tracker({ open: false });
  t.addTorrent(HASH, { name: "one", length: 1, version: 1, fullHash: HASH });
  ok(t.announce(req({ port: 1 })));
  t.addTorrent(HASH, { name: "renamed", length: 1, version: 1, fullHash: HASH });
  assert.equal(t.get(HASH)!.swarm.size, 1);
  assert.equal(t.get(HASH)!.info!.name, "renamed");
  assert.equal(t.removeTorrent(HASH), true);
  assert.equal(t.removeTorrent(HASH), false);
  assert.deepEqual(t.announce(req({ port: 1 })), { failure: FAILURE.notFound });
});

Deno.test("scrape returns counters in request order, undefined for unknown torrents", () => {
  const t = tracker();
  ok(t.announce(req({ port: 1, left: 0 })));
  ok(t.announce(req({ port: 2, left: 3 })));
  const [known, unknown] = t.scrape([HASH, "z".repeat(20)]);
  assert.deepEqual(
    { complete: known!.complete, incomplete: known!.incomplete, downloaded: known!.downloaded },
    { complete: 1, incomplete: 1, downloaded: 0 },
  );
  assert.equal(unknown, undefined);
});

Deno.test("announce work does not depend on swarm size: only numwant peers are touched", () => {
  const t = tracker({ maxPeers: 200_000 });
  for (let p = 0; p < 50_000; p++) {
    ok(t.announce(req({ port: p % 65536, ip: `10.1.${p >> 8 & 255}.${p & 255}` })));
  }
  const swarm = t.get(HASH)!.swarm;
  assert.equal(swarm.size, 50_000);
  // Count how many peers one announce copies: exactly numwant, whatever the swarm size.
  const r = ok(t.announce(req({ port: 7, numwant: 50 }), true));
  assert.equal(r.peers4.length / 6, 50);
  assert.equal(r.peerIds.length, 50);
});
