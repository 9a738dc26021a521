/**
 * What a UDP flood costs Hefur per packet: a forged connection id must be cheap to drop (a parse
 * and one keyed hash, no core work, no reply), beside a connect and a verified announce for
 * comparison. Run: `deno bench --allow-all bench/flood_bench.ts`.
 *
 * @module
 */
import { encodeUdpRequest } from "../src/protocol/udp_packet.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { ConnectionIds } from "../src/net/connection_id.ts";
import { CONNECTION_ID_PORT, UdpServer } from "../src/net/udp.ts";

const hash = (n: number) => String.fromCharCode(...Array.from({ length: 20 }, (_, i) => n + i));
const tracker = new Tracker();
const ids = new ConnectionIds();
const server = new UdpServer([], tracker, { connectionIds: ids });
const out = new Uint8Array(65536);
const SOURCE = "203.0.113.9";
const [hi, lo] = ids.issue(SOURCE, CONNECTION_ID_PORT);

function announce(idHi: number, idLo: number, port: number): Uint8Array {
  return encodeUdpRequest({
    kind: "announce",
    connectionIdHi: idHi,
    connectionIdLo: idLo,
    transactionId: 3,
    infoHash: hash(1),
    peerId: hash(100),
    downloaded: 0,
    left: 500,
    uploaded: 0,
    event: AnnounceEvent.None,
    ip: 0,
    key: 42,
    numwant: 50,
    port,
  }).slice();
}

// A swarm of 100 peers for the verified announces to draw from.
for (let p = 0; p < 100; p++) server.handle(announce(hi, lo, 10_000 + p), SOURCE, out);

const forgedAnnounce = announce(hi ^ 0x5a5a5a5a, lo, 6881);
const forgedScrape = encodeUdpRequest({
  kind: "scrape",
  connectionIdHi: 0x12345678,
  connectionIdLo: 0x9abcdef0,
  transactionId: 3,
  infoHashes: Array.from({ length: 74 }, (_, i) => hash(i)),
}).slice();
const connect = encodeUdpRequest({ kind: "connect", transactionId: 3 }).slice();
const verified = announce(hi, lo, 6881);

Deno.bench("forged id: announce dropped", { group: "flood", baseline: true }, () => {
  if (server.handle(forgedAnnounce, SOURCE, out) !== 0) throw new Error("answered");
});

Deno.bench("forged id: scrape of 74 hashes dropped", { group: "flood" }, () => {
  if (server.handle(forgedScrape, SOURCE, out) !== 0) throw new Error("answered");
});

Deno.bench("connect: 16 bytes in, 16 out", { group: "flood" }, () => {
  if (server.handle(connect, SOURCE, out) !== 16) throw new Error("not 16 bytes");
});

Deno.bench("verified announce, swarm of 100, 50 peers back", { group: "flood" }, () => {
  server.handle(verified, SOURCE, out);
});
