// Replication through a real redis-server: two trackers, each answering from memory, hand out
// each other's peers; completed counts are exact and durable, a batch sent twice counts once, a
// new instance joins from the snapshot, and losing Redis never fails an announce and converges
// once it is back. Waits are for behaviour (a condition polled), never for a speed.
import assert from "node:assert/strict";
import { createClient } from "@redis/client";
import { AnnounceEvent, type AnnounceReply } from "../src/protocol/types.ts";
import { Tracker, type TrackerOptions } from "../src/tracker/tracker.ts";
import {
  Replication,
  type ReplicationOptions,
  StoreConnectError,
} from "../src/tracker/replication.ts";
import {
  ChangeBatch,
  ChangeKind,
  ChangeReader,
  decodeCompletions,
  encodeCompletions,
} from "../src/tracker/change_batch.ts";
import { PUBLISH_SCRIPT } from "../src/tracker/redis_scripts.ts";
import { parseStoreSpec, redactStoreUrl, StoreUrlError } from "../src/tracker/store_url.ts";
import { hasRedis, RedisServer } from "./support/redis_server.ts";
import { HASH, ok, req } from "./support/announce_requests.ts";

const ignore = !hasRedis;

/** Ports of the IPv4 peers of a reply. */
function ports4(r: AnnounceReply): number[] {
  const out = [];
  for (let i = 0; i < r.peers4.length; i += 6) out.push(r.peers4[i + 4] * 256 + r.peers4[i + 5]);
  return out.sort((a, b) => a - b);
}

/** A tracker replicated through `server`, with short timings so that tests do not wait long. */
async function instance(
  server: RedisServer,
  options: Partial<TrackerOptions> = {},
  replication: Partial<ReplicationOptions> = {},
) {
  const tracker = new Tracker(options);
  const url = server.url;
  const r = await Replication.start(url, redactStoreUrl(url), tracker, {
    flushMs: 20,
    maxReconnectDelayMs: 100,
    connectTimeoutMs: 1000,
    joinTimeoutMs: 5000,
    timeoutMs: 1000,
    snapshotEveryMs: 200,
    ...replication,
  });
  return Object.assign(r, { tracker, [Symbol.asyncDispose]: () => r.close() });
}

