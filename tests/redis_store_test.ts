// The Redis store against a real redis-server: the rules of the in-memory core (completion,
// expiry, eviction, numwant, exclusions, modes), exact counters under concurrent announces from
// two stores, completed counts that outlive the instances, faults, and redaction.
import assert from "node:assert/strict";
import { createClient } from "@redis/client";
import {
  AnnounceEvent,
  type AnnounceReply,
  type AnnounceResult,
  isFailure,
  Want,
} from "../src/protocol/types.ts";
import { FAILURE, Tracker, type TrackerOptions } from "../src/tracker/tracker.ts";
import { RedisStore, StoreConnectError } from "../src/tracker/redis_store.ts";
import { StoreUnavailableError } from "../src/tracker/store.ts";
import { parseStoreSpec, redactStoreUrl, StoreUrlError } from "../src/tracker/store_url.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import { hasRedis, RedisServer } from "./support/redis_server.ts";
import { freePort } from "./helpers.ts";
import { HASH, ok, req } from "./support/announce_requests.ts";

const ignore = !hasRedis;

function counts(r: AnnounceReply): [number, number, number] {
  return [r.complete, r.incomplete, r.downloaded];
}

/** Ports of the IPv4 peers of a reply. */
function ports4(r: AnnounceReply): number[] {
  const out = [];
  for (let i = 0; i < r.peers4.length; i += 6) out.push(r.peers4[i + 4] * 256 + r.peers4[i + 5]);
  return out.sort((a, b) => a - b);
}

/** A store on `server` with a fresh local tracker; `db` keeps tests of one server apart. */
async function store(server: RedisServer, options: Partial<TrackerOptions> = {}, db = 0) {
  const registry = new Tracker(options);
  const url = `${server.url}/${db}`;
  const s = await RedisStore.connect(url, redactStoreUrl(url), registry, { timeoutMs: 1000 });
  return Object.assign(s, { registry, [Symbol.asyncDispose]: () => s.close() });
}

/** Moves every peer of the torrent (and its expiry entry) `seconds` into the past. */
async function age(server: RedisServer, infoHash: string, seconds: number, db = 0) {
  const raw = createClient({ url: `${server.url}/${db}` });
  await raw.connect();
  try {
    const hex = binaryToHex(infoHash);
    await raw.sendCommand([
      "EVAL",
      `for k = 1, 2 do
         for _, m in ipairs(redis.call('ZRANGE', KEYS[k], 0, -1)) do
           redis.call('ZINCRBY', KEYS[k], -tonumber(ARGV[1]), m)
         end
       end
       if redis.call('ZSCORE', KEYS[3], ARGV[2]) then
         redis.call('ZINCRBY', KEYS[3], -tonumber(ARGV[1]), ARGV[2])
       end`,
      "3",
      `hefur:${hex}:4`,
      `hefur:${hex}:6`,
      "hefur:expiry",
      String(seconds),
      hex,
    ]);
  } finally {
    await raw.close();
  }
}

Deno.test({
  name: "redis: counters, the completion rule and stopped, as in memory",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using s = await store(server);
    let r = ok(await s.announce(req({ port: 1, left: 5, event: AnnounceEvent.Started })));
    assert.deepEqual(counts(r), [0, 1, 0]);
    r = ok(await s.announce(req({ port: 2, left: 0 })));
    assert.deepEqual(counts(r), [1, 1, 0]);
    // A known leecher that completes counts once, however often it says so.
    r = ok(await s.announce(req({ port: 1, left: 0, event: AnnounceEvent.Completed })));
    assert.deepEqual(counts(r), [2, 0, 1]);
    r = ok(await s.announce(req({ port: 1, left: 0, event: AnnounceEvent.Completed })));
    assert.deepEqual(counts(r), [2, 0, 1]);
    // A peer first seen with completed (it was never a leecher here) does not count.
    r = ok(await s.announce(req({ port: 3, left: 0, event: AnnounceEvent.Completed })));
    assert.deepEqual(counts(r), [3, 0, 1]);
    // left=0 without the event is a seeder, not a completion.
    ok(await s.announce(req({ port: 4, left: 9 })));
    r = ok(await s.announce(req({ port: 4, left: 0 })));
    assert.deepEqual(counts(r), [4, 0, 1]);
    // Stopped removes the peer and gives it no peers.
    r = ok(await s.announce(req({ port: 2, left: 0, event: AnnounceEvent.Stopped })));
    assert.deepEqual(counts(r), [3, 0, 1]);
    assert.equal(r.peers4.length, 0);
    // Stopped from an unknown peer changes nothing.
    r = ok(await s.announce(req({ port: 99, event: AnnounceEvent.Stopped })));
    assert.deepEqual(counts(r), [3, 0, 1]);
    assert.deepEqual(await s.scrape([HASH, "x".repeat(20)]), [
      { complete: 3, incomplete: 0, downloaded: 1 },
      undefined,
    ]);
    assert.equal(s.counters.announces, 9);
    assert.equal(s.counters.scrapes, 1);
  },
});

