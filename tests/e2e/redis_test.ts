// Two Hefur processes replicate one swarm through a real redis-server: a libtorrent seeder
// announces to one (HTTP) and a leecher to the other (UDP) and the download completes; both /stat
// pages agree; each hands out the other's peers over UDP and HTTP; killing redis-server mid-test
// fails no announce, and once it is back both hand out what the other learned meanwhile. The
// password never shows in a page or a log line.
import assert from "node:assert/strict";
import { freePort, getBencoded, pct, text } from "../helpers.ts";
import { hasLibtorrent, runSwarm } from "./lt_swarm.ts";
import { hasRedis, RedisServer } from "../support/redis_server.ts";
import { ENTRY } from "../../build.ts";
import { sandboxed, type ServeProcess, spawnServe } from "../support/serve_process.ts";

const PASSWORD = "s3cret-Pa55";

/**
 * `hefur serve` in the permission sandbox of the executable (so the Redis client is shown to work
 * under it), on loopback with free HTTP and UDP ports, logging everything.
 */
class HefurProcess {
  readonly http: number;
  readonly udp: number;
  readonly #server: ServeProcess;

  private constructor(server: ServeProcess, http: number, udp: number) {
    this.#server = server;
    this.http = http;
    this.udp = udp;
  }

  /** Starts `hefur serve` with `args`; resolves once it printed its ready line. */
  static async start(args: string[]): Promise<HefurProcess> {
    const http = freePort();
    const udp = freePort("udp");
    const server = await spawnServe(sandboxed(ENTRY, [
      "serve",
      "--bind-addr",
      "127.0.0.1",
      "--http-port",
      String(http),
      "--https-port",
      "0",
      "--udp-port",
      String(udp),
      "--control-socket",
      "",
      "--log-level",
      "debug",
      ...args,
    ]));
    return new HefurProcess(server, http, udp);
  }

  /** The base URL of its HTTP listener. */
  get base(): string {
    return `http://127.0.0.1:${this.http}`;
  }