/** Polls `check` every 20 ms until it holds (at most `ms`, then fails with `what`). */
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`never happened: ${what}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

/** The ports a fresh peer of `tracker` is handed (numwant 50). */
function handedOut(tracker: Tracker, infoHash = HASH): number[] {
  return ports4(ok(tracker.announce(req({ infoHash, port: 60000, numwant: 50 }))));
}

function swarmOf(tracker: Tracker, infoHash = HASH) {
  const s = tracker.get(infoHash)?.swarm;
  return s === undefined ? undefined : [s.complete, s.incomplete, s.downloaded];
}

Deno.test("change records: upserts and removals read back as written", () => {
  const tracker = new Tracker();
  const batch = new ChangeBatch(128);
  tracker.changes = batch;
  ok(tracker.announce(req({ port: 1, left: 7, uploaded: 3, downloaded: 2 })));
  ok(tracker.announce(req({ port: 2, ip: "2001:db8::1", left: 0 })));
  ok(tracker.announce(req({ port: 1, event: AnnounceEvent.Stopped })));
  assert.equal(batch.count, 3);
  const { records } = batch.take();
  assert.equal(batch.count, 0);
  const r = new ChangeReader();
  r.reset(records);
  assert.ok(r.next());
  assert.deepEqual(
    [r.kind, r.infoHash, r.port, r.peerId, r.left, r.uploaded, r.downloaded, r.age],
    [ChangeKind.Upsert4, HASH, 1, "peer1".padEnd(20, "-"), 7, 3, 2, 0],
  );
  assert.deepEqual([...r.wire.subarray(0, 6)], [10, 0, 0, 1, 0, 1]);
  assert.ok(r.next());
  assert.deepEqual([r.kind, r.v6, r.port, r.left], [ChangeKind.Upsert6, true, 2, 0]);
  assert.ok(r.next());
  assert.deepEqual([r.kind, r.port, r.upsert], [ChangeKind.Remove4, 1, false]);
  assert.ok(!r.next());
  // A truncated record is an error, not a wrong peer.
  r.reset(records.subarray(0, 40));
  assert.throws(() => r.next(), RangeError);
  const c = new Map([[HASH, 3], ["x".repeat(20), 1]]);
  assert.deepEqual(decodeCompletions(encodeCompletions(c)), c);
});

Deno.test("change records: a full batch is handed over before its buffer grows past the bound", () => {
  let taken = 0;
  const batch: ChangeBatch = new ChangeBatch(256, 1024, () => taken += batch.take().count);
  const tracker = new Tracker();
  tracker.changes = batch;
  for (let p = 1; p <= 100; p++) ok(tracker.announce(req({ port: p })));
  assert.equal(taken + batch.count, 100);
  assert.ok(taken > 0);
  assert.ok(batch.byteLength <= 1024);
});

Deno.test("change records: early announces record nothing; completions are counted apart", () => {
  let clock = 0;
  const tracker = new Tracker({
    earlyAnnounces: "counts",
    minAnnounceInterval: 60,
    clock: () => clock,
  });
  const batch = new ChangeBatch();
  tracker.changes = batch;
  ok(tracker.announce(req({ port: 1, left: 5 })));
  ok(tracker.announce(req({ port: 1, left: 5 })));
  assert.equal(batch.count, 1, "an early announce changed nothing and records nothing");
  clock += 61_000;
  ok(tracker.announce(req({ port: 1, left: 0, event: AnnounceEvent.Completed })));
  assert.equal(batch.count, 2);
  assert.deepEqual([...batch.completions], [[HASH, 1]]);
});

Deno.test({
  name: "replication: a malformed batch is logged and skipped; the next ones still apply",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using a = await instance(server);
    await using b = await instance(server);
    const raw = createClient({ url: server.url });
    await raw.connect();
    try {
      await raw.sendCommand([
        "XADD",
        "hefur:changes",
        "*",
        "o",
        "intruder",
        "d",
        Buffer.from([1, 2, 3, 99, 7]),
        "c",
        Buffer.from([1]),
      ]);
    } finally {
      await raw.close();
    }
    ok(b.tracker.announce(req({ port: 5 })));
    await until("a applies b's change after the bad one", () => handedOut(a.tracker).includes(5));
    assert.ok(a.stats().connected);
  },
});

Deno.test({
  name: "replication: two instances hand out each other's peers, and see them leave",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using a = await instance(server);
    await using b = await instance(server);
    assert.equal(a.status().state, "connected");
    ok(a.tracker.announce(req({ port: 1 })));
    ok(a.tracker.announce(req({ port: 2, left: 0 })));
    ok(b.tracker.announce(req({ port: 3 })));
    await until("b hands out a's peers", () => handedOut(b.tracker).join() === "1,2,3");
    await until("a hands out b's peer", () => handedOut(a.tracker).join() === "1,2,3");
    // Each counts the other's seeders and leechers (the fresh requester 60000 is a leecher).
    assert.deepEqual(swarmOf(a.tracker), [1, 3, 0]);
    // A peer that stops at a is removed at b too.
    ok(a.tracker.announce(req({ port: 1, event: AnnounceEvent.Stopped })));
    await until("b forgets the stopped peer", () => handedOut(b.tracker).join() === "2,3");
    const s = a.stats();
    assert.ok(s.connected && s.caughtUp);
    assert.ok(s.batchesOut > 0 && s.batchesIn > 0 && s.changesIn > 0);
    assert.equal(s.droppedChanges, 0);
  },
});

Deno.test({
  name: "replication: completed counts are exact on every instance and kept in Redis",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using a = await instance(server);
    await using b = await instance(server);
    for (const [t, port] of [[a.tracker, 1], [a.tracker, 2], [b.tracker, 3]] as const) {
      ok(t.announce(req({ port, left: 5, event: AnnounceEvent.Started })));
      ok(t.announce(req({ port, left: 0, event: AnnounceEvent.Completed })));
    }
    await until(
      "both count 3 completions",
      () => swarmOf(a.tracker)?.[2] === 3 && swarmOf(b.tracker)?.[2] === 3,
    );
    await a.flush();
    await b.flush();
    const raw = createClient({ url: server.url });
    await raw.connect();
    try {
      assert.equal(await raw.hGet("hefur:completed", HASH), "3");
    } finally {
      await raw.close();
    }
  },
});

Deno.test({
  name: "replication: a batch published twice (a retry) is counted and applied once",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using a = await instance(server);
    const batch = new ChangeBatch();
    const local = new Tracker();
    local.changes = batch;
    ok(local.announce(req({ port: 7, left: 5 })));
    ok(local.announce(req({ port: 7, left: 0, event: AnnounceEvent.Completed })));
    const { records } = batch.take();
    const completions = encodeCompletions(batch.completions);
    const raw = createClient({ url: server.url });
    await raw.connect();
    try {
      const send = () =>
        raw.sendCommand([
          "EVAL",
          PUBLISH_SCRIPT,
          "3",
          "hefur:batch:other:1",
          "hefur:completed",
          "hefur:changes",
          "other",
          Buffer.from(records),
          Buffer.from(completions),
          "600",
          "120000",
          HASH,
          "1",
        ]);
      assert.notEqual(await send(), null);
      assert.equal(await send(), null);
      await until("a applies the batch", () => swarmOf(a.tracker)?.[2] === 1);
      await a.flush();
      // Give a the time to read anything else there is: a second application would show.
      await raw.sendCommand(["XADD", "hefur:changes", "*", "o", "other", "d", "", "c", ""]);
      await until("a read the stream past the batch", () => a.stats().batchesIn >= 2);
      assert.deepEqual(swarmOf(a.tracker), [1, 0, 1]);
      assert.equal(await raw.hGet("hefur:completed", HASH), "1");
    } finally {
      await raw.close();
    }
  },
});

Deno.test({
  name: "replication: a new instance starts from the snapshot and the stream, then answers",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using a = await instance(server, {}, { snapshotEveryMs: 3_600_000 });
    for (let p = 1; p <= 20; p++) ok(a.tracker.announce(req({ port: p })));
    ok(a.tracker.announce(req({ port: 1, left: 0, event: AnnounceEvent.Completed })));
    await a.flush();
    await until("a read its own batches", () => a.stats().batchesOut > 0);
    await new Promise((ok) => setTimeout(ok, 100));
    assert.ok(await a.writeSnapshot());
    // The stream forgets what the snapshot holds: peers 1 to 20 can come from the snapshot only.
    const raw = createClient({ url: server.url });
    await raw.connect();
    try {
      const pos = await raw.hGet("hefur:snapshot", "pos");
      assert.ok(pos !== null && pos !== "0-0", `snapshot position ${pos}`);
      await raw.sendCommand(["XTRIM", "hefur:changes", "MINID", pos]);
      await raw.sendCommand(["XDEL", "hefur:changes", pos]);
      assert.equal(await raw.xLen("hefur:changes"), 0);
    } finally {
      await raw.close();
    }
    // And peer 21 from the stream only.
    ok(a.tracker.announce(req({ port: 21 })));
    await a.flush();
    await using b = await instance(server);
    // Caught up when start() resolved: b answers with every peer at once.
    assert.ok(b.stats().caughtUp);
    const ports = handedOut(b.tracker);
    assert.equal(ports.length, 21);
    assert.deepEqual(swarmOf(b.tracker), [1, 21, 1]);
    // Peers learned from the snapshot keep their age: /peers shows when they last announced.
    const view = b.tracker.peersOf(HASH, 50)!;
    assert.ok(view.peers.every((p) => p.lastSeen <= view.now));
  },
});

Deno.test({
  name: "replication: peers learned from another instance expire by their own last announce",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    const clockA = 0;
    let clockB = 0;
    await using a = await instance(server, { clock: () => clockA, peerTimeout: 60 });
    await using b = await instance(server, { clock: () => clockB, peerTimeout: 60 });
    ok(a.tracker.announce(req({ port: 1 })));
    await until("b learns the peer", () => b.tracker.get(HASH)?.swarm.size === 1);
    clockB += 59_000;
    assert.equal(b.tracker.sweep(), 0);
    clockB += 2_000;
    assert.equal(b.tracker.sweep(), 1);
  },
});

Deno.test({
  name: "replication: Redis lost and back: no announce fails, changes wait, both converge",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using a = await instance(server);
    await using b = await instance(server);
    ok(a.tracker.announce(req({ port: 1 })));
    await until("b learns a's first peer", () => handedOut(b.tracker).includes(1));
    await server.kill();
    await until("a sees Redis gone", () => !a.stats().connected);
    assert.equal(a.status().state, "reconnecting");
    // Announces are answered from memory while Redis is away.
    for (let p = 2; p <= 50; p++) ok(a.tracker.announce(req({ port: p })));
    for (let p = 101; p <= 150; p++) ok(b.tracker.announce(req({ port: p })));
    ok(a.tracker.announce(req({ port: 2, left: 0, event: AnnounceEvent.Completed })));
    await until("a queues its changes", () => a.stats().queuedBatches > 0);
    assert.ok(a.stats().lagSeconds >= 0);
    await server.start();
    await until("both reconnect", () => a.stats().connected && b.stats().connected);
    const want = (from: number, to: number) => {
      const out = [];
      for (let p = from; p <= to; p++) out.push(p);
      return out;
    };
    await until("b hands out a's peers again", () => {
      const s = b.tracker.get(HASH)!.swarm;
      return s.size >= 50 + 50 + 1;
    });
    await until("a has b's peers", () => a.tracker.get(HASH)!.swarm.size >= 101);
    const seenAtB = new Set(ports4(ok(b.tracker.announce(req({ port: 60001, numwant: 100 })))));
    for (const p of want(1, 50)) assert.ok(seenAtB.has(p), `b lacks a's peer ${p}`);
    assert.equal(swarmOf(b.tracker)?.[2], 1);
    assert.equal(a.stats().droppedChanges, 0);
    assert.ok(a.stats().resends > 0);
  },
});

