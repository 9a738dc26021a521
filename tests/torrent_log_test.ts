// What `hefur serve --log-level info` says about the torrents it tracks: one line per torrent added
// or removed after start-up, and the state file's torrents counted once the first walk is done.
import assert from "node:assert/strict";
import { join } from "node:path";
import { eventually, loopbackServeArgs, startServe, tempDir } from "./process_helpers.ts";
import { freePort } from "./helpers.ts";
import { makeTorrent } from "./support/torrents.ts";
import { announceUrl } from "./support/serve_process.ts";

Deno.test("torrents added and removed are logged at info; the state's count comes after the walk", async () => {
  await using tmp = await tempDir();
  const torrents = join(tmp.path, "torrents");
  await Deno.mkdir(torrents);
  const alpha = makeTorrent("alpha");
  const beta = makeTorrent("beta");
  await Deno.writeFile(join(torrents, "alpha.torrent"), alpha.bytes);
  const args = (socket: string, port: number) => [
    ...loopbackServeArgs(port),
    "--control-socket",
    join(tmp.path, socket),
    "--torrent-dir",
    torrents,
    "--state-file",
    join(tmp.path, "state.jsonl"),
    "--log-level",
    "info",
  ];

  const port = freePort();
  {
    await using first = await startServe(args("c1", port));
    // The first walk is summed up by the start-up line, not told torrent by torrent.
    await eventually(() => /tracking 1 torrents from 1 files/.test(first.stderr()));
    assert.doesNotMatch(first.stderr(), /tracking alpha/);

    await Deno.writeFile(join(torrents, "beta.torrent"), beta.bytes);
    await eventually(() =>
      new RegExp(`whitelist: info: tracking beta \\(${beta.hex}\\) from .*beta\\.torrent`)
        .test(first.stderr())
    );
    await Deno.remove(join(torrents, "alpha.torrent"));
    await eventually(() =>
      new RegExp(`whitelist: info: no longer tracking alpha \\(${alpha.hex}\\)`)
        .test(first.stderr())
    );
    // A completed download, so the state file has something to keep.
    await (await fetch(announceUrl(port, beta.key) + "&event=completed")).bytes();
    first.kill("SIGTERM");
    assert.equal((await first.exited).code, 0, first.stderr());
  }

  await using second = await startServe(args("c2", freePort()));
  await eventually(() =>
    /state: \d+ of the \d+ torrents of the state file are tracked/.test(second.stderr())
  );
  const log = second.stderr();
  assert.match(log, /state: loaded 1 torrents, /);
  assert.doesNotMatch(log, /tracked now/, "said before the walk that decides it");
  assert.match(log, /state: 1 of the 1 torrents of the state file are tracked\n/);
  assert.ok(log.indexOf("hefur: ready") < log.indexOf("of the state file are tracked"));
});
