// README "Running a release", step by step, against a real `hefur serve` driven by `hefur ctl`.
import { strict as assert } from "node:assert/strict";
import { join } from "node:path";
import { parseFeed } from "@rowanmanning/feed-parser";
import { startTrackerWithCtl, tempDir } from "./process_helpers.ts";
import { failureOf, httpAnnounce } from "./support/clients.ts";
import { makeTorrent } from "./support/torrents.ts";

Deno.test("running a release: publish, feed, badge, official seed, retire, audit", async () => {
  await using tmp = await tempDir();
  const audit = join(tmp.path, "audit.jsonl");
  // 1. The tracker, with this machine (127.0.0.1) as the official seed box.
  await using server = await startTrackerWithCtl(tmp.path, [
    "--official-seed",
    "127.0.0.1",
    "--audit-log",
    audit,
    "--feed-title",
    "Distro releases",
    // Each step reads the pages right after changing what they show.
    "--page-cache",
    "0",
    "--page-render-budget",
    "0",
  ]);
  const base = `http://${server.ready.http}`;
  const { torrents, ctl } = server;

  // 2-3. Make and publish the torrent, with a web seed.
  const release = makeTorrent("distro-2.0.iso", {
    urlList: ["https://mirror.example.org/releases/distro-2.0.iso"],
  });
  const file = join(tmp.path, "distro-2.0.torrent");
  await Deno.writeFile(file, release.bytes);
  const released = await ctl("release-torrent", file);
  assert.equal(released.code, 0, released.stderr);
  assert.match(released.stdout, new RegExp(`v1 info hash: ${release.hex}`));

  // 4. Seed it from the official network: every view says the seed is online.
  assert.equal(
    failureOf(await httpAnnounce(base, { infoHash: release.key, port: 51413, left: 0 })),
    undefined,
  );
  const api = await (await fetch(`${base}/api/torrents/${release.hex}.json`)).json();
  assert.equal(api.official_seeds, 1);
  assert.match(
    await (await fetch(`${base}/metrics`)).text(),
    new RegExp(`^hefur_torrent_official_seeds\\{info_hash="${release.hex}"\\} 1$`, "m"),
  );

  // 5. The feed lists it, with its magnet link, web seed and .torrent link.
  const feed = parseFeed(await (await fetch(`${base}/feed.atom`)).text());
  assert.equal(feed.title, "Distro releases");
  assert.deepEqual(feed.items.map((i) => i.title), ["distro-2.0.iso"]);
  const item = feed.items[0];
  assert.ok(item.content?.includes(`magnet:?xt=urn:btih:${release.hex}`));
  assert.ok(item.content?.includes("ws=https%3A%2F%2Fmirror.example.org"));
  const enclosure = item.media.find((m) => m.mimeType === "application/x-bittorrent")!;
  const torrent = await fetch(enclosure.url);
  assert.deepEqual(new Uint8Array(await torrent.arrayBuffer()), release.bytes);

  // 6. The badge for the download page.
  const badge = await fetch(`${base}/badge/${release.hex}.svg`);
  assert.equal(badge.status, 200);
  assert.equal(badge.headers.get("access-control-allow-origin"), "*");
  assert.match(await badge.text(), /1 seeder · 0 leechers · 0 completed/);

  // The seed box goes away: down.
  await httpAnnounce(base, { infoHash: release.key, port: 51413, left: 0, event: "stopped" });
  const down = await (await fetch(`${base}/api/torrents/${release.hex}.json`)).json();
  assert.equal(down.official_seeds, 0);

  // 8. Retire it: gone from the directory, the feed and the badges.
  const retired = await ctl("retire-torrent", release.hex);
  assert.equal(retired.code, 0, retired.stderr);
  assert.equal(parseFeed(await (await fetch(`${base}/feed.atom`)).text()).items.length, 0);
  const gone = await fetch(`${base}/badge/${release.hex}.svg`);
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
  assert.deepEqual([...Deno.readDirSync(torrents)], []);

  // The audit log has both actions.
  const records = (await Deno.readTextFile(audit)).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => [r.command, r.result, r.hashes[0]]), [
    ["release-torrent", "ok", release.hex],
    ["retire-torrent", "ok", release.hex],
  ]);

  server.kill("SIGTERM");
  assert.equal((await server.exited).code, 0, server.stderr());
});
