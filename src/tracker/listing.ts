/**
 * What pages and the JSON API show of the torrents: the store's swarms (UDP and HTTP peers) and
 * this instance's WebSocket swarms (browsers) merged into one listing, its totals, and one page
 * of it. Computed in one place so `/stat`, `/peers`, badges, the API and `hefur ctl status`
 * always agree.
 *
 * Browsers and BitTorrent clients cannot reach each other, so the core keeps their swarms apart;
 * a reader wants one torrent with one set of totals. The merge happens here, when a page is
 * rendered: the announce paths are left as they are.
 *
 * @module
 */
import type { SwarmCounts } from "../protocol/types.ts";
import type { SwarmView, TorrentListing, TorrentView } from "./store.ts";
import type { TrackerCounters } from "./tracker.ts";
import type { WsTracker, WsTrackerCounters } from "./ws_tracker.ts";
import { TimeSlices } from "../process/time_slices.ts";

/** Sums over every torrent of a listing. */
export interface ListingTotals {
  /** Every kind of peer. */
  seeders: number;
  leechers: number;
  completed: number;
  /** Of the above, the WebSocket (browser) peers and their completions. */
  webtorrent: { seeders: number; leechers: number; completed: number };
  /** Total size in bytes, each `.torrent` file counted once. */
  length: number;
  /** Torrents with an official seed online (0 when no official networks are set). */
  officialOnline: number;
}

/** The WebSocket swarms a listing merges in; the connection type does not matter here. */
export type BrowserSwarms = Pick<WsTracker<unknown>, "size" | "get" | "swarms" | "counters">;

/** One torrent's counters with its WebSocket swarm's added. */
function sum(a: SwarmCounts, b: SwarmCounts): SwarmCounts {
  return {
    complete: a.complete + b.complete,
    incomplete: a.incomplete + b.incomplete,
    downloaded: a.downloaded + b.downloaded,
  };
}

/** A copy of counters that a later announce cannot change under a page being rendered. */
function copy(c: SwarmCounts): SwarmCounts {
  return { complete: c.complete, incomplete: c.incomplete, downloaded: c.downloaded };
}

/**
 * A torrent's view with its WebSocket swarm merged in (`swarm` holds the totals, `webtorrent` the
 * browsers' part), or the view itself when no browser has joined it. Other fields of the view
 * (announces, first seen) are kept.
 */
export function withBrowserSwarm<T extends TorrentView>(
  t: T,
  ws: SwarmCounts | undefined,
): T {
  if (ws === undefined) return t;
  const webtorrent = copy(ws);
  return { ...t, swarm: sum(t.swarm, webtorrent), webtorrent };
}

/**
 * The view of a torrent only browsers have announced (open mode): no metadata, and no UDP or
 * HTTP announce.
 */
export function browserOnlyView(
  infoHash: string,
  ws: SwarmCounts,
): TorrentView & { announces: number } {
  const webtorrent = copy(ws);
  return { infoHash, swarm: webtorrent, webtorrent, announces: 0 };
}

/**
 * The listing with the WebSocket swarms merged in: each torrent carries its browsers' counts,
 * and in open mode the torrents only browsers have announced follow the others (in whitelist
 * mode every WebSocket swarm is of a tracked torrent). Lazy, like the listing: its torrents are
 * merged as they are walked, one look-up each. Costs nothing when no browser swarm exists.
 */
export function mergeListing(
  listing: TorrentListing,
  browsers: BrowserSwarms | undefined,
  open: boolean,
): TorrentListing {
  if (browsers === undefined || browsers.size === 0) return listing;
  const only: [string, SwarmCounts][] = [];
  if (open) {
    const has = listing.has ?? hashesOf(listing);
    for (const [infoHash, ws] of browsers.swarms()) if (!has(infoHash)) only.push([infoHash, ws]);
  }
  function* torrents(): Generator<TorrentView> {
    for (const t of listing.torrents) yield withBrowserSwarm(t, browsers!.get(t.infoHash));
    for (const [infoHash, ws] of only) yield browserOnlyView(infoHash, ws);
  }
  return { size: listing.size + only.length, torrents: torrents() };
}

/** Membership in a listing that cannot answer it: a set of its hashes (walks it once more). */
function hashesOf(listing: TorrentListing): (infoHash: string) => boolean {
  const hashes = new Set<string>();
  for (const t of listing.torrents) hashes.add(t.infoHash);
  return (infoHash) => hashes.has(infoHash);
}

/**
 * One torrent as badges and the API show it: the store's view of it (`t`, undefined when the
 * store does not know it) merged with its WebSocket swarm. A torrent only browsers announced is
 * known in open mode. Undefined when neither knows it.
 */
export function mergeTorrent<T extends TorrentView>(
  t: T | undefined,
  infoHash: string,
  browsers: BrowserSwarms | undefined,
  open: boolean,
): T | TorrentView | undefined {
  const ws = browsers?.get(infoHash);
  if (t !== undefined) return withBrowserSwarm(t, ws);
  return ws !== undefined && open ? browserOnlyView(infoHash, ws) : undefined;
}

/**
 * One torrent and its peers as `/peers` shows them: {@link mergeTorrent} for a store's view
 * (a torrent only browsers announced has no UDP/HTTP peers; `now` is the clock of those).
 */
export function mergeView(
  view: SwarmView | undefined,
  infoHash: string,
  browsers: BrowserSwarms | undefined,
  open: boolean,
  now: number,
): SwarmView | undefined {
  const torrent = mergeTorrent(view?.torrent, infoHash, browsers, open);
  if (torrent === undefined) return undefined;
  return view === undefined ? { torrent, total: 0, peers: [], now } : { ...view, torrent };
}

