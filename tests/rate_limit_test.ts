import { strict as assert } from "node:assert/strict";
import { addressKey, RateLimiter } from "../src/admission/rate_limiter.ts";
import { parseUdpReply } from "../src/protocol/udp_packet.ts";
import { freePort, httpBase, startTestHefur } from "./helpers.ts";
import {
  failureOf,
  httpAnnounce,
  httpScrape,
  UdpClient,
  udpStartedAnnounce,
  WsClient,
} from "./support/clients.ts";

const HASH = "\x5a".repeat(20);

Deno.test("addressKey: IPv4 as is, IPv6 by its /64 whatever the compression", () => {
  assert.equal(addressKey("203.0.113.9"), "203.0.113.9");
  const same = [
    "2001:db8:1:2:3:4:5:6",
    "2001:db8:1:2::",
    "2001:db8:1:2::9",
    "2001:db8:1:2:ffff:ffff:ffff:ffff",
  ];
  for (const ip of same) assert.equal(addressKey(ip), "2001:db8:1:2", ip);
  assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0");
  assert.equal(addressKey("2001:db8:0:0:1::"), "2001:db8:0:0");
  assert.equal(addressKey("fe80::1:2:3:4:5"), "fe80:0:0:1");
  assert.equal(addressKey("::"), "0:0:0:0");
  assert.equal(addressKey("::ffff:1.2.3.4"), "0:0:0:0");
  assert.equal(addressKey("64:ff9b::1.2.3.4"), "64:ff9b:0:0");
  assert.notEqual(addressKey("2001:db8:1:2::1"), addressKey("2001:db8:1:3::1"));
});

Deno.test("RateLimiter: a burst, then the rate; each address and /64 on its own", () => {
  let now = 0;
  const limiter = new RateLimiter({ perMinute: 60, burst: 3, maxAddresses: 100 }, () => now);
  for (let i = 0; i < 3; i++) assert.equal(limiter.take("10.0.0.1"), 0);
  assert.equal(limiter.take("10.0.0.1"), 1, "one token a second: retry in 1 s");
  assert.equal(limiter.take("10.0.0.2"), 0, "another address has its own bucket");
  now += 500;
  assert.equal(limiter.take("10.0.0.1"), 1, "half a token is not a token");
  now += 500;
  assert.equal(limiter.take("10.0.0.1"), 0);
  assert.equal(limiter.limited, 2);
  // One /64 shares a bucket.
  for (let i = 0; i < 3; i++) assert.equal(limiter.take(`2001:db8:1:2::${i + 1}`), 0);
  assert.ok(limiter.take("2001:db8:1:2:aaaa::1") > 0);
  assert.equal(limiter.take("2001:db8:1:3::1"), 0);
  // Slower rates give longer waits.
  const slow = new RateLimiter({ perMinute: 2, burst: 1, maxAddresses: 10 }, () => now);
  assert.equal(slow.take("10.0.0.1"), 0);
  assert.equal(slow.take("10.0.0.1"), 30);
  // Off: never refuses, keeps nothing.
  const off = new RateLimiter({ perMinute: 0, burst: 1, maxAddresses: 10 }, () => now);
  for (let i = 0; i < 100; i++) assert.equal(off.take("10.0.0.1"), 0);
  assert.equal(off.size, 0);
});

