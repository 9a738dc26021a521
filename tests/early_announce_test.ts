import { strict as assert } from "node:assert/strict";
import { AnnounceEvent, type AnnounceReply, isFailure, Want } from "../src/protocol/types.ts";
import { type EarlyAnnouncePolicy, earlyFailure, Tracker } from "../src/tracker/tracker.ts";
import { httpBase, startTestHefur } from "./helpers.ts";
import { failureOf, httpAnnounce } from "./support/clients.ts";

const HASH = "\x44".repeat(20);

function core(policy: EarlyAnnouncePolicy) {
  let clock = 0;
  const tracker = new Tracker({
    open: true,
    minAnnounceInterval: 60,
    earlyAnnounces: policy,
    clock: () => clock,
  });
  const announce = (ip: string, left: number, event = AnnounceEvent.None) =>
    tracker.announce({
      infoHash: HASH,
      peerId: ip.padEnd(20, "-"),
      ip,
      port: 6881,
      uploaded: 0,
      downloaded: 0,
      left,
      event,
      numwant: 50,
      want: Want.V4,
    });
  return { tracker, announce, advance: (s: number) => clock += s * 1000 };
}

Deno.test("early announces: counters without peers, and the interval counts from the last served", () => {
  const c = core("counts");
  c.announce("10.0.0.1", 0, AnnounceEvent.Started);
  c.announce("10.0.0.2", 10, AnnounceEvent.Started);
  c.advance(30);
  const early = c.announce("10.0.0.2", 10) as AnnounceReply;
  assert.equal(isFailure(early), false);
  assert.equal(early.peers4.length, 0, "no peers on the cheap path");
  assert.deepEqual([early.complete, early.incomplete], [1, 1], "but the counters");
  assert.equal(c.tracker.counters.early, 1);
  // 30 s later the minute since the last served announce (not the early one) is over.
  c.advance(30);
  const served = c.announce("10.0.0.2", 10) as AnnounceReply;
  assert.equal(served.peers4.length, 6);
  assert.equal(c.tracker.counters.early, 1);
});

Deno.test("early announces: events and a finished download are always served", () => {
  const c = core("refuse");
  c.announce("10.0.0.1", 0, AnnounceEvent.Started);
  c.announce("10.0.0.2", 10, AnnounceEvent.Started);
  c.advance(5);
  const done = c.announce("10.0.0.2", 0, AnnounceEvent.Completed) as AnnounceReply;
  assert.equal(isFailure(done), false);
  assert.equal(c.tracker.get(HASH)!.swarm.downloaded, 1);
  c.advance(5);
  // Seeder → seeder with no event, too soon: refused, naming the interval.
  const refused = c.announce("10.0.0.2", 0);
  assert.deepEqual(refused, { failure: earlyFailure(60) });
  // A leecher that became a seeder without saying "completed" is recorded at once.
  c.announce("10.0.0.3", 10, AnnounceEvent.Started);
  c.advance(1);
  assert.equal(isFailure(c.announce("10.0.0.3", 0)), false);
  assert.equal(c.tracker.get(HASH)!.swarm.complete, 3);
  const stopped = c.announce("10.0.0.3", 0, AnnounceEvent.Stopped);
  assert.equal(isFailure(stopped), false);
  assert.equal(c.tracker.get(HASH)!.swarm.complete, 2);
});

Deno.test("early announces: off serves everything, as the original did", () => {
  const c = core("off");
  c.announce("10.0.0.1", 0, AnnounceEvent.Started);
  c.announce("10.0.0.2", 10, AnnounceEvent.Started);
  const again = c.announce("10.0.0.2", 10) as AnnounceReply;
  assert.equal(again.peers4.length, 6);
  assert.equal(c.tracker.counters.early, 0);
});

Deno.test("live: an HTTP announce sooner than min interval gets no peers, or a failure", async () => {
  {
    await using hefur = await startTestHefur(); // default: counts
    const base = httpBase(hefur);
    await httpAnnounce(base, { infoHash: HASH, port: 7001, left: 0, event: "started" });
    await httpAnnounce(base, { infoHash: HASH, port: 7002, event: "started" });
    const early = await httpAnnounce(base, { infoHash: HASH, port: 7002 });
    assert.equal(failureOf(early), undefined);
    assert.equal((early.get("peers") as Uint8Array).length, 0);
    assert.equal(early.get("complete"), 1);
    assert.equal(early.get("min interval"), 60);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^hefur_early_announces_total 1$/m);
  }
  {
    await using hefur = await startTestHefur({ earlyAnnounces: "refuse" });
    const base = httpBase(hefur);
    await httpAnnounce(base, { infoHash: HASH, port: 7002, event: "started" });
    const early = await httpAnnounce(base, { infoHash: HASH, port: 7002 });
    assert.equal(failureOf(early), earlyFailure(60));
  }
});
