import { strict as assert } from "node:assert/strict";
import {
  countOf,
  formatAge,
  formatBytes,
  formatCount,
  formatDuration,
  formatPeerId,
} from "../src/pages/format.ts";
import { escapeHtml, html, Layout, TemplateError } from "../src/pages/html.ts";
import { parsePageHash } from "../src/pages/info_hash.ts";
import { acceptsGzip } from "../src/net/content_encoding.ts";
import { attachment } from "../src/pages/file.ts";

Deno.test("formatBytes: three significant digits, cut, a space before the binary unit", () => {
  const cases: [number, string][] = [
    [0, "0 B"],
    [1, "1 B"],
    [1023, "1023 B"],
    [1024, "1 KiB"],
    [1536, "1.5 KiB"],
    [1076, "1.05 KiB"], // the original prints 1.5KiB
    [4160752058, "3.87 GiB"], // 3.875 GiB: cut, as the original does, never rounded up
    [711983104, "679 MiB"],
    [Math.floor(9.075 * 1024 ** 3), "9.07 GiB"], // the original prints 9.7GiB
    [Math.floor(15.05 * 1024 ** 2), "15 MiB"], // one decimal from 10 on: 15.0 → 15
    [Math.floor(15.5 * 1024 ** 2), "15.5 MiB"],
    [Math.floor(10.25 * 1024), "10.2 KiB"], // the original prints 10.25KiB
    [100 * 1024, "100 KiB"],
    [1024 ** 2 - 1, "1023 KiB"], // whole units from 100 on
    [1024 ** 3, "1 GiB"],
    [2 ** 53 - 1, "7.99 PiB"],
  ];
  for (const [v, want] of cases) assert.equal(formatBytes(v), want, String(v));
  // Every size has at most three significant digits, except whole units from 1000 to 1023.
  for (let v = 1024; v < 2 ** 40; v = Math.floor(v * 1.37) + 1) {
    const [number, unit] = formatBytes(v).split(" ");
    assert.match(unit, /^[KMGT]iB$/, String(v));
    const digits = number.replace(".", "").replace(/^0+/, "");
    assert.ok(digits.length <= 3 || /^10[0-2][0-9]$/.test(number), `${v}: ${number}`);
  }
});

Deno.test("formatCount groups thousands and countOf pluralises", () => {
  assert.equal(formatCount(0), "0");
  assert.equal(formatCount(999), "999");
  assert.equal(formatCount(1000), "1\u202f000");
  assert.equal(formatCount(1234567), "1\u202f234\u202f567");
  assert.equal(countOf(0, "seeder"), "0 seeders");
  assert.equal(countOf(1, "seeder"), "1 seeder");
  assert.equal(countOf(2, "leecher"), "2 leechers");
  assert.equal(countOf(12345, "announce"), "12\u202f345 announces");
  assert.equal(countOf(1, "byte"), "1 byte");
});

Deno.test("formatDuration, formatAge and formatPeerId", () => {
  assert.equal(formatDuration(0), "00:00:00");
  assert.equal(formatDuration(3 * 3600 + 7 * 60 + 5), "03:07:05");
  assert.equal(formatDuration(86400 + 1), "1 day, 00:00:01");
  assert.equal(formatDuration(3 * 86400 + 425), "3 days, 00:07:05");
  assert.equal(formatAge(59), "59 s ago");
  assert.equal(formatAge(60), "1 min ago");
  assert.equal(formatAge(7200), "2 h ago");
  assert.equal(formatAge(86400 * 3), "3 d ago");
  assert.equal(formatPeerId("-qB4650-\x00\xff%<"), "-qB4650-%00%FF%25<");
});

Deno.test("html escapes every interpolation except Html fragments", () => {
  const evil = `<img src=x onerror="alert(1)">'&`;
  assert.equal(escapeHtml(evil), "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#39;&amp;");
  assert.equal(
    html`<p title="${evil}">${evil}</p>`.text,
    `<p title="${escapeHtml(evil)}">${escapeHtml(evil)}</p>`,
  );
  assert.equal(
    html`${html`<b>`}${[html`<i>`, "<u>"]}${null}${undefined}${false}${0}`.text,
    "<b><i>&lt;u&gt;0",
  );
});

Deno.test("Layout fills known slots, escaping text, and refuses unknown ones", () => {
  const layout = new Layout("<title>{{title}}</title>{{ content }}{{title}}", ["title", "content"]);
  assert.equal(
    layout.fill({ title: "<x>", content: html`<p>` }).text,
    "<title>&lt;x&gt;</title><p>&lt;x&gt;",
  );
  assert.throws(
    () => new Layout("{{body}}", ["title"]),
    (e) => e instanceof TemplateError && e.slot === "body",
  );
});

Deno.test("acceptsGzip honours q-values and *", () => {
  const yes = [
    "gzip",
    "GZIP",
    "deflate, gzip",
    "gzip;q=0.001",
    "x-gzip",
    "*",
    "br, *;q=0.1",
    "gzip ; q=1",
  ];
  const no = [
    undefined,
    "",
    "identity",
    "br",
    "gzip;q=0",
    "gzip;q=0.000",
    "*;q=0",
    "gzip;q=0, *",
    "deflate;q=1",
  ];
  for (const h of yes) assert.equal(acceptsGzip(h), true, h);
  for (const h of no) assert.equal(acceptsGzip(h), false, h);
});

Deno.test("parsePageHash: hex of either case or raw bytes, 20 or 32 bytes", () => {
  const v1 = "\x01\x23\x45\x67\x89\xab\xcd\xef".repeat(3).slice(0, 20);
  const hex = "0123456789abcdef".repeat(3).slice(0, 40);
  assert.deepEqual(parsePageHash(hex), { key: v1, full: v1 });
  assert.deepEqual(parsePageHash(hex.toUpperCase()), { key: v1, full: v1 });
  assert.deepEqual(parsePageHash(v1), { key: v1, full: v1 });
  const v2 = "\xaa".repeat(32);
  assert.deepEqual(parsePageHash("aa".repeat(32)), { key: v2.slice(0, 20), full: v2 });
  assert.deepEqual(parsePageHash(v2), { key: v2.slice(0, 20), full: v2 });
  for (const bad of ["", "ab", "g".repeat(40), "a".repeat(41), "a".repeat(63), "x".repeat(21)]) {
    assert.equal(parsePageHash(bad), undefined, bad);
  }
});

Deno.test("attachment names the download after the torrent", () => {
  assert.equal(
    attachment("Débian 12/amd64"),
    `attachment; filename="D_bian 12_amd64.torrent"; filename*=UTF-8''D%C3%A9bian%2012_amd64.torrent`,
  );
  assert.equal(
    attachment(""),
    `attachment; filename="download.torrent"; filename*=UTF-8''download.torrent`,
  );
  assert.ok(!attachment('a"b\r\nc').includes('"b') && !attachment("a\r\nb").includes("\n"));
});