Deno.test("RateLimiter: memory is bounded however many addresses come", () => {
  let now = 0;
  const limiter = new RateLimiter({ perMinute: 60, burst: 5, maxAddresses: 256 }, () => now);
  for (let i = 0; i < 100_000; i++) {
    limiter.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    if (i % 1000 === 0) now += 10;
    assert.ok(limiter.size <= 256);
  }
  assert.ok(limiter.evicted > 0, "busy buckets went when there was no idle one");
  // Once they have all refilled, a sweep gives the memory back.
  now += 60_000;
  limiter.sweep();
  assert.equal(limiter.size, 0);
  // A full table of idle buckets makes room by dropping idle ones, not busy ones.
  for (let i = 0; i < 256; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`);
  for (let i = 0; i < 5; i++) limiter.take("192.0.2.1"); // busy: its burst is spent
  now += 60_000;
  const evicted = limiter.evicted;
  limiter.take("192.0.2.2");
  assert.equal(limiter.evicted, evicted, "idle buckets were enough");
});

Deno.test("HTTP: announces and scrapes past their rate are refused with the wait (BEP 31)", async () => {
  await using hefur = await startTestHefur({
    announceBurst: 3,
    announceRate: 1,
    scrapeBurst: 2,
    scrapeRate: 1,
    // Counts are read right after each change.
    pageCache: 0,
    pageRenderBudget: 0,
  });
  const base = httpBase(hefur);
  for (let i = 0; i < 3; i++) {
    const ok = await httpAnnounce(base, { infoHash: HASH, port: 7000 + i, event: "started" });
    assert.equal(failureOf(ok), undefined);
  }
  const limited = await httpAnnounce(base, { infoHash: HASH, port: 7010, event: "started" });
  assert.match(
    failureOf(limited)!,
    /^rate limited: too many announces from your address; retry in \d+ s$/,
  );
  assert.equal(limited.get("retry in"), 1, "BEP 31: whole minutes");
  // Scrapes have their own bucket.
  for (let i = 0; i < 2; i++) assert.equal(failureOf(await httpScrape(base, HASH)), undefined);
  assert.match(failureOf(await httpScrape(base, HASH))!, /too many scrapes/);

  // Counted: the JSON API and the metrics say what was limited.
  const stats = await (await fetch(`${base}/api/stats.json`)).json();
  assert.deepEqual(stats.tracker.refused, {
    requests: 0,
    denied: 0,
    announces_rate_limited: 1,
    scrapes_rate_limited: 1,
  });
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^hefur_admission_refused_total\{reason="announce_rate"\} 1$/m);
  assert.match(metrics, /^hefur_admission_refused_total\{reason="scrape_rate"\} 1$/m);
  assert.match(
    metrics,
    /^hefur_rate_limit_buckets 3$/m,
    "one address, three kinds: announce, scrape and page",
  );
});

Deno.test("UDP: an announce past the rate gets an error packet no larger than the request", async () => {
  await using hefur = await startTestHefur({
    httpPort: 0,
    udpPort: freePort("udp"),
    announceBurst: 2,
    announceRate: 1,
  });
  using client = new UdpClient(hefur.udp!.addr.port);
  const id = await client.connect();
  assert.ok(Array.isArray(id));
  const request = (port: number) =>
    udpStartedAnnounce(id, {
      transactionId: port,
      infoHash: HASH,
      peerId: `-TT0001-${port}`.padEnd(20, "x"),
      left: 10,
      port,
    });
  for (const port of [7001, 7002]) {
    assert.equal(parseUdpReply(await client.exchange(request(port))).kind, "announce");
  }
  const bytes = request(7003);
  const raw = await client.exchange(bytes);
  assert.ok(raw.length <= bytes.length);
  const reply = parseUdpReply(raw);
  assert.equal(reply.kind, "error");
  assert.equal(reply.transactionId, 7003);
  if (reply.kind === "error") assert.match(reply.message, /^rate limited: .*retry in \d+ s$/);
  assert.equal(hefur.udp!.counters.refused, 1);
  assert.equal(hefur.admission.counters.announcesLimited, 1);
});

Deno.test("WebSocket: announces past the rate get a failure; HTTP and WebSocket share the bucket", async () => {
  await using hefur = await startTestHefur({ announceBurst: 2, announceRate: 1 });
  const base = httpBase(hefur);
  assert.equal(
    failureOf(await httpAnnounce(base, { infoHash: HASH, port: 7000, event: "started" })),
    undefined,
  );
  const ws = await WsClient.open(`ws://127.0.0.1:${hefur.http!.addr.port}/announce`);
  try {
    const msg = (peer: string) => ({
      action: "announce",
      info_hash: HASH,
      peer_id: peer.padEnd(20, "p"),
      numwant: 0,
      left: 10,
      event: "started",
      offers: [],
    });
    ws.send(msg("a"));
    assert.equal((await ws.next())["failure reason"], undefined);
    ws.send(msg("b"));
    const refused = await ws.next();
    assert.match(String(refused["failure reason"]), /^rate limited: too many announces/);
    assert.equal(refused.info_hash, HASH);
  } finally {
    await ws.close();
  }
});
