// Two Hefur processes share one swarm through a real redis-server: a libtorrent seeder announces
// to one (HTTP) and a leecher to the other (UDP) and the download completes; both /stat pages
// agree; killing redis-server mid-test gives the failure reason and an error packet, then both
// recover by themselves. The password never shows in a page or a log line.
import assert from "node:assert/strict";
import { freePort, getBencoded, pct, text } from "../helpers.ts";
import { hasLibtorrent, runSwarm } from "./lt_swarm.ts";
import { hasRedis, RedisServer } from "../support/redis_server.ts";
import { FAILURE } from "../../src/tracker/tracker.ts";
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

/** One BEP 15 announce over UDP; resolves with the reply (or undefined after 2 s). */
async function udpAnnounce(port: number, infoHash: string): Promise<Uint8Array | undefined> {
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
    a.set(new TextEncoder().encode("-UD0001-000000000001"), 36);
    av.setUint32(64, 0);
    av.setUint32(68, 100);
    av.setUint32(80, 2);
    av.setInt32(92, -1);
    av.setUint16(96, 6882);
    await sock.send(a, to);
    return await recv();
  } finally {
    sock.close();
  }
}

Deno.test({
  name: "two Hefur instances on one Redis: libtorrent download, shared /stat, outage and recovery",
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
            assert.match(metrics, /^hefur_store_connected 1$/m);
            assert.match(metrics, /^hefur_peers\{state="seeder"\} 2$/m);
          }
          assert.match(sa!.body, new RegExp(`redis://\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}/2`));
        },
      });
      assert.ok(ok, log);
      assert.match(log, /OK: leecher has the right bytes/);

      // Redis goes away: HTTP announces get the failure reason, UDP ones an error packet, /stat
      // says so; nothing crashes.
      await redis.kill();
      const hash = "R".repeat(20);
      const announce = `${a.base}/announce?info_hash=${pct(hash)}&peer_id=${
        pct("-TT0001-000000000001")
      }&port=6881&uploaded=0&downloaded=0&left=10&compact=1`;
      const down = await getBencoded(announce);
      assert.equal(text(down.get("failure reason")), FAILURE.unavailable);
      const packet = await udpAnnounce(hb.udp, hash);
      assert.ok(packet !== undefined, "no UDP reply while the store is away");
      assert.equal(new DataView(packet.buffer, packet.byteOffset).getUint32(0), 3);
      assert.match(new TextDecoder().decode(packet.subarray(8)), /temporarily unavailable/);
      const during = await stat(hb);
      assert.equal(during.state, "reconnecting");
      assert.ok(during.counts !== undefined, "/stat still renders with the last counts");

      // Redis is back (empty: no persistence in this test): both recover by themselves.
      await redis.start();
      let up;
      for (let i = 0; i < 100; i++) {
        up = await getBencoded(announce);
        if (!up.has("failure reason")) break;
        await new Promise((ok) => setTimeout(ok, 100));
      }
      assert.ok(up !== undefined && !up.has("failure reason"), "A did not recover");
      assert.equal(up.get("incomplete"), 1);
      let reply;
      for (let i = 0; i < 50; i++) {
        reply = await udpAnnounce(hb.udp, hash);
        if (
          reply !== undefined && new DataView(reply.buffer, reply.byteOffset).getUint32(0) === 1
        ) {
          break;
        }
        await new Promise((ok) => setTimeout(ok, 100));
      }
      assert.ok(reply !== undefined);
      assert.equal(
        new DataView(reply.buffer, reply.byteOffset).getUint32(0),
        1,
        "B did not recover",
      );
      // B's announce came from another address and port than A's: one swarm, two leechers.
      assert.equal(new DataView(reply.buffer, reply.byteOffset).getUint32(12), 2);
      const after = await stat(hb);
      assert.equal(after.state, "connected");
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
  name: "hefur serve with an unreachable store stops at start with a clear message",
  ignore: !hasRedis,
  async fn() {
    const url = `redis://admin:${PASSWORD}@127.0.0.1:${freePort()}/0`;
    const out = await sandboxed(ENTRY, [
      "serve",
      "--http-port",
      "0",
      "--udp-port",
      "0",
      "--control-socket",
      "",
      "--store",
      url,
    ]).output();
    const err = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 1, err);
    assert.match(err, /cannot start: cannot reach the store redis:\/\/\*\*\*@127\.0\.0\.1:\d+\/0/);
    assert.ok(!err.includes(PASSWORD) && !err.includes("admin"), err);

    const bad = await sandboxed(ENTRY, ["serve", "--store", `mysql://admin:${PASSWORD}@db/1`])
      .output();
    const badErr = new TextDecoder().decode(bad.stderr);
    assert.equal(bad.code, 2, badErr);
    assert.match(badErr, /option --store: .*mysql:\/\/\*\*\*@db\/1/);
    assert.ok(!badErr.includes(PASSWORD), badErr);
  },
});