Deno.test({
  name: "redis: early announces get counters only (counts) or a failure (refuse), as in memory",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    for (const policy of ["counts", "refuse", "off"] as const) {
      await using s = await store(
        server,
        { earlyAnnounces: policy, minAnnounceInterval: 60 },
        ["counts", "refuse", "off"].indexOf(policy),
      );
      for (let p = 1; p <= 3; p++) await s.announce(req({ port: p, event: AnnounceEvent.Started }));
      const early = await s.announce(req({ port: 1 }));
      if (policy === "off") {
        assert.equal(ok(early).peers4.length, 2 * 6);
        assert.equal(s.counters.early, 0);
        continue;
      }
      assert.equal(s.counters.early, 1);
      if (policy === "refuse") {
        assert.match((early as { failure: string }).failure, /wait at least 60 s/);
      } else {
        assert.deepEqual(counts(ok(early)), [0, 3, 0]);
        assert.equal(ok(early).peers4.length, 0);
      }
      // Events, and a change between leecher and seeder, are always served.
      assert.equal(
        ok(await s.announce(req({ port: 1, event: AnnounceEvent.Started }))).peers4
          .length,
        2 * 6,
      );
      assert.deepEqual(counts(ok(await s.announce(req({ port: 1, left: 0 })))), [1, 2, 0]);
      // Once the interval has passed, a plain announce is served again.
      await age(server, HASH, 61, ["counts", "refuse", "off"].indexOf(policy));
      assert.equal(ok(await s.announce(req({ port: 2 }))).peers4.length, 2 * 6);
      assert.equal(s.counters.early, 1);
    }
  },
});

Deno.test({
  name: "redis: the requester never gets itself, by address or by peer id",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using s = await store(server);
    for (let p = 1; p <= 5; p++) await s.announce(req({ port: p }));
    // The same peer id from another port (a client that restarted) is left out too.
    await s.announce(req({ port: 6, peerId: "peer1".padEnd(20, "-") }));
    for (let round = 0; round < 10; round++) {
      const r = ok(await s.announce(req({ port: 1 }), true));
      assert.deepEqual(ports4(r), [2, 3, 4, 5]);
      assert.ok(!r.peerIds.includes("peer1".padEnd(20, "-")));
      assert.equal(r.peerIds.length, 4);
    }
  },
});

Deno.test({
  name: "redis: numwant is clamped to [min, max]; 0 gets none, -1 gets the minimum",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using s = await store(server, { minNumwant: 3, maxNumwant: 5 });
    for (let p = 1; p <= 10; p++) await s.announce(req({ port: p }));
    const n = async (numwant: number) =>
      ok(await s.announce(req({ port: 1, numwant }))).peers4.length / 6;
    assert.equal(await n(-1), 3);
    assert.equal(await n(0), 0);
    assert.equal(await n(1), 3);
    assert.equal(await n(4), 4);
    assert.equal(await n(50), 5);
    // Different announces see different parts of the swarm.
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) {
      for (const p of ports4(ok(await s.announce(req({ port: 1, numwant: 3 }))))) seen.add(p);
    }
    assert.ok(seen.size >= 6, `only ${[...seen]} seen`);
  },
});

