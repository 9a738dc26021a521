/**
 * The small interface between the listeners and pages and the core that holds the swarms: what
 * they may ask of it, and nothing of sockets or HTML.
 *
 * The in-memory {@link Tracker} implements it, synchronously: with `--store redis://…` too, since
 * every instance answers from its own memory and replication (`replication.ts`) exchanges the
 * changes in the background, off the request path.
 *
 * What a store does not hold stays in the local {@link Tracker}: which torrents the whitelist
 * tracks and their metadata, the WebSocket swarms, the uptime.
 *
 * @module
 */
import type { AnnounceRequest, AnnounceResult, SwarmCounts } from "../protocol/types.ts";
import type { Peer } from "./swarm.ts";
import type { TorrentInfo, TrackerCounters, TrackerOptions } from "./tracker.ts";

/** A torrent as pages and full scrapes see it: its key, its metadata if any, its counters. */
export interface TorrentView {
  /** The 20-byte key clients announce with, as a binary string. */
  readonly infoHash: string;
  readonly info?: TorrentInfo;
  /** Its counters: every kind of peer, once the WebSocket swarm is merged in (see `listing.ts`). */
  readonly swarm: SwarmCounts;
  /** Of `swarm`, the WebSocket (browser) part, when a WebSocket swarm was merged in. */
  readonly webtorrent?: SwarmCounts;
}

/** Every tracked torrent, for `/stat` and full scrapes. */
export interface TorrentListing {
  /** How many torrents {@link torrents} yields. */
  readonly size: number;
  /** Walked once, unless `has` is absent: then it must allow a second walk (an array does). */
  readonly torrents: Iterable<TorrentView>;
  /** Whether a torrent is in {@link torrents}, when the store can tell without walking them. */
  readonly has?: (infoHash: string) => boolean;
}

/** The peers of one torrent, for `/peers`. */
export interface SwarmView {
  readonly torrent: TorrentView;
  /** Number of peers in the swarm. */
  readonly total: number;
  /** At most the limit asked for, the most recently heard first. */
  readonly peers: Peer[];
  /** The clock `Peer.lastSeen` is measured on, in seconds. */
  readonly now: number;
}

/** Where a store stands with its backend, for `/stat`. */
export interface StoreStatus {
  /** `memory`, or the redacted URL of the Redis server the swarms are replicated through. */
  readonly name: string;
  /** `local` for memory; with replication `connecting`, `connected` or `reconnecting`. */
  readonly state: "local" | "connecting" | "connected" | "reconnecting";
  /** Why the store is not connected, or `catching up` (never holds credentials). */
  readonly detail?: string;
}

/** What listeners and pages need from the store that holds the swarms. */
export interface TrackerStore {
  /** Settings of the core (open mode, bounds, intervals). */
  readonly options: TrackerOptions;
  /** This instance's announce, scrape and refusal counts since start. */
  readonly counters: TrackerCounters;
  /**
   * Handles one announce. The result's peer bytes are views into buffers that the next announce
   * overwrites: encode them first.
   */
  announce(req: AnnounceRequest, withPeerIds?: boolean): AnnounceResult;
  /** Counters of each requested torrent in request order; `undefined` for untracked ones. */
  scrape(infoHashes: readonly string[]): (SwarmCounts | undefined)[];
  /** Every tracked torrent with its counters. */
  listing(): TorrentListing;
  /** The newest `limit` peers of one torrent, or undefined when it is not tracked. */
  peersOf(infoHash: string, limit: number): SwarmView | undefined;
  /** The store's connection state. */
  status(): StoreStatus;
}
