// The WebTorrent tracker: its JSON codec, the WebSocket swarms of the core, and the live server
// (Deno's own WebSocket client for well-behaved peers, raw TCP for hostile ones).
import assert from "node:assert/strict";
import {
  encodeFailure,
  encodeScrapeReply,
  parseWebTorrentMessage,
  type WebTorrentAnnounce,
  WebTorrentMessageError,
} from "../src/protocol/webtorrent.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { WS_FAILURE, WsTracker } from "../src/tracker/ws_tracker.ts";
import { encodeFrame, encodeText, FrameReader, Opcode } from "../src/protocol/websocket_frame.ts";
import { freePort, rawHttp, startTestHefur } from "./helpers.ts";
import { hasOpenssl, makeCertificates } from "./support/certificates.ts";
import { WsClient } from "./support/clients.ts";
import type { Hefur } from "../src/app.ts";

const LIMITS = { maxOffers: 10, maxScrapeTorrents: 74 };
const HASH = "\x01\xff".repeat(10);
const id = (c: string) => c.repeat(20);
const OFFER = (n: number) => ({ type: "offer", sdp: `v=0 offer ${n}` });
const ANSWER = { type: "answer", sdp: "v=0 answer" };

function announce(fields: Record<string, unknown>): string {
  return JSON.stringify({ action: "announce", info_hash: HASH, peer_id: id("a"), ...fields });
}

function refused(text: string, re: RegExp, infoHash?: string) {
  assert.throws(
    () => parseWebTorrentMessage(text, LIMITS),
    (e) => e instanceof WebTorrentMessageError && re.test(e.message) && e.infoHash === infoHash,
  );
}

// ---- codec ----

Deno.test("codec: an announce with offers, as bittorrent-tracker sends it", () => {
  const req = parseWebTorrentMessage(
    announce({
      event: "started",
      left: 100,
      numwant: 2,
      uploaded: 0,
      downloaded: 0,
      offers: [{ offer: OFFER(1), offer_id: id("1") }, { offer: OFFER(2), offer_id: id("2") }],
    }),
    LIMITS,
  ) as WebTorrentAnnounce;
  assert.equal(req.infoHash, HASH);
  assert.equal(req.event, AnnounceEvent.Started);
  assert.equal(req.left, 100);
  assert.equal(req.numwant, 2);
  assert.deepEqual(req.offers[1], {
    offerId: id("2"),
    offer: { type: "offer", sdp: "v=0 offer 2" },
  });
  assert.equal(req.answer, undefined);
});

Deno.test("codec: answers, events, unknown `left`, and only the SDP fields are kept", () => {
  const req = parseWebTorrentMessage(
    announce({
      answer: { ...ANSWER, extra: "x".repeat(10) },
      to_peer_id: id("b"),
      offer_id: id("9"),
    }),
    LIMITS,
  ) as WebTorrentAnnounce;
  assert.deepEqual(req.answer, { toPeerId: id("b"), offerId: id("9"), answer: ANSWER });
  assert.equal(req.left, undefined);
  assert.equal(req.event, AnnounceEvent.None);
  // Infinity becomes null in JSON: unknown.
  const inf = parseWebTorrentMessage(announce({ left: null, event: "completed" }), LIMITS);
  assert.equal((inf as WebTorrentAnnounce).left, undefined);
  assert.equal((inf as WebTorrentAnnounce).event, AnnounceEvent.Completed);
  // numwant never exceeds the offers given.
  const few = parseWebTorrentMessage(
    announce({ numwant: 50, offers: [{ offer: OFFER(1), offer_id: id("1") }] }),
    LIMITS,
  );
  assert.equal((few as WebTorrentAnnounce).numwant, 1);
});

Deno.test("codec: scrapes of one hash, a list, or none", () => {
  assert.deepEqual(
    parseWebTorrentMessage(JSON.stringify({ action: "scrape", info_hash: HASH }), LIMITS),
    { action: "scrape", infoHashes: [HASH] },
  );
  assert.deepEqual(
    parseWebTorrentMessage(
      JSON.stringify({ action: "scrape", info_hash: [HASH, id("z")] }),
      LIMITS,
    ),
    { action: "scrape", infoHashes: [HASH, id("z")] },
  );
  assert.deepEqual(parseWebTorrentMessage(JSON.stringify({ action: "scrape" }), LIMITS), {
    action: "scrape",
    infoHashes: [],
  });
});