  /** Stops it (SIGTERM) and returns everything it wrote to standard error. */
  async stop(): Promise<string> {
    return (await this.#server.stop()).stderr;
  }
}

/** The seeders, leechers and completed totals of /stat, and the store's state. */
async function stat(h: HefurProcess) {
  const res = await fetch(`${h.base}/stat`);
  const body = await res.text();
  const foot = /<tfoot>[^]*?Seeders">(\d+)<[^]*?Leechers">(\d+)<[^]*?Completed">(\d+)</.exec(body);
  const state = /id="store-state"[^>]*>([a-z]+)</.exec(body)?.[1];
  return {
    status: res.status,
    body,
    counts: foot === null ? undefined : foot.slice(1).map(Number),
    state,
  };
}

/**
 * One BEP 15 announce over UDP from the peer 127.0.0.1:`peerPort`; resolves with the reply (or
 * undefined after 2 s).
 */
async function udpAnnounce(
  port: number,
  infoHash: string,
  peerPort = 6882,
): Promise<Uint8Array | undefined> {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
  const recv = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((ok) => timer = setTimeout(() => ok(undefined), 2000));
    try {
      return await Promise.race([sock.receive().then(([b]) => b, () => undefined), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    const connect = new Uint8Array(16);
    const v = new DataView(connect.buffer);
    v.setUint32(0, 0x417);
    v.setUint32(4, 0x27101980);
    v.setUint32(8, 0);
    v.setUint32(12, 7);
    await sock.send(connect, to);
    const c = await recv();
    if (c === undefined) return undefined;
    const a = new Uint8Array(98);
    const av = new DataView(a.buffer);
    a.set(c.subarray(8, 16), 0);
    av.setUint32(8, 1);
    av.setUint32(12, 8);
    for (let i = 0; i < 20; i++) a[16 + i] = infoHash.charCodeAt(i);
    a.set(new TextEncoder().encode("-UD0001-" + String(peerPort).padStart(12, "0")), 36);
    av.setUint32(64, 0);
    av.setUint32(68, 100);
    av.setUint32(80, 2);
    av.setInt32(92, -1);
    av.setUint16(96, peerPort);
    await sock.send(a, to);
    return await recv();
  } finally {
    sock.close();
  }
}

Deno.test({
  name: "two Hefur instances on one Redis: a libtorrent download across them, the same /stat",
  ignore: !hasRedis || !hasLibtorrent,
  async fn() {
    await using redis = await RedisServer.start(PASSWORD);
    const url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}/2`;
    // /stat is read right after each change (and during the outage): not from the page cache.
    const a = await HefurProcess.start([
      "--store",
      url,
      "--page-cache",
      "0",
      "--page-render-budget",
      "0",
    ]);
    let b: HefurProcess | undefined;
    const logs: string[] = [];
    try {
      b = await HefurProcess.start([
        "--store",
        url,
        "--page-cache",
        "0",
        "--page-render-budget",
        "0",
      ]);
      const hb = b;

      // The seeder only knows A (HTTP), the leecher only B (UDP): they meet through Redis.
      const { ok, log } = await runSwarm(`${a.base}/announce`, "127.0.0.1", {
        leechAnnounce: `udp://127.0.0.1:${b.udp}/announce`,
        whileHolding: async () => {
          // The leecher's completed announce reaches B; both pages then show the same swarm:
          // two seeders, no leecher, one completed download.
          let sa, sb;
          for (let i = 0; i < 100; i++) {
            [sa, sb] = [await stat(a), await stat(hb)];
            if (sa.counts?.join() === "2,0,1" && sb.counts?.join() === "2,0,1") break;
            await new Promise((ok) => setTimeout(ok, 100));
          }
          assert.deepEqual(sa?.counts, [2, 0, 1], sa?.body);
          assert.deepEqual(sb?.counts, [2, 0, 1], sb?.body);
          assert.equal(sa?.state, "connected");
          // The JSON API, the badges and the metrics read the same shared swarm.
          for (const h of [a, hb]) {
            const stats = await (await fetch(`${h.base}/api/stats.json`)).json();
            assert.deepEqual(
              [stats.totals.torrents, stats.totals.seeders, stats.totals.leechers],
              [1, 2, 0],
            );
            assert.equal(stats.totals.completed, 1);
            const hex = stats.torrents[0].info_hash;
            const one = await (await fetch(`${h.base}/api/torrents/${hex}.json`)).json();
            assert.deepEqual([one.seeders, one.peers_total, one.peers.length], [2, 2, 2]);
            const badge = await (await fetch(`${h.base}/badge/${hex}.svg`)).text();
            assert.match(badge, /2 seeders · 0 leechers · 1 completed/);
            const metrics = await (await fetch(`${h.base}/metrics`)).text();
            assert.match(metrics, /^hefur_replication_connected 1$/m);
            assert.match(metrics, /^hefur_peers\{state="seeder"\} 2$/m);
          }
          assert.match(sa!.body, new RegExp(`redis://\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}/2`));
        },
      });
      assert.ok(ok, log);
      assert.match(log, /OK: leecher has the right bytes/);
    } finally {
      logs.push(await a.stop());
      if (b !== undefined) logs.push(await b.stop());
    }
    const all = logs.join("\n");
    assert.ok(!all.includes(PASSWORD), "the password is in a log line");
  },
});

/** The ports of the IPv4 peers in compact bytes. */
function portsOf(peers: Uint8Array): number[] {
  const out = [];
  for (let i = 0; i + 6 <= peers.length; i += 6) out.push(peers[i + 4] * 256 + peers[i + 5]);
  return out.sort((x, y) => x - y);
}

/** The peers of a UDP announce reply (after its 20-byte header), or undefined for an error. */
function udpPeers(reply: Uint8Array | undefined): number[] | undefined {
  if (reply === undefined) return undefined;
  if (new DataView(reply.buffer, reply.byteOffset).getUint32(0) !== 1) return undefined;
  return portsOf(reply.subarray(20));
}

/** An HTTP announce from 127.0.0.1:`port` (a leecher); its peers' ports, or the failure. */
async function httpPeers(h: HefurProcess, infoHash: string, port: number) {
  const r = await getBencoded(
    `${h.base}/announce?info_hash=${pct(infoHash)}&peer_id=${
      pct("-TT0001-" + String(port).padStart(12, "0"))
    }&port=${port}&uploaded=0&downloaded=0&left=10&compact=1`,
  );
  if (r.has("failure reason")) return text(r.get("failure reason"));
  return portsOf(r.get("peers") as Uint8Array);
}

