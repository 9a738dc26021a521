/**
 * The traffic of the load generator (bench/loadgen.c) as ready datagrams, for the benchmarks that
 * drive {@linkcode UdpServer.handle} without sockets (udp_handle_bench.ts, instructions.ts):
 * 100,000 peers over 1,000 torrents, each announce asking for 50 peers.
 *
 * @module
 */
import { UdpServer } from "../src/net/udp.ts";
import { ConnectionIds } from "../src/net/connection_id.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { encodeUdpRequest } from "../src/protocol/udp_packet.ts";

export const TORRENTS = 1000;
export const PEERS = 100_000;
/** Datagrams made in advance: a power of two, so that `n & (PACKETS - 1)` cycles through them. */
export const PACKETS = 1 << 16;

/** The info hash of torrent `t`, as a binary string (any 20 distinct bytes would do). */
function infoHash(t: number): string {
  let s = "";
  let x = t * 2654435761 + 12345;
  for (let i = 0; i < 20; i++) {
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
    s += String.fromCharCode(x >>> 24);
  }
  return s;
}

/**
 * A UDP server on an in-memory tracker as `hefur serve` sets them up for the load: early
 * announces served as usual, and the clocks of src/app.ts (a copy of the time that a timer
 * refreshes once a second, so that an announce reads no system clock; a constant stands for it).
 */
export function benchServer(): UdpServer {
  const clock = () => 1_000_000;
  const tracker = new Tracker({ earlyAnnounces: "off", clock });
  return new UdpServer([], tracker, { connectionIds: new ConnectionIds(undefined, clock) });
}

/** `PACKETS` announces of the peers `peers(i)`, with a connection id valid for 127.0.0.1. */
export function announces(server: UdpServer, peers: (i: number) => number): Uint8Array[] {
  const out = new Uint8Array(4096);
  const connect = new Uint8Array([0, 0, 4, 23, 39, 16, 25, 128, 0, 0, 0, 0, 0, 0, 0, 1]);
  server.handle(connect, "127.0.0.1", out);
  const view = new DataView(out.buffer);
  const hi = view.getUint32(8);
  const lo = view.getUint32(12);
  const hashes = Array.from({ length: TORRENTS }, (_, t) => infoHash(t));
  const list: Uint8Array[] = [];
  for (let i = 0; i < PACKETS; i++) {
    const peer = peers(i);
    list.push(
      encodeUdpRequest({
        kind: "announce",
        connectionIdHi: hi,
        connectionIdLo: lo,
        transactionId: i,
        infoHash: hashes[peer % TORRENTS],
        peerId: `-LG0001-${String(peer).padStart(12, "0")}`,
        downloaded: 0,
        left: peer % 4 === 0 ? 0 : 1_000_000 + peer,
        uploaded: 0,
        event: 0,
        ip: 0,
        key: peer,
        numwant: 50,
        port: 1024 + Math.floor(peer / TORRENTS) % 60000,
      }).slice(),
    );
  }
  return list;
}

/**
 * Fills every swarm, then returns announces of peers chosen at random, as the generator sends
 * them, and the function that hands one to the server the way the packet loop does: copied into
 * one receive buffer (Deno copies each datagram into it).
 */
export function steadyState(server: UdpServer): {
  random: Uint8Array[];
  handle: (packet: Uint8Array) => number;
} {
  const out = new Uint8Array(65536);
  const recv = new Uint8Array(4096);
  const handle = (packet: Uint8Array) => {
    recv.set(packet);
    return server.handle(recv.subarray(0, packet.length), "127.0.0.1", out);
  };
  for (let p = 0; p < PEERS; p += PACKETS) {
    for (const pkt of announces(server, (i) => (p + i) % PEERS)) handle(pkt);
  }
  let seed = 1;
  const random = announces(server, () => {
    seed = Math.imul(seed ^ (seed >>> 13), 0x5bd1e995) + 0x6b43a9b5 >>> 0;
    return seed % PEERS;
  });
  return { random, handle };
}
