// Pages under load: the per-address page limit, the cache of rendered pages and its render
// budget. No timing: clocks are driven by the tests, and renders are counted.
import { strict as assert } from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { Admission } from "../src/admission/admission.ts";
import { DenyList } from "../src/admission/deny_list.ts";
import { limitPages } from "../src/admission/page_limit.ts";
import { Cidrs } from "../src/protocol/ip.ts";
import type { HttpHandler, HttpRequest, HttpResponse } from "../src/net/http_server.ts";
import { MAX_BUDGET_MS, RenderCache, type RenderCacheOptions } from "../src/pages/render_cache.ts";
import { freePort, httpBase, startTestHefur } from "./helpers.ts";
import { failureOf, httpAnnounce, UdpClient } from "./support/clients.ts";
import { encodeUdpRequest, parseUdpReply } from "../src/protocol/udp_packet.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";

const HASH = "\x6b".repeat(20);

function request(target: string, headers: Record<string, string> = {}, ip = "192.0.2.1") {
  const q = target.indexOf("?");
  return {
    method: "GET",
    target,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? "" : target.slice(q + 1),
    headers: new Map(Object.entries({ host: "tracker.example", ...headers })),
    remoteIp: ip,
    remotePort: 40000,
    secure: false,
  } satisfies HttpRequest;
}

/** A page handler that counts its renders, each costing `costMs` on the driven clock. */
function countingPages(clock: { now: number }, costMs = 0) {
  const seen = { renders: 0 };
  const handler: HttpHandler = (req) => {
    seen.renders++;
    clock.now += costMs;
    return {
      status: 200,
      headers: { "content-type": "text/plain", etag: `"${req.target}"` },
      body: `render ${seen.renders} of ${req.target} for ${req.headers.get("host")}\n`,
      keepAlive: true,
    };
  };
  return { seen, handler };
}

function cache(options: Partial<RenderCacheOptions>, clock: { now: number }): RenderCache {
  return new RenderCache(
    { ttlMs: 2000, maxBytes: 1 << 20, budgetMsPerSecond: 0, ...options },
    () => clock.now,
  );
}

const bodyOf = (res: HttpResponse | Promise<HttpResponse>) =>
  new TextDecoder().decode((res as HttpResponse).body as Uint8Array);

Deno.test("render cache: identical requests get identical bytes until the interval is over", () => {
  const clock = { now: 0 };
  const { seen, handler } = countingPages(clock);
  const c = cache({ ttlMs: 2000 }, clock);
  const pages = c.wrap(handler);
  const first = bodyOf(pages(request("/stat")));
  for (let i = 0; i < 1000; i++) {
    clock.now += 1;
    assert.equal(bodyOf(pages(request("/stat"))), first);
  }
  assert.equal(seen.renders, 1);
  assert.deepEqual(c.counters, { renders: 1, hits: 1000, busy: 0 });
  clock.now = 2000;
  assert.match(bodyOf(pages(request("/stat"))), /^render 2 /, "rendered again after the interval");
  // What the page depends on is part of the key: the query, the Host, gzip.
  assert.match(bodyOf(pages(request("/stat?page=2"))), /^render 3 /);
  assert.match(bodyOf(pages(request("/stat", { host: "other.example" }))), /^render 4 /);
  assert.equal(seen.renders, 4);
});

Deno.test("render cache: the gzip of a page is made once, from the same render", async () => {
  const clock = { now: 0 };
  let renders = 0;
  const big = "<p>the same row again</p>\n".repeat(200);
  const c = cache({}, clock);
  const pages = c.wrap(() => {
    renders++;
    return { status: 200, headers: { "content-type": "text/html" }, body: big, keepAlive: true };
  });
  const gzip = { "accept-encoding": "gzip" };
  const zipped = await pages(request("/stat", gzip));
  assert.equal(zipped.headers?.["content-encoding"], "gzip");
  assert.equal(
    new TextDecoder().decode(gunzipSync(zipped.body as Uint8Array)),
    big,
  );
  assert.equal(await pages(request("/stat", gzip)), zipped, "kept as it is");
  assert.equal(bodyOf(pages(request("/stat"))), big);
  assert.equal(renders, 1);
  assert.equal(c.bytes, big.length + (zipped.body as Uint8Array).length, "both forms counted");
});

Deno.test("render cache: every page that reads many torrents is cached, others are not", () => {
  const clock = { now: 0 };
  const { seen, handler } = countingPages(clock);
  const pages = cache({}, clock).wrap(handler);
  const cached = [
    "/stat",
    "/peers?info_hash=00",
    "/feed.atom",
    "/metrics",
    "/api/stats.json",
    `/api/torrents/${"a".repeat(40)}.json`,
    `/badge/${"a".repeat(40)}.svg`,
  ];
  for (const t of cached) for (let i = 0; i < 3; i++) pages(request(t));
  assert.equal(seen.renders, cached.length);
  for (let i = 0; i < 3; i++) pages(request("/announce"));
  for (let i = 0; i < 3; i++) pages({ ...request("/stat"), method: "POST" });
  assert.equal(seen.renders, cached.length + 6);
});

