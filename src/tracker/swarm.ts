/**
 * The peers of one torrent, and the counters that go with them.
 *
 * Peers live in two {@link PeerTable}s, one per address family, so that a reply is a copy of
 * ready wire bytes and an announce costs the same whatever the size of the swarm. A peer is
 * identified by its address and port (reference §8.2).
 *
 * @module
 */
import { AnnounceEvent, type AnnounceRequest, type SwarmCounts, Want } from "../protocol/types.ts";
import { formatIp, isIpv6, writeIp } from "../protocol/ip.ts";
import type { IpSet } from "../protocol/ip_set.ts";
import { PeerTable } from "./peer_table.ts";

/** A peer as pages and APIs see it. */
export interface Peer {
  ip: string;
  port: number;
  v6: boolean;
  /** Peer id as a binary string. */
  peerId: string;
  left: number;
  uploaded: number;
  downloaded: number;
  /** When the peer last announced, in seconds of the tracker's clock. */
  lastSeen: number;
}

/** Limits and timings a swarm applies; the tracker passes the same object to every swarm. */
export interface SwarmLimits {
  /** Most peers kept; past it the peer heard from longest ago is evicted (reference §8.5). */
  maxPeers: number;
  /** Seconds of silence after which a peer is forgotten. */
  peerTimeout: number;
  /**
   * Seconds a peer must wait between two plain announces (no event) to get peers again; an
   * earlier one is {@link Update.Early}. 0 turns the check off.
   */
  minInterval: number;
  /**
   * The publisher's networks (`--official-seed`): seeders there are counted in
   * {@link Swarm.officialSeeds}. Undefined costs nothing per announce.
   */
  official?: IpSet;
}

/** What {@link Swarm.update} did with an announce. */
export enum Update {
  /** The peer is gone (`stopped`): it gets no peers. */
  Gone = 0,
  /** The peer was recorded: it gets peers. */
  Served = 1,
  /**
   * A plain announce sooner than `min interval` after the last one served, with nothing new to
   * record (same seeder/leecher state): the record is left as it was (so the interval still
   * counts from the last served announce) and the peer should get counters only.
   */
  Early = 2,
}

// The requester's wire form, written once per announce (announces are handled one at a time).
const key = new Uint8Array(18);

/** How many peers of each family {@link Swarm.select} copied. */
export interface Chosen {
  v4: number;
  v6: number;
}

/** The peers and counters of one torrent. */
export class Swarm implements SwarmCounts {
  complete = 0;
  incomplete = 0;
  downloaded = 0;
  /**
   * Seeders in the official networks (`SwarmLimits.official`); kept up to date only when those
   * are configured. Read it through `Tracker.officialSeeds`, which expires silent peers first.
   */
  officialSeeds = 0;
  readonly v4: PeerTable = new PeerTable(6);
  /** Created on the first IPv6 peer: most swarms never have one. */
  #v6: PeerTable | undefined;
  /** Second before which {@link expire} has nothing to do: a cheap guard on the announce path. */
  #nextExpiry = 0;
  // The requester of the last update, excluded from its own reply by select().
  #selfTable: PeerTable | undefined;
  #selfSlot = -1;

  /** The IPv6 table (empty if there never was an IPv6 peer). */
  get v6(): PeerTable {
    return this.#v6 ??= new PeerTable(18);
  }

