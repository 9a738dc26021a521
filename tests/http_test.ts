// The HTTP tracker on a live server: announce, scrape, failures, proxies and connection limits.
import assert from "node:assert/strict";
import { getBencoded, httpBase, pct, rawHttp, startTestHefur, text } from "./helpers.ts";

const HASH = "\x01".repeat(10) + "\xfe".repeat(10);
function announce(base: string, port: number, extra = "") {
  const id = ("-TT0001-" + port).padEnd(20, "x");
  return `${base}/announce?info_hash=${
    pct(HASH)
  }&peer_id=${id}&port=${port}&uploaded=0&downloaded=0&left=10${extra}`;
}

Deno.test("announce returns peers of the same torrent, and scrape its counters", async () => {
  await using hefur = await startTestHefur();
  const base = httpBase(hefur);
  let r = await getBencoded(announce(base, 5001));
  assert.equal((r.get("peers") as Uint8Array).length, 0);
  assert.equal(r.get("incomplete"), 1);
  r = await getBencoded(announce(base, 5002, "&left=0".replace("left=0", "left=0")));
  const peers = r.get("peers") as Uint8Array;
  assert.deepEqual([...peers], [127, 0, 0, 1, 5001 >> 8, 5001 & 255]);
  assert.equal(r.get("interval"), 900);
  assert.equal(r.get("min interval"), 60);

  const s = await getBencoded(
    `${base}/scrape?info_hash=${pct(HASH)}&info_hash=${pct("z".repeat(20))}`,
  );
  const files = s.get("files") as Map<string, Map<string, number>>;
  assert.deepEqual([...files.keys()], [HASH]);
  assert.equal(files.get(HASH)!.get("incomplete"), 2);
  assert.equal((s.get("flags") as Map<string, number>).get("min_request_interval"), 900);
});

Deno.test("a scrape of more than --max-scrape-torrents hashes gets the first ones answered", async () => {
  await using hefur = await startTestHefur({ maxScrapeTorrents: 3 });
  const base = httpBase(hefur);
  await getBencoded(announce(base, 5001)); // the only torrent: HASH
  const others = ["a", "b", "c", "d"].map((c) => c.repeat(20));
  const scrape = (hashes: string[]) =>
    getBencoded(`${base}/scrape?${hashes.map((h) => `info_hash=${pct(h)}`).join("&")}`);

  // HASH among the first three: answered, with a warning that the rest was left out.
  let s = await scrape([others[0], HASH, others[1], others[2], others[3]]);
  assert.deepEqual([...(s.get("files") as Map<string, unknown>).keys()], [HASH]);
  assert.equal(text(s.get("warning message")), "only the first 3 info hashes are answered");
  // HASH fourth: past the bound, not answered (open mode: an empty files dict, no failure).
  s = await scrape([...others.slice(0, 3), HASH]);
  assert.deepEqual([...(s.get("files") as Map<string, unknown>).keys()], []);
  assert.equal(s.get("failure reason"), undefined);
  // Within the bound: no warning.
  s = await scrape([HASH, others[0], others[1]]);
  assert.equal(s.get("warning message"), undefined);
  assert.deepEqual([...(s.get("files") as Map<string, unknown>).keys()], [HASH]);
});

Deno.test("bad announces get a bencoded failure reason with status 200", async () => {
  await using hefur = await startTestHefur();
  const base = httpBase(hefur);
  const r = await getBencoded(`${base}/announce?info_hash=short&peer_id=x&port=1&left=0`);
  assert.equal(text(r.get("failure reason")), "invalid info_hash: 5 bytes, expected 20");
  const s = await getBencoded(`${base}/scrape`);
  assert.match(text(s.get("failure reason")), /full scrape is disabled/);
});

Deno.test("a full scrape works only when enabled", async () => {
  await using hefur = await startTestHefur({ allowFullScrape: true });
  const base = httpBase(hefur);
  await getBencoded(announce(base, 5001));
  const s = await getBencoded(`${base}/scrape`);
  assert.deepEqual([...(s.get("files") as Map<string, unknown>).keys()], [HASH]);
});

Deno.test("whitelist mode: unknown torrents get 'torrent not found'", async () => {
  await using hefur = await startTestHefur();
  hefur.tracker.options.open = false;
  const r = await getBencoded(announce(httpBase(hefur), 5001));
  assert.equal(text(r.get("failure reason")), "torrent not found");
});

Deno.test("announce replies close the connection and are not compressed", async () => {
  await using hefur = await startTestHefur();
  const port = hefur.http!.addr.port;
  const path = announce("", 5001);
  const raw = await rawHttp(
    port,
    `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\n\r\n`,
  );
  assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(raw, /\r\nconnection: close\r\n/i);
  assert.doesNotMatch(raw, /content-encoding/i);
  assert.match(raw, /\r\n\r\nd8:complete/);
});

