import { strict as assert } from "node:assert/strict";
import { AnnounceEvent } from "../src/protocol/types.ts";
import {
  encodeUdpRequest,
  parseUdpReply,
  parseUdpRequest,
  type UdpAnnounceRequest,
  UdpParseScratch,
} from "../src/protocol/udp_packet.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { CONNECTION_ID_PORT, UdpServer, type UdpServerOptions } from "../src/net/udp.ts";
import { ConnectionIds } from "../src/net/connection_id.ts";
import { seederJoins } from "./support/announce_requests.ts";

/** A 20-character binary string with bytes start, start+1, … (mod 256). */
function bin20(start: number): string {
  return String.fromCharCode(...Array.from({ length: 20 }, (_, i) => (start + i) & 0xff));
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function u32hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

const HASH = bin20(1);

/** `ip/port` of a stored peer. */
function peerKey(p: { ip: string; port: number }): string {
  return `${p.ip}/${p.port}`;
}
const REPLY_TIMEOUT_MS = 2000;

const hasIpv6 = (() => {
  try {
    Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

/** A BEP 15 client on its own socket, talking to one server. */
class Client {
  readonly conn: Deno.DatagramConn;
  readonly server: Deno.NetAddr;
  #buf = new Uint8Array(65536);
  #tid = 1;

  constructor(hostname: string, server: Deno.NetAddr) {
    this.conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    this.server = { ...server, hostname };
  }

  get port(): number {
    return (this.conn.addr as Deno.NetAddr).port;
  }

  nextTid(): number {
    return this.#tid++;
  }

  async send(bytes: Uint8Array): Promise<void> {
    await this.conn.send(bytes, this.server);
  }

  /** The next datagram from the server, or a failure after a bounded wait. */
  async receive(): Promise<Uint8Array> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, no) => {
      timer = setTimeout(() => no(new Error("no reply within the time limit")), REPLY_TIMEOUT_MS);
    });
    try {
      const [data] = await Promise.race([this.conn.receive(this.#buf), timeout]);
      return data.slice();
    } finally {
      clearTimeout(timer);
    }
  }

  async request(bytes: Uint8Array): Promise<Uint8Array> {
    await this.send(bytes);
    return await this.receive();
  }

  /** Connects and returns the connection id halves. */
  async connect(): Promise<[number, number]> {
    const tid = this.nextTid();
    const r = parseUdpReply(
      await this.request(encodeUdpRequest({ kind: "connect", transactionId: tid })),
    );
    assert.equal(r.kind, "connect");
    assert.equal(r.transactionId, tid);
    if (r.kind !== "connect") throw new Error("unreachable");
    return [r.connectionIdHi, r.connectionIdLo];
  }

  /**
   * Asserts that `bytes` gets no answer: sends them, then a connect; the server handles packets in
   * order and loopback keeps them in order, so the first reply must be the connect's.
   */
  async assertNoReply(bytes: Uint8Array): Promise<void> {
    await this.send(bytes);
    const tid = 0x7fff0000 + this.nextTid();
    await this.send(encodeUdpRequest({ kind: "connect", transactionId: tid }));
    const reply = parseUdpReply(await this.receive());
    assert.equal(reply.kind, "connect", `expected no answer, got ${JSON.stringify(reply)}`);
    assert.equal(reply.transactionId, tid);
  }

  close(): void {
    this.conn.close();
  }
}

function announce(
  id: [number, number],
  fields: Partial<UdpAnnounceRequest> = {},
): UdpAnnounceRequest {
  return {
    kind: "announce",
    connectionIdHi: id[0],
    connectionIdLo: id[1],
    transactionId: 0x11223344,
    infoHash: HASH,
    peerId: bin20(100),
    downloaded: 0,
    left: 1000,
    uploaded: 0,
    event: AnnounceEvent.Started,
    ip: 0,
    key: 0,
    numwant: -1,
    port: 6881,
    ...fields,
  };
}

/** Runs `body` with a server on `hostname` (port 0) and closes everything after. */
async function withServer(
  hostname: string,
  body: (server: UdpServer, tracker: Tracker) => Promise<void>,
  options: Partial<UdpServerOptions> = {},
  tracker = new Tracker(),
): Promise<void> {
  const server = UdpServer.listen(hostname, 0, tracker, options);
  try {
    await body(server, tracker);
  } finally {
    await server.close();
  }
}

Deno.test("IPv4: connect, announce and a second peer, byte-exact", async () => {
  await withServer("127.0.0.1", async (server) => {
    const a = new Client("127.0.0.1", server.addr);
    const b = new Client("127.0.0.1", server.addr);
    try {
      // Connect: 16 bytes, action 0, the transaction id echoed, then the id.
      const tid = 0xcafebabe;
      const c = await a.request(encodeUdpRequest({ kind: "connect", transactionId: tid }));
      assert.equal(c.length, 16);
      assert.equal(toHex(c.subarray(0, 8)), "00000000" + "cafebabe");
      const idA: [number, number] = [
        ((c[8] << 24) | (c[9] << 16) | (c[10] << 8) | c[11]) >>> 0,
        ((c[12] << 24) | (c[13] << 16) | (c[14] << 8) | c[15]) >>> 0,
      ];

      // First announce: nobody else is there, so no peers; the counts include the announcer.
      const r1 = await a.request(encodeUdpRequest(announce(idA, { port: 0x1ae1 })));
      assert.equal(
        toHex(r1),
        "00000001" + "11223344" + u32hex(900) + "00000001" + "00000000",
      );

      // A seeder on another socket gets the leecher as a 6-byte peer: 127.0.0.1:6881.
      const idB = await b.connect();
      const r2 = await b.request(
        encodeUdpRequest(
          announce(idB, { transactionId: 5, peerId: bin20(200), left: 0, port: 7000 }),
        ),
      );
      assert.equal(
        toHex(r2),
        "00000001" + "00000005" + u32hex(900) + "00000001" + "00000001" + "7f000001" + "1ae1",
      );
      assert.equal(server.counters.connects, 2);
      assert.equal(server.counters.announces, 2);
      assert.equal(server.counters.replies, 4);
    } finally {
      a.close();
      b.close();
    }
  });
});

Deno.test({
  name: "IPv6: announce replies carry 18-byte peers, IPv6 only",
  ignore: !hasIpv6,
  fn: async () => {
    await withServer("::1", async (server, tracker) => {
      // An IPv4 peer in the same swarm (e.g. from HTTP) must not show up in an IPv6 reply.
      tracker.announce(seederJoins({ infoHash: HASH, peerId: bin20(50), ip: "10.0.0.1", port: 1 }));
      const a = new Client("::1", server.addr);
      const b = new Client("::1", server.addr);
      try {
        const idA = await a.connect();
        const r1 = parseUdpReply(await a.request(encodeUdpRequest(announce(idA, { port: 6881 }))));
        assert.equal(r1.kind, "announce");
        if (r1.kind !== "announce") return;
        assert.equal(r1.peers.length, 0);
        assert.equal(r1.seeders, 1);
        assert.equal(r1.leechers, 1);

        const idB = await b.connect();
        const r2 = await b.request(
          encodeUdpRequest(announce(idB, { transactionId: 9, peerId: bin20(200), port: 7000 })),
        );
        assert.equal(
          toHex(r2),
          "00000001" + "00000009" + u32hex(900) + "00000002" + "00000001" +
            "00000000000000000000000000000001" + "1ae1",
        );
      } finally {
        a.close();
        b.close();
      }
    });
  },
});

Deno.test("a v4-mapped source on a dual-stack socket counts as IPv4", () => {
  const tracker = new Tracker();
  const ids = new ConnectionIds();
  const server = new UdpServer([], tracker, { connectionIds: ids });
  const out = new Uint8Array(65536);
  const [hi, lo] = ids.issue("192.0.2.7", CONNECTION_ID_PORT);
  // Another IPv4 peer to be returned.
  tracker.announce(
    seederJoins({ infoHash: HASH, peerId: bin20(50), ip: "10.0.0.1", port: 0x0102 }),
  );
  const n = server.handle(encodeUdpRequest(announce([hi, lo])), "::ffff:192.0.2.7", out);
  assert.equal(toHex(out.subarray(20, n)), "0a000001" + "0102");
  // Stored under its plain IPv4 address.
  const peers = [...tracker.get(HASH)!.swarm.peers()].map(peerKey);
  assert.deepEqual(peers, ["10.0.0.1/258", "192.0.2.7/6881"]);
});

Deno.test("scrape: request order, zeros for unknown hashes, byte-exact", async () => {
  await withServer("127.0.0.1", async (server) => {
    const a = new Client("127.0.0.1", server.addr);
    try {
      const id = await a.connect();
      await a.request(encodeUdpRequest(announce(id, { left: 0 })));
      const unknown = bin20(77);
      const req = encodeUdpRequest({
        kind: "scrape",
        connectionIdHi: id[0],
        connectionIdLo: id[1],
        transactionId: 42,
        infoHashes: [unknown, HASH, unknown],
      });
      const r = await a.request(req);
      assert.equal(
        toHex(r),
        "00000002" + "0000002a" +
          "000000000000000000000000" +
          "00000001" + "00000000" + "00000000" +
          "000000000000000000000000",
      );
      assert.ok(r.length < req.length);
      assert.equal(server.counters.scrapes, 1);
    } finally {
      a.close();
    }
  });
});

Deno.test("a bad connection id gets no answer", async () => {
  await withServer("127.0.0.1", async (server) => {
    const a = new Client("127.0.0.1", server.addr);
    try {
      const id = await a.connect();
      await a.assertNoReply(encodeUdpRequest(announce([id[0] ^ 1, id[1]])));
      await a.assertNoReply(encodeUdpRequest(announce([id[0], id[1] ^ 0x80000000])));
      await a.assertNoReply(
        encodeUdpRequest({
          kind: "scrape",
          connectionIdHi: 0,
          connectionIdLo: 0,
          transactionId: 1,
          infoHashes: [HASH],
        }),
      );
      // A truncated announce with a bad id gets no error packet either.
      await a.assertNoReply(encodeUdpRequest(announce([1, 2])).subarray(0, 60));
      assert.equal(server.counters.badConnectionIds, 4);
      assert.equal(server.counters.announces, 0);
      // The id still works.
      const r = parseUdpReply(await a.request(encodeUdpRequest(announce(id))));
      assert.equal(r.kind, "announce");
    } finally {
      a.close();
    }
  });
});

Deno.test("an id is bound to the address, not the port (libtorrent shares one per process)", async () => {
  await withServer("127.0.0.1", async (server) => {
    const a = new Client("127.0.0.1", server.addr);
    const b = new Client("127.0.0.1", server.addr);
    try {
      const id = await a.connect();
      const r = parseUdpReply(await b.request(encodeUdpRequest(announce(id))));
      assert.equal(r.kind, "announce");
    } finally {
      a.close();
      b.close();
    }
  });
  // From another address the same id is refused.
  const ids = new ConnectionIds();
  const server = new UdpServer([], new Tracker(), { connectionIds: ids });
  const out = new Uint8Array(4096);
  const packet = encodeUdpRequest(announce(ids.issue("192.0.2.1", CONNECTION_ID_PORT)));
  assert.equal(server.handle(packet, "192.0.2.2", out), 0);
  assert.equal(server.handle(packet, "::ffff:192.0.2.2", out), 0);
  assert.equal(server.counters.badConnectionIds, 2);
  assert.ok(server.handle(packet, "::ffff:192.0.2.1", out) > 0);
  assert.ok(server.handle(packet, "192.0.2.1", out) > 0);
});

Deno.test("truncated and malformed packets: error packets no larger than the request, or nothing", async () => {
  await withServer("127.0.0.1", async (server) => {
    const a = new Client("127.0.0.1", server.addr);
    try {
      const id = await a.connect();
      // Announce cut to 97 bytes: sendable, answered with an error that fits in 97 bytes.
      const short = encodeUdpRequest(announce(id, { transactionId: 0xabcdef01 })).slice(0, 97);
      const e1 = await a.request(short);
      assert.ok(e1.length <= short.length);
      const p1 = parseUdpReply(e1);
      assert.deepEqual(p1, {
        kind: "error",
        transactionId: 0xabcdef01,
        message: "announce packet too short",
      });

      // Announce cut to 20 bytes: the error is cut to 20 bytes too.
      const e2 = await a.request(short.subarray(0, 20));
      assert.equal(e2.length, 20);
      assert.equal(
        toHex(e2),
        "00000003" + "abcdef01" + toHex(new TextEncoder().encode("announce pac")),
      );

      // Scrape without a whole hash: 16 + 19 bytes.
      const scrape = encodeUdpRequest({
        kind: "scrape",
        connectionIdHi: id[0],
        connectionIdLo: id[1],
        transactionId: 3,
        infoHashes: [HASH],
      }).slice(0, 35);
      const e3 = await a.request(scrape);
      assert.ok(e3.length <= 35);
      assert.deepEqual(parseUdpReply(e3), {
        kind: "error",
        transactionId: 3,
        message: "scrape without info_hash",
      });

      // Unsendable: shorter than the header, unknown action, connect without the protocol id.
      await a.assertNoReply(new Uint8Array(15));
      await a.assertNoReply(new Uint8Array(0));
      const unknown = encodeUdpRequest(announce(id)).slice(0, 16);
      unknown[11] = 9;
      await a.assertNoReply(unknown);
      const badConnect = encodeUdpRequest({ kind: "connect", transactionId: 1 }).slice();
      badConnect[0] = 1;
      await a.assertNoReply(badConnect);
      assert.equal(server.counters.malformed, 4);
      assert.equal(server.counters.errorReplies, 3);
      assert.equal(server.counters.exceptions, 0);
    } finally {
      a.close();
    }
  });
});

Deno.test("whitelist mode: an unknown torrent gets a 'torrent not found' error packet", async () => {
  const tracker = new Tracker({ open: false });
  await withServer(
    "127.0.0.1",
    async (server) => {
      const a = new Client("127.0.0.1", server.addr);
      try {
        const id = await a.connect();
        const req = encodeUdpRequest(announce(id, { transactionId: 77 }));
        const r = await a.request(req);
        assert.equal(
          toHex(r),
          "00000003" + "0000004d" + toHex(new TextEncoder().encode("torrent not found")),
        );
        assert.ok(r.length <= req.length);
        assert.equal(tracker.size, 0);
      } finally {
        a.close();
      }
    },
    {},
    tracker,
  );
});

Deno.test("whitelist mode: a scrape of only untracked torrents gets an error packet", async () => {
  const tracker = new Tracker({ open: false });
  tracker.addTorrent(HASH);
  await withServer(
    "127.0.0.1",
    async (server) => {
      const a = new Client("127.0.0.1", server.addr);
      try {
        const id = await a.connect();
        const scrape = (infoHashes: string[]) =>
          encodeUdpRequest({
            kind: "scrape",
            connectionIdHi: id[0],
            connectionIdLo: id[1],
            transactionId: 78,
            infoHashes,
          });
        const r = await a.request(scrape([bin20(50)]));
        assert.equal(
          toHex(r),
          "00000003" + "0000004e" + toHex(new TextEncoder().encode("torrent not found")),
        );
        // A mixed scrape still lines up: zeros for the untracked hash.
        const mixed = await a.request(scrape([bin20(50), HASH]));
        assert.equal(toHex(mixed.subarray(0, 8)), "00000002" + "0000004e");
        assert.equal(mixed.length, 8 + 2 * 12);
        assert.equal(toHex(mixed.subarray(8, 20)), "0".repeat(24));
      } finally {
        a.close();
      }
    },
    {},
    tracker,
  );
});

Deno.test("the ip field is honoured only with allowProxy, only when non-zero, only over IPv4", async () => {
  for (const allowProxy of [false, true]) {
    const tracker = new Tracker();
    await withServer(
      "127.0.0.1",
      async (server) => {
        const a = new Client("127.0.0.1", server.addr);
        try {
          const id = await a.connect();
          await a.request(encodeUdpRequest(announce(id, { ip: 0x0a010203, port: 1000 })));
          await a.request(
            encodeUdpRequest(announce(id, { infoHash: bin20(9), ip: 0, port: 1001 })),
          );
        } finally {
          a.close();
        }
      },
      { allowProxy },
      tracker,
    );
    const first = [...tracker.get(HASH)!.swarm.peers()].map(peerKey);
    const second = [...tracker.get(bin20(9))!.swarm.peers()].map(peerKey);
    assert.deepEqual(first, [allowProxy ? "10.1.2.3/1000" : "127.0.0.1/1000"]);
    assert.deepEqual(second, ["127.0.0.1/1001"]);
  }
  // Over IPv6 the field is ignored even with allowProxy.
  const tracker = new Tracker();
  const ids = new ConnectionIds();
  const server = new UdpServer([], tracker, { allowProxy: true, connectionIds: ids });
  const [hi, lo] = ids.issue("2001:db8::5", CONNECTION_ID_PORT);
  server.handle(
    encodeUdpRequest(announce([hi, lo], { ip: 0x0a010203 })),
    "2001:db8::5",
    new Uint8Array(4096),
  );
  assert.deepEqual([...tracker.get(HASH)!.swarm.peers()].map(peerKey), ["2001:db8::5/6881"]);
});

/** A tiny deterministic PRNG (xorshift32), so a failing fuzz run can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Random packets and mutations of valid ones carrying `id`. */
function fuzzPackets(count: number, seed: number, id: [number, number]): Uint8Array[] {
  const rnd = prng(seed);
  const valid = [
    encodeUdpRequest({ kind: "connect", transactionId: 1 }),
    encodeUdpRequest(announce(id)),
    encodeUdpRequest(announce(id, { left: 0, event: AnnounceEvent.Completed, numwant: 1000 })),
    encodeUdpRequest({
      kind: "scrape",
      connectionIdHi: id[0],
      connectionIdLo: id[1],
      transactionId: 2,
      infoHashes: [HASH, bin20(3), bin20(5)],
    }),
  ];
  const packets: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const kind = rnd() % 4;
    let p: Uint8Array;
    if (kind === 0) {
      // Pure noise of any length up to 1.5 kB, sometimes with a valid action word.
      p = Uint8Array.from({ length: rnd() % 1500 }, () => rnd() & 0xff);
      if (p.length >= 12 && rnd() % 2 === 0) p[11] = rnd() % 4;
    } else {
      const base = valid[rnd() % valid.length];
      const extra = kind === 3 ? rnd() % 200 : 0;
      p = new Uint8Array(base.length + extra);
      p.set(base);
      for (let j = base.length; j < p.length; j++) p[j] = rnd() & 0xff;
      // Flip a few bytes (often past the header, so the id stays valid), or truncate.
      const flips = rnd() % 4;
      for (let f = 0; f < flips; f++) {
        const at = rnd() % 3 === 0 ? rnd() % p.length : 16 + (rnd() % Math.max(1, p.length - 16));
        if (at < p.length) p[at] = rnd() & 0xff;
      }
      if (kind === 2) p = p.subarray(0, rnd() % (p.length + 1));
    }
    packets.push(p);
  }
  return packets;
}

Deno.test("fuzz: no reply is larger than its request unless it answers a verified announce", () => {
  const tracker = new Tracker();
  const ids = new ConnectionIds();
  const server = new UdpServer([], tracker, { connectionIds: ids });
  const out = new Uint8Array(65536);
  const id = ids.issue("127.0.0.1", CONNECTION_ID_PORT);
  const scratch = new UdpParseScratch();
  for (const p of fuzzPackets(5000, 12345, id)) {
    const n = server.handle(p, "127.0.0.1", out);
    if (n > p.length) {
      const parsed = parseUdpRequest(p, undefined, scratch);
      assert.equal(parsed.kind, "announce", `reply of ${n} bytes to ${toHex(p)}`);
      if (parsed.kind !== "announce") return;
      assert.ok(
        ids.verify("127.0.0.1", CONNECTION_ID_PORT, parsed.connectionIdHi, parsed.connectionIdLo),
      );
    }
    // From another source, where the id is not valid: never more than the request.
    const m = server.handle(p, "127.0.0.2", out);
    assert.ok(m <= p.length, `reply of ${m} bytes to ${p.length} from an unverified source`);
  }
  assert.equal(server.counters.exceptions, 0);
});

Deno.test("fuzz: a running server survives random and mutated packets and still answers", async () => {
  await withServer("127.0.0.1", async (server) => {
    const noise = new Client("127.0.0.1", server.addr);
    try {
      const id = await noise.connect();
      const packets = fuzzPackets(3000, 987654321, id);
      for (let i = 0; i < packets.length; i++) {
        await noise.send(packets[i]);
        // Let the server keep up now and then, so the kernel buffer does not drop the lot.
        if (i % 50 === 49) await new Promise((ok) => setTimeout(ok, 1));
      }
    } finally {
      noise.close();
    }
    // A fresh client gets correct answers.
    const a = new Client("127.0.0.1", server.addr);
    try {
      const id = await a.connect();
      const r = parseUdpReply(
        await a.request(encodeUdpRequest(announce(id, { infoHash: bin20(150), port: 4321 }))),
      );
      assert.deepEqual(r, {
        kind: "announce",
        transactionId: 0x11223344,
        interval: 900,
        leechers: 1,
        seeders: 0,
        peers: new Uint8Array(0),
      });
      assert.ok(server.counters.packets > 1000, `only ${server.counters.packets} packets seen`);
      assert.equal(server.counters.exceptions, 0);
    } finally {
      a.close();
    }
  });
});

Deno.test("close() stops the loop and frees the port", async () => {
  const server = UdpServer.listen("127.0.0.1", 0, new Tracker());
  const port = server.addr.port;
  await server.close();
  await server.close();
  const again = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
  again.close();
});

Deno.test("replies larger than their request go only to an address holding a valid connection id", () => {
  const tracker = new Tracker();
  // A swarm of 200 peers of each family, so that an announce reply carries many.
  for (let i = 0; i < 200; i++) {
    tracker.announce(
      seederJoins({
        infoHash: HASH,
        peerId: bin20(i),
        ip: `10.0.${i >> 8}.${i & 255}`,
        port: 1000,
      }),
    );
    tracker.announce(
      seederJoins({ infoHash: HASH, peerId: bin20(i + 50), ip: `2001:db8::${i + 1}`, port: 1000 }),
    );
  }
  const ids = new ConnectionIds();
  const server = new UdpServer([], tracker, { connectionIds: ids });
  const out = new Uint8Array(65536);
  const ask = { numwant: 200 };
  let largest = 0;
  for (
    const [holder, stranger] of [["192.0.2.1", "192.0.2.2"], ["2001:db8:1::1", "2001:db8:1::2"]]
  ) {
    const id = ids.issue(holder, CONNECTION_ID_PORT);
    const requests = [
      encodeUdpRequest(announce(id, ask)),
      encodeUdpRequest(announce(id, { ...ask, peerId: bin20(77), port: 7000 })),
      encodeUdpRequest({
        kind: "scrape",
        connectionIdHi: id[0],
        connectionIdLo: id[1],
        transactionId: 2,
        infoHashes: [HASH],
      }),
    ].map((r) => r.slice());
    for (const p of requests) {
      // The holder of the id may get more than it sent: that is what an announce is for.
      largest = Math.max(largest, server.handle(p, holder, out) / p.length);
      // Anyone else (a spoofer naming the holder's id) gets nothing at all.
      assert.equal(server.handle(p, stranger, out), 0);
    }
    // A connect reply is exactly as long as its request, from anyone.
    const connect = encodeUdpRequest({ kind: "connect", transactionId: 9 }).slice();
    assert.equal(connect.length, 16);
    assert.equal(server.handle(connect, stranger, out), 16);
    // Errors (a short announce, a scrape without a hash) never exceed the request either.
    const short = requests[0].subarray(0, 97);
    const errorLength = server.handle(short, holder, out);
    assert.ok(errorLength > 0 && errorLength <= short.length);
    const empty = requests[2].subarray(0, 16);
    const emptyLength = server.handle(empty, holder, out);
    assert.ok(emptyLength > 0 && emptyLength <= empty.length);
  }
  // Over IPv6 an announce reply is many times its 98-byte request (20 + 18 bytes a peer).
  assert.ok(largest > 10, `largest reply ${largest.toFixed(1)} times its request`);
  assert.equal(server.counters.exceptions, 0);
});
