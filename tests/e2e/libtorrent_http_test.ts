// A real BitTorrent client (python3-libtorrent) completes a download through the HTTP tracker.
import assert from "node:assert/strict";
import { startTestHefur } from "../helpers.ts";

const PYTHON = "/usr/bin/python3";
const hasLibtorrent = await new Deno.Command(PYTHON, {
  args: ["-c", "import libtorrent"],
  stderr: "null",
})
  .output().then((o) => o.success).catch(() => false);

/** Runs tests/e2e/lt_swarm.py against an announce URL; returns its exit status and output. */
export async function runSwarm(announce: string, bind = "127.0.0.1") {
  const work = await Deno.makeTempDir({ prefix: "hefur-lt-" });
  try {
    const out = await new Deno.Command(PYTHON, {
      args: [
        new URL("./lt_swarm.py", import.meta.url).pathname,
        announce,
        work,
        "--bind",
        bind,
        "--timeout",
        "60",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      ok: out.success,
      log: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

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