/** Polls `check` every 100 ms until it returns true (at most 15 s). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await check()) return;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  assert.fail(`never happened: ${what}`);
}

Deno.test({
  name: "two instances hand out each other's peers over UDP and HTTP, through a Redis outage",
  ignore: !hasRedis,
  async fn() {
    await using redis = await RedisServer.start(PASSWORD);
    const url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}/2`;
    const a = await HefurProcess.start(["--store", url]);
    let b: HefurProcess | undefined;
    const logs: string[] = [];
    const hash = "R".repeat(20);
    try {
      b = await HefurProcess.start(["--store", url]);
      const hb = b;
      // A learns 6881 over HTTP; B hands it out over UDP, and A hands out B's 6882 over HTTP.
      assert.deepEqual(await httpPeers(a, hash, 6881), []);
      // A peer announcing again sooner than min interval gets no peers (--early-announces), so
      // polls after the first announce as new peers.
      assert.ok(udpPeers(await udpAnnounce(hb.udp, hash, 6882)) !== undefined);
      let fresh = 8000;
      await until(
        "B hands out A's peer over UDP",
        async () => udpPeers(await udpAnnounce(hb.udp, hash, fresh++))?.includes(6881) === true,
      );
      await until("A hands out B's peer over HTTP", async () => {
        const p = await httpPeers(a, hash, fresh++);
        return Array.isArray(p) && p.includes(6881) && p.includes(6882);
      });

      // Redis goes away: no announce fails on either instance; /stat says so.
      await redis.kill();
      await until("A sees Redis gone", async () => (await stat(a)).state === "reconnecting");
      const atA = await httpPeers(a, hash, 7001);
      assert.ok(Array.isArray(atA) && atA.includes(6882), `A failed an announce: ${atA}`);
      const during = udpPeers(await udpAnnounce(hb.udp, hash, 7002));
      assert.ok(during !== undefined, "B failed a UDP announce while Redis was away");
      const metrics = await (await fetch(`${a.base}/metrics`)).text();
      assert.match(metrics, /^hefur_replication_connected 0$/m);

      // Redis is back (empty: no persistence here): each hands out what the other learned.
      await redis.start();
      await until(
        "B hands out A's peer 7001",
        async () => udpPeers(await udpAnnounce(hb.udp, hash, 7002))?.includes(7001) === true,
      );
      await until("A hands out B's peer 7002", async () => {
        const p = await httpPeers(a, hash, fresh++);
        return Array.isArray(p) && p.includes(7002);
      });
      const after = await stat(hb);
      assert.equal(after.state, "connected");
      const stats = await (await fetch(`${a.base}/api/stats.json`)).json();
      assert.equal(stats.tracker.store.state, "connected");
      for (const page of [after.body, (await stat(a)).body]) {
        assert.ok(!page.includes(PASSWORD), "the password is on /stat");
      }
    } finally {
      logs.push(await a.stop());
      if (b !== undefined) logs.push(await b.stop());
    }
    const all = logs.join("\n");
    assert.match(all, /lost the store redis:\/\/\*\*\*@127\.0\.0\.1:\d+\/2/, all);
    assert.match(all, /reconnected to the store/, all);
    assert.ok(!all.includes(PASSWORD), "the password is in a log line");
  },
});

Deno.test({
  name: "hefur serve: an unreachable store is not fatal, refused credentials stop start-up",
  ignore: !hasRedis,
  async fn() {
    // Unreachable: it starts, answers from memory and says why in the log.
    const away = await HefurProcess.start([
      "--store",
      `redis://admin:${PASSWORD}@127.0.0.1:${freePort()}/0`,
    ]);
    let log = "";
    try {
      assert.deepEqual(await httpPeers(away, "U".repeat(20), 6881), []);
    } finally {
      log = await away.stop();
    }
    assert.match(log, /cannot reach the store redis:\/\/\*\*\*@127\.0\.0\.1:\d+\/0/, log);
    assert.ok(!log.includes(PASSWORD) && !log.includes("admin"), log);

    await using redis = await RedisServer.start(PASSWORD);
    const out = await sandboxed(ENTRY, [
      "serve",
      "--http-port",
      "0",
      "--udp-port",
      "0",
      "--control-socket",
      "",
      "--store",
      `redis://:wrong-${PASSWORD}@127.0.0.1:${redis.port}/0`,
    ]).output();
    const err = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 1, err);
    assert.match(err, /cannot start: cannot use the store redis:\/\/\*\*\*@127\.0\.0\.1:\d+\/0/);
    assert.ok(!err.includes(PASSWORD), err);

    const bad = await sandboxed(ENTRY, ["serve", "--store", `mysql://admin:${PASSWORD}@db/1`])
      .output();
    const badErr = new TextDecoder().decode(bad.stderr);
    assert.equal(bad.code, 2, badErr);
    assert.match(badErr, /option --store: .*mysql:\/\/\*\*\*@db\/1/);
    assert.ok(!badErr.includes(PASSWORD), badErr);
  },
});
