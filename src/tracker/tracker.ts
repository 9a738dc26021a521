/**
 * The tracker core: the torrents, their swarms and the rules of announce and scrape.
 *
 * One instance is shared by every listener (UDP, HTTP, HTTPS, WebSocket), so peers that use
 * different protocols meet in the same swarm. It knows nothing of sockets: listeners hand it
 * decoded {@link AnnounceRequest}s and encode what it returns.
 *
 * @module
 */
import {
  type AnnounceReply,
  type AnnounceRequest,
  type AnnounceResult,
  type SwarmCounts,
  Want,
} from "../protocol/types.ts";
import type { IpSet } from "../protocol/ip_set.ts";
import { type Chosen, type Peer, Swarm, type SwarmLimits, Update } from "./swarm.ts";
import type { StoreStatus, SwarmView, TorrentListing, TrackerStore } from "./store.ts";
import type { ChangeBatch, ChangeReader } from "./change_batch.ts";

/** What the tracker knows about a torrent besides its swarm (from its `.torrent` file). */
export interface TorrentInfo {
  /** The name in the `.torrent`, whole (up to metainfo's `MAX_NAME_LENGTH`); pages cut it. */
  name: string;
  /** Total size in bytes. */
  length: number;
  /** Which BitTorrent version this hash belongs to: 1 (SHA-1) or 2 (truncated SHA-256). */
  version: 1 | 2;
  /** The full hash as a binary string: 20 bytes for v1, 32 for v2. */
  fullHash: string;
  /** Where the `.torrent` file lies, when there is one. */
  path?: string;
  /** When the torrent became tracked (ms since the epoch), for feeds. */
  addedAt?: number;
  /** BEP 19 web seeds (`url-list`): http(s) URLs only, a few at most (see `webSeedsOf`). */
  webSeeds?: string[];
  /** Size of the `.torrent` file in bytes, when there is one (the feed's enclosure length). */
  fileSize?: number;
}

/** A tracked torrent: its swarm, plus its metadata when it came from the whitelist. */
export interface Torrent {
  /** The 20-byte key clients announce with, as a binary string. */
  readonly infoHash: string;
  info?: TorrentInfo;
  readonly swarm: Swarm;
  /** Announces received for this torrent (kept across restarts with a state file). */
  announces: number;
  /** When the torrent was first tracked, in ms since the epoch (kept across restarts). */
  firstSeen: number;
}

/**
 * What a state file keeps of a torrent, given back after a restart by {@link Tracker.restore}.
 * Totals are added to the torrent's; peers are restored only into an empty swarm.
 */
export interface TorrentHistory {
  /** The 20-byte key, as a binary string. */
  infoHash: string;
  completed: number;
  announces: number;
  firstSeen: number;
  /** Live peers, heard from longest ago first; `lastSeen` on this tracker's clock. */
  peers: Peer[];
}

/** Settings of the core; every field has the default of the reference §2.2. */
export interface TrackerOptions {
  /** Seconds between announces that clients are told. */
  announceInterval: number;
  /** Seconds clients must wait at least between announces (`min interval`). */
  minAnnounceInterval: number;
  /** Seconds of silence after which a peer is forgotten. */
  peerTimeout: number;
  maxPeers: number;
  minNumwant: number;
  maxNumwant: number;
  /**
   * Open mode: when true, any info hash is tracked on its first announce (up to `maxTorrents`);
   * when false only torrents added with {@link Tracker.addTorrent} (the whitelist) are.
   */
  open: boolean;
  /** Most torrents tracked in open mode. */
  maxTorrents: number;
  /**
   * What a plain announce (no event) gets when it comes sooner than `minAnnounceInterval` after
   * the same peer's last served one, with nothing new to record: `off` serves it like any other,
   * `counts` answers the counters without peers and without touching the swarm (the cheap path),
   * `refuse` answers a failure naming the interval. Events (started, completed, stopped) and a
   * change between seeder and leecher are always served.
   */
  earlyAnnounces: EarlyAnnouncePolicy;
  /** The publisher's networks (`--official-seed`); seeders there are counted per torrent. */
  official?: IpSet;
  /** Clock in milliseconds (monotonic); tests inject their own. */
  clock: () => number;
}

/** See {@link TrackerOptions.earlyAnnounces}. */
export type EarlyAnnouncePolicy = "off" | "counts" | "refuse";

