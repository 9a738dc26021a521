/**
 * The load generator of `udp_bench.ts`, run as its own process (pinned to a core of its own): it
 * speaks BEP 15 to a server over loopback from several 127.0.0.x source addresses and prints one
 * JSON line of results.
 *
 * Each source socket keeps `window` requests in flight: a reply (matched by transaction id)
 * frees its slot, which at once sends the next request; a slot silent for a second is counted
 * lost and re-sent, so a dropped datagram cannot stall the run. First every peer announces once
 * (`started`, not measured) so the swarms are full; then for `duration` ms the slots send a mix of
 * announces (90%), scrapes of 10 hashes (5%) and connects (5%) for random peers.
 *
 * Against an echo server (`--echo`) the same datagrams come back unchanged, with the transaction
 * id at byte 12 instead of byte 4.
 *
 * Usage: `deno run -A bench/udp_load.ts --port P [--echo] [--duration MS] [--sources N]
 * [--window W] [--torrents T] [--peers N]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { encodeUdpRequest, type UdpAnnounceRequest } from "../src/protocol/udp_packet.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    echo: { type: "boolean", default: false },
    duration: { type: "string", default: "10000" },
    sources: { type: "string", default: "4" },
    window: { type: "string", default: "16" },
    torrents: { type: "string", default: "1000" },
    peers: { type: "string", default: "100000" },
  },
});
const PORT = Number(values.port);
const ECHO = values.echo;
const DURATION_MS = Number(values.duration);
const SOURCES = Number(values.sources);
const WINDOW = Number(values.window);
const TORRENTS = Number(values.torrents);
const PEERS = Number(values.peers);
const PEERS_PER_SOURCE = Math.ceil(PEERS / SOURCES);
const LOST_AFTER_MS = 1000;
const TID_AT = ECHO ? 12 : 4;

/** A 20-byte info hash: a prefix byte, three zeros, then `n` in 16 hex digits. */
function key20(prefix: number, n: number): string {
  const digits = n.toString(16).padStart(16, "0");
  return String.fromCharCode(prefix, 0, 0, 0) + digits;
}

/** A peer id as clients make them: an Azureus-style client prefix, then 12 pseudo-random bytes. */
function peerId(n: number): string {
  let x = Math.imul(n + 1, 0x9e3779b1) >>> 0;
  let s = "-DE2060-";
  for (let i = 0; i < 12; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s += String.fromCharCode(x >>> 24);
  }
  return s;
}

// Made once, so the generator spends its time on the wire rather than building strings.
const HASHES = Array.from({ length: TORRENTS }, (_, t) => key20(1, t));
const PEER_IDS = Array.from({ length: PEERS_PER_SOURCE * SOURCES }, (_, p) => peerId(p));

const SERVER = { transport: "udp" as const, hostname: "127.0.0.1", port: PORT };

/** Counts kept while measuring. */
const stats = { sent: 0, replies: 0, announces: 0, scrapes: 0, connects: 0, errors: 0, lost: 0 };
const latencies = new Float64Array(4_000_000);
let latencyCount = 0;
let measuring = false;
let stopping = false;

/** One source address with its socket and its in-flight slots. */
class Source {
  readonly conn: Deno.DatagramConn;
  readonly index: number;
  connHi = 0;
  connLo = 0;
  readonly sentAt = new Float64Array(WINDOW);
  readonly tids = new Uint32Array(WINDOW);
  readonly kinds = new Uint8Array(WINDOW);
  readonly bufs: Uint8Array[] = Array.from({ length: WINDOW }, () => new Uint8Array(256));
  readonly announce: UdpAnnounceRequest = {
    kind: "announce",
    connectionIdHi: 0,
    connectionIdLo: 0,
    transactionId: 0,
    infoHash: "",
    peerId: "",
    downloaded: 0,
    left: 0,
    uploaded: 0,
    event: AnnounceEvent.Started,
    ip: 0,
    key: 0,
    numwant: -1,
    port: 0,
  };
  /** Next peer to announce during the fill phase; -1 once every peer announced. */
  fill = 0;
  seq = 1;

  constructor(index: number) {
    this.index = index;
    this.conn = Deno.listenDatagram({
      transport: "udp",
      hostname: `127.0.0.${index + 1}`,
      port: 0,
    });
  }

