/**
 * The WebTorrent side of the core: the WebSocket swarms, the rules of their announces, and the
 * routing of offers and answers between their peers.
 *
 * It sits beside the {@link Tracker} rather than inside its swarms, because WebSocket peers cannot
 * connect to UDP/HTTP peers nor they to them, and are counted apart. It obeys the same whitelist:
 * in whitelist mode a hash must be tracked by the `Tracker`; in open mode the number of WebSocket
 * swarms is bounded by the same `maxTorrents`.
 *
 * Like the `Tracker`, it knows nothing of sockets: a connection is an opaque handle `C`, and an
 * announce returns *which* connections the listener must send the offers and the answer to.
 *
 * @module
 */
import { AnnounceEvent, type SwarmCounts } from "../protocol/types.ts";
import type { WebTorrentAnnounce } from "../protocol/webtorrent.ts";
import { FAILURE, type Tracker } from "./tracker.ts";
import { type WsPeer, WsSwarm } from "./ws_swarm.ts";

/** Settings of the WebSocket core. */
export interface WsTrackerOptions {
  /** Seconds between announces that WebSocket clients are told (shorter than for HTTP/UDP). */
  interval: number;
  /** Seconds without an announce after which a peer is forgotten (its connection may live on). */
  peerTimeout: number;
  /** Most peers per swarm; past it the peer heard from longest ago is dropped. */
  maxPeers: number;
  /**
   * Most peers one connection may be, over all torrents. A connection carries several peers when
   * a page runs several clients: `bittorrent-tracker` pools one socket per tracker URL.
   */
  maxPeersPerConnection: number;
  /** Unanswered offers remembered per peer; the oldest is forgotten past it. */
  maxPendingOffers: number;
}

/** Defaults: a 3-minute interval, the core's 20-minute timeout and 1024 peers. */
export const DEFAULT_WS_TRACKER_OPTIONS: WsTrackerOptions = {
  interval: 180,
  peerTimeout: 20 * 60,
  maxPeers: 1024,
  maxPeersPerConnection: 256,
  maxPendingOffers: 64,
};

/** Counters since start, for `/stat` and metrics. */
export interface WsTrackerCounters {
  announces: number;
  scrapes: number;
  failures: number;
  /** Offers relayed to a peer. */
  offers: number;
  /** Answers relayed back to an offerer. */
  answers: number;
}

/** The failure reasons of the WebSocket core (besides {@link FAILURE}). */
export const WS_FAILURE = {
  peerIdTaken: "peer_id is in use by another connection",
  tooManyPeers: "too many peers on one connection",
  unknownOffer: "answer to an offer that was not relayed to you",
  offererGone: "the offering peer is gone",
} as const;

/**
 * What the listener must do after an announce: send `failure` alone, or else the reply (when
 * `counts` is set), `request.offers[i]` to `offerTo[i]`, and the answer to `answerTo`.
 */
export interface WsAnnounceOutcome<C> {
  failure?: string;
  /** The swarm's counters for the reply; absent for a relayed answer (clients expect no reply). */
  counts?: SwarmCounts;
  offerTo: C[];
  answerTo?: C;
}

const ZERO: SwarmCounts = { complete: 0, incomplete: 0, downloaded: 0 };

/**
 * The WebSocket swarms.
 *
 * @example
 * ```ts
 * import { Tracker } from "./tracker.ts";
 * import { WsTracker } from "./ws_tracker.ts";
 * import { AnnounceEvent } from "../protocol/types.ts";
 * const ws = new WsTracker<string>(new Tracker({ open: true }));
 * const outcome = ws.announce("connection-1", {
 *   action: "announce", infoHash: "h".repeat(20), peerId: "p".repeat(20),
 *   event: AnnounceEvent.Started, left: 10, offers: [], numwant: 0,
 * }); // { counts: { complete: 0, incomplete: 1, … }, offerTo: [] }
 * ```
 */
export class WsTracker<C> {
  readonly options: WsTrackerOptions;
  readonly counters: WsTrackerCounters = {
    announces: 0,
    scrapes: 0,
    failures: 0,
    offers: 0,
    answers: 0,
  };
  readonly #tracker: Tracker;
  readonly #swarms = new Map<string, WsSwarm<C>>();
  /** Each connection's peers, by info hash + peer id: what to remove when it closes. */
  readonly #byConn = new Map<C, Map<string, WsPeer<C>>>();
  /**
   * Completed counts of torrents not tracked (yet) in whitelist mode: from a state file whose
   * `.torrent` is not in the directory, or of a torrent whose file was removed. Given back when
   * the torrent is tracked again, as the {@link Tracker} does with its own history.
   */
  readonly #pending = new Map<string, number>();
  #peerCount = 0;

  constructor(tracker: Tracker, options: Partial<WsTrackerOptions> = {}) {
    this.#tracker = tracker;
    this.options = { ...DEFAULT_WS_TRACKER_OPTIONS, ...options };
  }

