// Decoding announce and scrape query strings.
import assert from "node:assert/strict";
import {
  forEachPair,
  parseAnnounceQuery,
  parseScrapeQuery,
  percentDecode,
  QueryError,
} from "../src/protocol/http_query.ts";
import { AnnounceEvent, Want } from "../src/protocol/types.ts";
import { pct } from "./helpers.ts";

const HASH = "\x00\x01\x02+%\xff\x80\x9f" + "h".repeat(12);
const ID = "-DE2000-" + "abcdefghijkl";
const base = `info_hash=${pct(HASH)}&peer_id=${pct(ID)}&port=6881&uploaded=1&downloaded=2&left=3`;
const opts = { allowProxy: false };

Deno.test("percentDecode keeps raw bytes, '+' and malformed escapes", () => {
  assert.equal(percentDecode("%00%ff%80%9F"), "\x00\xff\x80\x9f");
  assert.equal(percentDecode("a+b"), "a+b");
  assert.equal(percentDecode("%zz%4"), "%zz%4");
  assert.equal(percentDecode("x%41y", 1, 4), "A");
});

Deno.test("forEachPair skips empty pairs, keeps key-only pairs, bounds the count", () => {
  const seen: string[] = [];
  forEachPair("a=1&&b&=x&c=%41", (k, v) => seen.push(`${k}:${v}`));
  assert.deepEqual(seen, ["a:1", "b:", "c:A"]);
  assert.throws(() => forEachPair("a=1&".repeat(300), () => {}, 256), QueryError);
});

Deno.test("a full announce decodes every field", () => {
  const q = base + "&event=completed&numwant=30&compact=1&no_peer_id=1&key=zz&trackerid=1";
  const { request, compact, noPeerId } = parseAnnounceQuery(q, "10.0.0.9", opts);
  assert.deepEqual(request, {
    infoHash: HASH,
    peerId: ID,
    ip: "10.0.0.9",
    port: 6881,
    uploaded: 1,
    downloaded: 2,
    left: 3,
    event: AnnounceEvent.Completed,
    numwant: 30,
    want: Want.V4,
  });
  assert.equal(compact, true);
  assert.equal(noPeerId, true);
});

Deno.test("compact=0 asks for the dictionary list; compact is the default", () => {
  assert.equal(parseAnnounceQuery(base + "&compact=0", "10.0.0.1", opts).compact, false);
  assert.equal(parseAnnounceQuery(base, "10.0.0.1", opts).compact, true);
});

Deno.test("events: case-insensitive, unknown words mean none", () => {
  const ev = (e: string) =>
    parseAnnounceQuery(base + "&event=" + e, "10.0.0.1", opts).request.event;
  assert.equal(ev("STARTED"), AnnounceEvent.Started);
  assert.equal(ev("stopped"), AnnounceEvent.Stopped);
  assert.equal(ev("paused"), AnnounceEvent.None);
  assert.equal(ev(""), AnnounceEvent.None);
});

Deno.test("bad or missing fields are refused with a clear message", () => {
  const fails = (q: string, message: RegExp) =>
    assert.throws(() => parseAnnounceQuery(q, "10.0.0.1", opts), (e: Error) => {
      assert.ok(e instanceof QueryError);
      assert.match(e.message, message);
      return true;
    });
  fails(base.replace(/info_hash=[^&]*/, ""), /missing info_hash/);
  fails(
    base.replace(/info_hash=[^&]*/, "info_hash=abc"),
    /invalid info_hash: 3 bytes, expected 20/,
  );
  fails(base.replace(/peer_id=[^&]*/, "peer_id=" + "x".repeat(21)), /invalid peer_id: 21 bytes/);
  fails(base.replace("port=6881", ""), /missing port/);
  fails(base.replace("port=6881", "port=70000"), /invalid port/);
  fails(base.replace("port=6881", "port=-1"), /invalid port/);
  fails(base.replace("left=3", ""), /missing left/);
  fails(base.replace("left=3", "left=-5"), /invalid left/);
  fails(base.replace("uploaded=1", "uploaded=1e9"), /invalid uploaded/);
});

