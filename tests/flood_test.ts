// Floods against a live Hefur on loopback: slow and idle HTTP clients, more connections than
// allowed, torrents and peers past their bounds, UDP packets with forged connection ids. Each
// flood is bounded (a few hundred to a few thousand requests) and checks what the server did,
// not how fast: speed belongs in bench/.
import assert from "node:assert/strict";
import { freePort, pct, rawHttp, startTestHefur } from "./helpers.ts";
import {
  encodeUdpRequest,
  parseUdpReply,
  type UdpAnnounceRequest,
} from "../src/protocol/udp_packet.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { FAILURE } from "../src/tracker/tracker.ts";
import { decode } from "../src/protocol/bencode.ts";
import { Rng } from "./fuzz/prng.ts";

const encoder = new TextEncoder();

/** Polls `ok` every 20 ms until it holds, or fails after `ms`. */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function announcePath(hash: string, port: number, peerId = "-FL0001-" + "p".repeat(12)): string {
  return `/announce?info_hash=${pct(hash)}&peer_id=${pct(peerId)}&port=${port}` +
    "&uploaded=0&downloaded=0&left=5&compact=1";
}

/** The bencoded body of a raw HTTP response. */
function body(raw: string): Map<string, unknown> {
  const at = raw.indexOf("\r\n\r\n");
  assert.ok(at > 0, `not an HTTP response: ${JSON.stringify(raw.slice(0, 80))}`);
  return decode(Uint8Array.from(raw.slice(at + 4), (c) => c.charCodeAt(0))) as Map<
    string,
    unknown
  >;
}

const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);

/** A connection that waits, idle or sending its request head one byte at a time. */
interface SlowClient {
  /** When the connect started. */
  started: number;
  /** When the server closed it (read gave EOF or an error). */
  closed: Promise<number>;
  stop(): void;
}

