import { strict as assert } from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import { textWidth } from "../src/pages/badge.ts";
import { httpBase, pct, startTestHefur } from "./helpers.ts";
import { addPeer, hash20 } from "./support/page_server.ts";
import { makeTorrent, writeTorrent } from "./support/torrents.ts";

const EVIL = `<script>alert(1)</script> & "x"`;

/** The texts an SVG draws (each is drawn twice: shadow, then text). */
function svgTexts(svg: string): string[] {
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@" }).parse(svg);
  const texts = doc.svg.g[1].text as { "#text": string }[];
  return texts.map((t) => String(t["#text"]));
}

Deno.test("/badge/<hex>.svg shows the swarm, embeddable from anywhere", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur_badge_" });
  try {
    const t = makeTorrent(EVIL);
    await writeTorrent(dir, "evil.torrent", t, 1_700_000_000);
    await using hefur = await startTestHefur({ torrentDir: dir });
    const base = httpBase(hefur);
    // Over the wire: two seeders, one leecher; one finishes (completed 1).
    const announce = async (port: number, left: number, event: string) => {
      const q = `info_hash=${pct(t.key)}&peer_id=${pct(`-TT0001-${port}`.padEnd(20, "x"))}` +
        `&port=${port}&uploaded=0&downloaded=0&left=${left}&event=${event}&compact=1`;
      const res = await fetch(`${base}/announce?${q}`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    };
    await announce(7001, 0, "started");
    await announce(7002, 10, "started");
    await announce(7003, 10, "started");
    await announce(7003, 0, "completed");

    const res = await fetch(`${base}/badge/${t.hex}.svg`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/svg+xml; charset=utf-8");
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get("cache-control") ?? "")?.[1]);
    assert.ok(maxAge > 0 && maxAge <= 300, "cached, but briefly");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    const svg = await res.text();
    assert.equal(XMLValidator.validate(svg), true);
    assert.ok(!svg.includes("<script"), "the name is escaped");
    assert.ok(svg.includes("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"));
    const texts = svgTexts(svg);
    assert.equal(texts[1], "swarm");
    assert.equal(texts[3], "2 seeders · 1 leecher · 1 completed");
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@" }).parse(svg);
    assert.equal(doc.svg.title, `${EVIL}: 2 seeders, 1 leecher, 1 completed`);
    // The box fits its text.
    assert.ok(Number(doc.svg["@width"]) >= textWidth("swarm") + textWidth(texts[3]));

    // Upper-case hex names the same torrent.
    const upper = await fetch(`${base}/badge/${t.hex.toUpperCase()}.svg`);
    assert.equal(upper.status, 200);
    await upper.body?.cancel();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/badge: v2 hashes, unknown and malformed hashes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur_badge_" });
  try {
    const v2 = makeTorrent("v2 only", { version: 2 });
    await writeTorrent(dir, "v2.torrent", v2, 1_700_000_000);
    await using hefur = await startTestHefur({ torrentDir: dir });
    const base = httpBase(hefur);
    const ok = await fetch(`${base}/badge/${binaryToHex(v2.v2!)}.svg`);
    assert.equal(ok.status, 200);
    assert.equal(svgTexts(await ok.text())[3], "0 seeders · 0 leechers · 0 completed");

    for (
      const path of [
        `/badge/${"ab".repeat(20)}.svg`, // not tracked
        `/badge/${binaryToHex(v2.v2!).slice(0, 62)}ff.svg`, // v2 hash sharing the first 20 bytes only
        "/badge/xyz.svg",
        `/badge/${"ab".repeat(20)}.png`,
        "/badge/",
      ]
    ) {
      const res = await fetch(base + path);
      assert.equal(res.status, 404, path);
      assert.equal(res.headers.get("content-type"), "image/svg+xml; charset=utf-8");
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      const svg = await res.text();
      assert.equal(XMLValidator.validate(svg), true);
      assert.equal(svgTexts(svg)[3], "unknown torrent", path);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/badge works in open mode; --disable-badges turns it off", async () => {
  {
    await using hefur = await startTestHefur();
    addPeer(hefur.tracker, hash20(0x42), "10.0.0.1", 6881, 0, undefined, AnnounceEvent.Started);
    const res = await fetch(`${httpBase(hefur)}/badge/${"42".repeat(20)}.svg`);
    assert.equal(res.status, 200);
    assert.equal(svgTexts(await res.text())[3], "1 seeder · 0 leechers · 0 completed");
    const post = await fetch(`${httpBase(hefur)}/badge/${"42".repeat(20)}.svg`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  }
  {
    await using hefur = await startTestHefur({ disableBadges: true });
    const res = await fetch(`${httpBase(hefur)}/badge/${"42".repeat(20)}.svg`);
    assert.equal(res.status, 404);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    await res.body?.cancel();
  }
});
