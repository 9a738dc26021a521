/**
 * The peers of one torrent, and the counters that go with them.
 *
 * The layout is chosen so that an announce costs the same whatever the size of the swarm:
 *
 * - `#peers`, a `Map` from peer key to {@link Peer}, kept in *announce order*: every announce
 *   deletes and re-inserts its peer, so the first entry is always the peer heard from longest ago.
 *   Expiry and eviction only ever look at the head.
 * - Two {@link CompactTable}s (IPv4 and IPv6) hold every peer's wire bytes packed side by side, so a
 *   reply is a copy of a run of ready bytes. A rotating cursor picks where each copy starts, so
 *   successive announces see different parts of a large swarm.
 *
 * @module
 */
import { AnnounceEvent, type AnnounceRequest, type SwarmCounts, Want } from "../protocol/types.ts";
import { isIpv6, writeIp } from "../protocol/ip.ts";

/** One peer of a swarm, identified by its address and port (reference §8.2). */
export interface Peer {
  /** `ip/port`: the key of the peer in its swarm. */
  readonly key: string;
  readonly ip: string;
  readonly port: number;
  readonly v6: boolean;
  peerId: string;
  left: number;
  uploaded: number;
  downloaded: number;
  /** When the peer last announced, in whole seconds of the tracker's clock. */
  lastSeen: number;
  /** Index of the peer in its family's {@link CompactTable}. */
  slot: number;
}

/** The key of a peer in its swarm. */
export function peerKey(ip: string, port: number): string {
  return ip + "/" + port;
}

/**
 * The wire form (address + big-endian port) of every peer of one address family, packed without
 * gaps. Removing a peer moves the last one into its place.
 */
export class CompactTable {
  /** 6 for IPv4 (4 + 2), 18 for IPv6 (16 + 2). */
  readonly width: number;
  bytes: Uint8Array;
  readonly peers: Peer[] = [];
  /** Where the next selection starts; moves on so that replies rotate through the swarm. */
  cursor = 0;

  constructor(width: 6 | 18) {
    this.width = width;
    this.bytes = new Uint8Array(width * 4);
  }

  get size(): number {
    return this.peers.length;
  }

  add(peer: Peer): void {
    const slot = this.peers.length;
    const w = this.width;
    if ((slot + 1) * w > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    const at = slot * w;
    writeIp(peer.ip, this.bytes, at);
    this.bytes[at + w - 2] = peer.port >> 8;
    this.bytes[at + w - 1] = peer.port & 0xff;
    peer.slot = slot;
    this.peers.push(peer);
  }

  remove(peer: Peer): void {
    const last = this.peers.length - 1;
    const slot = peer.slot;
    if (slot !== last) {
      const moved = this.peers[last];
      this.bytes.copyWithin(slot * this.width, last * this.width, (last + 1) * this.width);
      this.peers[slot] = moved;
      moved.slot = slot;
    }
    this.peers.pop();
    // Give memory back when a swarm shrinks a lot (a flood that went away).
    if (this.bytes.length > 1024 && this.peers.length * this.width * 4 < this.bytes.length) {
      this.bytes = this.bytes.slice(0, this.bytes.length / 2);
    }
  }

  /**
   * Copies up to `n` peers into `out` at byte `offset`, skipping `self` and any peer that uses the
   * requester's peer id. Appends the peer ids to `ids`. Returns how many peers were copied.
   */
  select(
    n: number,
    out: Uint8Array,
    offset: number,
    self: Peer | undefined,
    selfId: string,
    ids: string[],
  ): number {
    const count = this.peers.length;
    if (n <= 0 || count === 0) return 0;
    const w = this.width;
    const bytes = this.bytes;
    let slot = this.cursor < count ? this.cursor : 0;
    let got = 0;
    for (let seen = 0; seen < count && got < n; seen++) {
      const p = this.peers[slot];
      if (p !== self && p.peerId !== selfId) {
        const from = slot * w;
        const to = offset + got * w;
        for (let i = 0; i < w; i++) out[to + i] = bytes[from + i];
        ids.push(p.peerId);
        got++;
      }
      if (++slot === count) slot = 0;
    }
    this.cursor = slot;
    return got;
  }
}

/** Limits and timings a swarm applies; the tracker passes the same object to every swarm. */
export interface SwarmLimits {
  /** Most peers kept; past it the peer heard from longest ago is evicted (reference §8.5). */
  maxPeers: number;
  /** Seconds of silence after which a peer is forgotten. */
  peerTimeout: number;
}

/** The peers and counters of one torrent. */
export class Swarm implements SwarmCounts {
  complete = 0;
  incomplete = 0;
  downloaded = 0;
  readonly #peers = new Map<string, Peer>();
  readonly v4 = new CompactTable(6);
  readonly v6 = new CompactTable(18);
  /** Second before which {@link expire} has nothing to do: a cheap guard on the announce path. */
  #nextExpiry = 0;