/** The accepted values of {@link TrackerOptions.earlyAnnounces}. */
export const EARLY_ANNOUNCE_POLICIES: readonly EarlyAnnouncePolicy[] = ["off", "counts", "refuse"];

/** The defaults of hefurd (reference §2.2), with open mode on. */
export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = {
  announceInterval: 15 * 60,
  minAnnounceInterval: 60,
  peerTimeout: 20 * 60,
  maxPeers: 1024,
  minNumwant: 50,
  maxNumwant: 100,
  open: true,
  maxTorrents: 100_000,
  earlyAnnounces: "off",
  clock: () => performance.now(),
};

/** Counters since start, shown on `/stat` and in metrics. */
export interface TrackerCounters {
  announces: number;
  scrapes: number;
  /** Announces refused, for any reason. */
  failures: number;
  /** Of the failures: announces for a torrent that is not tracked (whitelist mode). */
  notFound: number;
  /** Of the failures: new torrents refused because `maxTorrents` are tracked (open mode). */
  full: number;
  /**
   * Plain announces sooner than `min interval` after the peer's last served one, answered by the
   * cheap path or refused (see {@link TrackerOptions.earlyAnnounces}).
   */
  early: number;
}

/** The failure reasons the core sends; listeners pass them on unchanged. */
export const FAILURE = {
  notFound: "torrent not found",
  full: "tracker is full: too many torrents",
} as const;

/** The failure reason of an announce refused for coming before `min interval` (in seconds). */
export function earlyFailure(minInterval: number): string {
  return `announced too soon: wait at least ${minInterval} s between announces (min interval)`;
}

/**
 * The number of peers an announce gets, from the `numwant` it asked for: -1 ("not said") gets
 * `min`, 0 gets none (a client that wants no peers, e.g. a seeder; the original returns 50 peers
 * anyway, reference §16.2), anything else is clamped to `[min, max]`.
 */
export function clampNumwant(asked: number, min: number, max: number): number {
  if (asked < 0) return min;
  if (asked === 0) return 0;
  return Math.min(Math.max(asked, min), max);
}

const MEMORY_STATUS: StoreStatus = { name: "memory", state: "local" };

/**
 * The in-memory tracker. Everything is synchronous: an announce is a few map look-ups and a copy
 * of ready peer bytes.
 *
 * @example
 * ```ts
 * import { Tracker } from "./tracker.ts";
 * import { AnnounceEvent, Want } from "../protocol/types.ts";
 * const tracker = new Tracker({ open: true });
 * const reply = tracker.announce({
 *   infoHash: "a".repeat(20), peerId: "b".repeat(20), ip: "10.0.0.1", port: 6881,
 *   uploaded: 0, downloaded: 0, left: 100, event: AnnounceEvent.Started, numwant: -1, want: Want.V4,
 * });
 * ```
 */
export class Tracker implements TrackerStore {
  readonly options: TrackerOptions;
  readonly counters: TrackerCounters = {
    announces: 0,
    scrapes: 0,
    failures: 0,
    notFound: 0,
    full: 0,
    early: 0,
  };
  readonly #torrents = new Map<string, Torrent>();
  /** Saved history of torrents not tracked (yet): applied when the whitelist adds them. */
  readonly #pending = new Map<string, TorrentHistory>();
  readonly #limits: SwarmLimits;
  readonly #start: number;
  // Reply buffers reused by every announce: callers encode a reply before the next announce.
  readonly #out4: Uint8Array;
  readonly #out6: Uint8Array;
  // Views of the reply buffers by peer count, made once: a view per announce is an allocation.
  readonly #views4: Uint8Array[] = [];
  readonly #views6: Uint8Array[] = [];
  readonly #ids: string[] = [];
  readonly #chosen: Chosen = { v4: 0, v6: 0 };
  /** The reply of every announce, filled in anew each time (see {@link announce}). */
  readonly #reply: AnnounceReply;
  /**
   * Where announces record what they changed, for the other instances (`--store redis://…`);
   * undefined with `--store memory`, which then pays one test per announce.
   */
  changes: ChangeBatch | undefined;
  /** Where replication stands with Redis, for {@link status}; undefined with `--store memory`. */
  replicationStatus: (() => StoreStatus) | undefined;