async function slowClient(port: number, trickle: boolean): Promise<SlowClient> {
  const started = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let stopped = false;
  const closed = (async () => {
    const buf = new Uint8Array(1024);
    try {
      while ((await conn.read(buf)) !== null) { /* the server must not answer, only cut */ }
    } catch { /* reset: cut as well */ }
    return performance.now();
  })();
  if (trickle) {
    (async () => {
      const head = encoder.encode("GET /announce?info_hash=" + "a".repeat(200));
      // One byte every 50 ms: each read resets nothing, the deadline is for the whole head.
      for (let i = 0; i < head.length && !stopped; i++) {
        try {
          await conn.write(head.subarray(i, i + 1));
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }
  return {
    started,
    closed,
    stop() {
      stopped = true;
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

Deno.test("slowloris: idle and trickling connections are cut at --http-timeout and block no one", async () => {
  const timeout = 3000;
  await using hefur = await startTestHefur({ httpTimeout: timeout, maxHttpConnections: 1000 });
  const http = hefur.http!;
  const port = http.addr.port;
  const slow: SlowClient[] = [];
  try {
    for (let i = 0; i < 150; i++) slow.push(await slowClient(port, i % 2 === 0));
    await until(() => http.connections >= 150, 5000, "150 open connections");

    // A normal announce is answered while every slow connection is still open.
    const raw = await rawHttp(port, `GET ${announcePath("A".repeat(20), 6881)} HTTP/1.1\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(body(raw).get("incomplete"), 1);
    assert.ok(http.connections >= 150, `only ${http.connections} still open: cut too early`);

    // Then each is cut, not before its deadline, idle and trickling alike (20 ms for timer skew).
    const closedAt = await Promise.all(slow.map((s) => s.closed));
    for (let i = 0; i < slow.length; i++) {
      const lived = closedAt[i] - slow[i].started;
      assert.ok(lived >= timeout - 20, `connection ${i} cut after ${lived.toFixed(0)} ms`);
    }
    assert.ok(http.timedOut >= 150, `${http.timedOut} timed out`);
    await until(() => http.connections === 0, 5000, "every connection closed");
  } finally {
    for (const s of slow) s.stop();
    await Promise.all(slow.map((s) => s.closed));
  }
  const again = await rawHttp(port, `GET ${announcePath("A".repeat(20), 6882)} HTTP/1.1\r\n\r\n`);
  assert.equal(body(again).get("incomplete"), 2);
});

Deno.test("past --max-http-connections new connections are closed at once; service resumes", async () => {
  await using hefur = await startTestHefur({ httpTimeout: 2000, maxHttpConnections: 40 });
  const http = hefur.http!;
  const port = http.addr.port;
  const idle: SlowClient[] = [];
  const extra: SlowClient[] = [];
  try {
    for (let i = 0; i < 40; i++) idle.push(await slowClient(port, false));
    await until(() => http.connections === 40, 5000, "40 open connections");
    for (let i = 0; i < 60; i++) extra.push(await slowClient(port, false));
    await Promise.all(extra.map((s) => s.closed));
    // Every extra one was closed while the first 40 were still held: refused, not queued.
    assert.equal(http.connections, 40);
    assert.equal(http.refused, 60);
    await Promise.all(idle.map((s) => s.closed));
  } finally {
    for (const s of [...idle, ...extra]) s.stop();
    await Promise.all([...idle, ...extra].map((s) => s.closed));
  }
  await until(() => http.connections === 0, 5000, "every connection closed");
  const raw = await rawHttp(port, `GET ${announcePath("B".repeat(20), 6881)} HTTP/1.1\r\n\r\n`);
  assert.equal(body(raw).get("incomplete"), 1);
});

/** A BEP 15 client that sends one request at a time and waits for its answer. */
class UdpPeer {
  readonly conn: Deno.DatagramConn;
  readonly #server: Deno.NetAddr;
  readonly #buf = new Uint8Array(65536);
  #pending: Promise<Uint8Array | undefined> | undefined;

  constructor(serverPort: number, hostname = "127.0.0.1") {
    this.conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    this.#server = { transport: "udp", hostname: "127.0.0.1", port: serverPort };
  }

  async send(bytes: Uint8Array): Promise<void> {
    await this.conn.send(bytes, this.#server);
  }

  /** The next datagram, or undefined after `ms` of silence. One receive is pending at most. */
  async receive(ms = 3000): Promise<Uint8Array | undefined> {
    this.#pending ??= this.conn.receive(this.#buf).then(([d]) => d.slice(), () => undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silence = new Promise<"silence">((r) => timer = setTimeout(() => r("silence"), ms));
    try {
      const got = await Promise.race([this.#pending, silence]);
      if (got === "silence") return undefined;
      this.#pending = undefined;
      return got;
    } finally {
      clearTimeout(timer);
    }
  }

  async request(bytes: Uint8Array) {
    await this.send(bytes);
    const reply = await this.receive();
    assert.ok(reply !== undefined, "no reply");
    return parseUdpReply(reply);
  }

  async connect(): Promise<[number, number]> {
    const r = await this.request(encodeUdpRequest({ kind: "connect", transactionId: 1 }));
    if (r.kind !== "connect") throw new Error(`not a connect reply: ${JSON.stringify(r)}`);
    return [r.connectionIdHi, r.connectionIdLo];
  }

  async close(): Promise<void> {
    this.conn.close();
    await this.#pending;
  }
}

function udpAnnounce(id: [number, number], fields: Partial<UdpAnnounceRequest>): Uint8Array {
  return encodeUdpRequest({
    kind: "announce",
    connectionIdHi: id[0],
    connectionIdLo: id[1],
    transactionId: 7,
    infoHash: "h".repeat(20),
    peerId: "-FL0001-" + "u".repeat(12),
    downloaded: 0,
    left: 100,
    uploaded: 0,
    event: AnnounceEvent.Started,
    ip: 0,
    key: 0,
    numwant: -1,
    port: 6881,
    ...fields,
  });
}

Deno.test("open mode: a burst of random info hashes stops at --max-torrents with a clear reason", async () => {
  // One address sends all 1000: the per-address rate limit (rate_limit_test.ts) is set aside so
  // that the torrent bound is what answers.
  await using hefur = await startTestHefur({
    maxTorrents: 300,
    udpPort: freePort("udp"),
    announceRate: 0,
  });
  const rng = new Rng(42);
  const peer = new UdpPeer(hefur.udp!.addr.port);
  const reasons = new Map<string, number>();
  let tracked = 0;
  try {
    const id = await peer.connect();
    for (let i = 0; i < 1000; i++) {
      const r = await peer.request(udpAnnounce(id, { infoHash: rng.binary(20), transactionId: i }));
      assert.equal(r.transactionId, i);
      if (r.kind === "announce") tracked++;
      else if (r.kind === "error") reasons.set(r.message, (reasons.get(r.message) ?? 0) + 1);
      else assert.fail(`unexpected reply ${r.kind}`);
    }
  } finally {
    await peer.close();
  }
  assert.equal(tracked, 300);
  assert.deepEqual([...reasons], [[FAILURE.full, 700]]);
  assert.equal(hefur.tracker.size, 300);

  // Over HTTP the same refusal, as a bencoded failure reason.
  const port = hefur.http!.addr.port;
  for (let i = 0; i < 20; i++) {
    const raw = await rawHttp(
      port,
      `GET ${announcePath(rng.binary(20), 7000 + i)} HTTP/1.1\r\n\r\n`,
    );
    assert.equal(text(body(raw).get("failure reason")), "tracker is full: too many torrents");
  }
  assert.equal(hefur.tracker.size, 300);
  assert.equal(hefur.tracker.counters.failures, 720);
  // Torrents already tracked are still served.
  const first = hefur.tracker.torrents().next().value!.infoHash;
  const raw = await rawHttp(port, `GET ${announcePath(first, 7100)} HTTP/1.1\r\n\r\n`);
  assert.equal(body(raw).get("incomplete"), 2);
});

Deno.test("one address announcing many fake peers is held to --max-peers", async () => {
  const maxPeers = 64;
  // As above: the per-address rate limit would refuse most of these before the swarm bound.
  await using hefur = await startTestHefur({ maxPeers, udpPort: freePort("udp"), announceRate: 0 });
  const peer = new UdpPeer(hefur.udp!.addr.port);
  const hash = "f".repeat(20);
  try {
    const id = await peer.connect();
    for (let port = 1; port <= 1000; port++) {
      const r = await peer.request(
        udpAnnounce(id, { infoHash: hash, port, numwant: 200, transactionId: port }),
      );
      if (r.kind !== "announce") throw new Error(`refused: ${JSON.stringify(r)}`);
      assert.ok(r.seeders + r.leechers <= maxPeers, `${r.leechers} leechers after ${port}`);
      // numwant is clamped to --max-numwant (100), and the swarm never has more than 63 others.
      assert.ok(r.peers.length <= 6 * (maxPeers - 1), `${r.peers.length / 6} peers`);
    }
  } finally {
    await peer.close();
  }
  const swarm = hefur.tracker.get(hash)!.swarm;
  assert.equal(swarm.size, maxPeers);
  assert.equal(swarm.incomplete, maxPeers);
  // The last 64 ports are the ones kept: the peer heard from longest ago goes first.
  const ports = [...swarm.peers()].map((p) => p.port).sort((a, b) => a - b);
  assert.deepEqual(ports, Array.from({ length: maxPeers }, (_, i) => 1000 - maxPeers + 1 + i));
});

Deno.test("UDP: forged connection ids get nothing back and cost the core nothing", async () => {
  await using hefur = await startTestHefur({ udpPort: freePort("udp") });
  const udp = hefur.udp!;
  const rng = new Rng(7);
  const flood = new UdpPeer(udp.addr.port);
  let sentBytes = 0;
  let sent = 0;
  let receivedBytes = 0;
  try {
    for (let i = 0; i < 3000; i++) {
      const id: [number, number] = [rng.u32(), rng.u32()];
      let p: Uint8Array;
      switch (i % 3) {
        case 0:
          p = udpAnnounce(id, { infoHash: rng.binary(20), numwant: 1000 });
          break;
        case 1: // the largest scrape: 74 hashes
          p = encodeUdpRequest({
            kind: "scrape",
            connectionIdHi: id[0],
            connectionIdLo: id[1],
            transactionId: i,
            infoHashes: Array.from({ length: 74 }, () => rng.binary(20)),
          });
          break;
        default: // malformed but "sendable": an announce cut short
          p = udpAnnounce(id, {}).subarray(0, 16 + rng.int(80));
      }
      await flood.send(p);
      sent++;
      sentBytes += p.length;
      // Let the server keep up now and then, so the kernel does not drop the lot.
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 2));
    }
    // Wait until the server has read what reached it (loopback may drop some of a burst).
    let seen = -1;
    for (let quiet = 0; quiet < 3 && udp.counters.packets < sent;) {
      await new Promise((r) => setTimeout(r, 100));
      quiet = udp.counters.packets === seen ? quiet + 1 : 0;
      seen = udp.counters.packets;
    }
    for (let r = await flood.receive(300); r !== undefined; r = await flood.receive(300)) {
      receivedBytes += r.length;
    }
  } finally {
    await flood.close();
  }
  const c = udp.counters;
  assert.equal(receivedBytes, 0, `${receivedBytes} bytes answered to ${sentBytes} forged`);
  assert.ok(c.packets >= sent / 2, `only ${c.packets} of ${sent} packets arrived`);
  assert.equal(c.replies, 0);
  assert.equal(c.exceptions, 0);
  assert.equal(c.badConnectionIds, c.packets, "every packet was dropped at the id check");
  assert.equal(hefur.tracker.counters.announces, 0, "no announce reached the core");
  assert.equal(hefur.tracker.counters.scrapes, 0, "no scrape reached the core");
  assert.equal(hefur.tracker.size, 0);
});

Deno.test("UDP: a connect flood is answered byte for byte, never amplified", async () => {
  await using hefur = await startTestHefur({ udpPort: freePort("udp") });
  const flood = new UdpPeer(hefur.udp!.addr.port);
  let sentBytes = 0;
  let receivedBytes = 0;
  let replies = 0;
  try {
    for (let i = 0; i < 500; i++) {
      const p = encodeUdpRequest({ kind: "connect", transactionId: i });
      sentBytes += p.length;
      await flood.send(p);
      const reply = await flood.receive();
      assert.ok(reply !== undefined, `no reply to connect ${i}`);
      receivedBytes += reply.length;
      replies++;
    }
  } finally {
    await flood.close();
  }
  assert.equal(replies, 500);
  assert.equal(receivedBytes, sentBytes, "a connect reply is exactly as long as the request");
});