  /** Number of peers. */
  get size(): number {
    return this.#peers.size;
  }

  /** Every peer, the one heard from longest ago first. */
  peers(): IterableIterator<Peer> {
    return this.#peers.values();
  }

  /**
   * Applies an announce: creates, updates or (on `stopped`) removes the peer and keeps the
   * counters exact. Returns the requester's peer (undefined after `stopped`).
   */
  update(req: AnnounceRequest, now: number, limits: SwarmLimits): Peer | undefined {
    this.expire(now, limits.peerTimeout);
    const key = peerKey(req.ip, req.port);
    let peer = this.#peers.get(key);

    if (
      peer !== undefined && peer.left > 0 && req.left === 0 &&
      req.event === AnnounceEvent.Completed
    ) {
      this.downloaded++;
    }

    if (req.event === AnnounceEvent.Stopped) {
      if (peer !== undefined) this.#remove(peer);
      return undefined;
    }

    if (peer === undefined) {
      const v6 = isIpv6(req.ip);
      peer = {
        key,
        ip: req.ip,
        port: req.port,
        v6,
        peerId: req.peerId,
        left: req.left,
        uploaded: req.uploaded,
        downloaded: req.downloaded,
        lastSeen: now,
        slot: 0,
      };
      (v6 ? this.v6 : this.v4).add(peer);
      this.#peers.set(key, peer);
      if (req.left === 0) this.complete++;
      else this.incomplete++;
      if (this.#peers.size > limits.maxPeers) this.#remove(this.#peers.values().next().value!);
    } else {
      if (peer.left === 0) this.complete--;
      else this.incomplete--;
      if (req.left === 0) this.complete++;
      else this.incomplete++;
      peer.peerId = req.peerId;
      peer.left = req.left;
      peer.uploaded = req.uploaded;
      peer.downloaded = req.downloaded;
      peer.lastSeen = now;
      // Re-inserting moves the peer to the end: the map stays in announce order.
      this.#peers.delete(key);
      this.#peers.set(key, peer);
    }
    return peer;
  }

  /**
   * Copies up to `numwant` peers of the wanted families into `out4` / `out6`, never the requester
   * itself nor a peer that uses its peer id. Returns the counts `[n4, n6]`.
   */
  select(
    numwant: number,
    want: Want,
    self: Peer | undefined,
    selfId: string,
    out4: Uint8Array,
    out6: Uint8Array,
    ids: string[],
  ): [number, number] {
    let n4 = 0;
    let n6 = 0;
    if (want === Want.V4) {
      n4 = this.v4.select(numwant, out4, 0, self, selfId, ids);
    } else if (want === Want.V6) {
      n6 = this.v6.select(numwant, out6, 0, self, selfId, ids);
    } else {
      // Share the budget between the families, then give what one could not use to the other.
      const half = Math.ceil(numwant / 2);
      n4 = this.v4.select(
        Math.max(numwant - Math.min(half, this.v6.size), 0),
        out4,
        0,
        self,
        selfId,
        ids,
      );
      n6 = this.v6.select(numwant - n4, out6, 0, self, selfId, ids);
      // IPv4 ids come first in `ids`; the v6 selection appended after them, so the order holds.
    }
    return [n4, n6];
  }

  /** Forgets peers silent for more than `timeout` seconds. Cheap when there is nothing to do. */
  expire(now: number, timeout: number): number {
    if (now < this.#nextExpiry) return 0;
    let removed = 0;
    for (const peer of this.#peers.values()) {
      if (peer.lastSeen + timeout > now) {
        this.#nextExpiry = peer.lastSeen + timeout;
        return removed;
      }
      this.#remove(peer);
      removed++;
    }
    this.#nextExpiry = now + timeout;
    return removed;
  }

  /** Removes every peer (the torrent stopped being tracked). */
  clear(): void {
    for (const peer of [...this.#peers.values()]) this.#remove(peer);
  }

  #remove(peer: Peer): void {
    this.#peers.delete(peer.key);
    (peer.v6 ? this.v6 : this.v4).remove(peer);
    if (peer.left === 0) this.complete--;
    else this.incomplete--;
  }
}
