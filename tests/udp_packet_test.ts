import { strict as assert } from "node:assert/strict";
import { AnnounceEvent, type AnnounceReply } from "../src/protocol/types.ts";
import { OUT_OF_RANGE } from "../src/protocol/announce_check.ts";
import {
  DEFAULT_MAX_SCRAPE_TORRENTS,
  encodeUdpRequest,
  parseUdpReply,
  parseUdpRequest,
  type UdpAnnounceRequest,
  UdpEncodeError,
  UdpParseFailure,
  UdpParseScratch,
  type UdpRequest,
  UdpSendableError,
  UdpUnsendableError,
  writeAnnounceReply,
  writeConnectReply,
  writeErrorReply,
  writeScrapeReply,
} from "../src/protocol/udp_packet.ts";

/** Bytes from hex with optional spaces. */
function hex(s: string): Uint8Array {
  const h = s.replace(/\s+/g, "");
  return Uint8Array.from(
    { length: h.length / 2 },
    (_, i) => parseInt(h.slice(2 * i, 2 * i + 2), 16),
  );
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A 20-character binary string with bytes start, start+1, … (mod 256). */
function bin20(start: number): string {
  return String.fromCharCode(...Array.from({ length: 20 }, (_, i) => (start + i) & 0xff));
}

const HASH_HEX = "000102030405060708090a0b0c0d0e0f10111213";
const PEER_ID_HEX = "2d4845303130302d" + "8090a0b0c0d0e0f0ff00aa55"; // "-HE0100-" then high bytes
const out = new Uint8Array(65536);

// ---- connect ----

Deno.test("connect request: byte-exact vector parses; reply is byte-exact", () => {
  const req = hex("00000417 27101980 00000000 deadbeef");
  assert.deepEqual(parseUdpRequest(req), { kind: "connect", transactionId: 0xdeadbeef });
  assert.equal(toHex(encodeUdpRequest({ kind: "connect", transactionId: 0xdeadbeef })), toHex(req));

  const n = writeConnectReply(out, 0xdeadbeef, 0x01020304, 0xfffefdfc);
  assert.equal(toHex(out.subarray(0, n)), "00000000" + "deadbeef" + "01020304" + "fffefdfc");
  assert.deepEqual(parseUdpReply(out.subarray(0, n)), {
    kind: "connect",
    transactionId: 0xdeadbeef,
    connectionIdHi: 0x01020304,
    connectionIdLo: 0xfffefdfc,
  });
});

Deno.test("connect without the protocol id is unsendable; extra bytes are accepted", () => {
  const bad = parseUdpRequest(hex("00000417 27101981 00000000 00000001"));
  assert.ok(bad instanceof UdpUnsendableError);
  assert.equal(bad.reason, UdpParseFailure.BadProtocolId);
  const badHi = parseUdpRequest(hex("00000000 27101980 00000000 00000001"));
  assert.equal(badHi.kind, "unsendable");

  const long = parseUdpRequest(hex("00000417 27101980 00000000 00000001 ffffffff"));
  assert.deepEqual(long, { kind: "connect", transactionId: 1 });
});

// ---- announce ----

const ANNOUNCE_HEX = "0123456789abcdef" + // connection id
  "00000001" + // action announce
  "00c0ffee" + // transaction id
  HASH_HEX +
  PEER_ID_HEX +
  "0000000100000002" + // downloaded 2^32 + 2
  "0000000000000000" + // left 0
  "ffffffffffffffff" + // uploaded: -1 as BEP 15's int64, out of range
  "00000002" + // event started
  "c0000201" + // ip 192.0.2.1
  "a5a5a5a5" + // key
  "ffffffff" + // num_want -1
  "1ae1"; // port 6881

Deno.test("announce request: byte-exact vector gives every field", () => {
  const packet = hex(ANNOUNCE_HEX);
  assert.equal(packet.length, 98);
  const r = parseUdpRequest(packet);
  assert.deepEqual(r, {
    kind: "announce",
    connectionIdHi: 0x01234567,
    connectionIdLo: 0x89abcdef,
    transactionId: 0x00c0ffee,
    infoHash: bin20(0),
    peerId: String.fromCharCode(...hex(PEER_ID_HEX)),
    downloaded: 2 ** 32 + 2,
    left: 0,
    uploaded: OUT_OF_RANGE,
    event: AnnounceEvent.Started,
    ip: 0xc0000201,
    key: 0xa5a5a5a5,
    numwant: -1,
    port: 6881,
  });
});

Deno.test("announce: int64 fields up to MAX_SAFE_INTEGER are exact, above are clamped, negative out of range", () => {
  const p = hex(ANNOUNCE_HEX);
  p.set(hex("001fffffffffffff"), 56); // exactly 2^53 - 1
  p.set(hex("0020000000000000"), 64); // 2^53
  p.set(hex("00000000ffffffff"), 72);
  const r = parseUdpRequest(p) as UdpAnnounceRequest;
  assert.equal(r.downloaded, Number.MAX_SAFE_INTEGER);
  assert.equal(r.left, Number.MAX_SAFE_INTEGER);
  assert.equal(r.uploaded, 0xffffffff);
  p.set(hex("7fffffffffffffff"), 64); // 2^63 - 1, the largest int64
  p.set(hex("8000000000000000"), 72); // the smallest int64
  const edge = parseUdpRequest(p) as UdpAnnounceRequest;
  assert.equal(edge.left, Number.MAX_SAFE_INTEGER);
  assert.equal(edge.uploaded, OUT_OF_RANGE);
});

Deno.test("announce: events 0..3 are kept, any other value reads as None", () => {
  const p = hex(ANNOUNCE_HEX);
  for (const [wire, event] of [[0, 0], [1, 1], [2, 2], [3, 3], [4, 0], [0xffffffff, 0]]) {
    p.set(hex(wire.toString(16).padStart(8, "0")), 80);
    assert.equal((parseUdpRequest(p) as UdpAnnounceRequest).event, event, `wire ${wire}`);
  }
});

Deno.test("announce: num_want is signed, ip 0 stays 0, trailing BEP 41 options are ignored", () => {
  const p = hex(ANNOUNCE_HEX + "0203" + "2f616e6e6f756e6365" + "01" + "00");
  p.set(hex("00000032"), 92);
  p.set(hex("00000000"), 84);
  const r = parseUdpRequest(p) as UdpAnnounceRequest;
  assert.equal(r.kind, "announce");
  assert.equal(r.numwant, 50);
  assert.equal(r.ip, 0);
  assert.equal(r.port, 6881);
  p.set(hex("fffffffe"), 92);
  assert.equal((parseUdpRequest(p) as UdpAnnounceRequest).numwant, -2);
});

Deno.test("announce shorter than 98 bytes is a sendable error carrying both ids", () => {
  for (const len of [16, 20, 97]) {
    const r = parseUdpRequest(hex(ANNOUNCE_HEX).subarray(0, len));
    assert.ok(r instanceof UdpSendableError, `length ${len}`);
    assert.equal(r.reason, UdpParseFailure.AnnounceTooShort);
    assert.equal(r.value, len);
    assert.equal(r.transactionId, 0x00c0ffee);
    assert.equal(r.connectionIdHi, 0x01234567);
    assert.equal(r.connectionIdLo, 0x89abcdef);
  }
});

Deno.test("announce reply over IPv4: byte-exact, 20 + 6n bytes", () => {
  const reply: AnnounceReply = {
    interval: 1800,
    minInterval: 900,
    complete: 3,
    incomplete: 0x10000,
    downloaded: 9,
    peers4: hex("0a000001 1ae1 c0a80102 c8d5"),
    peers6: hex("20010db8000000000000000000000001 1ae1"),
    peerIds: [],
  };
  const n = writeAnnounceReply(out, 0x00c0ffee, reply, 4);
  assert.equal(n, 20 + 6 * 2);
  assert.equal(
    toHex(out.subarray(0, n)),
    "00000001" + "00c0ffee" + "00000708" + "00010000" + "00000003" +
      "0a0000011ae1" + "c0a80102c8d5",
  );
});

Deno.test("announce reply over IPv6: BEP 15 variant with 18-byte entries from peers6", () => {
  const reply: AnnounceReply = {
    interval: 60,
    minInterval: 30,
    complete: 1,
    incomplete: 2,
    downloaded: 0,
    peers4: hex("0a0000011ae1"),
    peers6: hex("20010db8000000000000000000000001 1ae1 fe800000000000000000000000000002 0050"),
    peerIds: [],
  };
  const n = writeAnnounceReply(out, 7, reply, 6);
  assert.equal(n, 20 + 18 * 2);
  assert.equal(
    toHex(out.subarray(0, n)),
    "00000001" + "00000007" + "0000003c" + "00000002" + "00000001" +
      "20010db80000000000000000000000011ae1" + "fe8000000000000000000000000000020050",
  );
  const parsed = parseUdpReply(out.subarray(0, n));
  assert.equal(parsed.kind, "announce");
  assert.deepEqual(parsed.kind === "announce" && parsed.peers, reply.peers6);
});

Deno.test("announce reply: counters beyond u32 are clamped; peers cut to whole entries that fit", () => {
  const peers4 = new Uint8Array(6 * 10).map((_, i) => i);
  const reply: AnnounceReply = {
    interval: 1800,
    minInterval: 900,
    complete: 2 ** 40,
    incomplete: -1,
    downloaded: 0,
    peers4,
    peers6: new Uint8Array(0),
    peerIds: [],
  };
  const small = new Uint8Array(20 + 6 * 3 + 5);
  const n = writeAnnounceReply(small, 1, reply, 4);
  assert.equal(n, 20 + 6 * 3);
  assert.equal(toHex(small.subarray(12, 20)), "00000000" + "ffffffff");
  assert.deepEqual(small.subarray(20, n), peers4.subarray(0, 18));
});

// ---- scrape ----

Deno.test("scrape request: byte-exact vector; partial trailing hash ignored", () => {
  const packet = hex("0123456789abcdef 00000002 00000005" + HASH_HEX + bin20hex(100) + "abcdef");
  const r = parseUdpRequest(packet);
  assert.deepEqual(r, {
    kind: "scrape",
    connectionIdHi: 0x01234567,
    connectionIdLo: 0x89abcdef,
    transactionId: 5,
    infoHashes: [bin20(0), bin20(100)],
  });
});

function bin20hex(start: number): string {
  return toHex(Uint8Array.from(bin20(start), (c) => c.charCodeAt(0)));
}

Deno.test("scrape without a whole hash is a sendable error", () => {
  for (const tail of ["", "00", "00".repeat(19)]) {
    const r = parseUdpRequest(hex("0123456789abcdef 00000002 00000005" + tail));
    assert.ok(r instanceof UdpSendableError);
    assert.equal(r.reason, UdpParseFailure.NoInfoHashes);
    assert.equal(r.transactionId, 5);
  }
});

Deno.test("scrape is cut to maxScrapeTorrents (default 74, configurable)", () => {
  const hashes = Array.from({ length: 100 }, (_, i) => bin20(i));
  const packet = encodeUdpRequest({
    kind: "scrape",
    connectionIdHi: 1,
    connectionIdLo: 2,
    transactionId: 3,
    infoHashes: hashes,
  });
  const r = parseUdpRequest(packet);
  assert.equal(r.kind, "scrape");
  assert.equal(DEFAULT_MAX_SCRAPE_TORRENTS, 74);
  assert.deepEqual(r.kind === "scrape" && r.infoHashes, hashes.slice(0, 74));
  const r5 = parseUdpRequest(packet, { maxScrapeTorrents: 5 });
  assert.deepEqual(r5.kind === "scrape" && r5.infoHashes, hashes.slice(0, 5));
});

Deno.test("scrape reply: one entry per hash in order, unknown hashes are zeros", () => {
  const counts = [
    { complete: 5, incomplete: 6, downloaded: 7 },
    undefined,
    { complete: 0x01020304, incomplete: 1, downloaded: 2 ** 33 },
  ];
  out.fill(0xee, 0, 64); // a zero entry must be written, not left over from earlier
  const n = writeScrapeReply(out, 0xabcd, counts);
  assert.equal(n, 8 + 12 * 3);
  assert.equal(
    toHex(out.subarray(0, n)),
    "00000002" + "0000abcd" +
      "00000005" + "00000007" + "00000006" +
      "00000000" + "00000000" + "00000000" +
      "01020304" + "ffffffff" + "00000001",
  );
  assert.deepEqual(parseUdpReply(out.subarray(0, n)), {
    kind: "scrape",
    transactionId: 0xabcd,
    entries: [
      { seeders: 5, completed: 7, leechers: 6 },
      { seeders: 0, completed: 0, leechers: 0 },
      { seeders: 0x01020304, completed: 0xffffffff, leechers: 1 },
    ],
  });
});

// ---- errors and amplification ----

Deno.test("error reply: byte-exact, message without terminator", () => {
  const n = writeErrorReply(out, 0x11223344, "torrent not found", 98);
  assert.equal(
    toHex(out.subarray(0, n)),
    "00000003" + "11223344" + toHex(new TextEncoder().encode("torrent not found")),
  );
  assert.deepEqual(parseUdpReply(out.subarray(0, n)), {
    kind: "error",
    transactionId: 0x11223344,
    message: "torrent not found",
  });
});

Deno.test("error reply is never larger than the request; cut on a UTF-8 boundary", () => {
  const message = "announce packet too short";
  for (let requestLength = 0; requestLength <= 40; requestLength++) {
    const n = writeErrorReply(out, 1, message, requestLength);
    assert.ok(n <= requestLength, `request ${requestLength}, reply ${n}`);
    assert.equal(n, requestLength < 8 ? 0 : Math.min(requestLength, 8 + message.length));
  }
  // "é" is 2 bytes: with 3 bytes of room only one "é" fits, never half of the next.
  const n = writeErrorReply(out, 1, "ééé", 11);
  assert.equal(n, 10);
  assert.deepEqual(parseUdpReply(out.subarray(0, n)), {
    kind: "error",
    transactionId: 1,
    message: "é",
  });
});

Deno.test("every sendable parse error answered through writeErrorReply stays within the request", () => {
  const packets = [
    ...[16, 50, 97].map((len) => hex(ANNOUNCE_HEX).subarray(0, len)),
    ...[16, 35].map((len) => hex("0123456789abcdef 00000002 00000005" + "00".repeat(len - 16))),
  ];
  for (const p of packets) {
    const r = parseUdpRequest(p);
    assert.ok(r instanceof UdpSendableError);
    const n = writeErrorReply(out, r.transactionId, r.message, p.length);
    assert.ok(n >= 8 && n <= p.length, `request ${p.length}, reply ${n}`);
    assert.equal(toHex(out.subarray(4, 8)), toHex(p.subarray(12, 16)), "transaction id echoed");
  }
});

Deno.test("short, unknown-action and error-action packets are unsendable", () => {
  for (let len = 0; len < 16; len++) {
    const r = parseUdpRequest(hex(ANNOUNCE_HEX).subarray(0, len));
    assert.ok(r instanceof UdpUnsendableError);
    assert.equal(r.reason, UdpParseFailure.TooShort);
    assert.equal(r.value, len);
  }
  for (const action of [3, 4, 0x100, 0xffffffff]) {
    const p = hex(ANNOUNCE_HEX);
    p.set(hex(action.toString(16).padStart(8, "0")), 8);
    const r = parseUdpRequest(p);
    assert.ok(r instanceof UdpUnsendableError);
    assert.equal(r.reason, UdpParseFailure.UnknownAction);
    assert.equal(r.value, action);
  }
});

Deno.test("random garbage never throws and never answers more than it got", () => {
  const rnd = seeded(1);
  for (let i = 0; i < 3000; i++) {
    const p = new Uint8Array(Math.floor(rnd() * 200)).map(() => Math.floor(rnd() * 256));
    if (i % 3 === 0 && p.length >= 12) p[8] = p[9] = p[10] = 0, p[11] = i % 4; // valid action
    const r = parseUdpRequest(p);
    if (r.kind === "sendable") {
      assert.ok(writeErrorReply(out, r.transactionId, r.message, p.length) <= p.length);
    } else if (r.kind !== "unsendable") {
      assert.ok(p.length >= 16);
    }
  }
});

// ---- reuse and round trip ----

Deno.test("a scratch is reused: same objects, fields and hash list overwritten", () => {
  const scratch = new UdpParseScratch();
  const a = parseUdpRequest(hex(ANNOUNCE_HEX), undefined, scratch);
  assert.equal(a, scratch.announce);
  const mk = (n: number) =>
    encodeUdpRequest({
      kind: "scrape",
      connectionIdHi: 0,
      connectionIdLo: 0,
      transactionId: n,
      infoHashes: Array.from({ length: n }, (_, i) => bin20(i)),
    });
  const s3 = parseUdpRequest(mk(3), undefined, scratch);
  assert.equal(s3, scratch.scrape);
  const s1 = parseUdpRequest(mk(1), undefined, scratch);
  assert.equal(s1, s3);
  assert.deepEqual(s1.kind === "scrape" && s1.infoHashes, [bin20(0)], "old entries dropped");
});

/** A small deterministic PRNG (mulberry32) so failures reproduce. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomRequest(rnd: () => number): UdpRequest {
  const u32 = () => Math.floor(rnd() * 2 ** 32);
  const u64 = () => Math.floor(rnd() * 2 ** 21) * 2 ** 32 + u32(); // any safe integer
  const b20 = () =>
    String.fromCharCode(...Array.from({ length: 20 }, () => Math.floor(rnd() * 256)));
  switch (Math.floor(rnd() * 3)) {
    case 0:
      return { kind: "connect", transactionId: u32() };
    case 1:
      return {
        kind: "announce",
        connectionIdHi: u32(),
        connectionIdLo: u32(),
        transactionId: u32(),
        infoHash: b20(),
        peerId: b20(),
        downloaded: u64(),
        left: rnd() < 0.3 ? 0 : u64(),
        uploaded: u64(),
        event: Math.floor(rnd() * 4) as AnnounceEvent,
        ip: rnd() < 0.5 ? 0 : u32(),
        key: u32(),
        numwant: u32() | 0,
        port: Math.floor(rnd() * 65536),
      };
    default:
      return {
        kind: "scrape",
        connectionIdHi: u32(),
        connectionIdLo: u32(),
        transactionId: u32(),
        infoHashes: Array.from({ length: 1 + Math.floor(rnd() * 74) }, b20),
      };
  }
}

Deno.test("round trip: parse(encode(r)) equals r for random valid requests", () => {
  const rnd = seeded(42);
  const buf = new Uint8Array(2048);
  const scratch = new UdpParseScratch();
  for (let i = 0; i < 2000; i++) {
    const r = randomRequest(rnd);
    assert.deepEqual(parseUdpRequest(encodeUdpRequest(r)), r, `request ${i}`);
    // The same through a reused buffer and a reused scratch.
    assert.deepEqual(parseUdpRequest(encodeUdpRequest(r, buf), undefined, scratch), r);
  }
});

Deno.test("encoding refuses a hash that is not 20 bytes", () => {
  assert.throws(
    () =>
      encodeUdpRequest({
        kind: "scrape",
        connectionIdHi: 0,
        connectionIdLo: 0,
        transactionId: 0,
        infoHashes: ["short"],
      }),
    UdpEncodeError,
  );
});