Deno.test("a trusted reverse proxy sets the client address; others cannot", async () => {
  {
    await using hefur = await startTestHefur({ reverseProxyFrom: ["127.0.0.0/8"] });
    const port = hefur.http!.addr.port;
    await rawHttp(port, `GET ${announce("", 6001)} HTTP/1.1\r\nX-Real-IP: 203.0.113.7\r\n\r\n`);
    const peers = [...hefur.tracker.get(HASH)!.swarm.peers()].map((p) => p.ip);
    assert.deepEqual(peers, ["203.0.113.7"]);
  }
  {
    await using hefur = await startTestHefur({ reverseProxyFrom: ["10.0.0.1"] });
    const port = hefur.http!.addr.port;
    await rawHttp(port, `GET ${announce("", 6001)} HTTP/1.1\r\nX-Real-IP: 203.0.113.7\r\n\r\n`);
    const peers = [...hefur.tracker.get(HASH)!.swarm.peers()].map((p) => p.ip);
    assert.deepEqual(peers, ["127.0.0.1"]);
  }
});

Deno.test("--reverse-proxy-from 0.0.0.0/0 trusts every IPv4 client", async () => {
  await using hefur = await startTestHefur({ reverseProxyFrom: ["0.0.0.0/0", "::/0"] });
  const port = hefur.http!.addr.port;
  await rawHttp(port, `GET ${announce("", 6001)} HTTP/1.1\r\nX-Real-IP: 203.0.113.7\r\n\r\n`);
  const peers = [...hefur.tracker.get(HASH)!.swarm.peers()].map((p) => p.ip);
  assert.deepEqual(peers, ["203.0.113.7"]);
});

Deno.test("with --allow-proxy, ip=<DNS name> announces the sender's address", async () => {
  await using hefur = await startTestHefur({ allowProxy: true });
  const base = httpBase(hefur);
  const r = await getBencoded(announce(base, 6001, "&ip=peer.example.org"));
  assert.equal(r.get("failure reason"), undefined);
  await getBencoded(announce(base, 6002, "&ip=198.51.100.4"));
  const peers = [...hefur.tracker.get(HASH)!.swarm.peers()].map((p) => `${p.ip}:${p.port}`);
  assert.deepEqual(peers.sort(), ["127.0.0.1:6001", "198.51.100.4:6002"]);
  const bad = await getBencoded(announce(base, 6003, "&ip=1.2.3.999"));
  assert.match(text(bad.get("failure reason")), /invalid ip/);
});

Deno.test("a client that does not finish its request within http-timeout is cut off", async () => {
  await using hefur = await startTestHefur({ httpTimeout: 300 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: hefur.http!.addr.port });
  await conn.write(new TextEncoder().encode("GET /announce?info_hash="));
  const t0 = performance.now();
  const n = await conn.read(new Uint8Array(100)).catch(() => null);
  const waited = performance.now() - t0;
  conn.close();
  assert.equal(n, null, "the server closed the connection without answering");
  assert.ok(waited < 3000, `cut after ${waited} ms`);
  assert.equal(hefur.http!.timedOut, 1);
  // Others are still served.
  const r = await getBencoded(announce(httpBase(hefur), 5001));
  assert.equal(r.get("incomplete"), 1);
});

Deno.test("a keep-alive connection left idle is closed at http-timeout, not counted as timed out", async () => {
  await using hefur = await startTestHefur({ httpTimeout: 300 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: hefur.http!.addr.port });
  await conn.write(
    new TextEncoder().encode("GET /stat HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"),
  );
  const buf = new Uint8Array(65536);
  let got = 0;
  // Read the response, then wait for the server to close the idle connection.
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf).catch(() => null)) {
    got += n;
  }
  conn.close();
  assert.ok(got > 0, "the page was served");
  assert.equal(hefur.http!.idleClosed, 1);
  assert.equal(hefur.http!.timedOut, 0);
});

Deno.test("an oversized request head gets 431 and malformed ones 400", async () => {
  await using hefur = await startTestHefur();
  const port = hefur.http!.addr.port;
  const big = await rawHttp(port, `GET /announce?${"a".repeat(20000)} HTTP/1.1\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431 /);
  const bad = await rawHttp(port, "NONSENSE\r\n\r\n");
  assert.match(bad, /^HTTP\/1\.1 400 /);
  const missing = await rawHttp(port, "GET /nothing-here HTTP/1.1\r\n\r\n");
  assert.match(missing, /^HTTP\/1\.1 404 /);
});

Deno.test("connections past max-http-connections are refused", async () => {
  await using hefur = await startTestHefur({ maxHttpConnections: 2 });
  const port = hefur.http!.addr.port;
  const idle = [
    await Deno.connect({ hostname: "127.0.0.1", port }),
    await Deno.connect({ hostname: "127.0.0.1", port }),
  ];
  await new Promise((r) => setTimeout(r, 100));
  const third = await rawHttp(port, `GET ${announce("", 5001)} HTTP/1.1\r\n\r\n`);
  assert.equal(third, "", "the third connection was closed without an answer");
  assert.ok(hefur.http!.refused >= 1);
  for (const c of idle) c.close();
});