  /** Number of WebSocket swarms. */
  get size(): number {
    return this.#swarms.size;
  }

  /** Number of WebSocket peers in every swarm. */
  get peerCount(): number {
    return this.#peerCount;
  }

  /** The WebSocket swarm of a torrent, if it has one. */
  get(infoHash: string): WsSwarm<C> | undefined {
    return this.#swarms.get(infoHash);
  }

  /** Every WebSocket swarm with its info hash. */
  swarms(): IterableIterator<[string, WsSwarm<C>]> {
    return this.#swarms.entries();
  }

  /**
   * Gives back a WebSocket swarm's completed count saved in a state file (its peers are not kept:
   * browsers reconnect). The count is added to the swarm's. In open mode a new, peerless swarm is
   * made under the same bound as announces make them, `maxTorrents`. In whitelist mode a count
   * whose torrent is not tracked (at start-up, before the whitelist is read) waits in
   * {@link pending} until it is; {@link sweep} gives it back then. Returns whether the count was
   * applied at once.
   */
  restore(infoHash: string, downloaded: number): boolean {
    if (downloaded <= 0) return false;
    let swarm = this.#swarms.get(infoHash);
    if (swarm === undefined) {
      if (!this.#tracker.options.open && this.#tracker.get(infoHash) === undefined) {
        this.#keepPending(infoHash, downloaded);
        return false;
      }
      if (this.#swarms.size >= this.#tracker.options.maxTorrents) return false;
      swarm = this.#create(infoHash);
    }
    swarm.downloaded += downloaded;
    return true;
  }

  /** Completed counts waiting for their torrent to be tracked again (whitelist mode). */
  pending(): IterableIterator<[string, number]> {
    return this.#pending.entries();
  }

  /** Handles one announce from `conn`. */
  announce(conn: C, req: WebTorrentAnnounce): WsAnnounceOutcome<C> {
    this.counters.announces++;
    const tracker = this.#tracker;
    if (!tracker.options.open && tracker.get(req.infoHash) === undefined) {
      return this.#fail(FAILURE.notFound);
    }
    const now = tracker.now();
    const existing = this.#swarms.get(req.infoHash);
    if (existing !== undefined) this.#expire(existing, now);
    let self = this.#byConn.get(conn)?.get(req.infoHash + req.peerId);
    if (req.answer !== undefined) return this.#answer(self, req, now);

    if (req.event === AnnounceEvent.Stopped) {
      if (self !== undefined) this.#remove(self);
      return { counts: this.#swarms.get(req.infoHash) ?? ZERO, offerTo: [] };
    }
    const mine = this.#byConn.get(conn);
    if (self === undefined && (mine?.size ?? 0) >= this.options.maxPeersPerConnection) {
      return this.#fail(WS_FAILURE.tooManyPeers);
    }
    let swarm = existing;

    if (swarm === undefined) {
      if (tracker.options.open && this.#swarms.size >= tracker.options.maxTorrents) {
        return this.#fail(FAILURE.full);
      }
      swarm = this.#create(req.infoHash);
    }
    const completed = req.event === AnnounceEvent.Completed;
    // `left` may be unknown (a client without the torrent's size sends none, or null): then the
    // peer's state stands, except that `completed` says it has everything.
    const seeder = req.left === undefined ? (completed ? true : undefined) : req.left === 0;
    if (self === undefined) {
      const holder = swarm.get(req.peerId);
      // A peer id already held by a live connection is not taken over: otherwise anyone who saw
      // it in a relayed offer could divert that peer's offers and answers.
      if (holder !== undefined) return this.#fail(WS_FAILURE.peerIdTaken);
      self = {
        infoHash: req.infoHash,
        peerId: req.peerId,
        conn,
        seeder: seeder ?? false,
        lastSeen: now,
        slot: 0,
        pendingOffers: new Set(),
      };
      swarm.add(self);
      this.#peerCount++;
      let peers = this.#byConn.get(conn);
      if (peers === undefined) {
        peers = new Map();
        this.#byConn.set(conn, peers);
      }
      peers.set(req.infoHash + req.peerId, self);
      if (swarm.size > this.options.maxPeers) this.#remove(swarm.oldest()!);
    } else {
      if (!self.seeder && seeder === true && completed) swarm.downloaded++;
      swarm.touch(self, now, seeder ?? self.seeder);
    }

    const offerTo: C[] = [];
    if (req.numwant > 0) {
      const chosen: WsPeer<C>[] = [];
      swarm.select(req.numwant, self, chosen);
      for (let i = 0; i < chosen.length; i++) {
        const to = chosen[i];
        const pending = to.pendingOffers;
        pending.add(req.peerId + req.offers[i].offerId);
        if (pending.size > this.options.maxPendingOffers) {
          pending.delete(pending.values().next().value!);
        }
        offerTo.push(to.conn);
      }
      this.counters.offers += offerTo.length;
    }
    return { counts: swarm, offerTo };
  }

  #answer(self: WsPeer<C> | undefined, req: WebTorrentAnnounce, now: number): WsAnnounceOutcome<C> {
    const answer = req.answer!;
    if (
      self === undefined || self.peerId !== req.peerId ||
      !self.pendingOffers.delete(answer.toPeerId + answer.offerId)
    ) {
      return this.#fail(WS_FAILURE.unknownOffer);
    }
    const swarm = this.#swarms.get(req.infoHash)!;
    const to = swarm.get(answer.toPeerId);
    if (to === undefined) return this.#fail(WS_FAILURE.offererGone);
    swarm.touch(self, now, self.seeder);
    this.counters.answers++;
    return { offerTo: [], answerTo: to.conn };
  }

  /**
   * The WebSocket counters of each requested torrent, in request order; `undefined` for a hash
   * that is not tracked. A torrent the tracker follows but no browser has joined counts zeros.
   */
  scrape(infoHashes: readonly string[]): (SwarmCounts | undefined)[] {
    this.counters.scrapes++;
    return infoHashes.map((h) =>
      this.#swarms.get(h) ??
        (this.#tracker.options.open || this.#tracker.get(h) !== undefined ? ZERO : undefined)
    );
  }

  /** Forgets every peer of a connection that closed. */
  disconnect(conn: C): void {
    const peers = this.#byConn.get(conn);
    if (peers === undefined) return;
    for (const peer of [...peers.values()]) this.#remove(peer);
    this.#byConn.delete(conn);
  }

  /**
   * Forgets silent peers and empty swarms without history. In whitelist mode, the swarm of a
   * torrent no longer tracked loses its peers and its completed count waits in {@link pending};
   * a waiting count whose torrent is tracked again gets its swarm back, so pages show it without
   * waiting for a browser to announce. Meant to run on the core's timer.
   */
  sweep(): number {
    const now = this.#tracker.now();
    const open = this.#tracker.options.open;
    let removed = 0;
    for (const [hash, swarm] of this.#swarms) {
      if (!open && this.#tracker.get(hash) === undefined) {
        for (const peer of [...swarm.peers()]) this.#remove(peer);
        this.#swarms.delete(hash);
        if (swarm.downloaded > 0) this.#keepPending(hash, swarm.downloaded);
        continue;
      }
      removed += this.#expire(swarm, now);
      if (swarm.size === 0 && swarm.downloaded === 0) this.#swarms.delete(hash);
    }
    if (!open) {
      for (const hash of this.#pending.keys()) {
        if (this.#tracker.get(hash) !== undefined && !this.#swarms.has(hash)) this.#create(hash);
      }
    }
    return removed;
  }

  /** A new swarm, with the completed count waiting for it, if any. */
  #create(infoHash: string): WsSwarm<C> {
    const swarm = new WsSwarm<C>();
    const waiting = this.#pending.get(infoHash);
    if (waiting !== undefined) {
      this.#pending.delete(infoHash);
      swarm.downloaded = waiting;
    }
    this.#swarms.set(infoHash, swarm);
    return swarm;
  }

  /** Waiting counts are bounded like the swarms, by `maxTorrents`: the oldest go first. */
  #keepPending(infoHash: string, downloaded: number): void {
    const before = this.#pending.get(infoHash) ?? 0;
    this.#pending.delete(infoHash);
    this.#pending.set(infoHash, before + downloaded);
    if (this.#pending.size > this.#tracker.options.maxTorrents) {
      this.#pending.delete(this.#pending.keys().next().value!);
    }
  }

  #expire(swarm: WsSwarm<C>, now: number): number {
    const gone = swarm.expire(now, this.options.peerTimeout);
    for (const peer of gone) this.#unlink(peer);
    return gone.length;
  }

  #remove(peer: WsPeer<C>): void {
    const swarm = this.#swarms.get(peer.infoHash);
    if (swarm === undefined || swarm.get(peer.peerId) !== peer) return;
    swarm.remove(peer);
    this.#unlink(peer);
    // An empty swarm without history is dropped at once, so it stops counting against the bound.
    if (swarm.size === 0 && swarm.downloaded === 0) this.#swarms.delete(peer.infoHash);
  }

  /** Drops a peer (already out of its swarm) from its connection's map. */
  #unlink(peer: WsPeer<C>): void {
    this.#peerCount--;
    const peers = this.#byConn.get(peer.conn);
    if (peers === undefined) return;
    const key = peer.infoHash + peer.peerId;
    if (peers.get(key) === peer) peers.delete(key);
    if (peers.size === 0) this.#byConn.delete(peer.conn);
  }

  #fail(reason: string): WsAnnounceOutcome<C> {
    this.counters.failures++;
    return { failure: reason, offerTo: [] };
  }
}
