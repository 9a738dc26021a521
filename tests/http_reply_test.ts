// Encoding announce, scrape and failure bodies: byte-exact vectors and a decode cross-check.
import assert from "node:assert/strict";
import {
  encodeAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
} from "../src/protocol/http_reply.ts";
import { decode } from "../src/protocol/bencode.ts";
import type { AnnounceReply } from "../src/protocol/types.ts";

const latin1 = (b: Uint8Array) => new TextDecoder("latin1").decode(b);

const reply: AnnounceReply = {
  interval: 900,
  minInterval: 60,
  complete: 2,
  incomplete: 1,
  downloaded: 7,
  peers4: new Uint8Array([10, 0, 0, 2, 0x1a, 0xe1]),
  peers6: new Uint8Array([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1, 0, 80]),
  peerIds: ["A".repeat(20), "B".repeat(20)],
};

Deno.test("compact announce reply: sorted keys, peers and peers6 as bytes", () => {
  assert.equal(
    latin1(encodeAnnounceReply(reply, true, false)),
    "d8:completei2e10:downloadedi7e10:incompletei1e8:intervali900e12:min intervali60e" +
      "5:peers6:\x0a\x00\x00\x02\x1a\xe1" +
      "6:peers618:\x20\x01\x0d\xb8" + "\x00".repeat(11) + "\x01\x00\x50e",
  );
});

Deno.test("non-compact reply lists dictionaries with ip, peer id and port", () => {
  assert.equal(
    latin1(encodeAnnounceReply(reply, false, false)),
    "d8:completei2e10:downloadedi7e10:incompletei1e8:intervali900e12:min intervali60e" +
      "5:peersld2:ip8:10.0.0.27:peer id20:" + "A".repeat(20) + "4:porti6881ee" +
      "d2:ip11:2001:db8::17:peer id20:" + "B".repeat(20) + "4:porti80eeee",
  );
  const noId = latin1(encodeAnnounceReply(reply, false, true));
  assert.ok(!noId.includes("peer id"));
  assert.ok(noId.includes("d2:ip8:10.0.0.24:porti6881ee"));
});

Deno.test("failure reason is a bencoded UTF-8 string", () => {
  assert.equal(
    latin1(encodeFailure("torrent not found")),
    "d14:failure reason17:torrent not founde",
  );
  const decoded = decode(encodeFailure("é")) as Map<string, Uint8Array>;
  assert.equal(new TextDecoder().decode(decoded.get("failure reason")), "é");
});

Deno.test("scrape reply: files sorted by hash, duplicates once, flags after files", () => {
  const a = "a".repeat(20), b = "b".repeat(20);
  const c = { complete: 1, incomplete: 2, downloaded: 3 };
  assert.equal(
    latin1(encodeScrapeReply([[b, c], [a, c], [b, c]], 900)),
    `d5:filesd20:${a}d8:completei1e10:downloadedi3e10:incompletei2ee` +
      `20:${b}d8:completei1e10:downloadedi3e10:incompletei2eee` +
      "5:flagsd20:min_request_intervali900eee",
  );
  assert.equal(
    latin1(encodeScrapeReply([], 60)),
    "d5:filesde5:flagsd20:min_request_intervali60eee",
  );
  assert.equal(
    latin1(encodeScrapeReply([], 60, "only 2")),
    "d5:filesde5:flagsd20:min_request_intervali60ee15:warning message6:only 2e",
  );
});

Deno.test("every reply decodes with the strict bencode decoder", () => {
  for (
    const body of [
      encodeAnnounceReply(reply, true, false),
      encodeAnnounceReply(reply, false, false),
    ]
  ) {
    const d = decode(body) as Map<string, unknown>;
    assert.equal(d.get("interval"), 900);
  }
});