Deno.test("numwant that is not a number means the default", () => {
  assert.equal(parseAnnounceQuery(base + "&numwant=abc", "10.0.0.1", opts).request.numwant, -1);
  assert.equal(parseAnnounceQuery(base + "&numwant=-3", "10.0.0.1", opts).request.numwant, -1);
  assert.equal(parseAnnounceQuery(base + "&numwant=0", "10.0.0.1", opts).request.numwant, 0);
});

Deno.test("the ip parameter counts only with allowProxy; a DNS name keeps the sender's address", () => {
  assert.equal(parseAnnounceQuery(base + "&ip=1.2.3.4", "10.0.0.1", opts).request.ip, "10.0.0.1");
  const proxy = { allowProxy: true };
  assert.equal(parseAnnounceQuery(base + "&ip=1.2.3.4", "10.0.0.1", proxy).request.ip, "1.2.3.4");
  assert.equal(
    parseAnnounceQuery(base + "&ip=%3A%3Affff%3A1.2.3.4", "10.0.0.1", proxy).request.ip,
    "1.2.3.4",
  );
  // BEP 3 allows a DNS name; no lookup is made, the sender's address is kept (as the original).
  for (const name of ["example.org", "tracker-peer.example.org.", "localhost", "a1"]) {
    const r = parseAnnounceQuery(`${base}&ip=${name}`, "10.0.0.1", proxy).request;
    assert.equal(r.ip, "10.0.0.1", name);
  }
  assert.equal(
    parseAnnounceQuery(base + "&ip=host.example", "2001:db8::5", proxy).request.ip,
    "2001:db8::5",
  );
  // Neither an address nor a name: refused.
  for (const bad of ["1.2.3.999", "1.2.3", "-x.org", "a..b", "bad%20name", "x".repeat(254)]) {
    assert.throws(
      () => parseAnnounceQuery(`${base}&ip=${bad}`, "10.0.0.1", proxy),
      /invalid ip/,
      bad,
    );
  }
});

Deno.test("an ip with an IPv6 zone id is refused, not kept as a second form of the address", () => {
  // Found by the fuzzer (tests/fuzz): "fe80::1%eth0" and "::1%1" came back as the peer's address.
  const proxy = { allowProxy: true };
  for (const ip of ["fe80%3A%3A1%25eth0", "%3A%3A1%251", "%3A%3Affff%3A1.2.3.4%25x"]) {
    assert.throws(
      () => parseAnnounceQuery(`${base}&ip=${ip}`, "10.0.0.1", proxy),
      (e: unknown) => e instanceof QueryError && /^invalid ip: "/.test(e.message),
      ip,
    );
  }
});

Deno.test("BEP 7: address families wanted", () => {
  assert.equal(parseAnnounceQuery(base, "10.0.0.1", opts).request.want, Want.V4);
  assert.equal(
    parseAnnounceQuery(base + "&ipv6=2001%3Adb8%3A%3A1", "10.0.0.1", opts).request.want,
    Want.Both,
  );
  assert.equal(parseAnnounceQuery(base, "2001:db8::1", opts).request.want, Want.Both);
});

Deno.test("scrape: every info_hash in order, bounded, 20 bytes each", () => {
  const a = "a".repeat(20), b = "b".repeat(20);
  assert.deepEqual(parseScrapeQuery(`info_hash=${pct(a)}&x=1&info_hash=${b}`, 10).infoHashes, [
    a,
    b,
  ]);
  assert.deepEqual(parseScrapeQuery("", 10).infoHashes, []);
  assert.throws(() => parseScrapeQuery("info_hash=short", 10), /invalid info_hash: 5 bytes/);
  // More than the bound: the first ones, and the rest of the query is not even read.
  const long = parseScrapeQuery(`info_hash=${a}&`.repeat(10) + `info_hash=${b}&info_hash=bad`, 10);
  assert.deepEqual(long, { infoHashes: Array(10).fill(a), truncated: true });
  assert.equal(parseScrapeQuery(`info_hash=${a}&`.repeat(10), 10).truncated, false);
  // Far more than the bound costs no more than the bound.
  assert.equal(
    parseScrapeQuery(`info_hash=${a}&`.repeat(100_000), 10).infoHashes.length,
    10,
  );
});
