import { strict as assert } from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { type BEncodable, encode } from "../src/protocol/bencode.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import { parseMetainfo } from "../src/protocol/metainfo.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { AssetError, Assets } from "../src/pages/assets.ts";
import { PEERS_PAGE_LIMIT } from "../src/pages/peers.ts";
import { STAT_PAGE_SIZE } from "../src/pages/stat.ts";
import { freePort, pct as percentAll } from "./helpers.ts";
import {
  addPeer,
  hash20,
  type PageServer,
  type PageServerOptions,
  rawRequests,
  startPageServer,
} from "./support/page_server.ts";

const EVIL = `<script>alert("x")</script> & 'co'`;
const V2_FULL = "\x22".repeat(32);

/** Fetches a path and returns status, headers and text. */
async function get(s: PageServer, path: string, init?: RequestInit) {
  const res = await fetch(s.origin + path, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

/** Text content of the cells of the first table row whose text includes `marker`. */
function rowCells(page: string, marker: string): string[] {
  const rows = page.split("<tr>").filter((r) => r.includes(marker));
  assert.ok(rows.length > 0, `no row with ${marker}`);
  return [...rows[0].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) =>
    m[1].replace(/<[^>]+>/g, "").trim()
  );
}

/** A tracker with a v1 torrent (evil name, a .torrent file), a v2 one and an open-mode one. */
async function populated(options: PageServerOptions = {}) {
  const s = await startPageServer(options);
  const dir = await Deno.makeTempDir({ prefix: "hefur_pages_" });
  const torrentBytes = encode(new Map([["info", new Map([["name", "x"]])]]));
  const torrentPath = `${dir}/evil.torrent`;
  await Deno.writeFile(torrentPath, torrentBytes);
  s.tracker.addTorrent(hash20(0x11), {
    name: EVIL,
    length: 1076,
    version: 1,
    fullHash: hash20(0x11),
    path: torrentPath,
  });
  s.tracker.addTorrent(V2_FULL.slice(0, 20), {
    name: "Débian v2",
    length: 4160752058,
    version: 2,
    fullHash: V2_FULL,
  });
  addPeer(s.tracker, hash20(0x11), "10.0.0.1", 6881, 0);
  addPeer(s.tracker, hash20(0x11), "10.0.0.2", 6882, 500, "<b>peer</b>&id\x01\xff----");
  addPeer(s.tracker, hash20(0x11), "10.0.0.3", 6883, 700);
  // 10.0.0.3 finishes: completed 1, seeders 2, leechers 1.
  addPeer(s.tracker, hash20(0x11), "10.0.0.3", 6883, 0, undefined, AnnounceEvent.Completed);
  addPeer(s.tracker, hash20(0x33), "10.0.0.9", 7000, 10); // open mode: no info
  return {
    s,
    torrentBytes,
    torrentPath,
    async close() {
      await s.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("/stat lists every torrent with escaped names, counters and totals", async () => {
  const { s, close } = await populated();
  try {
    const { status, headers, text } = await get(s, "/stat");
    assert.equal(status, 200);
    assert.equal(headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(headers.get("content-security-policy") ?? "", /script-src 'self'/);
    // The name is escaped, never raw.
    assert.ok(!text.includes("<script>alert"), "raw name in the page");
    assert.ok(
      text.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"),
    );
    assert.equal((text.match(/<script/g) ?? []).length, 1, "only the page's own script tag");

    const hex1 = "11".repeat(20);
    assert.deepEqual(rowCells(text, hex1).slice(1), [
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;",
      "v1",
      hex1,
      "1.05 KiB",
      "2",
      "1",
      "1",
    ]);
    const hexV2 = "22".repeat(32);
    assert.deepEqual(rowCells(text, hexV2).slice(1), [
      "Débian v2",
      "v2",
      hexV2,
      "3.87 GiB",
      "0",
      "0",
      "0",
    ]);
    // Open mode: the hash and dashes.
    const hex3 = "33".repeat(20);
    assert.deepEqual(rowCells(text, hex3).slice(1), ["—", "—", hex3, "—", "0", "1", "0"]);

    // Totals: 2 seeders, 2 leechers, 1 completed, size of both files.
    const foot = text.slice(text.indexOf("<tfoot>"), text.indexOf("</tfoot>"));
    const totals = [...foot.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
    assert.deepEqual(totals, ["3.87 GiB", "2", "2", "1"]);
    assert.match(text, /<span class="k">Torrents<\/span><span class="v">3<\/span>/);

    // The tracker's counters since start: 5 announces so far, no scrape.
    assert.match(text, /<span id="announces">5<\/span> announces/);
    assert.match(text, /<span id="scrapes">0<\/span> scrapes/);

    // The announce URL is built from the Host the reader used.
    assert.ok(text.includes(`<code>http://127.0.0.1:${s.port}/announce</code>`));
    // A magnet link per torrent with metadata, with the name percent-encoded and & escaped.
    assert.ok(
      text.includes(
        `href="magnet:?xt=urn:btih:${hex1}&amp;dn=%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E%20%26%20&#39;co&#39;&amp;tr=http%3A%2F%2F127.0.0.1%3A${s.port}%2Fannounce"`,
      ),
    );
    assert.ok(text.includes(`href="magnet:?xt=urn:btmh:1220${hexV2}&amp;dn=D%C3%A9bian%20v2`));
  } finally {
    await close();
  }
});

Deno.test("/stat counters follow HTTP announces and scrapes", async () => {
  const s = await startPageServer();
  try {
    const ih = percentAll(hash20(0x44));
    for (let i = 0; i < 3; i++) {
      const r = await get(
        s,
        `/announce?info_hash=${ih}&peer_id=-TT0001-00000000000${i}&port=${6000 + i}&left=${i}`,
      );
      assert.equal(r.status, 200);
    }
    await get(s, `/scrape?info_hash=${ih}`);
    const { text } = await get(s, "/stat");
    assert.match(text, /<span id="announces">3<\/span> announces/);
    assert.match(text, /<span id="scrapes">1<\/span> scrape,/); // one: no plural
    assert.deepEqual(rowCells(text, "44".repeat(20)).slice(5), ["1", "2", "0"]);
  } finally {
    await s.close();
  }
});

Deno.test("every link on /stat and /peers works", async () => {
  const { s, torrentBytes, close } = await populated();
  try {
    const seen = new Set<string>();
    const queue = ["/stat"];
    for (let i = 0; i < queue.length && i < 50; i++) {
      const { status, text } = await get(s, queue[i]);
      assert.equal(status, 200, queue[i]);
      for (const m of text.matchAll(/(?:href|src)="(\/[^"]*)"/g)) {
        const link = m[1].replaceAll("&amp;", "&");
        if (seen.has(link)) continue;
        seen.add(link);
        if (link.endsWith(".torrent")) {
          const res = await fetch(s.origin + link);
          assert.equal(res.status, 200, link);
          assert.deepEqual(new Uint8Array(await res.arrayBuffer()), torrentBytes);
        } else if (link.startsWith("/peers") || link === "/stat") {
          queue.push(link);
        } else {
          const res = await fetch(s.origin + link);
          await res.body?.cancel();
          assert.equal(res.status, 200, link);
        }
      }
    }
    // Pages reached: /stat and the three /peers pages (one per torrent).
    assert.equal(queue.filter((p) => p.startsWith("/peers")).length, 3);
    assert.ok(seen.has("/css/hefur.css") && seen.has("/js/sort.js"));
    assert.ok([...seen].some((l) => /^\/file\/(11){20}\.torrent$/.test(l)));
  } finally {
    await close();
  }
});

Deno.test("/peers lists the peers, escaped, newest first; hashes as hex or bytes", async () => {
  const { s, close } = await populated();
  try {
    const forms = [
      "11".repeat(20),
      "11".repeat(20).toUpperCase(),
      percentAll(hash20(0x11)),
      percentAll("11".repeat(20)), // hex digits, percent-encoded
    ];
    for (const form of forms) {
      const { status, text } = await get(s, `/peers?info_hash=${form}`);
      assert.equal(status, 200, form);
      assert.ok(text.includes("&lt;script&gt;alert"), form);
      assert.ok(!text.includes("<script>alert"));
      const addresses = [...text.matchAll(/data-label="Address"><code>([^<]*)</g)].map((m) => m[1]);
      assert.deepEqual(addresses, ["10.0.0.3", "10.0.0.2", "10.0.0.1"]);
    }
    const { text } = await get(s, `/peers?info_hash=${"11".repeat(20)}`);
    assert.deepEqual(rowCells(text, "10.0.0.2"), [
      "10.0.0.2",
      "6882",
      "leecher",
      "&lt;b&gt;peer&lt;/b&gt;&amp;id%01%FF----",
      "500 B",
      "1.5 KiB",
      "1.05 KiB",
      "0 s ago",
    ]);
    assert.equal(rowCells(text, "10.0.0.1")[2], "seeder");
    assert.ok(!text.includes("peers-limit"));

    // A v2 torrent by its full 64-digit hash; a wrong tail is not the same torrent.
    assert.equal((await get(s, `/peers?info_hash=${"22".repeat(32)}`)).status, 200);
    assert.equal((await get(s, `/peers?info_hash=${"22".repeat(31)}23`)).status, 404);
    // Open mode torrent.
    const open = await get(s, `/peers?info_hash=${"33".repeat(20)}`);
    assert.equal(open.status, 200);
    assert.ok(open.text.includes("10.0.0.9"));
  } finally {
    await close();
  }
});

Deno.test("unknown and malformed hashes get error pages", async () => {
  const { s, close } = await populated();
  try {
    for (
      const path of [`/peers?info_hash=${"ab".repeat(20)}`, `/file/${"ab".repeat(20)}.torrent`]
    ) {
      const r = await get(s, path);
      assert.equal(r.status, 404, path);
      assert.match(r.text, /Unknown torrent/);
      assert.equal(r.headers.get("content-type"), "text/html; charset=utf-8");
    }
    for (const q of ["", "?info_hash=abc", "?info_hash=" + "zz".repeat(20), "?info_hash=%3Cb%3E"]) {
      const r = await get(s, "/peers" + q);
      assert.equal(r.status, 400, q);
      assert.ok(!r.text.includes("<b>"));
    }
    const r = await get(s, "/no/such/page?<b>");
    assert.equal(r.status, 404);
    assert.match(r.text, /<title>Not found · Hefur<\/title>/);
    const [escaped] = await rawRequests(s.port, ["GET /%3Cb%3E<i>\"' HTTP/1.1\r\nHost: x\r\n\r\n"]);
    assert.equal(escaped.status, 404);
    const escapedText = new TextDecoder().decode(escaped.body);
    assert.ok(escapedText.includes("/%3Cb%3E&lt;i&gt;&quot;&#39;"), escapedText);
    assert.ok(!escapedText.includes("<i>"));
    const post = await get(s, "/stat", { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
  } finally {
    await close();
  }
});

Deno.test("/file serves the .torrent with type and file name; misses are 404", async () => {
  const { s, torrentBytes, torrentPath, close } = await populated();
  try {
    const hex = "11".repeat(20);
    for (
      const path of [
        `/file/${hex}.torrent`,
        `/file?info_hash=${percentAll(hash20(0x11))}`,
        `/file/anything.torrent?info_hash=${hex}`,
      ]
    ) {
      const res = await fetch(s.origin + path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type"), "application/x-bittorrent");
      assert.equal(
        res.headers.get("content-disposition"),
        `attachment; filename="_script_alert(_x_)__script_ _ _co_.torrent"; ` +
          `filename*=UTF-8''%3Cscript%3Ealert%28%22x%22%29%3C_script%3E%20%26%20%27co%27.torrent`,
      );
      assert.equal(res.headers.get("content-encoding"), null);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), torrentBytes);
    }
    // No .torrent for the v2 entry (no path) nor the open-mode one.
    assert.equal((await get(s, `/file/${"22".repeat(32)}.torrent`)).status, 404);
    assert.equal((await get(s, `/file/${"33".repeat(20)}.torrent`)).status, 404);
    assert.equal((await get(s, `/file/nothing-here`)).status, 404);
    // The file went away.
    await Deno.remove(torrentPath);
    const gone = await get(s, `/file/${hex}.torrent`);
    assert.equal(gone.status, 404);
    assert.match(gone.text, /no longer available/);
  } finally {
    await close();
  }
});

Deno.test("/file refuses a .torrent larger than its bound, and anything but a regular file", async () => {
  const { s, torrentPath, close } = await populated({ config: { maxTorrentSize: 1 } });
  try {
    await Deno.writeFile(torrentPath, new Uint8Array((1 << 20) + 1));
    assert.equal((await get(s, `/file/${"11".repeat(20)}.torrent`)).status, 404);
    await Deno.writeFile(torrentPath, new Uint8Array(1 << 20));
    assert.equal((await get(s, `/file/${"11".repeat(20)}.torrent`)).status, 200);
    // A fifo in its place: refused at once, never a blocking read.
    await Deno.remove(torrentPath);
    const mkfifo = await new Deno.Command("mkfifo", { args: [torrentPath] }).output();
    assert.ok(mkfifo.success);
    assert.equal((await get(s, `/file/${"11".repeat(20)}.torrent`)).status, 404);
  } finally {
    await close();
  }
});

Deno.test("disabled pages are 404 and not linked", async () => {
  const { s, close } = await populated({ disable: ["stat", "peers", "file"] });
  try {
    for (
      const path of [
        "/stat",
        `/peers?info_hash=${"11".repeat(20)}`,
        `/file/${"11".repeat(20)}.torrent`,
      ]
    ) {
      assert.equal((await get(s, path)).status, 404, path);
    }
  } finally {
    await close();
  }
  const only = await populated({ disable: ["peers", "file"] });
  try {
    const { status, text } = await get(only.s, "/stat");
    assert.equal(status, 200);
    assert.ok(!text.includes("/peers?") && !text.includes("/file/"));
    assert.ok(text.includes("magnet:?"));
  } finally {
    await only.close();
  }
});

Deno.test("pages are gzipped when accepted (q-values honoured) and keep the connection", async () => {
  const { s, close } = await populated();
  try {
    const head = (enc: string) =>
      `GET /stat HTTP/1.1\r\nHost: x\r\n${enc}Connection: keep-alive\r\n\r\n`;
    const [gz, plain, refused, star, announce] = await rawRequests(s.port, [
      head("Accept-Encoding: br;q=1, gzip;q=0.5\r\n"),
      head(""),
      head("Accept-Encoding: gzip;q=0, deflate\r\n"),
      head("Accept-Encoding: *\r\n"),
      `GET /announce?info_hash=${percentAll(hash20(0x11))}&peer_id=-TT0001-000000000042` +
      `&port=1&left=0 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n`,
    ]);
    assert.equal(gz.headers.get("content-encoding"), "gzip");
    assert.equal(gz.headers.get("connection"), "keep-alive");
    const unzipped = new TextDecoder().decode(gunzipSync(gz.body));
    assert.ok(unzipped.startsWith("<!doctype html>") && unzipped.includes("Torrents"));
    assert.ok(gz.body.length < plain.body.length / 2);
    assert.equal(plain.headers.get("content-encoding"), undefined);
    assert.equal(refused.headers.get("content-encoding"), undefined);
    assert.equal(star.headers.get("content-encoding"), "gzip");
    // Announce: never compressed, connection closed.
    assert.equal(announce.headers.get("content-encoding"), undefined);
    assert.equal(announce.headers.get("connection"), "close");
    assert.ok(new TextDecoder().decode(announce.body).startsWith("d"));
  } finally {
    await close();
  }
});

Deno.test("static assets: types, validators, gzip, no traversal, tpl not served", async () => {
  const s = await startPageServer();
  try {
    const types: Record<string, string> = {
      "/css/hefur.css": "text/css; charset=utf-8",
      "/js/sort.js": "text/javascript; charset=utf-8",
      "/img/logo.svg": "image/svg+xml",
      "/img/magnet.svg": "image/svg+xml",
      "/favicon.ico": "image/x-icon",
    };
    for (const [path, type] of Object.entries(types)) {
      const res = await fetch(s.origin + path);
      await res.body?.cancel();
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type"), type, path);
    }
    const ico = new Uint8Array(await (await fetch(s.origin + "/favicon.ico")).arrayBuffer());
    assert.deepEqual([...ico.subarray(0, 4)], [0, 0, 1, 0]); // ICO header

    const [first] = await rawRequests(s.port, [
      "GET /css/hefur.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
    ]);
    assert.equal(first.headers.get("content-encoding"), "gzip");
    const css = new TextDecoder().decode(gunzipSync(first.body));
    assert.ok(css.includes("--accent"));
    const etag = first.headers.get("etag")!;
    const [again] = await rawRequests(s.port, [
      `GET /css/hefur.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${etag}\r\n\r\n`,
    ]);
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);

    for (
      const path of [
        "/tpl/page.html",
        "/css/../tpl/page.html",
        "/css/%2e%2e/tpl/page.html",
        "/css/%2E%2E%2Ftpl%2Fpage.html",
        "/css/..%5c..%5cdeno.json",
        "/img/",
        "/css//hefur.css",
        "/css/%ZZ",
        "/js/../../deno.json",
      ]
    ) {
      const [r] = await rawRequests(s.port, [`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`]);
      assert.equal(r.status, 404, path);
    }
  } finally {
    await s.close();
  }
});

Deno.test("--www-dir files take precedence; a broken layout is a start-up error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur_www_" });
  try {
    await Deno.mkdir(`${dir}/css`);
    await Deno.writeTextFile(`${dir}/css/hefur.css`, "body { color: red }");
    await Deno.writeTextFile(`${dir}/css/extra.css`, "p { margin: 0 }");
    const s = await startPageServer({ config: { wwwDir: dir } });
    try {
      assert.equal((await get(s, "/css/hefur.css")).text, "body { color: red }");
      assert.equal((await get(s, "/css/extra.css")).text, "p { margin: 0 }");
      assert.equal((await get(s, "/js/sort.js")).status, 200); // embedded one still there
    } finally {
      await s.close();
    }
    await Deno.mkdir(`${dir}/tpl`);
    await Deno.writeTextFile(`${dir}/tpl/page.html`, "<html>{{title}} {{nope}}</html>");
    assert.throws(() => new Assets(dir), (e) => e instanceof AssetError && /nope/.test(e.message));
    await Deno.writeTextFile(`${dir}/tpl/page.html`, "<p>{{title}}</p>{{content}}");
    const custom = await startPageServer({ config: { wwwDir: dir } });
    try {
      const { text } = await get(custom, "/stat");
      assert.ok(text.startsWith("<p>Torrents</p>"));
    } finally {
      await custom.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(
    () => new Assets("/nonexistent/hefur-www"),
    (e) => e instanceof AssetError && e.path.startsWith("/nonexistent/hefur-www"),
  );
});

Deno.test("/peers shows at most PEERS_PAGE_LIMIT peers and says so", async () => {
  const s = await startPageServer({ config: { maxPeers: PEERS_PAGE_LIMIT + 50 } });
  try {
    const h = hash20(0x55);
    for (let i = 0; i < PEERS_PAGE_LIMIT + 20; i++) {
      addPeer(s.tracker, h, `10.1.${i >> 8}.${i & 255}`, 1000 + i, i);
    }
    const { text } = await get(s, `/peers?info_hash=${"55".repeat(20)}`);
    const rows = text.match(/data-label="Address"/g) ?? [];
    assert.equal(rows.length, PEERS_PAGE_LIMIT);
    assert.match(
      text,
      new RegExp(
        `Showing the 1\u202f000 most recently heard peers of 1\u202f020`, // grouped
      ),
    );
    // The newest peer first, the 20 oldest left out.
    const last = PEERS_PAGE_LIMIT + 19;
    assert.ok(text.indexOf(`10.1.${last >> 8}.${last & 255}<`) < text.indexOf("10.1.0.20<"));
    assert.ok(!text.includes("10.1.0.19<"));
  } finally {
    await s.close();
  }
});

Deno.test("/stat pages past STAT_PAGE_SIZE torrents; totals cover all", async () => {
  const s = await startPageServer();
  try {
    const n = STAT_PAGE_SIZE + 5;
    for (let i = 0; i < n; i++) {
      const key = String.fromCharCode(i >> 8, i & 255) + "\0".repeat(18);
      s.tracker.addTorrent(key, { name: `t${i}`, length: 1, version: 1, fullHash: key });
    }
    const one = await get(s, "/stat");
    assert.equal((one.text.match(/data-label="Name"/g) ?? []).length, STAT_PAGE_SIZE);
    assert.match(one.text, /Page 1 of 2/);
    assert.match(one.text, /href="\/stat\?page=2"/);
    const two = await get(s, "/stat?page=2");
    assert.equal((two.text.match(/data-label="Name"/g) ?? []).length, 5);
    assert.ok(two.text.includes(`>t${n - 1}<`));
    assert.match(two.text, new RegExp(`<span class="v">${n} B</span>`)); // < 1024: bytes
    assert.equal((await get(s, "/stat?page=3")).status, 404);
    assert.equal((await get(s, "/stat?page=x")).status, 400);
  } finally {
    await s.close();
  }
});

Deno.test("/stat shows the UDP announce URL when the UDP tracker runs", async () => {
  const udpPort = freePort("udp");
  const s = await startPageServer({ config: { udpPort } });
  try {
    s.tracker.addTorrent(hash20(0x66), {
      name: "u",
      length: 1,
      version: 1,
      fullHash: hash20(0x66),
    });
    const { text } = await get(s, "/stat");
    assert.ok(text.includes(`<code>udp://127.0.0.1:${udpPort}/announce</code>`));
    assert.ok(text.includes(`&amp;tr=udp%3A%2F%2F127.0.0.1%3A${udpPort}%2Fannounce`));
  } finally {
    await s.close();
  }
});

Deno.test("with --torrent-dir: /stat names the whitelisted torrent and /file serves its file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur_pages_dir_" });
  try {
    const info = new Map<string, BEncodable>([
      ["length", 1076],
      ["name", "<i>whitelisted</i>.iso"],
      ["piece length", 16384],
      ["pieces", new Uint8Array(20)],
    ]);
    const bytes = encode(new Map([["info", info]]));
    await Deno.writeFile(`${dir}/w.torrent`, bytes);
    const hex = binaryToHex(parseMetainfo(bytes).infoHashV1!);
    const s = await startPageServer({ config: { torrentDir: dir } });
    try {
      const { text } = await get(s, "/stat");
      assert.deepEqual(rowCells(text, hex).slice(1, 5), [
        "&lt;i&gt;whitelisted&lt;/i&gt;.iso",
        "v1",
        hex,
        "1.05 KiB",
      ]);
      const res = await fetch(`${s.origin}/file/${hex}.torrent`);
      assert.equal(res.status, 200);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
    } finally {
      await s.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("numbers are grouped alike on cards, rows, totals, notices and badges", async () => {
  const s = await startPageServer({ config: { maxPeers: 3000 } });
  try {
    const h = hash20(0x77);
    s.tracker.addTorrent(h, { name: "big", length: 5 * 1024 ** 3, version: 1, fullHash: h });
    for (let i = 0; i < 2500; i++) addPeer(s.tracker, h, `10.2.${i >> 8}.${i & 255}`, 7000, i % 2);
    const g = (n: string) => n.replace(" ", "\u202f"); // the narrow no-break space
    const stat = (await get(s, "/stat")).text;
    // 1250 seeders (left 0) and 1250 leechers.
    assert.deepEqual(rowCells(stat, "77".repeat(20)).slice(4), [
      "5 GiB",
      g("1 250"),
      g("1 250"),
      "0",
    ]);
    assert.match(stat, new RegExp(`<span class="k">Seeders</span><span class="v">${g("1 250")}<`));
    const foot = stat.slice(stat.indexOf("<tfoot>"), stat.indexOf("</tfoot>"));
    assert.deepEqual([...foot.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]), [
      "5 GiB",
      g("1 250"),
      g("1 250"),
      "0",
    ]);
    // Raw values for the sorting script, beside the grouped text.
    assert.ok(stat.includes(`data-label="Seeders" data-v="1250">${g("1 250")}<`));

    const peers = (await get(s, `/peers?info_hash=${"77".repeat(20)}`)).text;
    assert.match(peers, new RegExp(`<span class="v">${g("1 250")}</span>`));
    assert.match(peers, new RegExp(`peers of ${g("2 500")}\\.`));

    const badge = await (await fetch(`${s.origin}/badge/${"77".repeat(20)}.svg`)).text();
    assert.ok(badge.includes(`${g("1 250")} seeders · ${g("1 250")} leechers · 0 completed`));
  } finally {
    await s.close();
  }
});
