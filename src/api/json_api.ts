/**
 * The JSON API: the data behind `/stat` and `/peers`, for scripts and dashboards.
 *
 * - `GET /api/stats.json[?page=N]`: the tracker's counters and totals, and the torrents
 *   ({@link API_PAGE_SIZE} per page, in the order of `/stat`).
 * - `GET /api/torrents/<hex>.json`: one torrent and its most recent peers and browsers (at most
 *   {@link API_MAX_PEERS} of each; the reply says when there were more). `<hex>` is a v1 hash (40
 *   digits) or a full v2 hash (64 digits, looked up by its first 20 bytes).
 *
 * Browsers (WebSocket peers) are counted with the others, their part given apart as `webtorrent`
 * (see `tracker/listing.ts`).
 *
 * Read-only and without cookies, so every origin may read it (`Access-Control-Allow-Origin: *`).
 * It follows the pages' switches: `--disable-stat-page` turns `/api/stats.json` off and
 * `--disable-peers-page` leaves peer lists out.
 *
 * @module
 */
import type { HttpHandler, HttpRequest, HttpResponse } from "../net/http_server.ts";
import type { Router } from "../net/http.ts";
import { compressResponse } from "../net/content_encoding.ts";
import { binaryToHex, hexToBinary } from "../protocol/binary.ts";
import { forEachPair, QueryError } from "../protocol/http_query.ts";
import type { Tracker } from "../tracker/tracker.ts";
import type { TorrentListing, TorrentView } from "../tracker/store.ts";
import { VERSION } from "../version.ts";
import {
  browserPeers,
  type BrowserSwarms,
  mergeListing,
  mergeTorrent,
  pageOfListingInSlices,
  requestCounts,
} from "../tracker/listing.ts";
import type { Admission } from "../admission/admission.ts";

/** What admission refused since start, in the API's words. */
function admissionJson(admission: Admission) {
  const c = admission.counters;
  return {
    denied: c.denied,
    announces_rate_limited: c.announcesLimited,
    scrapes_rate_limited: c.scrapesLimited,
  };
}

/** Torrents per page of `/api/stats.json` (the same as `/stat`'s table). */
export const API_PAGE_SIZE = 1000;
/** Most peers listed by `/api/torrents/<hex>.json`. */
export const API_MAX_PEERS = 1000;

/** What the API shows. */
export interface ApiOptions {
  /** Serve `/api/stats.json` (off with `--disable-stat-page`). */
  stats: boolean;
  /** List peers (off with `--disable-peers-page`). */
  peers: boolean;
  /** Deny list and rate limits, whose refusals the stats show. */
  admission?: Admission;
  /** This instance's WebSocket (browser) swarms, counted in every figure. */
  browsers?: BrowserSwarms;
}

/** One torrent as the API shows it. */
export interface TorrentJson {
  /** The full hash in hex: 40 digits for v1, 64 for v2. */
  info_hash: string;
  /** BitTorrent version, when known from the `.torrent` file. */
  version: 1 | 2 | null;
  name: string | null;
  /** Total size in bytes, when known. */
  length: number | null;
  /** Every kind of peer: UDP and HTTP clients, and browsers over WebSocket. */
  seeders: number;
  leechers: number;
  completed: number;
  /** Of the above, the browsers (WebTorrent over WebSocket). */
  webtorrent: { seeders: number; leechers: number; completed: number };
  /** UDP and HTTP announces this instance received for it. */
  announces: number | null;
  /**
   * Seeders online in the `--official-seed` networks (0: the publisher's seed is down); null when
   * no such networks are configured.
   */
  official_seeds: number | null;
  /** When the torrent was first tracked (ISO 8601); null for one only browsers announced. */
  first_seen: string | null;
  /** Where its peers are listed. */
  url: string;
}

const HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "access-control-allow-origin": "*",
  "x-content-type-options": "nosniff",
};

function json(status: number, value: unknown): HttpResponse {
  return { status, headers: HEADERS, body: JSON.stringify(value) + "\n", keepAlive: true };
}

/** The API's form of a torrent; `tracker` answers whether an official seed is online. */
export function torrentJson(
  t: TorrentView & { announces?: number; firstSeen?: number },
  tracker?: Tracker,
): TorrentJson {
  const hex = binaryToHex(t.info?.fullHash ?? t.infoHash);
  return {
    info_hash: hex,
    version: t.info?.version ?? null,
    name: t.info?.name ?? null,
    length: t.info?.length ?? null,
    seeders: t.swarm.complete,
    leechers: t.swarm.incomplete,
    completed: t.swarm.downloaded,
    webtorrent: {
      seeders: t.webtorrent?.complete ?? 0,
      leechers: t.webtorrent?.incomplete ?? 0,
      completed: t.webtorrent?.downloaded ?? 0,
    },
    announces: t.announces ?? null,
    official_seeds: tracker?.hasOfficialNetworks ? tracker.officialSeeds(t) ?? 0 : null,
    first_seen: t.firstSeen === undefined ? null : new Date(t.firstSeen).toISOString(),
    url: `/api/torrents/${hex}.json`,
  };
}

/**
 * `/api/stats.json`: the tracker, the totals over every torrent, and one page of torrents; the
 * WebSocket swarms of `browsers` are merged into the store's `listing`.
 */
