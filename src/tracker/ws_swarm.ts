/**
 * The WebSocket (WebTorrent) peers of one torrent.
 *
 * Browsers reach each other only over WebRTC, so they cannot use the addresses of UDP and HTTP
 * peers, nor those peers theirs: they get a swarm of their own, keyed by peer id (a browser has no
 * port to be known by) and holding the connection each peer's offers and answers are relayed to.
 * The connection type `C` is the listener's; the core never looks inside it.
 *
 * Same layout as {@link Swarm}: a `Map` in announce order (the head is the peer heard from longest
 * ago, so expiry and eviction look only there), and an array with swap-remove plus a rotating
 * cursor, so picking `n` peers to receive offers costs O(n) whatever the swarm's size.
 *
 * @module
 */
import type { SwarmCounts } from "../protocol/types.ts";

/** One WebSocket peer of a swarm. */
export interface WsPeer<C> {
  readonly infoHash: string;
  /** 20-byte peer id as a binary string: the peer's key in its swarm. */
  readonly peerId: string;
  /** Where messages for this peer go. */
  readonly conn: C;
  seeder: boolean;
  /** When the peer last announced, in whole seconds of the tracker's clock. */
  lastSeen: number;
  /** Index in the swarm's array. */
  slot: number;
  /**
   * Offers relayed to this peer and not yet answered, as `offererPeerId + offerId`, oldest first.
   * An answer is relayed only when it matches one, so nobody can push answers at a peer that never
   * offered to them. Bounded by the tracker.
   */
  readonly pendingOffers: Set<string>;
}

/** The WebSocket peers and counters of one torrent. */
export class WsSwarm<C> implements SwarmCounts {
  complete = 0;
  incomplete = 0;
  downloaded = 0;
  readonly #byId = new Map<string, WsPeer<C>>();
  readonly #list: WsPeer<C>[] = [];
  #cursor = 0;
  /** Second before which {@link expire} has nothing to do. */
  #nextExpiry = 0;

  /** Number of peers. */
  get size(): number {
    return this.#list.length;
  }

  /** The peer with this id. */
  get(peerId: string): WsPeer<C> | undefined {
    return this.#byId.get(peerId);
  }

  /** Every peer, the one heard from longest ago first. */
  peers(): IterableIterator<WsPeer<C>> {
    return this.#byId.values();
  }

  /** The peer heard from longest ago. */
  oldest(): WsPeer<C> | undefined {
    return this.#byId.values().next().value;
  }

  /** Adds a new peer (its id must not be in the swarm). */
  add(peer: WsPeer<C>): void {
    peer.slot = this.#list.length;
    this.#list.push(peer);
    this.#byId.set(peer.peerId, peer);
    if (peer.seeder) this.complete++;
    else this.incomplete++;
  }

  /** Removes a peer of this swarm. */
  remove(peer: WsPeer<C>): void {
    if (this.#byId.get(peer.peerId) !== peer) return;
    this.#byId.delete(peer.peerId);
    const last = this.#list.length - 1;
    if (peer.slot !== last) {
      const moved = this.#list[last];
      this.#list[peer.slot] = moved;
      moved.slot = peer.slot;
    }
    this.#list.pop();
    if (peer.seeder) this.complete--;
    else this.incomplete--;
  }

  /** Records an announce of a known peer: its state, and its move to the end of the order. */
  touch(peer: WsPeer<C>, now: number, seeder: boolean): void {
    if (seeder !== peer.seeder) {
      if (seeder) {
        this.complete++;
        this.incomplete--;
      } else {
        this.complete--;
        this.incomplete++;
      }
      peer.seeder = seeder;
    }
    peer.lastSeen = now;
    this.#byId.delete(peer.peerId);
    this.#byId.set(peer.peerId, peer);
  }

  /**
   * Appends to `out` up to `n` peers other than `self`, starting where the last selection stopped
   * so that offers spread over the swarm. Returns how many were added.
   */
  select(n: number, self: WsPeer<C>, out: WsPeer<C>[]): number {
    const count = this.#list.length;
    if (n <= 0 || count === 0) return 0;
    let slot = this.#cursor < count ? this.#cursor : 0;
    let got = 0;
    for (let seen = 0; seen < count && got < n; seen++) {
      const p = this.#list[slot];
      if (p !== self) {
        out.push(p);
        got++;
      }
      if (++slot === count) slot = 0;
    }
    this.#cursor = slot;
    return got;
  }

  /**
   * Removes the peers silent for more than `timeout` seconds and returns them (so the caller can
   * forget them elsewhere). Cheap when there is nothing to do.
   */
  expire(now: number, timeout: number): WsPeer<C>[] {
    const removed: WsPeer<C>[] = [];
    if (now < this.#nextExpiry) return removed;
    for (const peer of this.#byId.values()) {
      if (peer.lastSeen + timeout > now) {
        this.#nextExpiry = peer.lastSeen + timeout;
        break;
      }
      removed.push(peer);
    }
    if (removed.length === this.#byId.size) this.#nextExpiry = now + timeout;
    for (const peer of removed) this.remove(peer);
    return removed;
  }
}