Deno.test("render cache: a matching If-None-Match gets a 304 from the cache", () => {
  const clock = { now: 0 };
  const { seen, handler } = countingPages(clock);
  const pages = cache({}, clock).wrap(handler);
  assert.equal((pages(request("/feed.atom")) as HttpResponse).status, 200);
  const res = pages(request("/feed.atom", { "if-none-match": '"/feed.atom"' })) as HttpResponse;
  assert.equal(res.status, 304);
  assert.equal(res.body, undefined);
  assert.equal(seen.renders, 1);
});

Deno.test("render cache: bounded in bytes, the least recently used go first", () => {
  const clock = { now: 0 };
  const { handler } = countingPages(clock);
  const c = cache({ maxBytes: 2000 }, clock);
  const pages = c.wrap(handler);
  for (let i = 0; i < 10_000; i++) pages(request(`/stat?page=${i}`));
  assert.ok(c.bytes <= 2000, `${c.bytes} bytes held`);
  assert.ok(c.size > 10 && c.size < 100, `${c.size} pages held`);
  // The newest is still there; the oldest is gone.
  const renders = c.counters.renders;
  pages(request("/stat?page=9999"));
  assert.equal(c.counters.renders, renders);
  pages(request("/stat?page=0"));
  assert.equal(c.counters.renders, renders + 1);
});

Deno.test("render budget: a flood of distinct pages does a bounded number of renders", () => {
  const clock = { now: 0 };
  // Each render costs 20 ms; 100 ms of rendering a second are allowed.
  const { seen, handler } = countingPages(clock, 20);
  const c = cache({ ttlMs: 50, budgetMsPerSecond: 100 }, clock);
  const pages = c.wrap(handler);
  const statuses = new Map<number, number>();
  for (let i = 0; i < 1000; i++) {
    const res = pages(request(`/stat?page=${i}`)) as HttpResponse;
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  }
  // The budget holds 50 ms at most (MAX_BUDGET_MS), plus 4 ms refilled while the renders ran.
  assert.equal(MAX_BUDGET_MS, 50);
  assert.equal(seen.renders, 3);
  assert.equal(statuses.get(503), 997);
  assert.equal(c.counters.busy, 997);
  const busy = pages(request("/stat?page=2000")) as HttpResponse;
  assert.equal(busy.headers?.["retry-after"], "1");
  // Budget spent: a page rendered before is served stale rather than refused.
  assert.match(bodyOf(pages(request("/stat?page=0"))), /^render 1 /);
  // A second later the budget has refilled.
  clock.now += 1000;
  assert.match(bodyOf(pages(request("/stat?page=0"))), /^render 4 /);
  assert.equal(seen.renders, 4);
});

Deno.test("render cache: requests for a page being rendered wait for that render", async () => {
  const clock = { now: 0 };
  let finish: (res: HttpResponse) => void = () => {};
  let renders = 0;
  const later: HttpHandler = () => {
    renders++;
    return new Promise<HttpResponse>((resolve) => finish = resolve);
  };
  const c = cache({ budgetMsPerSecond: 100 }, clock);
  const pages = c.wrap(later);
  const waiting = Array.from({ length: 50 }, () => pages(request("/stat")));
  assert.equal(renders, 1);
  clock.now += 30;
  finish({ status: 200, body: "the page", keepAlive: true });
  const bodies = await Promise.all(waiting.map(async (r) => bodyOf(await r)));
  assert.deepEqual(new Set(bodies), new Set(["the page"]));
  assert.deepEqual(c.counters, { renders: 1, hits: 49, busy: 0 });
  // Charged as it took, waits included: 50 ms of budget minus 30 (plus 3 refilled meanwhile)
  // leaves room for another render, which takes 100 ms.
  assert.ok(pages(request("/stat?page=2")) instanceof Promise);
  assert.equal(renders, 2);
  clock.now += 100;
  finish({ status: 200, body: "page 2", keepAlive: true });
  await new Promise((r) => setTimeout(r, 0));
  assert.equal((pages(request("/stat?page=3")) as HttpResponse).status, 503, "budget spent");
});

function pageAdmission(clock: { now: number }, perMinute = 60, burst = 3): Admission {
  const off = { perMinute: 0, burst: 0, maxAddresses: 0 };
  return new Admission({
    announce: off,
    scrape: off,
    page: { perMinute, burst, maxAddresses: 100 },
    deny: new DenyList({ networks: [], file: "", pollMs: 0 }),
  }, () => clock.now);
}

const NO_PROXY = { reverseProxyHeader: "x-forwarded-for", reverseProxyFrom: new Cidrs([]) };