  /** Number of peers. */
  get size(): number {
    return this.v4.size + (this.#v6?.size ?? 0);
  }

  /**
   * Applies an announce: creates, updates or (on `stopped`) removes the peer and keeps the
   * counters exact. Says whether the peer should get peers (see {@link Update}).
   */
  update(req: AnnounceRequest, now: number, limits: SwarmLimits): Update {
    this.expire(now, limits.peerTimeout, limits.official);
    const v6 = isIpv6(req.ip);
    const table = v6 ? this.v6 : this.v4;
    const len = writeIp(req.ip, key, 0);
    key[len] = req.port >> 8;
    key[len + 1] = req.port & 0xff;
    let slot = table.find(key);
    this.#selfTable = undefined;
    const official = limits.official !== undefined && limits.official.hasBytes(key, 0, len);

    if (slot >= 0) {
      const wasSeeder = table.left(slot) === 0;
      if (
        req.event === AnnounceEvent.None && now - table.lastSeen(slot) < limits.minInterval &&
        wasSeeder === (req.left === 0)
      ) {
        return Update.Early;
      }
      if (!wasSeeder && req.left === 0 && req.event === AnnounceEvent.Completed) this.downloaded++;
      if (wasSeeder) this.complete--;
      else this.incomplete--;
      if (official && wasSeeder) this.officialSeeds--;
      if (req.event === AnnounceEvent.Stopped) {
        table.remove(slot);
        return Update.Gone;
      }
    } else {
      if (req.event === AnnounceEvent.Stopped) return Update.Gone;
      slot = table.add(key);
    }
    table.set(slot, req.peerId, req.left, req.uploaded, req.downloaded, now);
    if (this.#nextExpiry === Infinity) this.#nextExpiry = now + limits.peerTimeout;
    if (req.left === 0) {
      this.complete++;
      if (official) this.officialSeeds++;
    } else this.incomplete++;

    if (this.size > limits.maxPeers) {
      this.#evictOldest(limits.official);
      // Eviction may have moved the requester's record; find it again.
      slot = table.find(key);
    }
    this.#selfTable = table;
    this.#selfSlot = slot;
    return Update.Served;
  }

  /** The table of the peer the last {@link update} recorded (undefined after a removal). */
  get updatedTable(): PeerTable | undefined {
    return this.#selfTable;
  }

  /** The slot of the peer the last {@link update} recorded, in {@link updatedTable}. */
  get updatedSlot(): number {
    return this.#selfSlot;
  }

  /**
   * Applies a peer learned from another instance: the wire form `wire` (6 or 18 bytes, by `v6`)
   * with its counters, last heard at `lastSeen` (seconds, this tracker's clock). A record older
   * than what the swarm holds for that peer is ignored, so a late or replayed change never undoes
   * a newer one. Counts seeders and leechers like {@link update}; completed counts travel apart.
   * Returns whether the swarm changed.
   */
  applyRemote(
    wire: Uint8Array,
    v6: boolean,
    peerId: string,
    left: number,
    uploaded: number,
    downloaded: number,
    lastSeen: number,
    limits: SwarmLimits,
  ): boolean {
    const table = v6 ? this.v6 : this.v4;
    const addrLen = v6 ? 16 : 4;
    const official = limits.official !== undefined && limits.official.hasBytes(wire, 0, addrLen);
    let slot = table.find(wire);
    if (slot >= 0) {
      if (table.lastSeen(slot) > lastSeen) return false;
      if (table.left(slot) === 0) {
        this.complete--;
        if (official) this.officialSeeds--;
      } else this.incomplete--;
    } else slot = table.add(wire);
    table.set(slot, peerId, left, uploaded, downloaded, lastSeen);
    // A peer older than the swarm's next expiry moves it earlier.
    this.#nextExpiry = Math.min(this.#nextExpiry, lastSeen + limits.peerTimeout);
    if (left === 0) {
      this.complete++;
      if (official) this.officialSeeds++;
    } else this.incomplete++;
    if (this.size > limits.maxPeers) this.#evictOldest(limits.official);
    this.#selfTable = undefined;
    return true;
  }

  /**
   * Removes a peer another instance saw leave, unless it announced here after `lastSeen`.
   * Returns whether it was removed.
   */
  removeRemote(wire: Uint8Array, v6: boolean, lastSeen: number, official?: IpSet): boolean {
    const table = v6 ? this.#v6 : this.v4;
    if (table === undefined) return false;
    const slot = table.find(wire);
    if (slot < 0 || table.lastSeen(slot) > lastSeen) return false;
    this.#remove(table, slot, official);
    this.#selfTable = undefined;
    return true;
  }

  /**
   * Copies up to `numwant` peers of the wanted families into `out4` / `out6`, never the requester
   * of the last {@link update} nor a peer that uses `selfId`. Appends peer ids to `ids` when given.
   * Writes how many peers of each family were copied into `chosen` (the caller's object, reused:
   * an array per announce would be garbage).
   */
  select(
    numwant: number,
    want: Want,
    selfId: string,
    out4: Uint8Array,
    out6: Uint8Array,
    ids: string[] | undefined,
    chosen: Chosen,
  ): void {
    const v6 = this.#v6;
    const self4 = this.#selfTable === this.v4 ? this.#selfSlot : -1;
    const self6 = v6 !== undefined && this.#selfTable === v6 ? this.#selfSlot : -1;
    let n4 = 0;
    let n6 = 0;
    if (want === Want.V4 || v6 === undefined) {
      if (want !== Want.V6) n4 = this.v4.select(numwant, out4, 0, self4, selfId, ids);
    } else if (want === Want.V6) {
      n6 = v6.select(numwant, out6, 0, self6, selfId, ids);
    } else {
      // Share the budget between the families, then give what one could not use to the other.
      const for6 = Math.min(Math.ceil(numwant / 2), v6.size);
      n4 = this.v4.select(numwant - for6, out4, 0, self4, selfId, ids);
      n6 = v6.select(numwant - n4, out6, 0, self6, selfId, ids);
    }
    chosen.v4 = n4;
    chosen.v6 = n6;
  }

  /**
   * Forgets peers silent for more than `timeout` seconds. Cheap when there is nothing to do.
   * `official` must be the networks the swarm counts official seeds in, if any.
   */
  expire(now: number, timeout: number, official?: IpSet): number {
    if (now < this.#nextExpiry) return 0;
    let removed = 0;
    for (const table of [this.v4, this.#v6]) {
      if (table === undefined) continue;
      while (table.oldest >= 0 && table.lastSeen(table.oldest) + timeout <= now) {
        this.#remove(table, table.oldest, official);
        removed++;
      }
    }
    this.#nextExpiry = Math.min(
      this.#expiryOf(this.v4, timeout),
      this.#expiryOf(this.#v6, timeout),
    );
    this.#selfTable = undefined;
    return removed;
  }

  /**
   * Puts back peers saved before a restart, skipping those already expired at `now`; they then
   * expire as if there had been no restart. Only an empty swarm takes them (the announce order
   * must stay sorted by last announce); returns how many were restored.
   */
  restore(saved: readonly Peer[], now: number, limits: SwarmLimits): number {
    if (this.size !== 0 || saved.length === 0) return 0;
    const peers = saved.toSorted((a, b) => a.lastSeen - b.lastSeen);
    let restored = 0;
    // Past maxPeers, keep the most recent.
    for (let i = Math.max(0, peers.length - limits.maxPeers); i < peers.length; i++) {
      const p = peers[i];
      if (p.lastSeen + limits.peerTimeout <= now || p.lastSeen > now) continue;
      const table = p.v6 ? this.v6 : this.v4;
      const len = writeIp(p.ip, key, 0);
      if (len !== (p.v6 ? 16 : 4)) continue;
      key[len] = p.port >> 8;
      key[len + 1] = p.port & 0xff;
      if (table.find(key) >= 0) continue;
      table.set(table.add(key), p.peerId, p.left, p.uploaded, p.downloaded, p.lastSeen);
      if (p.left === 0) {
        this.complete++;
        if (limits.official?.hasBytes(key, 0, len)) this.officialSeeds++;
      } else this.incomplete++;
      restored++;
    }
    this.#nextExpiry = 0; // recomputed by the next expire()
    return restored;
  }

  /** Removes every peer (the torrent stopped being tracked). */
  clear(): void {
    this.v4.clear();
    this.#v6?.clear();
    this.complete = this.incomplete = this.officialSeeds = 0;
    this.#selfTable = undefined;
  }

  /** Every peer, decoded (for pages; not for the announce path). IPv4 peers first. */
  *peers(): Generator<Peer> {
    for (const table of [this.v4, this.#v6]) {
      if (table === undefined) continue;
      for (const slot of table.slots()) {
        const s = table.snapshot(slot);
        const addrLen = table.wireLen === 6 ? 4 : 16;
        yield {
          ip: formatIp(s.compact, 0, addrLen),
          port: s.port,
          v6: addrLen === 16,
          peerId: s.peerId,
          left: s.left,
          uploaded: s.uploaded,
          downloaded: s.downloaded,
          lastSeen: s.lastSeen,
        };
      }
    }
  }

  #expiryOf(table: PeerTable | undefined, timeout: number): number {
    if (table === undefined || table.oldest < 0) return Infinity;
    return table.lastSeen(table.oldest) + timeout;
  }

  #evictOldest(official: IpSet | undefined): void {
    const v6 = this.#v6;
    const old4 = this.v4.oldest >= 0 ? this.v4.lastSeen(this.v4.oldest) : Infinity;
    const old6 = v6 !== undefined && v6.oldest >= 0 ? v6.lastSeen(v6.oldest) : Infinity;
    if (old4 <= old6) this.#remove(this.v4, this.v4.oldest, official);
    else this.#remove(v6!, v6!.oldest, official);
  }

  #remove(table: PeerTable, slot: number, official: IpSet | undefined): void {
    if (table.left(slot) === 0) {
      this.complete--;
      if (official?.hasBytes(table.wire(slot), 0, table.wireLen === 6 ? 4 : 16)) {
        this.officialSeeds--;
      }
    } else this.incomplete--;
    table.remove(slot);
  }
}
