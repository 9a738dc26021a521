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

const TORRENTS = 20_000;

/** A tracker with `TORRENTS` torrents, each with a name and a size. */
function bigTracker(): Tracker {
  const tracker = new Tracker({ open: false });
  for (let i = 0; i < TORRENTS; i++) {
    const hash = i.toString(16).padStart(40, "0");
    const infoHash = String.fromCharCode(
      ...hash.slice(0, 40).match(/../g)!.map((h) => parseInt(h, 16)),
    );
    tracker.addTorrent(infoHash, {
      name: `Torrent number ${i}`,
      length: 1000 + i,
      version: 1,
      fullHash: infoHash,
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

Deno.test("/api/stats.json of 20,000 torrents lets a timer run before it ends", async () => {
  const { order, res } = await orderOf(() => statsJson(tracker, request("/api/stats.json")));
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(String(res.body)).totals.torrents, TORRENTS);
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
