/**
 * Cost of the UDP codec per packet, against the target of ~70k packets/s per process.
 * Run: `deno bench --allow-all bench/udp_packet_bench.ts`.
 *
 * @module
 */

import type { AnnounceReply } from "../src/protocol/types.ts";
import {
  encodeUdpRequest,
  parseUdpRequest,
  UdpParseScratch,
  writeAnnounceReply,
  writeScrapeReply,
} from "../src/protocol/udp_packet.ts";

const hash = (n: number) => String.fromCharCode(...Array.from({ length: 20 }, (_, i) => n + i));
const announce = encodeUdpRequest({
  kind: "announce",
  connectionIdHi: 1,
  connectionIdLo: 2,
  transactionId: 3,
  infoHash: hash(1),
  peerId: hash(100),
  downloaded: 1e9,
  left: 5e8,
  uploaded: 1e6,
  event: 0,
  ip: 0,
  key: 42,
  numwant: -1,
  port: 6881,
}).slice();
const scrape = encodeUdpRequest({
  kind: "scrape",
  connectionIdHi: 1,
  connectionIdLo: 2,
  transactionId: 3,
  infoHashes: Array.from({ length: 74 }, (_, i) => hash(i)),
}).slice();
const reply: AnnounceReply = {
  interval: 1800,
  minInterval: 900,
  complete: 10,
  incomplete: 20,
  downloaded: 5,
  peers4: new Uint8Array(6 * 50).fill(7),
  peers6: new Uint8Array(0),
  peerIds: [],
};
const counts = Array.from(
  { length: 74 },
  (_, i) => i % 2 ? { complete: i, incomplete: i, downloaded: i } : undefined,
);
const scratch = new UdpParseScratch();
const out = new Uint8Array(65536);
let sink = 0;

Deno.bench("parse announce (scratch)", () => {
  const r = parseUdpRequest(announce, undefined, scratch);
  if (r.kind === "announce") sink ^= r.port;
});
Deno.bench("parse announce (fresh objects)", () => {
  const r = parseUdpRequest(announce);
  if (r.kind === "announce") sink ^= r.port;
});
Deno.bench("parse scrape of 74 hashes (scratch)", () => {
  const r = parseUdpRequest(scrape, undefined, scratch);
  if (r.kind === "scrape") sink ^= r.infoHashes.length;
});
Deno.bench("write announce reply, 50 IPv4 peers", () => {
  sink ^= writeAnnounceReply(out, 3, reply, 4);
});
Deno.bench("write scrape reply, 74 entries", () => {
  sink ^= writeScrapeReply(out, 3, counts);
});

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink);
});