  constructor(options: Partial<TrackerOptions> = {}) {
    this.options = { ...DEFAULT_TRACKER_OPTIONS, ...options };
    this.#limits = {
      maxPeers: this.options.maxPeers,
      peerTimeout: this.options.peerTimeout,
      minInterval: this.options.earlyAnnounces === "off" ? 0 : this.options.minAnnounceInterval,
      // An empty set is no set: nothing to count, nothing to pay per announce.
      official: this.options.official?.empty === false ? this.options.official : undefined,
    };
    this.#start = this.options.clock();
    this.#out4 = new Uint8Array(this.options.maxNumwant * 6);
    this.#out6 = new Uint8Array(this.options.maxNumwant * 18);
    this.#reply = {
      interval: this.options.announceInterval,
      minInterval: this.options.minAnnounceInterval,
      complete: 0,
      incomplete: 0,
      downloaded: 0,
      peers4: this.#out4.subarray(0, 0),
      peers6: this.#out6.subarray(0, 0),
      peerIds: this.#ids,
    };
  }

  /** Seconds since the tracker started, by its clock. */
  now(): number {
    return Math.floor((this.options.clock() - this.#start) / 1000);
  }

  /**
   * Handles one announce. On success the reply is an object the next announce fills in again, and
   * its `peers4`, `peers6` and `peerIds` are views into buffers the next announce overwrites:
   * encode a reply before announcing again (an object per announce would be garbage). `peerIds` is
   * filled only when asked for (non-compact HTTP replies need it; nothing else does).
   */
  announce(req: AnnounceRequest, withPeerIds = false): AnnounceResult {
    this.counters.announces++;
    let torrent = this.#torrents.get(req.infoHash);
    if (torrent === undefined) {
      if (!this.options.open) return this.#fail(FAILURE.notFound);
      if (this.#torrents.size >= this.options.maxTorrents) return this.#fail(FAILURE.full);
      torrent = this.#create(req.infoHash, undefined);
    }
    torrent.announces++;
    const swarm = torrent.swarm;
    const ids = this.#ids;
    // Only non-compact HTTP replies fill it; emptying an empty array is not free.
    if (ids.length !== 0) ids.length = 0;
    const chosen = this.#chosen;
    chosen.v4 = chosen.v6 = 0;
    const completedBefore = swarm.downloaded;
    const update = swarm.update(req, this.now(), this.#limits);
    const changes = this.changes;
    if (changes !== undefined && update !== Update.Early) {
      if (update === Update.Served) {
        changes.upsert(req.infoHash, swarm.updatedTable!, swarm.updatedSlot);
      } else changes.remove(req.infoHash, req.ip, req.port);
      if (swarm.downloaded !== completedBefore) changes.completed(req.infoHash);
    }
    if (update === Update.Early) {
      this.counters.early++;
      if (this.options.earlyAnnounces === "refuse") {
        return this.#fail(earlyFailure(this.options.minAnnounceInterval));
      }
    } else if (update === Update.Served) {
      swarm.select(
        this.#numwant(req.numwant),
        req.want,
        req.peerId,
        this.#out4,
        this.#out6,
        withPeerIds ? ids : undefined,
        chosen,
      );
    }
    const reply = this.#reply;
    reply.complete = swarm.complete;
    reply.incomplete = swarm.incomplete;
    reply.downloaded = swarm.downloaded;
    reply.peers4 = this.#views4[chosen.v4] ??= this.#out4.subarray(0, chosen.v4 * 6);
    reply.peers6 = this.#views6[chosen.v6] ??= this.#out6.subarray(0, chosen.v6 * 18);
    return reply;
  }

  /**
   * The counters of each requested torrent, in request order; `undefined` for a hash that is not
   * tracked (listeners decide how to show it: BEP 48 omits it over HTTP, BEP 15 sends zeros).
   */
  scrape(infoHashes: readonly string[]): (SwarmCounts | undefined)[] {
    this.counters.scrapes++;
    return infoHashes.map((h) => this.#torrents.get(h)?.swarm);
  }

  /** Every tracked torrent, live (the torrents themselves, nothing copied). */
  listing(): TorrentListing {
    const torrents = this.#torrents;
    return {
      size: torrents.size,
      torrents: torrents.values(),
      has: (infoHash) => torrents.has(infoHash),
    };
  }

  /** The newest `limit` peers of a torrent, the most recently heard first. */
  peersOf(infoHash: string, limit: number): SwarmView | undefined {
    const torrent = this.#torrents.get(infoHash);
    if (torrent === undefined) return undefined;
    // The swarm lists the peer heard from longest ago first; keep the newest `limit`. The swarm
    // is bounded by maxPeers, so this walk is too.
    if (limit <= 0) return { torrent, total: torrent.swarm.size, peers: [], now: this.now() };
    const newest: Peer[] = [];
    let total = 0;
    for (const p of torrent.swarm.peers()) {
      newest.push(p);
      total++;
      if (newest.length > 2 * limit) newest.splice(0, newest.length - limit);
    }
    return { torrent, total, peers: newest.slice(-limit).reverse(), now: this.now() };
  }

  /**
   * `local` with `--store memory`; with replication, where it stands with Redis (set by the
   * replication, which knows).
   */
  status(): StoreStatus {
    return this.replicationStatus?.() ?? MEMORY_STATUS;
  }

  /**
   * Applies one change another instance made (the reader's current record), dated `age` seconds
   * ago by this tracker's clock. A torrent this instance does not track is created in open mode
   * (within `maxTorrents`) and ignored in whitelist mode: each instance keeps its own whitelist.
   * Returns whether a swarm changed.
   */
  applyChange(change: ChangeReader, age: number): boolean {
    const now = this.now();
    const lastSeen = now - Math.max(0, Math.round(age) || 0);
    if (lastSeen + this.options.peerTimeout <= now) return false;
    let torrent = this.#torrents.get(change.infoHash);
    if (torrent === undefined) {
      if (!change.upsert || !this.options.open) return false;
      if (this.#torrents.size >= this.options.maxTorrents) return false;
      torrent = this.#create(change.infoHash, undefined);
    }
    const swarm = torrent.swarm;
    swarm.expire(now, this.options.peerTimeout, this.#limits.official);
    if (!change.upsert) {
      return swarm.removeRemote(change.wire, change.v6, lastSeen, this.#limits.official);
    }
    return swarm.applyRemote(
      change.wire,
      change.v6,
      change.peerId,
      change.left,
      change.uploaded,
      change.downloaded,
      lastSeen,
      this.#limits,
    );
  }

  /**
   * Adds completed events other instances counted, or (with `atLeast`) raises a torrent's count to
   * the durable total kept in Redis. Untracked torrents are skipped, as in {@link applyChange}.
   */
  addCompleted(infoHash: string, count: number, atLeast = false): void {
    let torrent = this.#torrents.get(infoHash);
    if (torrent === undefined) {
      if (!this.options.open || this.#torrents.size >= this.options.maxTorrents) return;
      torrent = this.#create(infoHash, undefined);
    }
    const swarm = torrent.swarm;
    swarm.downloaded = atLeast ? Math.max(swarm.downloaded, count) : swarm.downloaded + count;
  }

  /** The torrent with this 20-byte key, if tracked. */
  get(infoHash: string): Torrent | undefined {
    return this.#torrents.get(infoHash);
  }

  /** Every tracked torrent. */
  torrents(): IterableIterator<Torrent> {
    return this.#torrents.values();
  }

  /** Number of tracked torrents. */
  get size(): number {
    return this.#torrents.size;
  }

  /**
   * Starts tracking a torrent (or updates its metadata if already tracked, keeping its peers and
   * counters). Used by the whitelist and by `hefur ctl release-torrent`. A torrent with saved
   * history waiting (see {@link restore}) gets it back here.
   */
  addTorrent(infoHash: string, info?: TorrentInfo): Torrent {
    const existing = this.#torrents.get(infoHash);
    if (existing !== undefined) {
      if (info !== undefined) existing.info = info;
      return existing;
    }
    return this.#create(infoHash, info);
  }

  /**
   * Stops tracking a torrent and frees its peers. Returns false if it was not tracked. Its totals
   * wait with the pending history, so a `.torrent` file put back later keeps its counts.
   */
  removeTorrent(infoHash: string): boolean {
    const torrent = this.#torrents.get(infoHash);
    if (torrent === undefined) return false;
    torrent.swarm.clear();
    this.#torrents.delete(infoHash);
    if (torrent.swarm.downloaded > 0 || torrent.announces > 0) {
      this.#keepPending({
        infoHash,
        completed: torrent.swarm.downloaded,
        announces: torrent.announces,
        firstSeen: torrent.firstSeen,
        peers: [],
      });
    }
    return true;
  }

  /**
   * Gives back a torrent's saved history (from a state file). A tracked torrent, or in open mode
   * one that fits under `maxTorrents`, gets it at once; any other waits until
   * {@link addTorrent} (the whitelist may add it after start). Returns whether it was applied.
   */
  restore(history: TorrentHistory): boolean {
    let torrent = this.#torrents.get(history.infoHash);
    if (
      torrent === undefined && this.options.open && this.#torrents.size < this.options.maxTorrents
    ) {
      torrent = this.#create(history.infoHash, undefined);
    }
    if (torrent === undefined) {
      this.#keepPending(history);
      return false;
    }
    this.#apply(torrent, history);
    return true;
  }

  /** Saved history of torrents that are not tracked (yet), for the next save. */
  pending(): IterableIterator<TorrentHistory> {
    return this.#pending.values();
  }

  /**
   * Whether `torrent` has an official seed online: a seeder in the `--official-seed` networks that
   * has not timed out. Undefined when no official networks are configured. Silent peers of the
   * swarm are expired first (cheap when there are none), so a seed box that went down shows as
   * such within the peer timeout.
   */
  officialSeeds(torrent: Pick<Torrent, "infoHash">): number | undefined {
    const official = this.#limits.official;
    if (official === undefined) return undefined;
    const swarm = this.#torrents.get(torrent.infoHash)?.swarm;
    if (swarm === undefined) return undefined;
    swarm.expire(this.now(), this.options.peerTimeout, official);
    return swarm.officialSeeds;
  }

  /** True when `--official-seed` networks are configured. */
  get hasOfficialNetworks(): boolean {
    return this.#limits.official !== undefined;
  }

  /**
   * Forgets silent peers in every swarm, and in open mode the torrents left with no peer and no
   * history. Meant to run on a timer (every minute); the announce path expires lazily as well.
   */
  sweep(): number {
    const now = this.now();
    let removed = 0;
    for (const [hash, torrent] of this.#torrents) {
      removed += torrent.swarm.expire(now, this.options.peerTimeout, this.#limits.official);
      if (
        this.options.open && torrent.info === undefined && torrent.swarm.size === 0 &&
        torrent.swarm.downloaded === 0
      ) {
        this.#torrents.delete(hash);
      }
    }
    return removed;
  }

  #create(infoHash: string, info: TorrentInfo | undefined): Torrent {
    const torrent: Torrent = {
      infoHash,
      info,
      swarm: new Swarm(),
      announces: 0,
      firstSeen: Date.now(),
    };
    this.#torrents.set(infoHash, torrent);
    const history = this.#pending.get(infoHash);
    if (history !== undefined) {
      this.#pending.delete(infoHash);
      this.#apply(torrent, history);
    }
    return torrent;
  }

  #apply(torrent: Torrent, history: TorrentHistory): void {
    torrent.swarm.downloaded += history.completed;
    torrent.announces += history.announces;
    torrent.firstSeen = Math.min(torrent.firstSeen, history.firstSeen);
    torrent.swarm.restore(history.peers, this.now(), this.#limits);
  }

  /** Pending history is bounded like open mode's torrents: the oldest entries go first. */
  #keepPending(history: TorrentHistory): void {
    this.#pending.delete(history.infoHash);
    this.#pending.set(history.infoHash, history);
    if (this.#pending.size > this.options.maxTorrents) {
      this.#pending.delete(this.#pending.keys().next().value!);
    }
  }

  #numwant(asked: number): number {
    return clampNumwant(asked, this.options.minNumwant, this.options.maxNumwant);
  }

  #fail(reason: string): AnnounceResult {
    this.counters.failures++;
    if (reason === FAILURE.notFound) this.counters.notFound++;
    else if (reason === FAILURE.full) this.counters.full++;
    return { failure: reason };
  }
}

/** The peer families a requester gets by default: IPv6 requesters get both. */
export function defaultWant(ip: string): Want {
  return ip.indexOf(":") >= 0 ? Want.Both : Want.V4;
}