Deno.test("page limit: 429 with Retry-After past the burst, then recovers", () => {
  const clock = { now: 0 };
  const admission = pageAdmission(clock);
  const pages = limitPages(() => ({ status: 200, body: "ok" }), admission, NO_PROXY, 0);
  for (let i = 0; i < 3; i++) assert.equal((pages(request("/stat")) as HttpResponse).status, 200);
  const refused = pages(request("/css/hefur.css")) as HttpResponse;
  assert.equal(refused.status, 429);
  assert.equal(refused.headers?.["retry-after"], "1");
  assert.match(String(refused.body), /^too many requests from your address; retry in 1 s\n$/);
  assert.equal(refused.keepAlive, false);
  assert.equal(admission.counters.pagesLimited, 1);
  // Another address, and announces and scrapes of the same one, are not counted here.
  assert.equal((pages(request("/stat", {}, "192.0.2.2")) as HttpResponse).status, 200);
  assert.equal((pages(request("/announce")) as HttpResponse).status, 200);
  assert.equal((pages(request("/scrape")) as HttpResponse).status, 200);
  clock.now += 1000;
  assert.equal((pages(request("/stat")) as HttpResponse).status, 200, "one token a second");
  assert.equal((pages(request("/stat")) as HttpResponse).status, 429);
  // An Upgrade header only exempts the WebSocket tracker's path.
  assert.equal((pages(request("/stat", { upgrade: "websocket" })) as HttpResponse).status, 429);
  assert.equal((pages(request("/", { upgrade: "websocket" })) as HttpResponse).status, 200);
});

Deno.test("page limit: the 429 comes after a delay, so a looping client cannot spin", async () => {
  const clock = { now: 0 };
  const pages = limitPages(() => ({ status: 200 }), pageAdmission(clock, 60, 1), NO_PROXY, 1);
  assert.equal((pages(request("/stat")) as HttpResponse).status, 200);
  const later = pages(request("/stat"));
  assert.ok(later instanceof Promise);
  assert.equal((await later).status, 429);
});

Deno.test("page limit off (--page-rate 0): nothing is refused", () => {
  const clock = { now: 0 };
  const pages = limitPages(() => ({ status: 200 }), pageAdmission(clock, 0, 1), NO_PROXY, 0);
  for (let i = 0; i < 100; i++) assert.equal((pages(request("/stat")) as HttpResponse).status, 200);
});

Deno.test("live: an address over its page limit still announces; others still browse; counted", async () => {
  // 127.0.0.1 is both the greedy client and a trusted proxy for the other addresses.
  await using hefur = await startTestHefur({
    udpPort: freePort("udp"),
    pageBurst: 5,
    pageRate: 1,
    reverseProxyFrom: ["127.0.0.1/32"],
  });
  const base = httpBase(hefur);
  // At once: the refusals come after their delay, together.
  const statuses = await Promise.all(Array.from({ length: 20 }, async () => {
    const res = await fetch(`${base}/stat`);
    await res.body?.cancel();
    return res.status;
  }));
  assert.equal(statuses.filter((s) => s === 200).length, 5);
  assert.equal(statuses.filter((s) => s === 429).length, 15);
  const refused = await fetch(`${base}/api/stats.json`);
  assert.equal(refused.status, 429);
  assert.match(refused.headers.get("retry-after")!, /^[1-9][0-9]*$/);
  assert.match(await refused.text(), /too many requests/);

  // The same address announces over HTTP and over UDP.
  const ok = await httpAnnounce(base, { infoHash: HASH, port: 7001, event: "started" });
  assert.equal(failureOf(ok), undefined);
  using client = new UdpClient(hefur.udp!.addr.port);
  const id = await client.connect();
  assert.ok(Array.isArray(id));
  const announce = encodeUdpRequest({
    kind: "announce",
    connectionIdHi: id[0],
    connectionIdLo: id[1],
    transactionId: 9,
    infoHash: HASH,
    peerId: "-TT0001-7002".padEnd(20, "x"),
    downloaded: 0,
    left: 10,
    uploaded: 0,
    event: AnnounceEvent.Started,
    ip: 0,
    key: 0,
    numwant: -1,
    port: 7002,
  }).slice();
  assert.equal(parseUdpReply(await client.exchange(announce)).kind, "announce");

  // Another address browses as usual; the metrics count refusals, renders and cache hits.
  const as = (ip: string) => ({ headers: { "x-real-ip": ip } });
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${base}/stat`, as("203.0.113.8"));
    assert.equal(res.status, 200);
    await res.body?.cancel();
  }
  const metrics = await (await fetch(`${base}/metrics`, as("203.0.113.9"))).text();
  assert.match(metrics, /^hefur_admission_refused_total\{reason="page_rate"\} 16$/m);
  // Eight /stat in all (five, then three) within the cache's five seconds: rendered once.
  assert.match(metrics, /^hefur_page_renders_total 2$/m, "/stat once, /metrics once");
  assert.match(metrics, /^hefur_page_cache_hits_total 7$/m);
});
