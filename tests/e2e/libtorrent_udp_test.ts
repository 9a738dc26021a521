// A real BitTorrent client (python3-libtorrent) completes a download through the UDP tracker,
// over IPv4 and over IPv6 (where the announce replies carry 18-byte peers).
import assert from "node:assert/strict";
import { freePort, startTestHefur } from "../helpers.ts";
import { hasLibtorrent, runSwarm } from "./lt_swarm.ts";

const hasIpv6 = (() => {
  try {
    Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

for (const [family, host, bind] of [["IPv4", "127.0.0.1", "127.0.0.1"], ["IPv6", "[::1]", "::1"]]) {
  Deno.test({
    name: `libtorrent seeder and leecher complete a download over UDP (${family})`,
    ignore: !hasLibtorrent || (family === "IPv6" && !hasIpv6),
    async fn() {
      await using hefur = await startTestHefur({
        bindAddr: bind,
        httpPort: 0,
        udpPort: freePort("udp", bind),
      });
      const { ok, log } = await runSwarm(`udp://${host}:${hefur.udp!.addr.port}/announce`, bind);
      assert.ok(ok, log);
      assert.match(log, /OK: leecher has the right bytes/);
      // Both peers reached the swarm through UDP, from the loopback address of their family.
      const [torrent] = [...hefur.tracker.torrents()];
      assert.ok(hefur.udp!.counters.announces >= 2, JSON.stringify(hefur.udp!.counters));
      assert.equal(hefur.udp!.counters.exceptions, 0);
      const ips = new Set([...torrent.swarm.peers()].map((p) => p.ip));
      assert.deepEqual([...ips], [bind]);
    },
  });
}