export async function statsJson(
  tracker: Tracker,
  req: HttpRequest,
  admission?: Admission,
  storeListing: TorrentListing = tracker.listing(),
  browsers?: BrowserSwarms,
): Promise<HttpResponse> {
  let page = 1;
  try {
    forEachPair(req.query, (k, v) => {
      if (k === "page") page = /^[0-9]{1,9}$/.test(v) ? Math.max(1, Number(v)) : NaN;
    }, 32);
  } catch (e) {
    if (!(e instanceof QueryError)) throw e;
    return json(400, { error: e.message });
  }
  if (Number.isNaN(page)) return json(400, { error: "page must be a number" });
  const listing = mergeListing(storeListing, browsers, tracker.options.open);
  const pages = Math.max(1, Math.ceil(listing.size / API_PAGE_SIZE));
  if (page > pages) return json(404, { error: `there is no page ${page}`, pages });
  const first = (page - 1) * API_PAGE_SIZE;

  // Same order and totals as /stat.
  const official = tracker.hasOfficialNetworks;
  // In slices: announces are answered while the torrents are walked.
  const { totals, page: shown } = await pageOfListingInSlices(
    listing,
    first,
    API_PAGE_SIZE,
    official ? (t) => tracker.officialSeeds(t) : undefined,
  );
  const { seeders, leechers, completed, webtorrent, length, officialOnline } = totals;
  const torrents: TorrentJson[] = shown.map((t) => torrentJson(t, tracker));
  const c = requestCounts(tracker.counters, browsers?.counters);
  return json(200, {
    tracker: {
      version: VERSION,
      mode: tracker.options.open ? "open" : "whitelist",
      uptime_seconds: tracker.now(),
      announces: c.announces,
      scrapes: c.scrapes,
      // The requests answered with a failure reason: `refused.requests`, as /stat and `hefur ctl
      // status` call them; `failures` is the same count under its first name, kept for scripts.
      failures: c.failures,
      webtorrent: c.webtorrent,
      early_announces: tracker.counters.early,
      refused: { requests: c.failures, ...(admission && admissionJson(admission)) },
      // With replication (--store redis://…): where this instance stands with Redis.
      ...(tracker.status().state !== "local" && { store: tracker.status() }),
    },
    totals: {
      torrents: listing.size,
      seeders,
      leechers,
      completed,
      webtorrent,
      length,
      ...(official && { official_seed_online: officialOnline }),
    },
    page,
    pages,
    page_size: API_PAGE_SIZE,
    torrents,
  });
}

/** `/api/torrents/<hex>.json`. */
export function torrentPeersJson(
  tracker: Tracker,
  options: ApiOptions,
  req: HttpRequest,
): HttpResponse {
  const m = /^\/api\/torrents\/([0-9a-fA-F]{40}|[0-9a-fA-F]{64})\.json$/.exec(req.path);
  const full = m === null ? undefined : hexToBinary(m[1]);
  if (full === undefined) {
    return json(400, { error: "expected /api/torrents/<40 or 64 hex digits>.json" });
  }
  const key = full.slice(0, 20);
  const known = tracker.get(key);
  const t = mergeTorrent(known, key, options.browsers, tracker.options.open);
  if (t === undefined) return json(404, { error: "torrent not found" });
  const body: Record<string, unknown> = { ...torrentJson(t, tracker) };
  if (!options.peers) {
    body.peers = null;
    body.webtorrent_peers = null;
    return json(200, body);
  }
  const now = tracker.now();
  const all = known === undefined ? [] : [...known.swarm.peers()];
  all.sort((a, b) => a.lastSeen - b.lastSeen);
  const shown = all.slice(-API_MAX_PEERS);
  body.peers_total = all.length;
  body.peers_limit = API_MAX_PEERS;
  body.peers_truncated = shown.length < all.length;
  const official = tracker.hasOfficialNetworks ? tracker.options.official : undefined;
  body.peers = shown.map((p) => ({
    ...(official && { official: official.has(p.ip) }),
    ip: p.ip,
    port: p.port,
    peer_id: binaryToHex(p.peerId),
    seeder: p.left === 0,
    left: p.left,
    uploaded: p.uploaded,
    downloaded: p.downloaded,
    last_seen_seconds_ago: Math.max(0, now - p.lastSeen),
  }));
  addBrowserPeers(body, options.browsers, key, now);
  return json(200, body);
}

/**
 * The browsers of a torrent (WebSocket peers): peer id, state, the address their connection comes
 * from (they have none to hand out) and when they were last heard, newest first.
 */
function addBrowserPeers(
  body: Record<string, unknown>,
  browsers: BrowserSwarms | undefined,
  infoHash: string,
  now: number,
): void {
  const { total, peers } = browserPeers(browsers, infoHash, API_MAX_PEERS);
  body.webtorrent_peers_total = total;
  body.webtorrent_peers_truncated = peers.length < total;
  body.webtorrent_peers = peers.map((p) => ({
    peer_id: binaryToHex(p.peerId),
    seeder: p.seeder,
    address: p.address ?? null,
    last_seen_seconds_ago: Math.max(0, now - p.lastSeen),
  }));
}

/** Only GET and HEAD read the API (gzipped like the pages); OPTIONS answers CORS preflights. */
function readOnly(handler: HttpHandler): HttpHandler {
  return async (req) => {
    if (req.method === "GET" || req.method === "HEAD") {
      return compressResponse(req, await handler(req));
    }
    if (req.method === "OPTIONS") {
      return {
        status: 204,
        headers: { ...HEADERS, "access-control-allow-methods": "GET, HEAD" },
        keepAlive: true,
      };
    }
    return { ...json(405, { error: `method ${req.method} not allowed` }), keepAlive: false };
  };
}

/** Adds the API's routes to `router`. */
export function addApiRoutes(router: Router, tracker: Tracker, options: ApiOptions): Router {
  const off = json(404, { error: "turned off on this tracker" });
  router.on(
    "/api/stats.json",
    readOnly((req) =>
      options.stats
        ? statsJson(tracker, req, options.admission, tracker.listing(), options.browsers)
        : off
    ),
  );
  router.prefix("/api/torrents/", readOnly((req) => torrentPeersJson(tracker, options, req)));
  return router;
}