Deno.test("codec: a refused value is quoted short, and never made to throw", () => {
  // Found by the fuzzer (tests/fuzz, webtorrent target): String(value) threw a TypeError for an
  // object whose toString is not a function, and sent a long list or string back whole.
  refused(JSON.stringify({ action: { toString: 1 } }), /^invalid action: an object$/);
  refused(announce({ event: { toString: 1, valueOf: 1 } }), /^invalid event: an object$/, HASH);
  refused(JSON.stringify({ action: Array(5000).fill(1) }), /^invalid action: a list$/);
  refused(announce({ event: "e".repeat(100_000) }), /^invalid event: "e{32}…"$/, HASH);
  refused(JSON.stringify({ action: 7 }), /^invalid action: 7$/);
  const left = (v: unknown) => {
    const r = parseWebTorrentMessage(announce({ left: v }), LIMITS);
    return r.action === "announce" ? r.left : "not an announce";
  };
  refused(announce({ left: { toString: 1 } }), /^invalid left: .*, got an object$/, HASH);
  refused(announce({ left: [5] }), /^invalid left: .*, got a list$/, HASH);
  assert.equal(left("12"), 12);
  assert.equal(left(7), 7);
});

Deno.test("codec: hostile or broken messages are refused with a clear reason", () => {
  refused("{not json", /not JSON/);
  refused("[1,2]", /not a JSON object/);
  refused('"text"', /not a JSON object/);
  refused(JSON.stringify({ action: "connect" }), /invalid action: "connect"/);
  refused(announce({ info_hash: "short" }), /invalid info_hash: 5 characters/);
  refused(announce({ info_hash: "\u0100".repeat(20) }), /invalid info_hash/);
  refused(announce({ info_hash: 12 }), /invalid info_hash: number/);
  refused(announce({ peer_id: "x".repeat(21) }), /invalid peer_id: 21/, HASH);
  refused(announce({ event: "exploded" }), /invalid event/, HASH);
  refused(announce({ offers: "many" }), /offers must be a list/, HASH);
  refused(
    announce({
      offers: Array.from({ length: 11 }, (_, i) => ({ offer: OFFER(i), offer_id: id("o") })),
    }),
    /too many offers: 11, at most 10/,
    HASH,
  );
  refused(announce({ offers: [{ offer: OFFER(1), offer_id: "short" }] }), /invalid offer_id/, HASH);
  refused(announce({ offers: [{ offer: "sdp", offer_id: id("o") }] }), /invalid offer/, HASH);
  refused(announce({ offers: [{ offer: ANSWER, offer_id: id("o") }] }), /invalid offer/, HASH);
  refused(announce({ answer: ANSWER, offer_id: id("o") }), /invalid to_peer_id/, HASH);
  refused(announce({ answer: ANSWER, to_peer_id: id("b") }), /invalid offer_id/, HASH);
  refused(
    announce({ answer: { type: "answer" }, to_peer_id: id("b"), offer_id: id("o") }),
    /invalid answer/,
    HASH,
  );
  refused(
    JSON.stringify({ action: "scrape", info_hash: Array(75).fill(HASH) }),
    /too many info hashes: 75/,
  );
  refused(JSON.stringify({ action: "scrape", info_hash: ["x"] }), /invalid info_hash/);
});

Deno.test("codec: replies keep binary strings intact through JSON", () => {
  const text = encodeScrapeReply([[HASH, { complete: 1, incomplete: 2, downloaded: 3 }]], 900);
  const back = JSON.parse(new TextDecoder().decode(new TextEncoder().encode(text)));
  assert.deepEqual(back, {
    action: "scrape",
    files: { [HASH]: { complete: 1, incomplete: 2, downloaded: 3 } },
    flags: { min_request_interval: 900 },
  });
  assert.deepEqual(JSON.parse(encodeFailure("nope", "announce", HASH)), {
    action: "announce",
    "failure reason": "nope",
    info_hash: HASH,
  });
});

// ---- core ----

function wsAnnounce(peer: string, fields: Partial<WebTorrentAnnounce> = {}): WebTorrentAnnounce {
  return {
    action: "announce",
    infoHash: HASH,
    peerId: id(peer),
    event: AnnounceEvent.None,
    left: 10,
    offers: [],
    numwant: 0,
    ...fields,
  };
}

