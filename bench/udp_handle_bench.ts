/**
 * The JavaScript work of one UDP announce, without sockets: {@linkcode UdpServer.handle} fed the
 * traffic of the load generator (bench/loadgen.c): 100,000 peers over 1,000 torrents, each asking
 * for 50 peers. It prints µs of CPU per announce (CPU time, so that a shared core does not inflate
 * it), the median of 5 rounds after the swarms are full.
 *
 * What `deno task bench` measures over loopback is this plus Deno's receive and send, but not only:
 * there the kernel's network path shares the core's caches with the tracker, and the same work
 * costs 1.5 to 2 times as much (see the breakdown line of `deno task bench`). This benchmark is the
 * steady one to compare code changes with.
 *
 * Run: `deno run -A --v8-flags=--max-semi-space-size=2 bench/udp_handle_bench.ts [--seconds=S]`
 * (`deno task bench` runs it in its full form).
 *
 * @module
 */
import process from "node:process";
import { UdpServer } from "../src/net/udp.ts";
import { ConnectionIds } from "../src/net/connection_id.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { encodeUdpRequest } from "../src/protocol/udp_packet.ts";

const TORRENTS = 1000;
const PEERS = 100_000;
const PACKETS = 1 << 16;

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

/** Announces of the simulated peers, with a connection id valid for 127.0.0.1. */
function packets(server: UdpServer, peers: (i: number) => number): Uint8Array[] {
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

const seconds = Number(Deno.args.find((a) => a.startsWith("--seconds="))?.slice(10) ?? 3);
// The clocks `hefur serve` gives the core and the connection ids: a copy of the time that a timer
// refreshes once a second, so that an announce reads no system clock (src/app.ts). A constant
// stands for it here.
const clock = () => 1_000_000;
const tracker = new Tracker({ earlyAnnounces: "off", clock });
const server = new UdpServer([], tracker, { connectionIds: new ConnectionIds(undefined, clock) });
const out = new Uint8Array(65536);
// Each datagram is handled from one receive buffer, as in the packet loop (Deno copies into it).
const recv = new Uint8Array(4096);
function handle(packet: Uint8Array): number {
  recv.set(packet);
  return server.handle(recv.subarray(0, packet.length), "127.0.0.1", out);
}

// Fill every swarm, then announce at random as the generator does.
for (let p = 0; p < PEERS; p += PACKETS) {
  for (const pkt of packets(server, (i) => (p + i) % PEERS)) handle(pkt);
}
let seed = 1;
const random = packets(server, () => {
  seed = Math.imul(seed ^ (seed >>> 13), 0x5bd1e995) + 0x6b43a9b5 >>> 0;
  return seed % PEERS;
});
let sink = 0;
const rounds: number[] = [];
for (let round = 0; round < 5; round++) {
  let n = 0;
  // CPU time, not wall time: on a shared machine it leaves out the time others had the core.
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000 / 5;
  while (performance.now() < end) {
    for (let i = 0; i < 4096; i++) {
      sink ^= handle(random[(n + i) & (PACKETS - 1)]);
    }
    n += 4096;
  }
  const cpu = process.cpuUsage(cpu0);
  const us = (cpu.user + cpu.system) / n;
  rounds.push(us);
}
const median = rounds.sort((a, b) => a - b)[2];
console.log(
  `handle(announce): ${median.toFixed(3)} µs (median of 5), ${
    Math.round(1e6 / median).toLocaleString("en")
  }/s`,
);
if (server.counters.replies !== 0 || sink === 0.5) console.log(server.counters);