Deno.test({
  name: "redis: IPv6 peers: families kept apart, both shared for a dual-stack requester",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using s = await store(server, { minNumwant: 4, maxNumwant: 4 });
    for (let p = 1; p <= 3; p++) await s.announce(req({ port: p, ip: "10.0.0.2" }));
    for (let p = 1; p <= 3; p++) await s.announce(req({ port: p, ip: "2001:db8::2" }));
    const v4 = ok(await s.announce(req({ port: 9, ip: "10.0.0.9", want: Want.V4 })));
    assert.equal(v4.peers4.length, 4 * 6 - 6);
    assert.equal(v4.peers6.length, 0);
    const v6 = ok(await s.announce(req({ port: 9, ip: "2001:db8::9", want: Want.V6 })));
    assert.equal(v6.peers6.length, 3 * 18);
    assert.equal(v6.peers4.length, 0);
    // Both: the budget is shared (2 and 2), the requester left out of its own family.
    const both = ok(await s.announce(req({ port: 9, ip: "2001:db8::9", want: Want.Both })));
    assert.equal(both.peers4.length / 6 + both.peers6.length / 18, 4);
    assert.equal(both.peers6.length, 2 * 18);
    assert.equal(
      both.peers6.subarray(0, 16).join(","),
      [
        0x20,
        0x01,
        0x0d,
        0xb8,
        ...new Array(11).fill(0),
        2,
      ].join(","),
    );
    assert.deepEqual(counts(both), [0, 8, 0]);
  },
});

Deno.test({
  name: "redis: silent peers expire on the next announce and in the sweep",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using s = await store(server, { peerTimeout: 600 });
    await s.announce(req({ port: 1, left: 0 }));
    await s.announce(req({ port: 2 }));
    await age(server, HASH, 599);
    let r = ok(await s.announce(req({ port: 3 })));
    assert.deepEqual(counts(r), [1, 2, 0], "nothing expires before its time");
    await age(server, HASH, 2);
    // Port 3 is now 2 s old, ports 1 and 2 601 s: they go.
    r = ok(await s.announce(req({ port: 4 })));
    assert.deepEqual(counts(r), [0, 2, 0]);
    assert.deepEqual(ports4(r), [3]);

    // The sweep expires a swarm nobody announces to; in open mode an empty swarm with no
    // completion stops being tracked.
    const other = "O".repeat(20);
    await s.announce(req({ infoHash: other, port: 5 }));
    await age(server, other, 700);
    assert.equal((await s.listing()).size, 2);
    assert.equal(await s.sweep(), 1);
    assert.deepEqual(await s.scrape([other]), [undefined]);
    const stale = await s.listing();
    assert.equal(stale.size, 2, "pages reuse the counts for a moment");
    await new Promise((ok) => setTimeout(ok, 2100));
    const listing = await s.listing();
    assert.deepEqual([...listing.torrents].map((t) => t.infoHash), [HASH]);
  },
});

Deno.test({
  name: "redis: past --max-peers the peer heard from longest ago goes, never the requester",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using s = await store(server, { maxPeers: 3 });
    await s.announce(req({ port: 1, left: 0 }));
    await age(server, HASH, 30);
    await s.announce(req({ port: 2 }));
    await s.announce(req({ port: 3 }));
    let r = ok(await s.announce(req({ port: 4 })));
    assert.deepEqual(ports4(r), [2, 3], "port 1 was the oldest");
    assert.deepEqual(counts(r), [0, 3, 0]);
    // All of the same second: still three, and the newcomer is one of them.
    for (let p = 5; p <= 8; p++) {
      r = ok(await s.announce(req({ port: p })));
      assert.equal(r.peers4.length, 2 * 6);
      assert.deepEqual(counts(r), [0, 3, 0]);
    }
    const view = await s.peersOf(HASH, 10);
    assert.equal(view?.total, 3);
    assert.ok(view!.peers.some((p) => p.port === 8));
  },
});