function offers(n: number, tag = "o") {
  return Array.from({ length: n }, (_, i) => ({
    offerId: (tag + i).padEnd(20, "."),
    offer: { type: "offer" as const, sdp: "sdp" + i },
  }));
}

Deno.test("core: offers go to other peers, answers only back to the offerer", () => {
  const core = new WsTracker<string>(new Tracker({ open: true }));
  assert.deepEqual(core.announce("A", wsAnnounce("a")).offerTo, []);
  core.announce("B", wsAnnounce("b", { left: 0 }));
  core.announce("C", wsAnnounce("c"));
  const out = core.announce("A", wsAnnounce("a", { offers: offers(5), numwant: 5 }));
  // Two other peers exist: two offers relayed, never to the offerer itself.
  assert.deepEqual([...out.offerTo].sort(), ["B", "C"]);
  assert.deepEqual(out.counts, core.get(HASH));
  assert.equal(core.get(HASH)!.complete, 1);
  assert.equal(core.get(HASH)!.incomplete, 2);
  assert.equal(core.counters.offers, 2);

  // B answers the offer it received (offer 0 or 1, whichever was its).
  const offerIdForB = offers(5)[out.offerTo.indexOf("B")].offerId;
  const forged = core.announce(
    "B",
    wsAnnounce("b", {
      answer: { toPeerId: id("a"), offerId: offers(5)[4].offerId, answer: ANSWER as never },
    }),
  );
  assert.equal(forged.failure, WS_FAILURE.unknownOffer);
  const answered = core.announce(
    "B",
    wsAnnounce("b", {
      left: undefined,
      answer: { toPeerId: id("a"), offerId: offerIdForB, answer: ANSWER as never },
    }),
  );
  assert.equal(answered.answerTo, "A");
  assert.equal(answered.counts, undefined, "no reply to an answer");
  assert.equal(core.get(HASH)!.complete, 1, "an answer without `left` keeps B a seeder");
  // The same offer cannot be answered twice.
  const twice = core.announce(
    "B",
    wsAnnounce("b", {
      answer: { toPeerId: id("a"), offerId: offerIdForB, answer: ANSWER as never },
    }),
  );
  assert.equal(twice.failure, WS_FAILURE.unknownOffer);
  // Nobody else can answer in B's name: D never received an offer.
  core.announce("D", wsAnnounce("d"));
  const d = core.announce(
    "D",
    wsAnnounce("d", {
      answer: { toPeerId: id("a"), offerId: offerIdForB, answer: ANSWER as never },
    }),
  );
  assert.equal(d.failure, WS_FAILURE.unknownOffer);
  assert.equal(core.counters.answers, 1);
});

Deno.test("core: a live peer id is not taken over; a closed connection frees it", () => {
  const core = new WsTracker<string>(new Tracker({ open: true }));
  core.announce("A", wsAnnounce("a"));
  assert.equal(core.announce("X", wsAnnounce("a")).failure, WS_FAILURE.peerIdTaken);
  core.disconnect("A");
  assert.equal(core.peerCount, 0);
  assert.equal(core.size, 0, "an emptied swarm without history is dropped");
  assert.equal(core.announce("X", wsAnnounce("a")).failure, undefined);
  assert.equal(core.peerCount, 1);
});

Deno.test("core: stopped, completed, several peers on one (pooled) connection", () => {
  const core = new WsTracker<string>(new Tracker({ open: true }));
  core.announce("A", wsAnnounce("a", { event: AnnounceEvent.Started }));
  core.announce("A", wsAnnounce("a", { event: AnnounceEvent.Completed, left: 0 }));
  const swarm = core.get(HASH)!;
  assert.deepEqual([swarm.complete, swarm.incomplete, swarm.downloaded], [1, 0, 1]);
  // A second client of the same page shares the socket: a second peer, and a target of offers.
  const out = core.announce("A", wsAnnounce("z", { offers: offers(2), numwant: 2 }));
  assert.equal(swarm.size, 2);
  assert.deepEqual(out.offerTo, ["A"]);
  const stopped = core.announce("A", wsAnnounce("z", { event: AnnounceEvent.Stopped }));
  assert.equal(stopped.counts!.incomplete, 0);
  assert.equal(swarm.size, 1);
  assert.ok(swarm.get(id("a")) !== undefined);
  core.disconnect("A");
  assert.equal(core.peerCount, 0);
});

