import { strict as assert } from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { parseFeed } from "@rowanmanning/feed-parser";
import { binaryToHex } from "../src/protocol/binary.ts";
import { newestReleases } from "../src/pages/feed.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { httpBase, startTestHefur } from "./helpers.ts";
import { makeTorrent, writeTorrent } from "./support/torrents.ts";
import type { ServeConfig } from "../src/cli/args.ts";
import { formatCount } from "../src/pages/format.ts";

const EVIL = `Evil <b>&</b> "name' \x01 release`;
const DAY = 86400;
const T0 = Math.floor(Date.UTC(2024, 0, 1) / 1000);

/** A torrent directory with three releases of known dates, and Hefur tracking it. */
async function releases(config: Partial<ServeConfig> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "hefur_feed_" });
  const old = makeTorrent("Old release");
  const evil = makeTorrent(EVIL, {
    urlList: ["https://mirror.example/files/", "javascript:alert(1)"],
  });
  const hybrid = makeTorrent("Hybrid release", { version: "hybrid" });
  await writeTorrent(dir, "old.torrent", old, T0);
  await writeTorrent(dir, "evil.torrent", evil, T0 + DAY);
  await writeTorrent(dir, "hybrid.torrent", hybrid, T0 + 2 * DAY);
  const hefur = await startTestHefur({ torrentDir: dir, ...config });
  return {
    hefur,
    base: httpBase(hefur),
    old,
    evil,
    hybrid,
    async [Symbol.asyncDispose]() {
      await hefur.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** An element that may appear once or several times, as an array. */
function all<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

Deno.test("/feed.atom is a valid Atom feed of the releases, newest first", async () => {
  await using r = await releases();
  const res = await fetch(`${r.base}/feed.atom`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/atom+xml; charset=utf-8");
  const text = await res.text();

  // Well-formed XML, and the elements RFC 4287 requires.
  assert.equal(XMLValidator.validate(text), true);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@" }).parse(text);
  const feed = doc.feed;
  assert.equal(feed["@xmlns"], "http://www.w3.org/2005/Atom");
  assert.equal(feed.id, `${r.base}/feed.atom`);
  assert.equal(feed.title, "Releases");
  assert.ok(feed.author.name);
  const entries = all(feed.entry);
  assert.equal(entries.length, 3);
  assert.equal(feed.updated, new Date((T0 + 2 * DAY) * 1000).toISOString());
  for (const e of entries) {
    for (const field of ["id", "title", "updated", "link", "content"]) {
      assert.ok(e[field] !== undefined, `entry lacks ${field}`);
    }
    assert.ok(!Number.isNaN(Date.parse(e.updated)));
    assert.ok(all(e.link).some((l: Record<string, string>) => l["@rel"] === "alternate"));
  }
  // Ids are info-hash URNs; a hybrid file is one entry under its v1 hash.
  assert.equal(entries[1].title, EVIL.replace("\x01", "\ufffd"), "a name is text, never markup");
  assert.deepEqual(entries.map((e) => e.id), [
    `urn:btih:${r.hybrid.hex}`,
    `urn:btih:${r.evil.hex}`,
    `urn:btih:${r.old.hex}`,
  ]);

  // A real feed reader's view of it.
  const parsed = parseFeed(text);
  assert.equal(parsed.meta.type, "atom");
  assert.equal(parsed.title, "Releases");
  assert.equal(parsed.self, `${r.base}/feed.atom`);
  assert.equal(parsed.url, `${r.base}/stat`);
  assert.deepEqual(parsed.items.map((i) => i.title), [
    "Hybrid release",
    EVIL.replace("\x01", "\ufffd"),
    "Old release",
  ]);
  const [hybrid, evil] = parsed.items;
  assert.deepEqual(hybrid.updated, new Date((T0 + 2 * DAY) * 1000));
  assert.equal(evil.url, `${r.base}/peers?info_hash=${r.evil.hex}`);
  const enclosure = evil.media.find((m) => m.mimeType === "application/x-bittorrent");
  assert.equal(enclosure?.url, `${r.base}/file/${r.evil.hex}.torrent`);
  // RFC 4287 §4.2.7.6: the enclosure's length is the .torrent file's size in bytes.
  const rawEnclosure = all(entries[1].link).find((l: Record<string, string>) =>
    l["@rel"] === "enclosure"
  );
  assert.equal(rawEnclosure["@length"], String(r.evil.bytes.length));

  // The content names size, hashes, magnet link with web seeds and trackers, and .torrent link.
  const content = evil.content ?? "";
  assert.match(content, new RegExp(`Size: .*\\(${formatCount(r.evil.length)} bytes\\)`));
  assert.ok(content.includes(r.evil.hex));
  assert.ok(content.includes(`magnet:?xt=urn:btih:${r.evil.hex}`));
  assert.ok(content.includes("ws=https%3A%2F%2Fmirror.example%2Ffiles%2F"));
  assert.ok(content.includes(`tr=${encodeURIComponent(`${r.base}/announce`)}`));
  assert.ok(content.includes('href="https://mirror.example/files/"'));
  assert.ok(!text.includes("javascript:"), "a non-http web seed must never become a link");
  assert.ok(!content.includes("<b>"), "the name is never markup");
  const hybridContent = hybrid.content ?? "";
  assert.ok(hybridContent.includes(binaryToHex(r.hybrid.v2!)), "a hybrid shows its v2 hash too");
  assert.ok(hybridContent.includes(`xt=urn:btmh:1220${binaryToHex(r.hybrid.v2!)}`));

  // The links work.
  const file = await fetch(enclosure!.url);
  assert.equal(file.status, 200);
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), r.evil.bytes);
  const peers = await fetch(evil.url!);
  assert.equal(peers.status, 200);
  await peers.body?.cancel();
});

Deno.test("/feed.atom answers a repeated poll with 304", async () => {
  await using r = await releases();
  const first = await fetch(`${r.base}/feed.atom`);
  await first.body?.cancel();
  const etag = first.headers.get("etag");
  assert.ok(etag);
  assert.match(first.headers.get("cache-control") ?? "", /max-age=\d+/);
  const again = await fetch(`${r.base}/feed.atom`, { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
});

Deno.test("/feed.atom is bounded by --feed-entries and titled by --feed-title", async () => {
  await using r = await releases({ feedEntries: 2, feedTitle: "Distro <images>" });
  const parsed = parseFeed(await (await fetch(`${r.base}/feed.atom`)).text());
  assert.equal(parsed.title, "Distro <images>");
  assert.deepEqual(parsed.items.map((i) => i.id), [
    `urn:btih:${r.hybrid.hex}`,
    `urn:btih:${r.evil.hex}`,
  ]);
});

Deno.test("/stat links to the feed; --disable-feed turns both off", async () => {
  {
    await using r = await releases();
    const stat = await (await fetch(`${r.base}/stat`)).text();
    assert.match(
      stat,
      /<link rel="alternate" type="application\/atom\+xml" title="Releases" href="\/feed.atom">/,
    );
  }
  {
    await using r = await releases({ disableFeed: true });
    const stat = await (await fetch(`${r.base}/stat`)).text();
    assert.ok(!stat.includes("application/atom+xml"));
    const res = await fetch(`${r.base}/feed.atom`);
    assert.equal(res.status, 404);
    await res.body?.cancel();
  }
});

Deno.test("an empty tracker has an empty but valid feed", async () => {
  await using hefur = await startTestHefur();
  const text = await (await fetch(`${httpBase(hefur)}/feed.atom`)).text();
  assert.equal(XMLValidator.validate(text), true);
  const parsed = parseFeed(text);
  assert.equal(parsed.items.length, 0);
  assert.ok(parsed.updated instanceof Date);
});

Deno.test("newestReleases keeps the newest under the bound, whatever the order of torrents", () => {
  const tracker = new Tracker({ open: false });
  const order = Array.from({ length: 500 }, (_, i) => (i * 7919) % 500);
  for (const i of order) {
    const key = String.fromCharCode(i >> 8, i & 0xff).padEnd(20, "k");
    tracker.addTorrent(key, {
      name: `t${i}`,
      length: 1,
      version: 1,
      fullHash: key,
      path: `/d/${i}.torrent`,
      addedAt: i * 1000,
    });
  }
  tracker.addTorrent("n".repeat(20)); // no metadata: not a release
  const top = newestReleases(tracker.torrents(), 10);
  assert.deepEqual(
    top.map((r) => r.info.name),
    Array.from({ length: 10 }, (_, i) => `t${499 - i}`),
  );
});

Deno.test("--max-torrent-name cuts names where pages show them, never in links, feed or files", async () => {
  const long = "Débian 12.5.0 amd64 netinst & friends, the long edition";
  const cut = "Débian 12.…"; // 11 characters, the last an ellipsis
  const dir = await Deno.makeTempDir({ prefix: "hefur_names_" });
  const t = makeTorrent(long);
  await writeTorrent(dir, "long.torrent", t, T0);
  await using hefur = await startTestHefur({ torrentDir: dir, maxTorrentName: 11 });
  const base = httpBase(hefur);
  try {
    const escaped = long.replace("&", "&amp;");
    const dn = `dn=${encodeURIComponent(long).replace(/'/g, "&#39;")}`;

    const stat = await (await fetch(`${base}/stat`)).text();
    const cell = /<td class="name"[^>]*?\s+title="([^"]*)"\s*>([^<]*)<\/td>/.exec(stat);
    assert.deepEqual(cell?.slice(1), [escaped, cut], "the cell shows the cut name, whole in title");
    assert.ok(stat.includes(dn), "the magnet link keeps the whole name");
    assert.ok(!stat.includes(`dn=${encodeURIComponent(cut)}`));

    const peers = await (await fetch(`${base}/peers?info_hash=${t.hex}`)).text();
    assert.ok(peers.includes(`>${cut}</h2>`));
    assert.ok(peers.includes(dn));

    const feed = parseFeed(await (await fetch(`${base}/feed.atom`)).text());
    assert.equal(feed.items[0].title, long);
    assert.ok(feed.items[0].content?.includes(`dn=${encodeURIComponent(long)}`));

    const file = await fetch(`${base}/file/${t.hex}.torrent`);
    await file.body?.cancel();
    assert.ok(
      file.headers.get("content-disposition")?.includes(
        `filename*=UTF-8''${encodeURIComponent(long)}.torrent`,
      ),
      file.headers.get("content-disposition") ?? "",
    );

    const badge = await (await fetch(`${base}/badge/${t.hex}.svg`)).text();
    assert.ok(badge.includes(`<title>${cut}: 0 seeders, 0 leechers, 0 completed</title>`), badge);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
