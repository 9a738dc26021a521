// A big page render is cut into slices: the event loop answers others while it runs. No timing:
// the test asserts the order of events (a timer set when the render starts fires before the
// render ends), not how fast anything is.
import { strict as assert } from "node:assert/strict";
import { Assets } from "../src/pages/assets.ts";
import type { Site } from "../src/pages/site.ts";
import { statPage } from "../src/pages/stat.ts";
import { statsJson } from "../src/api/json_api.ts";
import type { HttpRequest, HttpResponse } from "../src/net/http_server.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { pageOfListing, pageOfListingInSlices } from "../src/tracker/listing.ts";
import { feedResponse } from "../src/pages/feed.ts";
import { HefurMetrics } from "../src/metrics/hefur_metrics.ts";
import { newSchemeCounters } from "../src/net/http.ts";
import { IpSet } from "../src/protocol/ip_set.ts";
import type { TrackerOptions } from "../src/tracker/tracker.ts";

const TORRENTS = 20_000;

/** A tracker with `count` torrents, each with a name, a size and a release date. */
function bigTracker(options: Partial<TrackerOptions> = {}, count = TORRENTS): Tracker {
  const tracker = new Tracker({ open: false, ...options });
  for (let i = 0; i < count; i++) {
    const hash = i.toString(16).padStart(40, "0");
    const infoHash = String.fromCharCode(
      ...hash.slice(0, 40).match(/../g)!.map((h) => parseInt(h, 16)),
    );
    tracker.addTorrent(infoHash, {
      name: `Torrent number ${i}`,
      length: 1000 + i,
      version: 1,
      fullHash: infoHash,
      addedAt: Date.UTC(2024, 0, 1) + i * 1000,
    });
  }
  return tracker;
}

function request(target: string): HttpRequest {
  const q = target.indexOf("?");
  return {
    method: "GET",
    target,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? "" : target.slice(q + 1),
    headers: new Map([["host", "tracker.example"]]),
    remoteIp: "192.0.2.1",
    remotePort: 40000,
    secure: false,
  };
}

/** Runs `render` with a 0 ms timer set just before it; returns what happened first. */
async function orderOf(render: () => HttpResponse | Promise<HttpResponse>) {
  const order: string[] = [];
  const timer = setTimeout(() => order.push("timer"), 0);
  const res = await render();
  order.push("render done");
  clearTimeout(timer);
  return { order, res };
}

const tracker = bigTracker();
const site: Site = {
  assets: new Assets(),
  statPage: true,
  peersPage: true,
  filePage: true,
  maxTorrentFileBytes: 1 << 20,
  udpPort: () => 6969,
  feed: false,
  feedEntries: 0,
  feedTitle: "",
  badges: false,
  maxTorrentName: 100,
  tracker,
  startedAt: Date.now(),
  store: tracker,
};

Deno.test("a /stat render of 20,000 torrents lets a timer run before it ends", async () => {
  const { order, res } = await orderOf(() => statPage(site, request("/stat?page=3")));
  assert.equal(res.status, 200);
  assert.match(String(res.body), /Torrent number 2999</);
  assert.deepEqual(order, ["timer", "render done"]);
});

// The JSON walk does so little per torrent that 20,000 of them can fit in one slice once the code
// is warm: with 100,000 it cannot, so the render must pause.
Deno.test("/api/stats.json of 100,000 torrents lets a timer run before it ends", async () => {
  const huge = bigTracker({}, 100_000);
  const { order, res } = await orderOf(() => statsJson(huge, request("/api/stats.json")));
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(String(res.body)).totals.torrents, 100_000);
  assert.deepEqual(order, ["timer", "render done"]);
});

Deno.test("/metrics of 20,000 torrents, one series each, lets a timer run before it ends", async () => {
  // Whitelist mode with official seed networks: a gauge per torrent, the largest /metrics.
  const official = bigTracker({ official: new IpSet(["192.0.2.0/24"]) });
  const metrics = new HefurMetrics(() => ({ tracker: official, routes: newSchemeCounters() }));
  const { order, res } = await orderOf(async () => await metrics.handler(request("/metrics")));
  assert.equal(res.status, 200);
  const text = String(res.body);
  assert.match(text, /^hefur_torrents 20000$/m);
  assert.equal(text.match(/^hefur_torrent_official_seeds\{/gm)?.length, TORRENTS);
  assert.deepEqual(order, ["timer", "render done"]);
});

Deno.test("/feed.atom of 20,000 torrents lets a timer run before it ends", async () => {
  const feedSite: Site = { ...site, feed: true, feedEntries: 1000, feedTitle: "Releases" };
  const { order, res } = await orderOf(() => feedResponse(feedSite, request("/feed.atom")));
  assert.equal(res.status, 200);
  const text = new TextDecoder().decode(res.body as Uint8Array);
  assert.equal(text.match(/<entry>/g)?.length, 1000);
  assert.match(text, /<title>Torrent number 19999<\/title>/);
  assert.deepEqual(order, ["timer", "render done"]);
});

Deno.test("the walk in slices finds the same totals and page as the walk in one go", async () => {
  const listing = () => tracker.listing();
  const sliced = await pageOfListingInSlices(listing(), 19_500, 1000);
  const whole = pageOfListing(listing(), 19_500, 1000);
  assert.deepEqual(sliced.totals, whole.totals);
  assert.equal(sliced.page.length, 500);
  assert.deepEqual(sliced.page, whole.page);
});