Deno.test("core: whitelist, torrent bound, per-swarm and per-connection bounds", () => {
  const closed = new WsTracker<string>(new Tracker({ open: false }));
  assert.equal(closed.announce("A", wsAnnounce("a")).failure, "torrent not found");
  const tracker = new Tracker({ open: false });
  tracker.addTorrent(HASH);
  const listed = new WsTracker<string>(tracker);
  assert.equal(listed.announce("A", wsAnnounce("a")).failure, undefined);
  assert.deepEqual(listed.scrape([HASH, id("q")]).map((c) => c?.incomplete), [1, undefined]);
  // A torrent leaving the whitelist takes its WebSocket swarm with it.
  tracker.removeTorrent(HASH);
  listed.sweep();
  assert.equal(listed.size, 0);
  assert.equal(listed.peerCount, 0);

  const bounded = new WsTracker<string>(new Tracker({ open: true, maxTorrents: 2 }), {
    maxPeers: 3,
    maxPeersPerConnection: 2,
  });
  bounded.announce("A", wsAnnounce("a", { infoHash: id("1") }));
  bounded.announce("A", wsAnnounce("a", { infoHash: id("2") }));
  assert.equal(
    bounded.announce("A", wsAnnounce("a", { infoHash: id("3") })).failure,
    WS_FAILURE.tooManyPeers,
  );
  assert.equal(
    bounded.announce("B", wsAnnounce("b", { infoHash: id("3") })).failure,
    "tracker is full: too many torrents",
  );
  for (const c of ["B", "C", "D"]) {
    bounded.announce(c, wsAnnounce(c.toLowerCase(), { infoHash: id("1") }));
  }
  const one = bounded.get(id("1"))!;
  assert.equal(one.size, 3, "the peer heard from longest ago was dropped");
  assert.equal(one.get(id("a")), undefined);
  assert.equal(bounded.peerCount, 4);
});

Deno.test("core: silent peers expire even while their connection lives", () => {
  let now = 0;
  const tracker = new Tracker({ open: true, clock: () => now });
  const core = new WsTracker<string>(tracker, { peerTimeout: 60 });
  core.announce("A", wsAnnounce("a"));
  now = 30_000;
  core.announce("B", wsAnnounce("b"));
  now = 61_000;
  assert.equal(core.sweep(), 1);
  assert.equal(core.get(HASH)!.get(id("a")), undefined);
  assert.equal(core.peerCount, 1);
  // A's connection may announce again as a new peer.
  assert.equal(core.announce("A", wsAnnounce("a")).failure, undefined);
  assert.equal(core.peerCount, 2);
});

Deno.test("core: offers rotate over a large swarm", () => {
  const core = new WsTracker<number>(new Tracker({ open: true }));
  for (let i = 0; i < 30; i++) core.announce(i, wsAnnounce(String.fromCharCode(65 + i)));
  const seen = new Set<number>();
  for (let round = 0; round < 3; round++) {
    const out = core.announce(0, wsAnnounce("A", { offers: offers(10), numwant: 10 }));
    assert.equal(out.offerTo.length, 10);
    assert.ok(!out.offerTo.includes(0));
    for (const c of out.offerTo) seen.add(c);
  }
  assert.equal(seen.size, 29, "three rounds of ten reached every other peer");
});

// ---- live server ----

