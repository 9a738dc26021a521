/**
 * Cost of the WebSocket tracker's pure path per message: reading a masked frame, decoding the JSON
 * announce, the core's announce with offer routing, and encoding the replies.
 * Run: `deno bench --allow-all bench/webtorrent_bench.ts`.
 *
 * @module
 */
import { encodeText, FrameReader } from "../src/protocol/websocket_frame.ts";
import {
  encodeAnnounceReply,
  encodeRelayedOffer,
  parseWebTorrentMessage,
  type WebTorrentAnnounce,
} from "../src/protocol/webtorrent.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { WsTracker } from "../src/tracker/ws_tracker.ts";

const id = (n: number) =>
  String.fromCharCode(...Array.from({ length: 20 }, (_, i) => (n + i) & 255));
const HASH = id(7);
const LIMITS = { maxOffers: 10, maxScrapeTorrents: 74 };
// A realistic offer: simple-peer's SDP without trickle is about 1 kB.
const SDP = "v=0\r\n" + "a=candidate:1 1 udp 2113937151 192.0.2.1 50000 typ host\r\n".repeat(16);

function announceText(peer: number, offers: number): string {
  return JSON.stringify({
    action: "announce",
    info_hash: HASH,
    peer_id: id(peer),
    event: "started",
    left: 1000,
    numwant: offers,
    offers: Array.from({ length: offers }, (_, i) => ({
      offer: { type: "offer", sdp: SDP },
      offer_id: id(200 + i),
    })),
  });
}

const message = announceText(1, 5);
const frame = encodeText(message, new Uint8Array([1, 2, 3, 4]));
const reader = new FrameReader({ maxMessageBytes: 65536, fromClient: true });

Deno.bench("frame: read a masked 5-offer announce (~6 kB)", () => {
  reader.push(frame);
});

Deno.bench("codec: parse a 5-offer announce", () => {
  parseWebTorrentMessage(message, LIMITS);
});

// A swarm of 1000 browsers, each on its own connection (numbered).
const core = new WsTracker<number>(new Tracker({ open: true }));
for (let p = 0; p < 1000; p++) {
  core.announce(p, parseWebTorrentMessage(announceText(p, 0), LIMITS) as WebTorrentAnnounce);
}
const req = parseWebTorrentMessage(message, LIMITS) as WebTorrentAnnounce;

Deno.bench("core: announce with 5 offers in a 1000-peer swarm, replies encoded", () => {
  const out = core.announce(1, req);
  encodeAnnounceReply(HASH, out.counts!, 180);
  for (let i = 0; i < out.offerTo.length; i++) encodeRelayedOffer(HASH, req.peerId, req.offers[i]);
});
