/**
 * Totals over every tracked torrent plus one page of them: what `/stat` and `/api/stats.json`
 * both show, computed in one place so the page and the API always agree.
 *
 * @module
 */
import type { TorrentListing, TorrentView } from "./store.ts";

/** Sums over every torrent of a listing. */
export interface ListingTotals {
  seeders: number;
  leechers: number;
  completed: number;
  /** Total size in bytes, each `.torrent` file counted once. */
  length: number;
  /** Torrents with an official seed online (0 when no official networks are set). */
  officialOnline: number;
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
  const totals: ListingTotals = {
    seeders: 0,
    leechers: 0,
    completed: 0,
    length: 0,
    officialOnline: 0,
  };
  const counted = new Set<string>();
  const page: TorrentView[] = [];
  let i = 0;
  for (const t of listing.torrents) {
    if (officialSeeds !== undefined && (officialSeeds(t) ?? 0) > 0) totals.officialOnline++;
    totals.seeders += t.swarm.complete;
    totals.leechers += t.swarm.incomplete;
    totals.completed += t.swarm.downloaded;
    const info = t.info;
    if (info !== undefined) {
      const id = info.path ?? info.fullHash;
      if (!counted.has(id)) {
        counted.add(id);
        totals.length += info.length;
      }
    }
    if (i >= first && i < first + pageSize) page.push(t);
    i++;
  }
  return { totals, page };
}
