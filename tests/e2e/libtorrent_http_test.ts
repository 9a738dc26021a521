// A real BitTorrent client (python3-libtorrent) completes a download through the HTTP tracker.
import assert from "node:assert/strict";
import { startTestHefur } from "../helpers.ts";
import { hasLibtorrent, runSwarm } from "./lt_swarm.ts";

Deno.test({
  name: "libtorrent seeder and leecher complete a download over HTTP",
  ignore: !hasLibtorrent,
  async fn() {
    await using hefur = await startTestHefur();
    const url = `http://127.0.0.1:${hefur.http!.addr.port}/announce`;
    const { ok, log } = await runSwarm(url);
    assert.ok(ok, log);
    assert.match(log, /OK: leecher has the right bytes/);
    // Both peers announced to us, and the leecher's completion was counted.
    const [torrent] = [...hefur.tracker.torrents()];
    assert.ok(
      torrent.swarm.downloaded >= 1 || torrent.swarm.complete >= 1,
      "tracker saw the swarm",
    );
  },
});