/** A WebSocket peer as pages and the API show it: browsers have no address to hand out. */
export interface BrowserPeer {
  /** Peer id as a binary string. */
  peerId: string;
  seeder: boolean;
  /** The address its WebSocket connection comes from, when the connection tells. */
  address?: string;
  /** When it last announced, in seconds of the tracker's clock. */
  lastSeen: number;
}

/**
 * The newest `limit` WebSocket peers of a torrent, the most recently heard first, and how many
 * there are. The swarm is bounded by its `maxPeers`, so this walk is too.
 */
export function browserPeers(
  browsers: BrowserSwarms | undefined,
  infoHash: string,
  limit: number,
): { total: number; peers: BrowserPeer[] } {
  const swarm = browsers?.get(infoHash);
  if (swarm === undefined || limit <= 0) return { total: swarm?.size ?? 0, peers: [] };
  const newest: BrowserPeer[] = [];
  // Peers come heard from longest ago first: keep the last `limit`.
  for (const p of swarm.peers()) {
    // The connection is the listener's own type; a WebSocket connection names its client.
    const conn = p.conn as { remoteIp?: unknown } | null;
    const address = typeof conn?.remoteIp === "string" ? conn.remoteIp : undefined;
    newest.push({ peerId: p.peerId, seeder: p.seeder, address, lastSeen: p.lastSeen });
    if (newest.length > 2 * limit) newest.splice(0, newest.length - limit);
  }
  return { total: swarm.size, peers: newest.slice(-limit).reverse() };
}

/** The tracker's request counters with the WebSocket tracker's, and the latter apart. */
export interface RequestCounts {
  /** Over every protocol. */
  announces: number;
  scrapes: number;
  failures: number;
  /** Of the above, those over WebSocket. */
  webtorrent: { announces: number; scrapes: number; failures: number };
}

/** Adds the WebSocket tracker's counters to the UDP/HTTP ones. */
export function requestCounts(
  core: Pick<TrackerCounters, "announces" | "scrapes" | "failures">,
  ws: WsTrackerCounters | undefined,
): RequestCounts {
  const w = {
    announces: ws?.announces ?? 0,
    scrapes: ws?.scrapes ?? 0,
    failures: ws?.failures ?? 0,
  };
  return {
    announces: core.announces + w.announces,
    scrapes: core.scrapes + w.scrapes,
    failures: core.failures + w.failures,
    webtorrent: w,
  };
}

/** Totals and one page of a listing, gathered as its torrents are walked. */
class ListingWalk {
  readonly totals: ListingTotals = {
    seeders: 0,
    leechers: 0,
    completed: 0,
    webtorrent: { seeders: 0, leechers: 0, completed: 0 },
    length: 0,
    officialOnline: 0,
  };
  readonly page: TorrentView[] = [];
  readonly #counted = new Set<string>();
  #i = 0;

  constructor(
    readonly first: number,
    readonly pageSize: number,
    readonly officialSeeds?: (t: TorrentView) => number | undefined,
  ) {}

  add(t: TorrentView): void {
    const totals = this.totals;
    if (this.officialSeeds !== undefined && (this.officialSeeds(t) ?? 0) > 0) {
      totals.officialOnline++;
    }
    totals.seeders += t.swarm.complete;
    totals.leechers += t.swarm.incomplete;
    totals.completed += t.swarm.downloaded;
    const w = t.webtorrent;
    if (w !== undefined) {
      const web = totals.webtorrent;
      web.seeders += w.complete;
      web.leechers += w.incomplete;
      web.completed += w.downloaded;
    }
    const info = t.info;
    // Only the entries of one file can share it (the two halves of a hybrid): the others are
    // counted without a set of 100,000 names to fill and throw away on every page.
    if (info?.path === undefined) totals.length += info?.length ?? 0;
    else if (!this.#counted.has(info.path)) {
      this.#counted.add(info.path);
      totals.length += info.length;
    }
    if (this.#i >= this.first && this.#i < this.first + this.pageSize) this.page.push(t);
    this.#i++;
  }
}

/**
 * Walks a listing once: returns its totals and the torrents from index `first` to
 * `first + pageSize`. A hybrid torrent has a v1 and a v2 entry that share one file, so its size is
 * counted once (the original counts it twice: reference §10.2). `officialSeeds`, when given, tells
 * how many official seeds a torrent has online.
 */
export function pageOfListing(
  listing: TorrentListing,
  first: number,
  pageSize: number,
  officialSeeds?: (t: TorrentView) => number | undefined,
): { totals: ListingTotals; page: TorrentView[] } {
  const walk = new ListingWalk(first, pageSize, officialSeeds);
  for (const t of listing.torrents) walk.add(t);
  return { totals: walk.totals, page: walk.page };
}

/**
 * {@link pageOfListing} for pages: the walk pauses every couple of milliseconds so announces are
 * answered meanwhile (with 100,000 torrents it takes about 10 ms of CPU). The listing is live:
 * announces made during the pauses may already count, as they would have a moment later.
 */
export async function pageOfListingInSlices(
  listing: TorrentListing,
  first: number,
  pageSize: number,
  officialSeeds?: (t: TorrentView) => number | undefined,
): Promise<{ totals: ListingTotals; page: TorrentView[] }> {
  const walk = new ListingWalk(first, pageSize, officialSeeds);
  const slices = new TimeSlices();
  for (const t of listing.torrents) {
    walk.add(t);
    if (slices.due()) await slices.pause();
  }
  return { totals: walk.totals, page: walk.page };
}