Deno.test({
  name: "replication: past its bound the queue drops changes (counted); a resend converges",
  ignore,
  async fn() {
    await using server = await RedisServer.start();
    await using a = await instance(server, {}, { maxQueuedBytes: 2000 });
    await using b = await instance(server);
    await server.kill();
    await until("a sees Redis gone", () => !a.stats().connected);
    for (let p = 1; p <= 200; p++) ok(a.tracker.announce(req({ port: p })));
    await until("a drops what does not fit", () => a.stats().droppedChanges > 0);
    assert.ok(a.stats().queuedBytes <= 2000);
    await server.start();
    await until("b gets all 200 peers", () => b.tracker.get(HASH)?.swarm.size === 200);
  },
});

Deno.test({
  name: "replication: Redis unreachable at start is not fatal; refused credentials are",
  ignore,
  async fn() {
    await using server = await RedisServer.start("right-password");
    const bad = server.url.replace("right-password", "wrong");
    const err = await Replication.start(bad, redactStoreUrl(bad), new Tracker(), {
      connectTimeoutMs: 1000,
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof StoreConnectError, String(err));
    assert.ok(!err.message.includes("wrong") && !err.message.includes("right"), err.message);
    await server.kill();
    const tracker = new Tracker();
    const r = await Replication.start(server.url, "down", tracker, {
      connectTimeoutMs: 200,
      joinTimeoutMs: 200,
      maxReconnectDelayMs: 100,
      flushMs: 20,
    });
    try {
      ok(tracker.announce(req({ port: 1 })));
      assert.equal(r.stats().connected, false);
      await server.start();
      await until("it connects and catches up later", () => r.stats().caughtUp, 10_000);
    } finally {
      await r.close();
    }
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