function wsUrl(hefur: Hefur, path = "/announce"): string {
  return `ws://127.0.0.1:${hefur.http!.addr.port}${path}`;
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

Deno.test("live: announce, offer relayed, answer back to the offerer, scrape", async () => {
  await using hefur = await startTestHefur();
  const a = await WsClient.open(wsUrl(hefur, "/"));
  const b = await WsClient.open(wsUrl(hefur));
  try {
    a.send({
      action: "announce",
      info_hash: HASH,
      peer_id: id("a"),
      event: "started",
      left: 5,
      numwant: 0,
      offers: [],
    });
    assert.deepEqual(await a.next(), {
      action: "announce",
      interval: 180,
      info_hash: HASH,
      complete: 0,
      incomplete: 1,
    });
    const offerId = "\x00\x80\xff".repeat(6) + "zz";
    b.send({
      action: "announce",
      info_hash: HASH,
      peer_id: id("b"),
      event: "started",
      left: 0,
      numwant: 1,
      offers: [{ offer: OFFER(7), offer_id: offerId }],
    });
    const reply = await b.next();
    assert.equal(reply.complete, 1);
    assert.equal(reply.incomplete, 1);
    assert.deepEqual(await a.next(), {
      action: "announce",
      offer: OFFER(7),
      offer_id: offerId,
      peer_id: id("b"),
      info_hash: HASH,
    });
    a.send({
      action: "announce",
      info_hash: HASH,
      peer_id: id("a"),
      to_peer_id: id("b"),
      offer_id: offerId,
      answer: ANSWER,
    });
    assert.deepEqual(await b.next(), {
      action: "announce",
      answer: ANSWER,
      offer_id: offerId,
      peer_id: id("a"),
      info_hash: HASH,
    });
    b.send({ action: "scrape", info_hash: [HASH] });
    assert.deepEqual((await b.next()).files, {
      [HASH]: { complete: 1, incomplete: 1, downloaded: 0 },
    });
    assert.equal(a.pending + b.pending, 0, "no stray message (no reply to an answer)");
    assert.equal(hefur.wsTracker.get(HASH)!.size, 2);
    // WebSocket peers are not UDP/HTTP peers.
    assert.equal(hefur.tracker.get(HASH), undefined);
    assert.equal(hefur.webtorrent!.connections, 2);
  } finally {
    await a.close();
    await b.close();
  }
  await waitFor(() => hefur.wsTracker.peerCount === 0, "closing forgets the peers");
  assert.equal(hefur.webtorrent!.connections, 0);
});

Deno.test("live: bad messages get a failure and the socket stays usable", async () => {
  await using hefur = await startTestHefur();
  const a = await WsClient.open(wsUrl(hefur));
  try {
    a.send("{broken");
    assert.deepEqual(await a.next(), { "failure reason": "message is not JSON" });
    a.send({ action: "announce", info_hash: HASH, peer_id: "short" });
    assert.deepEqual(await a.next(), {
      action: "announce",
      "failure reason": "invalid peer_id: 5 characters, expected 20",
      info_hash: HASH,
    });
    a.send({
      action: "announce",
      info_hash: HASH,
      peer_id: id("a"),
      offers: Array.from({ length: 11 }, () => ({ offer: OFFER(0), offer_id: id("o") })),
    });
    assert.match(String((await a.next())["failure reason"]), /too many offers/);
    a.send({ action: "scrape" });
    assert.match(String((await a.next())["failure reason"]), /full scrape is disabled/);
    a.send({ action: "announce", info_hash: HASH, peer_id: id("a"), left: 1 });
    assert.equal((await a.next()).incomplete, 1);
    assert.equal(hefur.webtorrent!.counters.badMessages, 4);
  } finally {
    await a.close();
  }
});

Deno.test("live: whitelist mode refuses unknown torrents over WebSocket too", async () => {
  await using hefur = await startTestHefur();
  (hefur.tracker.options as { open: boolean }).open = false;
  hefur.tracker.addTorrent(HASH);
  const a = await WsClient.open(wsUrl(hefur));
  try {
    a.send({ action: "announce", info_hash: id("u"), peer_id: id("a") });
    assert.deepEqual(await a.next(), {
      action: "announce",
      "failure reason": "torrent not found",
      info_hash: id("u"),
    });
    a.send({ action: "announce", info_hash: HASH, peer_id: id("a") });
    assert.equal((await a.next()).incomplete, 1);
    a.send({ action: "scrape", info_hash: [HASH, id("u")] });
    assert.deepEqual(Object.keys((await a.next()).files as object), [HASH]);
  } finally {
    await a.close();
  }
});

/** A raw TCP client that completes the handshake and then sends whatever a test wants. */
function rawSocket(port: number): Promise<{ conn: Deno.Conn; head: string; rest: Uint8Array }> {
  return Deno.connect({ hostname: "127.0.0.1", port }).then(handshake);
}

/** Sends an opening handshake on `conn`; returns the reply head and any bytes after it. */
async function handshake<C extends Deno.Conn>(
  conn: C,
): Promise<{ conn: C; head: string; rest: Uint8Array }> {
  await conn.write(
    new TextEncoder().encode(
      "GET /announce HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ),
  );
  const buf = new Uint8Array(4096);
  let got = new Uint8Array(0);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("closed during handshake");
    got = new Uint8Array([...got, ...buf.subarray(0, n)]);
    const text = new TextDecoder("latin1").decode(got);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) return { conn, head: text.slice(0, end), rest: got.subarray(end + 4) };
  }
}