  /** Sends the next request on `slot`. */
  send(slot: number): void {
    const tid = ((this.seq++ & 0xffffff) << 8 | slot) >>> 0;
    this.tids[slot] = tid;
    let kind: number;
    let packet: Uint8Array;
    const buf = this.bufs[slot];
    const roll = Math.random();
    if (this.fill >= 0 || roll < 0.9) {
      kind = 1;
      let local: number;
      if (this.fill >= 0) {
        local = this.fill++;
        if (this.fill >= PEERS_PER_SOURCE) this.fill = -1;
      } else local = Math.floor(Math.random() * PEERS_PER_SOURCE);
      const peer = this.index * PEERS_PER_SOURCE + local;
      const a = this.announce;
      a.connectionIdHi = this.connHi;
      a.connectionIdLo = this.connLo;
      a.transactionId = tid;
      a.infoHash = HASHES[peer % TORRENTS];
      a.peerId = PEER_IDS[peer];
      a.left = peer % 3 === 0 ? 0 : 1_000_000;
      a.event = this.fill >= 0 ? AnnounceEvent.Started : AnnounceEvent.None;
      a.port = 10_000 + local;
      packet = encodeUdpRequest(a, buf);
    } else if (roll < 0.95) {
      kind = 2;
      const first = Math.floor(Math.random() * TORRENTS);
      packet = encodeUdpRequest({
        kind: "scrape",
        connectionIdHi: this.connHi,
        connectionIdLo: this.connLo,
        transactionId: tid,
        infoHashes: Array.from({ length: 10 }, (_, i) => HASHES[(first + i) % TORRENTS]),
      }, buf);
    } else {
      kind = 0;
      packet = encodeUdpRequest({ kind: "connect", transactionId: tid }, buf);
    }
    this.kinds[slot] = kind;
    this.sentAt[slot] = performance.now();
    if (measuring) stats.sent++;
    this.conn.send(packet, SERVER).catch(() => stats.errors++);
  }

  /** Connects once (so announces carry a valid id), then runs the slots until stopped. */
  async run(): Promise<void> {
    const recv = new Uint8Array(65536);
    const hello = encodeUdpRequest({ kind: "connect", transactionId: 0 }).slice();
    for (;;) {
      await this.conn.send(hello, SERVER);
      const timer = setTimeout(() => this.conn.send(hello, SERVER).catch(() => {}), 500);
      const [reply] = await this.conn.receive(recv);
      clearTimeout(timer);
      if (ECHO || reply.length >= 16) {
        this.connHi = ECHO ? 0 : readU32(reply, 8);
        this.connLo = ECHO ? 0 : readU32(reply, 12);
        break;
      }
    }
    for (let s = 0; s < WINDOW; s++) this.send(s);
    const sweep = setInterval(() => {
      const now = performance.now();
      for (let s = 0; s < WINDOW; s++) {
        if (now - this.sentAt[s] > LOST_AFTER_MS) {
          if (measuring) stats.lost++;
          this.send(s);
        }
      }
    }, 200);
    try {
      while (!stopping) {
        let reply: Uint8Array;
        try {
          [reply] = await this.conn.receive(recv);
        } catch {
          break;
        }
        if (reply.length < 16) continue;
        const tid = readU32(reply, TID_AT);
        const slot = tid & 0xff;
        if (slot >= WINDOW || this.tids[slot] !== tid) continue;
        if (!ECHO && readU32(reply, 0) === 0) {
          this.connHi = readU32(reply, 8);
          this.connLo = readU32(reply, 12);
        }
        if (measuring) {
          stats.replies++;
          const kind = this.kinds[slot];
          if (kind === 1) stats.announces++;
          else if (kind === 2) stats.scrapes++;
          else stats.connects++;
          if (latencyCount < latencies.length) {
            latencies[latencyCount++] = performance.now() - this.sentAt[slot];
          }
        }
        if (!stopping) this.send(slot);
      }
    } finally {
      clearInterval(sweep);
    }
  }
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

const sources = Array.from({ length: SOURCES }, (_, i) => new Source(i));
const runs = sources.map((s) => s.run());

// Fill phase: wait until every source has announced each of its peers once.
const fillStart = performance.now();
while (sources.some((s) => s.fill >= 0)) await new Promise((ok) => setTimeout(ok, 50));
const fillMs = performance.now() - fillStart;
// A short settle, then measure.
await new Promise((ok) => setTimeout(ok, 500));
measuring = true;
const startEpochMs = Date.now();
const start = performance.now();
await new Promise((ok) => setTimeout(ok, DURATION_MS));
measuring = false;
const elapsed = (performance.now() - start) / 1000;
const endEpochMs = Date.now();
stopping = true;
for (const s of sources) s.conn.close();
await Promise.all(runs);

const lat = latencies.subarray(0, latencyCount).sort();
const pct = (q: number) =>
  lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] : 0;
console.log(JSON.stringify({
  elapsed,
  startEpochMs,
  endEpochMs,
  fillMs,
  ...stats,
  repliesPerSec: stats.replies / elapsed,
  announcesPerSec: stats.announces / elapsed,
  p50ms: pct(0.5),
  p99ms: pct(0.99),
}));