Deno.test({
  name: "redis: open mode bounds the torrents; whitelist mode knows only its own",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    {
      await using s = await store(server, { maxTorrents: 2 });
      ok(await s.announce(req({ infoHash: "a".repeat(20) })));
      ok(await s.announce(req({ infoHash: "b".repeat(20) })));
      assert.deepEqual(await s.announce(req({ infoHash: "c".repeat(20) })), {
        failure: FAILURE.full,
      });
      ok(await s.announce(req({ infoHash: "a".repeat(20) })));
      assert.equal(s.counters.failures, 1);
    }
    await using w = await store(server, { open: false }, 1);
    w.registry.addTorrent(HASH, { name: "t", length: 1, version: 1, fullHash: HASH });
    assert.deepEqual(await w.announce(req({ infoHash: "z".repeat(20) })), {
      failure: FAILURE.notFound,
    });
    ok(await w.announce(req()));
    assert.deepEqual(await w.scrape(["z".repeat(20), HASH]), [
      undefined,
      { complete: 0, incomplete: 1, downloaded: 0 },
    ]);
    const listing = await w.listing();
    assert.equal(listing.size, 1);
    assert.equal([...listing.torrents][0].info?.name, "t");
    assert.equal(await w.peersOf("z".repeat(20), 10), undefined);
  },
});

Deno.test({
  name: "redis: two instances announcing at once keep exact counters; completed outlives them",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    {
      await using a = await store(server);
      await using b = await store(server);
      // 200 leechers, each announcing started then completed, half through each instance, all
      // in flight together.
      const started = [];
      for (let p = 1; p <= 200; p++) {
        started.push((p % 2 ? a : b).announce(req({ port: p, event: AnnounceEvent.Started })));
      }
      await Promise.all(started);
      const completed = [];
      for (let p = 1; p <= 200; p++) {
        completed.push((p % 2 ? b : a).announce(req({ port: p, left: 0, event: 1 })));
      }
      await Promise.all(completed);
      assert.deepEqual(await a.scrape([HASH]), [{ complete: 200, incomplete: 0, downloaded: 200 }]);
      assert.deepEqual(await b.scrape([HASH]), await a.scrape([HASH]));
      const stops = [];
      for (let p = 1; p <= 200; p++) {
        stops.push((p % 2 ? a : b).announce(req({ port: p, event: AnnounceEvent.Stopped })));
      }
      await Promise.all(stops);
    }
    // Every instance is gone; a new one finds the completed count.
    await using c = await store(server);
    assert.deepEqual(await c.scrape([HASH]), [{ complete: 0, incomplete: 0, downloaded: 200 }]);
  },
});

Deno.test({
  name: "redis: /peers data: newest first, with addresses, ids and counters",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using s = await store(server);
    await s.announce(req({ port: 1, ip: "2001:db8::1", left: 0, uploaded: 7, downloaded: 8 }));
    await age(server, HASH, 10);
    await s.announce(req({ port: 2, ip: "192.0.2.2", left: 5 }));
    const view = await s.peersOf(HASH, 10);
    assert.ok(view !== undefined);
    assert.equal(view.total, 2);
    assert.deepEqual(view.torrent.swarm, { complete: 1, incomplete: 1, downloaded: 0 });
    const [newest, oldest] = view.peers;
    assert.deepEqual(
      [newest.ip, newest.port, newest.v6, newest.left, newest.peerId],
      ["192.0.2.2", 2, false, 5, "peer2".padEnd(20, "-")],
    );
    assert.deepEqual(
      [oldest.ip, oldest.port, oldest.v6, oldest.uploaded, oldest.downloaded],
      ["2001:db8::1", 1, true, 7, 8],
    );
    assert.ok(view.now - oldest.lastSeen >= 10);
    assert.equal((await s.peersOf(HASH, 1))?.peers.length, 1);
    const counted = await s.peersOf(HASH, 0);
    assert.deepEqual([counted?.total, counted?.peers.length], [2, 0]);
    assert.equal(await s.peersOf("n".repeat(20), 10), undefined);
  },
});