/** Reads server frames until the server closes; returns the close code (0 if none came). */
async function closeCodeOf(conn: Deno.Conn, rest: Uint8Array): Promise<number> {
  const reader = new FrameReader({ maxMessageBytes: 1 << 20, fromClient: false });
  const buf = new Uint8Array(4096);
  let chunk: Uint8Array | null = rest;
  let code = 0;
  for (let i = 0; i < 100 && chunk !== null; i++) {
    for (const ev of reader.push(chunk)) if (ev.kind === "close") code = ev.code;
    const n: number | null = await conn.read(buf).catch(() => null);
    chunk = n === null ? null : buf.subarray(0, n);
  }
  try {
    conn.close();
  } catch { /* closed */ }
  return code;
}

Deno.test("live: protocol violations close only the offending socket, with the right code", async () => {
  await using hefur = await startTestHefur({ maxWsMessageSize: 1 });
  const port = hefur.http!.addr.port;
  const good = await WsClient.open(wsUrl(hefur));
  try {
    good.send({ action: "announce", info_hash: HASH, peer_id: id("g") });
    await good.next();

    const raw1 = await rawSocket(port);
    assert.match(raw1.head, /^HTTP\/1\.1 101 /);
    assert.match(raw1.head, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
    await raw1.conn.write(encodeText("{}")); // unmasked
    assert.equal(await closeCodeOf(raw1.conn, raw1.rest), 1002);

    const raw2 = await rawSocket(port);
    // The header of a 16 MiB frame: refused before any payload is sent.
    await raw2.conn.write(new Uint8Array([0x81, 0xff, 0, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3, 4]));
    assert.equal(await closeCodeOf(raw2.conn, raw2.rest), 1009);

    const raw3 = await rawSocket(port);
    await raw3.conn.write(encodeFrame(Opcode.Binary, new Uint8Array(3), new Uint8Array(4)));
    assert.equal(await closeCodeOf(raw3.conn, raw3.rest), 1003);

    const raw4 = await rawSocket(port);
    await raw4.conn.write(encodeFrame(Opcode.Text, new Uint8Array([0xff]), new Uint8Array(4)));
    assert.equal(await closeCodeOf(raw4.conn, raw4.rest), 1007);

    // The well-behaved socket never noticed.
    good.send({ action: "scrape", info_hash: HASH });
    assert.equal(
      ((await good.next()).files as Record<string, { incomplete: number }>)[HASH].incomplete,
      1,
    );
    await waitFor(() => hefur.webtorrent!.connections === 1, "the bad sockets are gone");
  } finally {
    await good.close();
  }
});

Deno.test("live: handshake faults get HTTP errors; plain GET / is not hijacked", async () => {
  await using hefur = await startTestHefur();
  const port = hefur.http!.addr.port;
  const v8 = await rawHttp(
    port,
    "GET /announce HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
  );
  assert.match(v8, /^HTTP\/1\.1 426 /);
  assert.match(v8, /sec-websocket-version: 13/i);
  const noKey = await rawHttp(
    port,
    "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  assert.match(noKey, /^HTTP\/1\.1 400 /);
  // An upgrade on another path is routed as a plain request.
  const other = await rawHttp(port, "GET /elsewhere HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
  assert.match(other, /^HTTP\/1\.1 404 /);
  assert.equal(hefur.webtorrent!.connections, 0);
});

Deno.test("live: connection bounds per address and in total", async () => {
  await using hefur = await startTestHefur({ maxWsConnectionsPerIp: 2 });
  const url = wsUrl(hefur);
  const a = await WsClient.open(url);
  const b = await WsClient.open(url);
  try {
    await assert.rejects(WsClient.open(url), /cannot connect/);
    assert.equal(hefur.webtorrent!.counters.refused, 1);
    await a.close();
    await waitFor(() => hefur.webtorrent!.connections === 1, "a's slot is freed");
    const c = await WsClient.open(url);
    await c.close();
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("live: idle sockets are pinged, then closed when silent", async () => {
  await using hefur = await startTestHefur({ wsIdleTimeout: 2 });
  const port = hefur.http!.addr.port;
  // A browser answers pings by itself: Deno's client does too, so it stays.
  const alive = await WsClient.open(wsUrl(hefur));
  // A raw socket that never answers is closed with 1001.
  const raw = await rawSocket(port);
  const started = Date.now();
  assert.equal(await closeCodeOf(raw.conn, raw.rest), 1001);
  const took = Date.now() - started;
  assert.ok(took >= 1500, `closed after ${took} ms, not before the timeout`);
  assert.ok(!alive.closed, "the client that answers pings is still connected");
  await alive.close();
});

Deno.test("live: --ws-port serves WebSocket only", async () => {
  const wsPort = freePort();
  await using hefur = await startTestHefur({ wsPort });
  assert.equal(hefur.ws!.addr.port, wsPort);
  const a = await WsClient.open(`ws://127.0.0.1:${wsPort}/any/path`);
  try {
    a.send({ action: "announce", info_hash: HASH, peer_id: id("a") });
    assert.equal((await a.next()).incomplete, 1);
    const res = await fetch(`http://127.0.0.1:${wsPort}/announce`);
    assert.equal(res.status, 404);
    await res.body?.cancel();
  } finally {
    await a.close();
  }
});

Deno.test("live: --disable-websocket leaves / and /announce plain HTTP", async () => {
  await using hefur = await startTestHefur({ disableWebsocket: true });
  assert.equal(hefur.webtorrent, undefined);
  const r = await rawHttp(
    hefur.http!.addr.port,
    "GET /announce HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  assert.match(r, /^HTTP\/1\.1 200 /);
  assert.match(r, /failure reason/);
});

Deno.test("live: an upgraded socket leaves the HTTP deadlines behind", async () => {
  await using hefur = await startTestHefur({ httpTimeout: 100 });
  const a = await WsClient.open(wsUrl(hefur));
  try {
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!a.closed, "not cut by the 100 ms HTTP timeout");
    a.send({ action: "announce", info_hash: HASH, peer_id: id("a") });
    assert.equal((await a.next()).incomplete, 1);
    assert.equal(hefur.http!.connections, 0, "the HTTP server no longer holds it");
    assert.equal(hefur.http!.timedOut, 0);
  } finally {
    await a.close();
  }
});

Deno.test({
  name: "live: wss:// on the HTTPS listener reaches the same WebSocket swarms",
  ignore: !hasOpenssl,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "hefur_wss_" });
    try {
      const certs = await makeCertificates(dir);
      await using hefur = await startTestHefur({
        httpsPort: freePort(),
        httpCert: certs.certPath,
        httpKey: certs.keyPath,
      });
      const tls = await Deno.connectTls({
        hostname: "localhost",
        port: hefur.https!.addr.port,
        caCerts: [certs.ca],
      });
      const { conn, head, rest } = await handshake(tls);
      assert.match(head, /^HTTP\/1\.1 101 /);
      const mask = new Uint8Array([9, 8, 7, 6]);
      await conn.write(
        encodeText(JSON.stringify({ action: "announce", info_hash: HASH, peer_id: id("s") }), mask),
      );
      const reader = new FrameReader({ maxMessageBytes: 1 << 16, fromClient: false });
      const buf = new Uint8Array(4096);
      let events = reader.push(rest);
      for (let i = 0; i < 50 && events.length === 0; i++) {
        const n = await conn.read(buf);
        if (n === null) break;
        events = reader.push(buf.subarray(0, n));
      }
      assert.equal(events[0]?.kind, "text");
      assert.equal(JSON.parse((events[0] as { text: string }).text).incomplete, 1);
      // A ws:// peer on the plain HTTP port meets the wss:// one.
      const plain = await WsClient.open(wsUrl(hefur));
      plain.send({ action: "announce", info_hash: HASH, peer_id: id("p") });
      assert.equal((await plain.next()).incomplete, 2);
      await plain.close();
      conn.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