Deno.test({
  name: "redis: unreachable at start, or a wrong password, is a clear error without the password",
  ignore,
  async fn() {
    const dead = `redis://hefur:top%23secret@127.0.0.1:${freePort()}/0`;
    let err = await RedisStore.connect(dead, redactStoreUrl(dead), new Tracker()).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof StoreConnectError, String(err));
    assert.match(err.message, /^cannot reach the store redis:\/\/\*\*\*@127\.0\.0\.1:\d+\/0: /);
    assert.ok(!/secret|hefur:/.test(err.message), err.message);

    await using server = await RedisServer.start("right#pass");
    const wrong = `redis://:wrong-pass@127.0.0.1:${server.port}`;
    err = await RedisStore.connect(wrong, redactStoreUrl(wrong), new Tracker()).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof StoreConnectError, String(err));
    assert.match(err.message, /WRONGPASS|invalid password/i);
    assert.ok(!err.message.includes("wrong-pass"), err.message);
    // The right password (percent-encoded in the URL) gets in.
    await using s = await store(server);
    ok(await s.announce(req()));
    assert.ok(!JSON.stringify(s.status()).includes("right"));
  },
});

Deno.test("store URLs: memory, redis://, rediss://; errors and names never hold credentials", () => {
  assert.deepEqual(parseStoreSpec("memory"), { kind: "memory" });
  assert.deepEqual(parseStoreSpec("rediss://u:p%40ss@cache.example:6380/3"), {
    kind: "redis",
    url: "rediss://u:p%40ss@cache.example:6380/3",
    name: "rediss://***@cache.example:6380/3",
    db: 3,
    tls: true,
  });
  const plain = parseStoreSpec("redis://127.0.0.1:6379");
  assert.equal(plain.kind === "redis" && plain.name, "redis://127.0.0.1:6379");
  for (
    const bad of [
      "redis://user:hunter2@host:6379/notadb",
      "http://user:hunter2@host/",
      "user:hunter2@host",
      "redis://user:hunter2@host:6379/1?x=1",
      "redis://user:hun#ter2@host:6379",
      "redis://u:hunter2@/0",
    ]
  ) {
    const err = (() => {
      try {
        parseStoreSpec(bad);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof StoreUrlError, `${bad}: ${err}`);
    assert.ok(!/hunter|ter2/.test(err.message) && !/hunter|ter2/.test(err.value), err.message);
  }
  assert.equal(redactStoreUrl("redis://a:b@c@host:1/2"), "redis://***@host:1/2");
  assert.equal(redactStoreUrl("redis://:pw@host"), "redis://***@host");
  assert.equal(redactStoreUrl("u:pw@host:1"), "***@host:1");
});

Deno.test({
  name: "redis: a store lost while running fails requests with a reason, then recovers by itself",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    const registry = new Tracker();
    const url = server.url;
    const s = await RedisStore.connect(url, url, registry, {
      timeoutMs: 500,
      maxReconnectDelayMs: 200,
      listingMaxAgeMs: 0,
    });
    ok(await s.announce(req({ port: 1, left: 0 })));
    assert.equal(s.status().state, "connected");
    assert.equal((await s.listing()).size, 1);
    await server.kill();
    assert.deepEqual(await s.announce(req({ port: 2 })), { failure: FAILURE.unavailable });
    await assert.rejects(s.scrape([HASH]), StoreUnavailableError);
    await assert.rejects(s.peersOf(HASH, 10), StoreUnavailableError);
    // Pages keep the last counts they read while the store is away, and say how old they are.
    const kept = await s.listing();
    assert.deepEqual([...kept.torrents].map((t) => t.swarm), [
      { complete: 1, incomplete: 0, downloaded: 0 },
    ]);
    assert.ok(kept.ageMs > 0);
    assert.equal(s.status().state, "reconnecting");
    assert.ok(s.status().detail !== undefined);
    await server.start();
    let r: AnnounceResult = { failure: "" };
    for (let i = 0; i < 100 && isFailure(r); i++) {
      await new Promise((ok) => setTimeout(ok, 50));
      r = await s.announce(req({ port: 3 }));
    }
    // The server came back empty (no persistence): the swarm starts again.
    assert.deepEqual(counts(ok(r)), [0, 1, 0]);
    assert.equal(s.status().state, "connected");
    assert.equal(s.status().detail, undefined);
    await s.close();
  },
});
